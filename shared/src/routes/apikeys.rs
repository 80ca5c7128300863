//! The edge of the API-key routes: the body of a new key, converted to a validated
//! [`NewApiKey`], and one parser per route.

use super::{FromIncoming, Route};
use crate::{
    api::apikeys::{CreateApiKey, DeleteApiKey, ListApiKeys, NewApiKey},
    domain::{
        apikey::{KeyId, Role},
        format_rfc3339,
        names::DisplayName,
        Invalid,
    },
    http::{ApiError, Incoming, Media},
};
use serde::Deserialize;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// The body of a new key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewApiKeyBody {
    display_name: Option<String>,
    role: Option<String>,
    expires_at: Option<String>,
}

impl TryFrom<NewApiKeyBody> for NewApiKey {
    type Error = Invalid;

    fn try_from(b: NewApiKeyBody) -> Result<Self, Invalid> {
        let display = b
            .display_name
            .ok_or_else(|| Invalid::at("displayName", "displayName is required"))?;
        let display_name = DisplayName::parse(&display).map_err(Invalid::of("displayName"))?;
        let role = b
            .role
            .ok_or_else(|| Invalid::at("role", "role is required"))?;
        let role = Role::parse(&role)
            .ok_or_else(|| Invalid::at("role", "role must be one of: admin, readonly"))?;
        let expires_at = match b.expires_at {
            None => None,
            Some(e) => {
                let at = OffsetDateTime::parse(&e, &Rfc3339)
                    .map_err(|_| Invalid::at("expiresAt", "expiresAt must be an RFC 3339 time"))?;
                if at <= OffsetDateTime::now_utc() {
                    return Err(Invalid::at("expiresAt", "expiresAt must be in the future"));
                }
                Some(format_rfc3339(at))
            }
        };
        Ok(NewApiKey {
            display_name,
            role,
            expires_at,
        })
    }
}

impl FromIncoming for CreateApiKey {
    const ROUTE: Route = Route::CreateApiKey;

    fn from_incoming(incoming: Incoming) -> Self {
        CreateApiKey {
            caller: incoming.caller(),
            key: incoming
                .json::<NewApiKeyBody>(Media::Json)
                .and_then(|b| Ok(NewApiKey::try_from(b)?)),
        }
    }
}

impl FromIncoming for ListApiKeys {
    const ROUTE: Route = Route::ListApiKeys;

    fn from_incoming(incoming: Incoming) -> Self {
        ListApiKeys {
            caller: incoming.caller(),
        }
    }
}

impl FromIncoming for DeleteApiKey {
    const ROUTE: Route = Route::DeleteApiKey;

    fn from_incoming(incoming: Incoming) -> Self {
        DeleteApiKey {
            caller: incoming.caller(),
            id: KeyId::parse(incoming.param("id"))
                .ok_or_else(|| ApiError::invalid("Invalid API key ID format").at("id")),
        }
    }
}
