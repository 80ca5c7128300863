//! Onboarding, for the operator tool `kupe-admin` and the local stack's dev seed: create a
//! tenant, issue an API key, add a member (operators seed a tenant's first admin). The same table and code paths the API uses.

use crate::{
    domain::{
        apikey::{KeyId, RawKey, Role},
        member::{Email, Member},
        names::{DisplayName, TenantName},
        now_rfc3339,
        plan::Plan,
    },
    store::{members::MemberWrite, ApiKeyRecord, Store, StoreError, TenantRecord},
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

/// Creates a tenant on a plan (the default plan when `None`), displayed under its own name,
/// without a contact address.
///
/// # Errors
/// [`AdminError`] for a bad name or plan, an existing tenant, or a store failure.
pub async fn create_tenant(
    store: &Store,
    name: &str,
    plan: Option<&str>,
) -> Result<TenantRecord, AdminError> {
    let new = NewTenant {
        name,
        plan,
        display_name: None,
        contact_email: None,
    };
    create_tenant_with(store, &new).await
}

/// Options of a new tenant.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewTenant<'a> {
    /// Tenant name (an RFC 1123 label).
    pub name: &'a str,
    /// Plan; the default plan when `None`.
    pub plan: Option<&'a str>,
    /// Display name; the tenant name when `None`.
    pub display_name: Option<&'a str>,
    /// Contact address.
    pub contact_email: Option<&'a str>,
}

/// Creates a tenant.
///
/// # Errors
/// [`AdminError`] for a bad name, plan, display name or address, an existing tenant, or a store
/// failure.
pub async fn create_tenant_with(
    store: &Store,
    new: &NewTenant<'_>,
) -> Result<TenantRecord, AdminError> {
    let name = TenantName::parse(new.name).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let plan = match new.plan {
        None => Plan::default_plan(),
        Some(p) => Plan::by_name(p).ok_or_else(|| {
            AdminError::Invalid(format!("unknown plan {p} (plans: {})", Plan::names()))
        })?,
    };
    let mut record = TenantRecord::new(name.as_str(), plan.name, &now_rfc3339());
    if let Some(d) = new.display_name {
        let d = DisplayName::parse(d).map_err(|e| AdminError::Invalid(e.to_string()))?;
        record.display_name = Some(d.as_str().to_string());
    }
    if let Some(e) = new.contact_email {
        let e = e.trim();
        let plausible = e.len() <= 254
            && e.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !e.contains(char::is_whitespace)
            });
        if !plausible {
            return Err(AdminError::Invalid(format!(
                "contact email {e} is not an email address"
            )));
        }
        record.contact_email = Some(e.to_string());
    }
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

/// Adds a member to a tenant (the same transaction as `POST /tenants/{tenant}/members`: the
/// member item and the tenant's version together). Operators seed a tenant's first admin so.
///
/// # Errors
/// [`AdminError`] for a bad email or role, a missing or terminating tenant, a member that
/// exists, or a store failure.
pub async fn add_member(
    store: &Store,
    tenant: &str,
    email: &str,
    role: &str,
) -> Result<Member, AdminError> {
    let name = TenantName::parse(tenant).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let email = Email::parse(email).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let role = Role::parse(role).ok_or_else(|| {
        AdminError::Invalid(format!("role must be admin or readonly, not {role}"))
    })?;
    let created_at = now_rfc3339();
    let token = uuid::Uuid::new_v4().to_string();
    let written = store
        .members()
        .add(&name, &email, role, &created_at, None, &token)
        .await?;
    match written {
        MemberWrite::Written => Ok(Member {
            email: email.to_string(),
            role,
            created_at,
        }),
        MemberWrite::Exists => Err(AdminError::Invalid(format!(
            "{email} is already a member of tenant {tenant}"
        ))),
        MemberWrite::TenantTerminating => Err(AdminError::Invalid(format!(
            "tenant {tenant} is being deleted"
        ))),
        MemberWrite::TenantGone | MemberWrite::NotFound | MemberWrite::TenantChanged => {
            Err(AdminError::NoSuchTenant(tenant.to_string()))
        }
    }
}
