//! A tenant's end: the start of its deletion (`phase = Terminating`, one conditional write) and
//! the purge once its last cluster's teardown finished (members, the Alertmanager configuration,
//! managed secrets, API keys, then the tenant item itself, last, so a purge cut short is simply run again). Cluster tombstones stay: they keep
//! each name's `resourceVersion` count, so an ETag can never repeat if the tenant comes back.

use super::{
    item::{key, Item},
    schema::*,
    tenants::TenantRecord,
    write::{s, Outcome, Values},
    Store, StoreError,
};
use crate::domain::{names::TenantName, tenant_phase::TenantPhase};
use aws_sdk_dynamodb::types::AttributeValue;

/// A tenant's deletion, in the store.
#[derive(Debug, Clone, Copy)]
pub struct TenantPurge<'a> {
    pub(super) store: &'a Store,
}

/// What became of the start of a deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletionStart {
    /// The tenant is `Terminating` now (by this request): here it is after the write.
    Started(Box<TenantRecord>),
    /// It was already terminating (another request got there first).
    AlreadyTerminating,
    /// Without `cascade`: clusters still hold slots (this many).
    ClustersExist(usize),
    /// There is no such tenant.
    Gone,
}

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purged {
    /// The tenant item is gone now, with its members and keys.
    Purged,
    /// The tenant item was already gone (a repeated purge).
    AlreadyGone,
    /// The tenant is not terminating, or a cluster still holds a slot: nothing was removed.
    NotReady,
}

fn record(item: Item) -> Result<TenantRecord, StoreError> {
    Ok(super::item::from_item::<_, super::item::TenantItem>(item)?.into())
}

impl TenantPurge<'_> {
    fn tenant_key(tenant: &str) -> Item {
        key(tenant_pk(tenant), TENANT_SK)
    }

    fn values(token: &str) -> Values {
        Values::from([
            (
                ":terminating".to_string(),
                s(TenantPhase::Terminating.as_str()),
            ),
            (":token".into(), s(token)),
            (":one".into(), AttributeValue::N("1".into())),
        ])
    }

    /// Moves an active tenant to `Terminating` (bumping its version). Without `cascade`, only
    /// while no cluster holds a slot.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn start(
        &self,
        tenant: &TenantName,
        cascade: bool,
        token: &str,
    ) -> Result<DeletionStart, StoreError> {
        let condition = if cascade {
            COND_TENANT_ACTIVE
        } else {
            COND_TENANT_EMPTY
        };
        let write = self.store.update(
            Self::tenant_key(tenant.as_str()),
            TENANT_TERMINATE_UPDATE,
            condition,
            Self::values(token),
        );
        Ok(match self.store.write(write, Some(token)).await? {
            Outcome::Written(item) | Outcome::AlreadyOurs(item) => {
                DeletionStart::Started(Box::new(record(item)?))
            }
            Outcome::Absent => DeletionStart::Gone,
            Outcome::Conflict(item) => {
                let current = record(item)?;
                if current.phase == TenantPhase::Terminating {
                    DeletionStart::AlreadyTerminating
                } else {
                    DeletionStart::ClustersExist(current.members.len())
                }
            }
        })
    }

    /// Bumps a terminating tenant's version, so its stream record comes again and a purge that
    /// failed is retried (a repeated DELETE resumes). Returns whether the tenant was there.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn touch(&self, tenant: &TenantName, token: &str) -> Result<bool, StoreError> {
        let write = self.store.update(
            Self::tenant_key(tenant.as_str()),
            TENANT_BUMP_UPDATE,
            COND_TENANT_TERMINATING,
            Self::values(token),
        );
        Ok(self.store.write(write, Some(token)).await?.landed())
    }

    /// Removes a terminating tenant whose clusters have all finished their teardown: its
    /// members, its Alertmanager items, its secrets, its API keys, and then its item (conditioned on it still being terminating
    /// with no slot held). Idempotent: every step removes what is left.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; nothing is lost, a retry finishes the job.
    pub async fn purge(&self, tenant: &str) -> Result<Purged, StoreError> {
        let Ok(name) = TenantName::parse(tenant) else {
            return Err(StoreError::Corrupt(format!("tenant name {tenant}")));
        };
        let Some(current) = self.store.tenants().get(tenant).await? else {
            return Ok(Purged::AlreadyGone);
        };
        if current.phase != TenantPhase::Terminating || !current.members.is_empty() {
            return Ok(Purged::NotReady);
        }
        for m in self.store.members().list(&name).await? {
            // The sort key is the stored email lowercased (it was trimmed when written).
            let k = key(tenant_pk(tenant), member_sk(&m.email.to_lowercase()));
            let write = self.store.delete(k, COND_ITEM_EXISTS, Values::new());
            self.store.write(write, None).await?;
        }
        self.store.alertmanager().purge(tenant).await?;
        self.store.secrets().purge(tenant).await?;
        self.store.operations().purge(tenant).await?;
        for k in self.store.api_keys().list(&name).await? {
            self.store.api_keys().revoke_of_tenant(&name, &k.id).await?;
        }
        let values = Values::from([(
            ":terminating".to_string(),
            s(TenantPhase::Terminating.as_str()),
        )]);
        let write = self
            .store
            .delete(Self::tenant_key(tenant), COND_PURGE_TENANT, values);
        Ok(match self.store.write(write, None).await? {
            Outcome::Written(_) | Outcome::AlreadyOurs(_) => Purged::Purged,
            Outcome::Absent => Purged::AlreadyGone,
            Outcome::Conflict(_) => Purged::NotReady,
        })
    }
}
