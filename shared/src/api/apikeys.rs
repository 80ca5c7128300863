//! The API-key routes, admin only: issue a key (the raw key is in the 201 and nowhere else),
//! list keys (metadata only, never the key or its hash), revoke a key (effective on the next
//! request, since every request reads the key's record).

use super::{begin, succeed, Target};
use crate::{
    admin::{self, AdminError, NewKey},
    domain::{
        apikey::{KeyId, Role},
        names::DisplayName,
    },
    http::{json_object, path_param, ApiError, Reply},
    store::ApiKeyRecord,
    Ctx,
};
use lambda_http::{http::StatusCode, Request};
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

fn view(k: &ApiKeyRecord) -> Value {
    let mut v = json!({
        "id": k.id.to_string(),
        "displayName": k.display_name,
        "role": k.role.as_str(),
        "createdAt": k.created_at,
        "createdBy": k.created_by,
    });
    if let Some(e) = &k.expires_at {
        v["expiresAt"] = json!(e);
    }
    if let Some(u) = &k.last_used_at {
        v["lastUsedAt"] = json!(u);
    }
    v
}

/// `POST /tenants/{tenant}/apikeys`: `{displayName, role, expiresAt?}` → 201 with the raw key.
///
/// # Errors
/// 401, 403, 400 (validation, an expiry not in the future).
pub async fn create(ctx: &Ctx, req: &Request) -> Result<Reply, ApiError> {
    let begun = begin(ctx, req, Role::Admin, Target::None).await?;
    let body = json_object(req, false)?;
    if let Some(unknown) = body
        .keys()
        .find(|k| !["displayName", "role", "expiresAt"].contains(&k.as_str()))
    {
        return Err(ApiError::bad(format!("unknown field {unknown}")));
    }
    let text = |field: &str| -> Result<Option<&str>, ApiError> {
        match body.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::bad(format!("{field} must be a string"))),
        }
    };
    let display = text("displayName")?.ok_or_else(|| ApiError::bad("displayName is required"))?;
    let display = DisplayName::parse(display).map_err(|e| ApiError::bad(e.to_string()))?;
    let role_raw = text("role")?.ok_or_else(|| ApiError::bad("role is required"))?;
    let role = Role::parse(role_raw)
        .ok_or_else(|| ApiError::bad("role must be one of: admin, readonly"))?;
    let expires_at = match text("expiresAt")? {
        None => None,
        Some(e) => {
            let at = OffsetDateTime::parse(e, &Rfc3339)
                .map_err(|_| ApiError::bad("expiresAt must be an RFC 3339 time"))?;
            if at <= OffsetDateTime::now_utc() {
                return Err(ApiError::bad("expiresAt must be in the future"));
            }
            Some(crate::domain::format_rfc3339(at))
        }
    };
    let created_by = begun.caller.id.to_string();
    let new = NewKey {
        tenant: begun.tenant.as_str(),
        role: role.as_str(),
        display_name: display.as_str(),
        expires_at: expires_at.as_deref(),
        created_by: &created_by,
        fixed_key: None,
    };
    let issued = admin::insert_key(&ctx.store, &new, role)
        .await
        .map_err(|e| match e {
            AdminError::Store(s) => ApiError::from(s),
            other => {
                tracing::error!(error = %other, "key not issued");
                ApiError::Internal
            }
        })?;
    let mut body = view(&issued.record);
    body["key"] = json!(issued.key.expose());
    succeed(ctx, &begun, Reply::with_status(StatusCode::CREATED, body)).await
}

/// `GET /tenants/{tenant}/apikeys`: `{"items": [...]}`, oldest first, with `lastUsedAt`.
///
/// # Errors
/// 401, 403.
pub async fn list(ctx: &Ctx, req: &Request) -> Result<Reply, ApiError> {
    let begun = begin(ctx, req, Role::Admin, Target::None).await?;
    let keys = ctx.store.list_api_keys(&begun.tenant).await?;
    let items: Vec<Value> = keys.iter().map(view).collect();
    succeed(ctx, &begun, Reply::ok(json!({ "items": items }))).await
}

/// `DELETE /tenants/{tenant}/apikeys/{id}`: 204; the key is refused from the next request on.
///
/// # Errors
/// 401, 403, 400 (malformed id), 404.
pub async fn delete(ctx: &Ctx, req: &Request) -> Result<Reply, ApiError> {
    let begun = begin(ctx, req, Role::Admin, Target::None).await?;
    let raw = path_param(req, "id").unwrap_or_default();
    let id = KeyId::parse(&raw).ok_or_else(|| ApiError::bad("Invalid API key ID format"))?;
    if !ctx.store.revoke_tenant_key(&begun.tenant, &id).await? {
        return Err(ApiError::NotFound("API key not found".into()));
    }
    // The caller may just have revoked itself: no lastUsedAt refresh for a key that is gone.
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
