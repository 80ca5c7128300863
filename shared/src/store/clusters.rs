//! The cluster aggregate: create (with its quota slot and its resources from the tenant's pool,
//! in one transaction), read, list, the API's conditional writes (a spec change, with the pool
//! change in the same transaction when the resources change; the start of a deletion), and the
//! reconciler's `Degraded` write. The workflow's own status writes are the state machine's (the same
//! conditions, pinned by a test).

use super::{
    item::{from_item, key, to_item, ClusterItem, Item, StoredCluster, TenantItem},
    operations::archive_put,
    schema::*,
    tenants::TenantRecord,
    write::{i, n, s, sdk_error, unbuilt, Outcome, Values},
    Store, StoreError,
};
use crate::{
    domain::{
        cluster::Cluster,
        etag::ResourceVersion,
        names::{ClusterName, TenantName},
        operation::OpType,
        phase::Phase,
        pool::Allocation,
        resources::ResourceKind,
        tenant_phase::TenantPhase,
    },
    workflow::ExecutionInput,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure as OnFailure, TransactWriteItem,
    Update,
};

/// The clusters of the table.
#[derive(Debug, Clone, Copy)]
pub struct Clusters<'a> {
    pub(super) store: &'a Store,
}

/// The smallest `Query` page of a filtered list: a selector may match few clusters, and asking
/// for only the missing count would cost a round trip per cluster read.
const FILTERED_QUERY_PAGE: usize = 100;

/// Whether a deletion respects the cluster's deletion protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionGuard {
    /// The cluster's own `DELETE`: a protected cluster is refused.
    Honoured,
    /// A tenant's confirmed cascade, which already refused protected clusters before it
    /// started: a protection turned on since cannot leave the tenant half-deleted.
    Overridden,
}

/// Outcome of a create.
#[derive(Debug)]
pub enum CreateOutcome {
    /// Written (possibly by an earlier attempt of this same request).
    Created,
    /// The tenant refused the claim ([`COND_CLAIM_SLOT`] or a pool clause): here is the tenant
    /// as it was (absent when it is gone), for the caller to say why.
    SlotRefused(Option<Box<TenantRecord>>),
    /// The name is taken (or was re-taken since the read); here is what is there, if live.
    Exists(Option<Box<Cluster>>),
}

/// What a create claims from its tenant: a slot, under the plan the request judged by, and the
/// cluster's resources from the plan's pool.
#[derive(Debug, Clone, Copy)]
pub struct SlotClaim<'a> {
    /// The plan the request judged by: the claim fails if the tenant moved to another since.
    pub plan: &'a str,
    /// The plan's cluster quota.
    pub max_clusters: u32,
    /// The plan's pool.
    pub pool: Allocation,
}

/// The tenant's side of a resize: the pool change, under the plan the request judged by.
#[derive(Debug, Clone, Copy)]
pub struct PoolChange<'a> {
    /// The plan the request judged by.
    pub plan: &'a str,
    /// The plan's pool.
    pub pool: Allocation,
    /// New resources minus old, per kind.
    pub delta: Allocation,
}

/// Outcome of a spec change that also changes the tenant's allocation.
#[derive(Debug)]
pub enum ResizeOutcome {
    /// The cluster's side decided it (written, ours, conflict, absent).
    Cluster(Box<Outcome<Cluster>>),
    /// The tenant refused the pool change ([`COND_SAME_PLAN`] or a pool clause): here is the
    /// tenant as it was (absent when it is gone).
    PoolRefused(Option<Box<TenantRecord>>),
}

fn tenant_of(outcome: &Outcome<Item>) -> Result<Option<Box<TenantRecord>>, StoreError> {
    match outcome {
        Outcome::Written(i) | Outcome::AlreadyOurs(i) | Outcome::Conflict(i) => Ok(Some(Box::new(
            from_item::<_, TenantItem>(i.clone())?.into(),
        ))),
        Outcome::Absent => Ok(None),
    }
}

/// The pool values of a claim or resize: `:roomX` = pool − addition for each kind in
/// `growing`, exactly.
fn rooms(pool: &Allocation, added: &Allocation, growing: &[ResourceKind], values: &mut Values) {
    for kind in growing {
        let name = match kind {
            ResourceKind::Cpu => ":roomCpu",
            ResourceKind::Memory => ":roomMemory",
            ResourceKind::Storage => ":roomStorage",
        };
        let room = pool.get(*kind).saturating_sub(added.get(*kind));
        values.insert(name.into(), AttributeValue::N(room.to_string()));
    }
}

