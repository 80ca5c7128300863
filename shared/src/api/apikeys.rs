//! The API-key routes, admin only: issue a key (the raw key is in the 201 and nowhere else),
//! list keys (metadata only, never the key or its hash), revoke a key (effective on the next
//! request, since every request reads the key's record).

use super::{
    session::{Session, Target},
    UseCase,
};
use crate::{
    admin::{self, NewKey},
    config::ApiContext,
    domain::{
        apikey::{KeyId, Role},
        names::DisplayName,
    },
    http::{ApiError, Caller, Parsed, Reply},
    store::ApiKeyRecord,
};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

/// A validated key request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// Display name.
    pub display_name: DisplayName,
    /// Role.
    pub role: Role,
    /// Expiry in the future, RFC 3339 (normalized to UTC seconds).
    pub expires_at: Option<String>,
}

/// `POST /tenants/{tenant}/apikeys`.
#[derive(Debug)]
pub struct CreateApiKey {
    /// Who is calling.
    pub caller: Caller,
    /// The validated body.
    pub key: Parsed<NewApiKey>,
}

/// `GET /tenants/{tenant}/apikeys`.
#[derive(Debug)]
pub struct ListApiKeys {
    /// Who is calling.
    pub caller: Caller,
}

/// `DELETE /tenants/{tenant}/apikeys/{id}`.
#[derive(Debug)]
pub struct DeleteApiKey {
    /// Who is calling.
    pub caller: Caller,
    /// The key id.
    pub id: Parsed<KeyId>,
}

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

impl UseCase for CreateApiKey {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = Session::open(ctx, &self.caller, Role::Admin, Target::Nothing).await?;
        let key = self.key?;
        let created_by = session.caller.id.to_string();
        let new = NewKey {
            tenant: session.tenant.as_str(),
            role: key.role.as_str(),
            display_name: key.display_name.as_str(),
            expires_at: key.expires_at.as_deref(),
            created_by: &created_by,
            fixed_key: None,
        };
        let issued = admin::insert_key(&ctx.store, &new, key.role)
            .await
            .map_err(|e| match e {
                admin::AdminError::Store(s) => ApiError::from(s),
                other => {
                    tracing::error!(error = %other, "key not issued");
                    ApiError::internal()
                }
            })?;
        let mut body = view(&issued.record);
        body["key"] = json!(issued.key.expose());
        session
            .close(ctx, Reply::with_status(StatusCode::CREATED, body))
            .await
    }
}

impl UseCase for ListApiKeys {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = Session::open(ctx, &self.caller, Role::Admin, Target::Nothing).await?;
        let keys = ctx.store.api_keys().list(&session.tenant).await?;
        let items: Vec<Value> = keys.iter().map(view).collect();
        session
            .close(ctx, Reply::ok(json!({ "items": items })))
            .await
    }
}

impl UseCase for DeleteApiKey {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = Session::open(ctx, &self.caller, Role::Admin, Target::Nothing).await?;
        let id = self.id?;
        if !ctx
            .store
            .api_keys()
            .revoke_of_tenant(&session.tenant, &id)
            .await?
        {
            return Err(ApiError::not_found("API key not found"));
        }
        // The caller may just have revoked itself: no lastUsedAt refresh for a key that is gone.
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    }
}
