//! The tenant aggregate: onboarding, the tenant's settings (plan, limits), the quota slots its
//! clusters hold and the resources they hold from its pool. Every write to the tenant item adds
//! one to its `resourceVersion` (the tenant ETag): settings changes, and the cluster creates,
//! resizes and releases that change what a plan change must check.

use super::{
    item::{from_item, key, to_item, Item, TenantItem},
    schema::*,
    write::{i, Outcome, Values},
    Store, StoreError,
};
use crate::domain::{
    etag::ResourceVersion,
    names::{ClusterName, TenantName},
    pool::Allocation,
    tenant_phase::TenantPhase,
};
use aws_sdk_dynamodb::types::AttributeValue;

/// A stored tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Tenant name.
    pub name: String,
    /// Plan name.
    pub plan: String,
    /// RFC 3339.
    pub created_at: String,
    /// Cluster slots: names of the tenant's clusters that hold a slot of its quota (live or
    /// still deleting). Not the tenant's members (people).
    pub members: Vec<String>,
    /// The tenant's write counter (its ETag); 0 for a tenant never written since versions
    /// existed.
    pub resource_version: ResourceVersion,
    /// `Active`, or `Terminating` once its deletion was accepted.
    pub phase: TenantPhase,
    /// Display name (the tenant name when unset).
    pub display_name: Option<String>,
    /// Contact address.
    pub contact_email: Option<String>,
    /// Whether log ingest beyond the plan is refused.
    pub enforce_log_limit: bool,
    /// Whether metrics beyond the plan are refused.
    pub enforce_metrics_limit: bool,
    /// What the tenant's clusters hold from its pool.
    pub allocated: Allocation,
}

impl TenantRecord {
    /// A new tenant on `plan`, created now, with nothing allocated.
    pub fn new(name: &str, plan: &str, created_at: &str) -> Self {
        TenantRecord {
            name: name.to_string(),
            plan: plan.to_string(),
            created_at: created_at.to_string(),
            members: Vec::new(),
            resource_version: ResourceVersion(1),
            phase: TenantPhase::Active,
            display_name: Some(name.to_string()),
            contact_email: None,
            enforce_log_limit: false,
            enforce_metrics_limit: false,
            allocated: Allocation::default(),
        }
    }
}

impl From<TenantItem> for TenantRecord {
    fn from(it: TenantItem) -> Self {
        TenantRecord {
            name: it.tenant,
            plan: it.plan,
            created_at: it.created_at,
            members: it.members,
            resource_version: ResourceVersion(it.resource_version),
            phase: TenantPhase::from_stored(it.phase.as_deref()),
            display_name: it.display_name,
            contact_email: it.contact_email,
            enforce_log_limit: it.enforce_log_limit,
            enforce_metrics_limit: it.enforce_metrics_limit,
            allocated: Allocation {
                cpu: it.allocated_cpu,
                memory: it.allocated_memory,
                storage: it.allocated_storage,
            },
        }
    }
}

/// The tenant settings a PATCH writes (all three, as decided).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    /// Plan name.
    pub plan: String,
    /// Whether log ingest beyond the plan is refused.
    pub enforce_log_limit: bool,
    /// Whether metrics beyond the plan are refused.
    pub enforce_metrics_limit: bool,
}

/// The tenants of the table.
#[derive(Debug, Clone, Copy)]
pub struct Tenants<'a> {
    pub(super) store: &'a Store,
}

fn decode(item: Item) -> Result<Option<TenantRecord>, StoreError> {
    Ok(Some(from_item::<_, TenantItem>(item)?.into()))
}

