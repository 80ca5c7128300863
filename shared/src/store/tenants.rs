//! The tenant aggregate: onboarding, the plan, and the quota slots its clusters hold.

use super::{
    item::{from_item, key, to_item, TenantItem},
    schema::*,
    write::{Outcome, Values},
    Store, StoreError,
};
use crate::domain::names::{ClusterName, TenantName};
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
    /// Names of the tenant's clusters that hold a slot of its quota (live or still deleting).
    pub members: Vec<String>,
}

impl From<TenantItem> for TenantRecord {
    fn from(it: TenantItem) -> Self {
        TenantRecord {
            name: it.tenant,
            plan: it.plan,
            created_at: it.created_at,
            members: it.members,
        }
    }
}

/// The tenants of the table.
#[derive(Debug, Clone, Copy)]
pub struct Tenants<'a> {
    pub(super) store: &'a Store,
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

    /// Moves a tenant to another plan.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; `Ok(false)` when there is no such tenant.
    pub async fn set_plan(&self, tenant: &str, plan: &str) -> Result<bool, StoreError> {
        let values = Values::from([(":plan".into(), AttributeValue::S(plan.into()))]);
        let key = key(tenant_pk(tenant), TENANT_SK);
        let write = self
            .store
            .update(key, "SET #plan = :plan", COND_ITEM_EXISTS, values);
        Ok(matches!(
            self.store.write(write, None).await?,
            Outcome::Written(_)
        ))
    }

    /// Gives a retired cluster's quota slot back (the state machine's `ReleaseSlot` state sends
    /// the same update). Removing a name that is not there changes nothing, so a retry is safe;
    /// a tenant that is gone has nothing to give back.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn release_slot(
        &self,
        tenant: &TenantName,
        name: &ClusterName,
    ) -> Result<(), StoreError> {
        let values = Values::from([(":member".into(), AttributeValue::Ss(vec![name.to_string()]))]);
        let key = key(tenant_pk(tenant.as_str()), TENANT_SK);
        let write = self
            .store
            .update(key, RELEASE_SLOT_UPDATE, COND_ITEM_EXISTS, values);
        self.store.write(write, None).await?;
        Ok(())
    }
}
