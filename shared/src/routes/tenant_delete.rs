//! The edge of `DELETE /tenants/{tenant}`: the body Kupe's CLI sends, `{"confirm": "<tenant>",
//! "cascade": bool}` (`cascade` may be left out: false).

use super::{FromIncoming, Route};
use crate::{
    api::tenant_delete::{DeleteTenant, TenantDeletion},
    domain::Invalid,
    http::{Incoming, Media},
};
use serde::Deserialize;

/// The body of a tenant DELETE.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantDeletionBody {
    confirm: Option<String>,
    cascade: Option<bool>,
}

impl TryFrom<TenantDeletionBody> for TenantDeletion {
    type Error = Invalid;

    fn try_from(b: TenantDeletionBody) -> Result<Self, Invalid> {
        let confirm = b
            .confirm
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                Invalid::at("confirm", "confirm is required: the tenant name, typed out")
            })?;
        Ok(TenantDeletion {
            confirm,
            cascade: b.cascade.unwrap_or(false),
        })
    }
}

impl FromIncoming for DeleteTenant {
    const ROUTE: Route = Route::DeleteTenant;

    fn from_incoming(incoming: Incoming) -> Self {
        DeleteTenant {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            deletion: incoming
                .json::<TenantDeletionBody>(Media::Json)
                .and_then(|b| Ok(TenantDeletion::try_from(b)?)),
        }
    }
}
