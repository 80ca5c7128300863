//! Onboarding, for the operator tool `kupe-admin` and the local stack's dev seed: create a
//! tenant, issue an API key. The same table and code paths the API uses.

use crate::{
    domain::{
        apikey::{KeyId, RawKey, Role},
        names::TenantName,
        now_rfc3339,
        plan::Plan,
    },
    store::{ApiKeyRecord, Store, StoreError, TenantRecord},
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// Why onboarding refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// The tenant exists already.
    #[error("tenant {0} already exists")]
    TenantExists(String),
    /// The tenant does not exist.
    #[error("tenant {0} does not exist")]
    NoSuchTenant(String),
    /// DynamoDB failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a tenant on a plan (the default plan when `None`).
///
/// # Errors
/// [`AdminError`] for a bad name or plan, an existing tenant, or a store failure.
pub async fn create_tenant(
    store: &Store,
    name: &str,
    plan: Option<&str>,
) -> Result<TenantRecord, AdminError> {
    let name = TenantName::parse(name).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let plan = match plan {
        None => Plan::default_plan(),
        Some(p) => Plan::by_name(p).ok_or_else(|| {
            AdminError::Invalid(format!("unknown plan {p} (plans: {})", Plan::names()))
        })?,
    };
    let record = TenantRecord {
        name: name.to_string(),
        plan: plan.name.to_string(),
        created_at: now_rfc3339(),
        members: Vec::new(),
    };
    if !store.tenants().create(&record).await? {
        return Err(AdminError::TenantExists(record.name));
    }
    Ok(record)
}

/// What a new key's caller needs to see once.
#[derive(Debug)]
pub struct IssuedKey {
    /// The stored record.
    pub record: ApiKeyRecord,
    /// The raw key: shown once, never stored.
    pub key: RawKey,
}

/// Options of a new key.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// Tenant the key belongs to.
    pub tenant: &'a str,
    /// `admin` or `readonly`.
    pub role: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Expiry (RFC 3339), must be in the future.
    pub expires_at: Option<&'a str>,
    /// Who created it.
    pub created_by: &'a str,
    /// A fixed raw key (the local stack's `KUPE_DEV_API_KEY`); a fresh one when `None`.
    pub fixed_key: Option<&'a str>,
}

/// Issues an API key for an existing tenant.
///
/// # Errors
/// [`AdminError`] for a bad role, expiry or fixed key, a missing tenant, or a store failure.
pub async fn create_api_key(store: &Store, new: &NewKey<'_>) -> Result<IssuedKey, AdminError> {
    let role = Role::parse(new.role).ok_or_else(|| {
        AdminError::Invalid(format!("role must be admin or readonly, not {}", new.role))
    })?;
    if let Some(e) = new.expires_at {
        let at = OffsetDateTime::parse(e, &Rfc3339)
            .map_err(|_| AdminError::Invalid(format!("expiresAt {e} is not an RFC 3339 time")))?;
        if at <= OffsetDateTime::now_utc() {
            return Err(AdminError::Invalid(format!(
                "expiresAt {e} is not in the future"
            )));
        }
    }
    if store.tenants().get(new.tenant).await?.is_none() {
        return Err(AdminError::NoSuchTenant(new.tenant.to_string()));
    }
    insert_key(store, new, role).await
}

/// Stores a new key for a tenant known to exist, retrying on the (rare) id collision.
///
/// # Errors
/// [`AdminError`] for a bad fixed key, a taken id, or a store failure.
pub async fn insert_key(
    store: &Store,
    new: &NewKey<'_>,
    role: Role,
) -> Result<IssuedKey, AdminError> {
    for _ in 0..5 {
        let key = match new.fixed_key {
            Some(k) => RawKey::parse(k).ok_or_else(|| {
                AdminError::Invalid(
                    "the fixed key must look like kupe_<8 hex>_<16+ letters or digits>".into(),
                )
            })?,
            None => RawKey::generate(KeyId::random()),
        };
        let record = ApiKeyRecord {
            id: key.id().clone(),
            tenant: new.tenant.to_string(),
            role,
            secret_hash: key.hash(),
            display_name: new.display_name.to_string(),
            created_at: now_rfc3339(),
            created_by: new.created_by.to_string(),
            expires_at: new.expires_at.map(str::to_string),
            last_used_at: None,
        };
        if store.api_keys().create(&record).await? {
            return Ok(IssuedKey { record, key });
        }
        if new.fixed_key.is_some() {
            return Err(AdminError::Invalid(format!(
                "key id {} is taken",
                record.id
            )));
        }
    }
    Err(AdminError::Invalid(
        "could not find a free key id; try again".into(),
    ))
}

/// Moves a tenant to another plan. Clusters beyond the new plan's limit keep running; creates
/// are refused until the tenant is back under it.
///
/// # Errors
/// [`AdminError`] for an unknown plan or tenant, or a store failure.
pub async fn set_plan(store: &Store, tenant: &str, plan: &str) -> Result<(), AdminError> {
    let plan = Plan::by_name(plan).ok_or_else(|| {
        AdminError::Invalid(format!("unknown plan {plan} (plans: {})", Plan::names()))
    })?;
    if !store.tenants().set_plan(tenant, plan.name).await? {
        return Err(AdminError::NoSuchTenant(tenant.to_string()));
    }
    Ok(())
}
