//! The cluster aggregate: create (with its quota slot, in one transaction), read, list, the
//! API's two conditional writes (a spec change, the start of a deletion), and the reconciler's
//! `Degraded` write. The workflow's own status writes are the state machine's (the same
//! conditions, pinned by a test).

use super::{
    item::{from_item, key, to_item, ClusterItem, Item, StoredCluster},
    schema::*,
    write::{sdk_error, Outcome, Values},
    Store, StoreError,
};
use crate::{
    domain::{
        cluster::Cluster,
        etag::ResourceVersion,
        names::{ClusterName, TenantName},
        phase::Phase,
    },
    workflow::ExecutionInput,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure as OnFailure, TransactWriteItem,
    Update,
};

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The clusters of the table.
#[derive(Debug, Clone, Copy)]
pub struct Clusters<'a> {
    pub(super) store: &'a Store,
}

/// Outcome of a create.
#[derive(Debug)]
pub enum CreateOutcome {
    /// Written (possibly by an earlier attempt of this same request).
    Created,
    /// The tenant's plan has no free slot.
    OverQuota,
    /// The name is taken (or was re-taken since the read); here is what is there, if live.
    Exists(Option<Box<Cluster>>),
}

/// The live cluster of a written or conflicting item; a tombstone reads as absent.
fn live(item: Item) -> Result<Option<Cluster>, StoreError> {
    Ok(StoredCluster::from_item(item)?.live())
}

