//! Authentication and authorization against the key's current record, on every request (no
//! cache, so a revocation takes effect on the next request).

use crate::{
    domain::apikey::{RawKey, Role},
    http::{header_str, ApiError},
    store::ApiKeyRecord,
};
use lambda_http::Request;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

const INVALID: &str = "Invalid, expired or revoked API key";

/// The key from `Authorization: Bearer kupe_…`.
///
/// # Errors
/// 401 when the header is missing or the key is not of Kupe's shape.
pub fn bearer(req: &Request) -> Result<RawKey, ApiError> {
    let value = header_str(req, "authorization")
        .map_err(|_| ApiError::Unauthorized("Malformed Authorization header"))?
        .ok_or(ApiError::Unauthorized(
            "Missing API key: send Authorization: Bearer <key>",
        ))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(ApiError::Unauthorized("Malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized("Malformed Authorization header"));
    }
    RawKey::parse(token.trim()).ok_or(ApiError::Unauthorized(INVALID))
}

/// Checks the presented key against its stored record, the path's tenant and the role the
/// route needs.
///
/// # Errors
/// 401 for an unknown, mismatching or expired key; 403 `Not a member of this tenant` or
/// `Admin access required`.
pub fn authorize(
    key: &RawKey,
    record: Option<&ApiKeyRecord>,
    path_tenant: &str,
    need: Role,
    now: OffsetDateTime,
) -> Result<ApiKeyRecord, ApiError> {
    let record = record.ok_or(ApiError::Unauthorized(INVALID))?;
    if !key.verify(&record.secret_hash) {
        return Err(ApiError::Unauthorized(INVALID));
    }
    if let Some(expires) = &record.expires_at {
        // An unreadable expiry fails closed.
        let alive = OffsetDateTime::parse(expires, &Rfc3339).is_ok_and(|at| now < at);
        if !alive {
            return Err(ApiError::Unauthorized(INVALID));
        }
    }
    if record.tenant != path_tenant {
        return Err(ApiError::NotMember);
    }
    if need == Role::Admin && record.role != Role::Admin {
        return Err(ApiError::AdminRequired);
    }
    Ok(record.clone())
}