/// The clauses and values that start `next`'s operation on the cluster item: its type and
/// start time set, no retry count and no steps yet.
fn new_operation(next: &Cluster) -> (Vec<String>, [&'static str; 2], Values) {
    let op_type = next.op.op_type.unwrap_or(OpType::Update);
    let started = next
        .op
        .started_at
        .clone()
        .unwrap_or_else(|| next.updated_at.clone());
    (
        vec![
            "#opType = :opType".to_string(),
            "#opStartedAt = :opStartedAt".to_string(),
        ],
        ["#attempt", "#opSteps"],
        Values::from([
            (":opType".to_string(), s(op_type.as_str())),
            (":opStartedAt".into(), s(started)),
        ]),
    )
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

    /// Creates a cluster (or re-creates one over a tombstone) and claims its quota slot and its
    /// resources, in one transaction: the tenant's cluster slots gain the name and its
    /// `allocated*` counters the cluster's resources only while it is on `claim.plan`, has fewer
    /// than `max_clusters` slots, does not hold this name yet, and the pool has room for each
    /// resource; the cluster item is written only over `previous` (nothing, or the tombstone at
    /// that version).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn create(
        &self,
        c: &Cluster,
        previous: Option<ResourceVersion>,
        claim: &SlotClaim<'_>,
        token: &str,
    ) -> Result<CreateOutcome, StoreError> {
        let table = &self.store.table;
        let asked = Allocation::of(&c.spec.resources);
        if asked.first_above(&claim.pool).is_some() {
            // No tenant can hold it: refuse without a write (the caller checks this first).
            let tenant = self.store.tenants().get(c.tenant.as_str()).await?;
            return Ok(CreateOutcome::SlotRefused(tenant.map(Box::new)));
        }
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
            .map_err(unbuilt)?;
        let slot_condition = pool_condition(COND_CLAIM_SLOT, &ResourceKind::ALL);
        let mut slot_values = Values::from([
            (
                ":member".to_string(),
                AttributeValue::Ss(vec![c.name.to_string()]),
            ),
            (":name".into(), s(c.name.as_str())),
            (":max".into(), n(u64::from(claim.max_clusters))),
            (":plan".into(), s(claim.plan)),
            (":cpu".into(), i(asked.cpu)),
            (":memory".into(), i(asked.memory)),
            (":storage".into(), i(asked.storage)),
            (":one".into(), n(1)),
            (":terminating".into(), s(TenantPhase::Terminating.as_str())),
        ]);
        rooms(&claim.pool, &asked, &ResourceKind::ALL, &mut slot_values);
        let slot = self.tx_update(
            key(tenant_pk(c.tenant.as_str()), TENANT_SK),
            CLAIM_SLOT_UPDATE,
            &slot_condition,
            slot_values,
        )?;
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
        Ok(match (cluster, slot) {
            // Our own transaction landed and its reply was lost: the retry finds our cluster.
            (Some(Outcome::AlreadyOurs(_)), _) => CreateOutcome::Created,
            // The name is taken: that answer beats the quota (the slot fails too when the name
            // still holds one).
            (Some(Outcome::Conflict(item)), _) => CreateOutcome::Exists(live(item)?.map(Box::new)),
            (_, Some(refused)) => CreateOutcome::SlotRefused(tenant_of(refused)?),
            _ => CreateOutcome::Exists(None),
        })
    }

    /// One `Update` of a transaction, conditional, asking for the old item on failure.
    fn tx_update(
        &self,
        key: Item,
        update: &str,
        condition: &str,
        values: Values,
    ) -> Result<Update, StoreError> {
        let expr = format!("{update} {condition}");
        Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_used(&expr)))
            .set_expression_attribute_values(
                Some(values_used(&expr, values)).filter(|v| !v.is_empty()),
            )
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
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

    /// The update of a spec change and its values; a new generation (`bumped`) also starts a
    /// new operation: its type and start, no attempt count and no steps yet.
    fn spec_update(
        next: &Cluster,
        expected: ResourceVersion,
        bumped: bool,
        token: &str,
    ) -> (String, Values) {
        let it = ClusterItem::from(next);
        let mut values = Values::from([
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
        values.insert(":ha".into(), AttributeValue::Bool(it.high_availability));
        values.insert(
            ":delProt".into(),
            AttributeValue::Bool(it.deletion_protection),
        );
        let mut sets = vec![
            "#version = :version, #cpu = :cpu, #memory = :memory, #storage = :storage, \
             #alerts = :alerts, #ha = :ha, #gen = :gen, #updated = :updated, #rv = :new_rv, \
             #token = :token, #delProt = :delProt"
                .to_string(),
        ];
        let mut removes = Vec::new();
        let labels = (!it.labels.is_empty()).then(|| {
            AttributeValue::M(
                it.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                    .collect(),
            )
        });
        // Each optional attribute: set to its new value, or removed when it has none.
        let optional = [
            ("#haSince", ":ha_since", it.ha_since_generation.map(n)),
            ("#labels", ":labels", labels),
            ("#annotations", ":annotations", it.annotations.map(s)),
            ("#podCidr", ":podCidr", it.pod_cidr.map(s)),
            ("#serviceCidr", ":serviceCidr", it.service_cidr.map(s)),
            (
                "#endpointAccess",
                ":endpointAccess",
                it.endpoint_access.map(s),
            ),
            ("#addons", ":addons", it.addons.map(s)),
        ];
        for (name, placeholder, value) in optional {
            match value {
                Some(v) => {
                    values.insert(placeholder.into(), v);
                    sets.push(format!("{name} = {placeholder}"));
                }
                None => removes.push(name),
            }
        }
        if bumped {
            let (op_sets, op_removes, op_values) = new_operation(next);
            sets.extend(op_sets);
            removes.extend(op_removes);
            values.extend(op_values);
        }
        let mut update = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            update.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        (update, values)
    }

    /// Writes a new spec (and bumped generation) if the cluster is still as `current` (its
    /// version). A new generation replaces `current`'s operation: its archive is written in the
    /// same transaction.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn update_spec(
        &self,
        next: &Cluster,
        current: &Cluster,
        token: &str,
    ) -> Result<Outcome<Cluster>, StoreError> {
        let expected = current.resource_version;
        let bumped = next.generation != current.generation;
        let (update, values) = Self::spec_update(next, expected, bumped, token);
        if !bumped {
            return self.update(next, &update, values, token).await;
        }
        self.replace_operation(next, current, &update, COND_SAME_VERSION, values, token)
            .await
    }

    /// Writes `next` (a new generation) under `condition` and, in the same transaction, the
    /// archive of `current`'s operation, which the new generation replaces.
    async fn replace_operation(
        &self,
        next: &Cluster,
        current: &Cluster,
        update: &str,
        condition: &str,
        values: Values,
        token: &str,
    ) -> Result<Outcome<Cluster>, StoreError> {
        let cluster = self.tx_update(
            Self::key(&next.tenant, &next.name),
            update,
            condition,
            values,
        )?;
        let archive = archive_put(&self.store.table, current, &next.updated_at)?;
        let items = vec![
            TransactWriteItem::builder().update(cluster).build(),
            TransactWriteItem::builder().put(archive).build(),
        ];
        self.transact_first(next, items, token).await
    }

    /// Sends a transaction whose first item is the cluster's: its outcome decides.
    async fn transact_first(
        &self,
        next: &Cluster,
        items: Vec<TransactWriteItem>,
        token: &str,
    ) -> Result<Outcome<Cluster>, StoreError> {
        match self.store.transact(items, token).await? {
            Ok(()) => Ok(Outcome::Written(next.clone())),
            Err(reasons) => match reasons.first() {
                Some(Some(cluster)) => cluster.clone().decode(live),
                _ => Err(StoreError::Corrupt(
                    "unexpected cancellation reasons".into(),
                )),
            },
        }
    }

    /// Writes a new spec whose resources differ (in exact units) from the current ones, and the
    /// tenant's allocation change, in one transaction: the cluster only if still at `expected`,
    /// the tenant only while on `change.plan` and, for each resource that grows, while the pool
    /// has room for the growth. The tenant's version is bumped.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn resize(
        &self,
        next: &Cluster,
        current: &Cluster,
        change: &PoolChange<'_>,
        token: &str,
    ) -> Result<ResizeOutcome, StoreError> {
        let expected = current.resource_version;
        let bumped = next.generation != current.generation;
        let (update, values) = Self::spec_update(next, expected, bumped, token);
        let cluster = self.tx_update(
            Self::key(&next.tenant, &next.name),
            &update,
            COND_SAME_VERSION,
            values,
        )?;
        let growing: Vec<ResourceKind> = ResourceKind::ALL
            .into_iter()
            .filter(|k| change.delta.get(*k) > 0)
            .collect();
        let mut tenant_values = Values::from([
            (":plan".to_string(), s(change.plan)),
            (":cpu".into(), i(change.delta.cpu)),
            (":memory".into(), i(change.delta.memory)),
            (":storage".into(), i(change.delta.storage)),
            (":one".into(), n(1)),
        ]);
        rooms(&change.pool, &change.delta, &growing, &mut tenant_values);
        let tenant = self.tx_update(
            key(tenant_pk(next.tenant.as_str()), TENANT_SK),
            "ADD #allocCpu :cpu, #allocMemory :memory, #allocStorage :storage, #rv :one",
            &pool_condition(COND_SAME_PLAN, &growing),
            tenant_values,
        )?;
        let mut items = vec![
            TransactWriteItem::builder().update(cluster).build(),
            TransactWriteItem::builder().update(tenant).build(),
        ];
        if bumped {
            let archive = archive_put(&self.store.table, current, &next.updated_at)?;
            items.push(TransactWriteItem::builder().put(archive).build());
        }
        let reasons = match self.store.transact(items, token).await? {
            Ok(()) => {
                return Ok(ResizeOutcome::Cluster(Box::new(Outcome::Written(
                    next.clone(),
                ))))
            }
            Err(reasons) => reasons,
        };
        match reasons.as_slice() {
            [Some(cluster), ..] => Ok(ResizeOutcome::Cluster(Box::new(
                cluster.clone().decode(live)?,
            ))),
            [None, Some(tenant), ..] => Ok(ResizeOutcome::PoolRefused(tenant_of(tenant)?)),
            _ => Err(StoreError::Corrupt(
                "unexpected cancellation reasons".into(),
            )),
        }
    }

    /// Moves a cluster to `Terminating` (bumping generation, which starts the teardown) if it is
    /// still at `expected` and, when `guard` is [`DeletionGuard::Honoured`], not protected
    /// ([`COND_DELETE_UNPROTECTED`]); a refusal comes back as `Conflict` with the cluster as it
    /// is, for the caller to tell protection from a change.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn mark_deleting(
        &self,
        next: &Cluster,
        current: &Cluster,
        guard: DeletionGuard,
        token: &str,
    ) -> Result<Outcome<Cluster>, StoreError> {
        let expected = current.resource_version;
        let st = &next.status;
        let mut values = Values::from([
            (":gen".to_string(), n(next.generation)),
            (":new_rv".into(), n(next.resource_version.0)),
            (":expected_rv".into(), n(expected.0)),
            (":token".into(), s(token)),
            (":updated".into(), s(&next.updated_at)),
            (":now".into(), s(&next.updated_at)),
            (":phase".into(), s(st.phase.as_str())),
            (":reason".into(), s(st.reason.clone().unwrap_or_default())),
            (":message".into(), s(st.message.clone().unwrap_or_default())),
            (":false".into(), AttributeValue::Bool(false)),
        ]);
        let (mut sets, mut removes) = condition_clauses(st.phase);
        let (op_sets, op_removes, op_values) = new_operation(next);
        sets.extend(op_sets);
        removes.extend(op_removes.map(String::from));
        values.extend(op_values);
        let update = format!(
            "SET #phase = :phase, #reason = :reason, #message = :message, #gen = :gen, \
             #updated = :updated, #rv = :new_rv, #token = :token, {} REMOVE {}",
            sets.join(", "),
            removes.join(", ")
        );
        let condition = match guard {
            DeletionGuard::Honoured => COND_DELETE_UNPROTECTED,
            DeletionGuard::Overridden => COND_SAME_VERSION,
        };
        self.replace_operation(next, current, &update, condition, values, token)
            .await
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
            (":attempt".into(), n(input.attempt.unwrap_or(1))),
        ]);
        for p in Phase::ALL.into_iter().filter(|p| p.is_progressing()) {
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
        self.list_filtered(tenant, limit, after, 1, |_| true).await
    }

    /// [`Self::list`] of the clusters `keep` accepts (a label selector), filtered as they are
    /// read: reading goes on until `limit` + 1 clusters matched or the tenant has no more, so
    /// `more` is true exactly when another match exists after the page's last cluster, and a
    /// page that ends where its last match ends, resumed after that name, skips no match and
    /// repeats none. The tenant's plan caps its clusters (at most a few hundred items), which
    /// bounds what one request reads.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn list_matching(
        &self,
        tenant: &TenantName,
        limit: Option<usize>,
        after: Option<&ClusterName>,
        keep: impl Fn(&Cluster) -> bool,
    ) -> Result<(Vec<Cluster>, bool), StoreError> {
        self.list_filtered(tenant, limit, after, FILTERED_QUERY_PAGE, keep)
            .await
    }

    /// The query loop of both lists: each `Query` asks for what is still missing, but at
    /// least `page_floor` items (a filter may drop most of them).
    async fn list_filtered(
        &self,
        tenant: &TenantName,
        limit: Option<usize>,
        after: Option<&ClusterName>,
        page_floor: usize,
        keep: impl Fn(&Cluster) -> bool,
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
                let missing = w.saturating_sub(clusters.len()).max(page_floor);
                q = q.limit(i32::try_from(missing).unwrap_or(i32::MAX));
            }
            let out = q.send().await.map_err(|e| sdk_error("Query", e))?;
            for it in out.items.unwrap_or_default() {
                let c = Cluster::try_from(from_item::<_, ClusterItem>(it)?)?;
                if keep(&c) {
                    clusters.push(c);
                }
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

    /// Turns a cluster whose teardown finished into a tombstone and gives its quota slot and
    /// resources back,
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
        let resources = Allocation::of(&current.spec.resources);
        self.store
            .tenants()
            .release_slot(tenant, name, &resources)
            .await?;
        Ok(true)
    }
}