impl Clusters<'_> {
    fn key(tenant: &TenantName, name: &ClusterName) -> Item {
        key(tenant_pk(tenant.as_str()), cluster_sk(name.as_str()))
    }

    /// One cluster, strongly consistent; `None` when absent or a tombstone.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn get(
        &self,
        tenant: &TenantName,
        name: &ClusterName,
    ) -> Result<Option<Cluster>, StoreError> {
        let item = self.store.get(Self::key(tenant, name)).await?;
        item.map_or(Ok(None), live)
    }

    /// Creates a cluster (or re-creates one over a tombstone) and claims its quota slot, in one
    /// transaction: the tenant's `members` set gains the name only while it has fewer than
    /// `max_clusters` names (or already holds this one), and the cluster item is written only
    /// over `previous` (nothing, or the tombstone at that version).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn create(
        &self,
        c: &Cluster,
        previous: Option<ResourceVersion>,
        max_clusters: u32,
        token: &str,
    ) -> Result<CreateOutcome, StoreError> {
        let table = &self.store.table;
        let corrupt = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt(e.to_string());
        let mut values = Values::from([(":deleted".to_string(), s(Phase::Deleted.as_str()))]);
        let condition = match previous {
            None => COND_NEW_ITEM,
            Some(v) => {
                values.insert(":old_rv".into(), n(v.0));
                COND_CREATE_OVER_TOMBSTONE
            }
        };
        let cluster = Put::builder()
            .table_name(table)
            .set_item(Some(to_item(&ClusterItem::from(c))?))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_used(condition)))
            .set_expression_attribute_values(
                Some(values_used(condition, values)).filter(|v| !v.is_empty()),
            )
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(corrupt)?;
        let update = "ADD #members :member";
        let slot = Update::builder()
            .table_name(table)
            .set_key(Some(key(tenant_pk(c.tenant.as_str()), TENANT_SK)))
            .update_expression(update)
            .condition_expression(COND_CLAIM_SLOT)
            .set_expression_attribute_names(Some(names_used(&format!(
                "{update} {COND_CLAIM_SLOT}"
            ))))
            .expression_attribute_values(":member", AttributeValue::Ss(vec![c.name.to_string()]))
            .expression_attribute_values(":name", s(c.name.as_str()))
            .expression_attribute_values(":max", n(u64::from(max_clusters)))
            .build()
            .map_err(corrupt)?;
        let items = vec![
            TransactWriteItem::builder().update(slot).build(),
            TransactWriteItem::builder().put(cluster).build(),
        ];
        let reasons = match self.store.transact(items, token).await? {
            Ok(()) => return Ok(CreateOutcome::Created),
            Err(reasons) => reasons,
        };
        let (slot, cluster) = match reasons.as_slice() {
            [slot, cluster] => (slot, cluster.clone()),
            _ => {
                return Err(StoreError::Corrupt(
                    "unexpected cancellation reasons".into(),
                ))
            }
        };
        Ok(match cluster {
            // Our own transaction landed and its reply was lost: the retry finds our cluster.
            Some(Outcome::AlreadyOurs(_)) => CreateOutcome::Created,
            _ if slot.is_some() => CreateOutcome::OverQuota,
            Some(Outcome::Conflict(item)) => CreateOutcome::Exists(live(item)?.map(Box::new)),
            _ => CreateOutcome::Exists(None),
        })
    }

    async fn update(
        &self,
        c: &Cluster,
        update: &str,
        values: Values,
        token: &str,
    ) -> Result<Outcome<Cluster>, StoreError> {
        let key = Self::key(&c.tenant, &c.name);
        let write = self.store.update(key, update, COND_SAME_VERSION, values);
        self.store.write(write, Some(token)).await?.decode(live)
    }

    /// Writes a new spec (and bumped generation) if the cluster is still at `expected`.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn update_spec(
        &self,
        next: &Cluster,
        expected: ResourceVersion,
        token: &str,
    ) -> Result<Outcome<Cluster>, StoreError> {
        let it = ClusterItem::from(next);
        let values = Values::from([
            (":version".to_string(), s(it.version)),
            (":cpu".into(), s(it.cpu)),
            (":memory".into(), s(it.memory)),
            (":storage".into(), s(it.storage)),
            (":alerts".into(), s(it.alerts)),
            (":updated".into(), s(it.updated_at)),
            (":gen".into(), n(it.generation)),
            (":new_rv".into(), n(it.resource_version)),
            (":expected_rv".into(), n(expected.0)),
            (":token".into(), s(token)),
        ]);
        let update = "SET #version = :version, #cpu = :cpu, #memory = :memory, \
             #storage = :storage, #alerts = :alerts, #gen = :gen, #updated = :updated, \
             #rv = :new_rv, #token = :token";
        self.update(next, update, values, token).await
    }

    /// Moves a cluster to `Terminating` (bumping generation, which starts the teardown) if it is
    /// still at `expected`.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn mark_deleting(
        &self,
        next: &Cluster,
        expected: ResourceVersion,
        token: &str,
    ) -> Result<Outcome<Cluster>, StoreError> {
        let st = &next.status;
        let values = Values::from([
            (":gen".to_string(), n(next.generation)),
            (":new_rv".into(), n(next.resource_version.0)),
            (":expected_rv".into(), n(expected.0)),
            (":token".into(), s(token)),
            (":updated".into(), s(&next.updated_at)),
            (":now".into(), s(&next.updated_at)),
            (":phase".into(), s(st.phase.as_str())),
            (":reason".into(), s(st.reason.clone().unwrap_or_default())),
            (":message".into(), s(st.message.clone().unwrap_or_default())),
        ]);
        let (sets, removes) = condition_clauses(st.phase);
        let update = format!(
            "SET #phase = :phase, #reason = :reason, #message = :message, #gen = :gen, \
             #updated = :updated, #rv = :new_rv, #token = :token, {} REMOVE {}",
            sets.join(", "),
            removes.join(", ")
        );
        self.update(next, &update, values, token).await
    }

    /// Marks a cluster `Degraded` after its workflow died, if that workflow's generation is
    /// still the current one and its rollout was still in progress. Returns whether it wrote.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn mark_degraded_if_progressing(
        &self,
        input: &ExecutionInput,
        reason: &str,
        message: &str,
    ) -> Result<bool, StoreError> {
        let now = crate::domain::now_rfc3339();
        let (sets, removes) = condition_clauses(Phase::Degraded);
        let update = format!(
            "SET #phase = :degraded, #reason = :reason, #message = :message, #updated = :now, \
             #rv = #rv + :one, {} REMOVE {}",
            sets.join(", "),
            removes.join(", ")
        );
        let mut values = Values::from([
            (":degraded".to_string(), s(Phase::Degraded.as_str())),
            (":reason".into(), s(reason)),
            (":message".into(), s(message)),
            (":now".into(), s(&now)),
            (":one".into(), n(1)),
            (":gen".into(), n(input.generation)),
            (":inc".into(), n(input.incarnation)),
        ]);
        for p in [
            Phase::Pending,
            Phase::Provisioning,
            Phase::Upgrading,
            Phase::Updating,
            Phase::Terminating,
        ] {
            values.insert(format!(":{}", p.as_str().to_lowercase()), s(p.as_str()));
        }
        values.insert(":deleting".into(), s("Deleting"));
        let key = key(tenant_pk(&input.tenant), cluster_sk(&input.name));
        let write = self.store.update(key, &update, COND_DEAD_EXECUTION, values);
        Ok(self.store.write(write, None).await?.landed())
    }

    /// One page of a tenant's clusters in name order, starting after `after`. Returns up to
    /// `limit` clusters (all when `None`) and whether more remain.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn list(
        &self,
        tenant: &TenantName,
        limit: Option<usize>,
        after: Option<&ClusterName>,
    ) -> Result<(Vec<Cluster>, bool), StoreError> {
        let mut clusters = Vec::new();
        let mut start = after.map(|a| Self::key(tenant, a));
        // One more than asked for tells whether another page exists.
        let want = limit.map(|l| l + 1);
        loop {
            let mut q = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .filter_expression("#phase <> :deleted")
                .set_expression_attribute_names(Some(names_used("#pk #sk #phase")))
                .expression_attribute_values(":pk", s(tenant_pk(tenant.as_str())))
                .expression_attribute_values(":prefix", s(CLUSTER_SK_PREFIX))
                .expression_attribute_values(":deleted", s(Phase::Deleted.as_str()))
                .set_exclusive_start_key(start.take());
            if let Some(w) = want {
                q = q.limit(i32::try_from(w - clusters.len()).unwrap_or(i32::MAX));
            }
            let out = q.send().await.map_err(|e| sdk_error("Query", e))?;
            for it in out.items.unwrap_or_default() {
                clusters.push(Cluster::try_from(from_item::<_, ClusterItem>(it)?)?);
            }
            let full = want.is_some_and(|w| clusters.len() >= w);
            match out.last_evaluated_key {
                Some(k) if !full => start = Some(k),
                _ => break,
            }
        }
        let more = limit.is_some_and(|l| clusters.len() > l);
        if let Some(l) = limit {
            clusters.truncate(l);
        }
        Ok((clusters, more))
    }

    /// Turns a cluster whose teardown finished into a tombstone and gives its quota slot back,
    /// as the workflow's `Retire` and `ReleaseSlot` states do. Test support: it reads the
    /// incarnation first. Returns whether the cluster was still there to retire.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn finish_deletion(
        &self,
        tenant: &TenantName,
        name: &ClusterName,
        generation: u64,
    ) -> Result<bool, StoreError> {
        let Some(current) = self.get(tenant, name).await? else {
            return Ok(false);
        };
        let values = Values::from([
            (":deleted".to_string(), s(Phase::Deleted.as_str())),
            (":terminating".into(), s(Phase::Terminating.as_str())),
            (":deleting".into(), s("Deleting")),
            (":one".into(), n(1)),
            (":gen".into(), n(generation)),
            (":inc".into(), n(current.incarnation)),
        ]);
        let key = Self::key(tenant, name);
        let write = self
            .store
            .update(key, RETIRE_UPDATE, COND_FINISH_DELETION, values);
        if !self.store.write(write, None).await?.landed() {
            return Ok(false);
        }
        self.store.tenants().release_slot(tenant, name).await?;
        Ok(true)
    }
}