impl Tenants<'_> {
    /// Creates a tenant record.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; `Ok(false)` when the tenant exists already.
    pub async fn create(&self, t: &TenantRecord) -> Result<bool, StoreError> {
        let item = TenantItem {
            pk: tenant_pk(&t.name),
            sk: TENANT_SK.into(),
            tenant: t.name.clone(),
            plan: t.plan.clone(),
            created_at: t.created_at.clone(),
            members: Vec::new(),
            resource_version: t.resource_version.0.max(1),
            phase: None,
            display_name: t.display_name.clone(),
            contact_email: t.contact_email.clone(),
            enforce_log_limit: t.enforce_log_limit,
            enforce_metrics_limit: t.enforce_metrics_limit,
            allocated_cpu: 0,
            allocated_memory: 0,
            allocated_storage: 0,
        };
        let write = self
            .store
            .put(to_item(&item)?, COND_NEW_ITEM, Values::new());
        Ok(self.store.write(write, None).await?.landed())
    }

    /// Reads a tenant record (consistent).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn get(&self, tenant: &str) -> Result<Option<TenantRecord>, StoreError> {
        let item = self.store.get(key(tenant_pk(tenant), TENANT_SK)).await?;
        item.map(|it| from_item::<_, TenantItem>(it).map(TenantRecord::from))
            .transpose()
    }

    /// Moves a tenant to another plan, whatever its clusters (the operator's override; the API's
    /// PATCH checks they fit first).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; `Ok(false)` when there is no such tenant.
    pub async fn set_plan(&self, tenant: &str, plan: &str) -> Result<bool, StoreError> {
        let values = Values::from([
            (":plan".into(), AttributeValue::S(plan.into())),
            (":one".into(), i(1)),
        ]);
        let key = key(tenant_pk(tenant), TENANT_SK);
        let write = self.store.update(
            key,
            "SET #plan = :plan ADD #rv :one",
            COND_ITEM_EXISTS,
            values,
        );
        Ok(matches!(
            self.store.write(write, None).await?,
            Outcome::Written(_)
        ))
    }

    /// Writes a tenant's settings if it is still at `expected` (the version the request judged
    /// its clusters by), bumping its version.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn update_settings(
        &self,
        tenant: &TenantName,
        settings: &TenantSettings,
        expected: ResourceVersion,
    ) -> Result<Outcome<TenantRecord>, StoreError> {
        let values = Values::from([
            (
                ":plan".to_string(),
                AttributeValue::S(settings.plan.clone()),
            ),
            (
                ":log".into(),
                AttributeValue::Bool(settings.enforce_log_limit),
            ),
            (
                ":metrics".into(),
                AttributeValue::Bool(settings.enforce_metrics_limit),
            ),
            (":one".into(), i(1)),
            (
                ":expected_rv".into(),
                i(i64::try_from(expected.0).unwrap_or(i64::MAX)),
            ),
        ]);
        let condition = if expected.0 == 0 {
            COND_TENANT_UNVERSIONED
        } else {
            COND_TENANT_AT_VERSION
        };
        let update =
            "SET #plan = :plan, #enforceLog = :log, #enforceMetrics = :metrics ADD #rv :one";
        let key = key(tenant_pk(tenant.as_str()), TENANT_SK);
        let write = self.store.update(key, update, condition, values);
        self.store.write(write, None).await?.decode(decode)
    }

    /// Gives a retired cluster's quota slot and its resources back (the state machine's
    /// `ReleaseSlot` state sends the same update). Conditional on the tenant still holding the
    /// name, so the resources are given back exactly once: a retry, or a tenant that is gone,
    /// finds nothing to release. Returns whether this call released it.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn release_slot(
        &self,
        tenant: &TenantName,
        name: &ClusterName,
        resources: &Allocation,
    ) -> Result<bool, StoreError> {
        let give_back = resources.negated();
        let values = Values::from([
            (":member".into(), AttributeValue::Ss(vec![name.to_string()])),
            (":name".into(), AttributeValue::S(name.to_string())),
            (":releaseCpu".into(), i(give_back.cpu)),
            (":releaseMemory".into(), i(give_back.memory)),
            (":releaseStorage".into(), i(give_back.storage)),
            (":one".into(), i(1)),
        ]);
        let key = key(tenant_pk(tenant.as_str()), TENANT_SK);
        let write = self
            .store
            .update(key, RELEASE_SLOT_UPDATE, COND_HOLDS_SLOT, values);
        Ok(self.store.write(write, None).await?.landed())
    }
}
