//! Archived operations: the immutable copy of an operation that a newer generation replaced,
//! written by the API in the same transaction that writes the new generation (conditioned on the
//! `resourceVersion` the request read, which is what makes the copy exact), under the tenant's
//! partition with sort key `OP#<name>#<incarnation:020>#<generation:020>`, so a reverse `Query`
//! lists one incarnation's operations newest first. Only the current incarnation's are read (a
//! re-created cluster starts a fresh history); the tenant purge removes them all.
//!
//! Also the two writes of the current operation on the cluster item that are not the API's
//! generation bump: a retry (one more attempt) and the provisioner's record of its steps.

use super::{
    item::{from_item, key, to_item, Item},
    schema::*,
    write::{n, s, Outcome, Values},
    Store, StoreError,
};
use crate::domain::{
    cluster::Cluster,
    operation::{OpError, OpState, OpStep, OpType, Operation},
    phase::Phase,
};
use aws_sdk_dynamodb::types::Put;
use serde::{Deserialize, Serialize};

/// An archived operation as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct OpItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub cluster: String,
    pub incarnation: u64,
    pub generation: u64,
    pub op_type: String,
    pub state: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub attempt: u64,
    /// JSON text of the steps.
    pub steps: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default)]
    pub error_retryable: bool,
}

impl OpItem {
    fn of(c: &Cluster, op: &Operation) -> Self {
        OpItem {
            pk: tenant_pk(c.tenant.as_str()),
            sk: op_sk(c.name.as_str(), c.incarnation, op.generation),
            id: op.id.clone(),
            cluster: c.name.to_string(),
            incarnation: c.incarnation,
            generation: op.generation,
            op_type: op.op_type.as_str().to_string(),
            state: op.state.as_str().to_string(),
            started_at: op.started_at.clone(),
            finished_at: op.finished_at.clone(),
            attempt: op.attempt,
            steps: serde_json::to_string(&op.steps).unwrap_or_else(|_| "[]".into()),
            error_code: op.error.as_ref().map(|e| e.code.clone()),
            error_message: op.error.as_ref().map(|e| e.message.clone()),
            error_retryable: op.error.as_ref().is_some_and(|e| e.retryable),
        }
    }

    fn operation(self) -> Result<Operation, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("archived operation: {what}"));
        Ok(Operation {
            op_type: OpType::parse(&self.op_type).ok_or_else(|| corrupt("type"))?,
            state: OpState::parse(&self.state).ok_or_else(|| corrupt("state"))?,
            steps: serde_json::from_str::<Vec<OpStep>>(&self.steps)
                .map_err(|_| corrupt("steps"))?,
            error: self.error_code.map(|code| OpError {
                code,
                message: self.error_message.unwrap_or_default(),
                retryable: self.error_retryable,
            }),
            id: self.id,
            generation: self.generation,
            started_at: self.started_at,
            finished_at: self.finished_at,
            attempt: self.attempt,
        })
    }
}

/// The `Put` that archives `current`'s operation as it is when a new generation replaces it at
/// `now` (one item of the transaction that writes the new generation). Unconditional: the
/// cluster's own clause (its `resourceVersion`) decides the transaction, and only one writer
/// can win a version.
///
/// # Errors
/// [`StoreError`] when the request cannot be built.
pub fn archive_put(table: &str, current: &Cluster, now: &str) -> Result<Put, StoreError> {
    let op = Operation::archived(current, now);
    Put::builder()
        .table_name(table)
        .set_item(Some(to_item(&OpItem::of(current, &op))?))
        .build()
        .map_err(super::write::unbuilt)
}

/// The operations of a cluster.
#[derive(Debug, Clone, Copy)]
pub struct Operations<'a> {
    pub(super) store: &'a Store,
}

/// What became of a retry.
#[derive(Debug)]
pub enum RetryOutcome {
    /// The cluster is back in its accepted phase with one more attempt.
    Retried(Box<Cluster>),
    /// The condition failed: the cluster changed since the read (here it is, if live).
    Changed(Option<Box<Cluster>>),
}

impl Operations<'_> {
    /// One page of the archived operations of `cluster`'s current incarnation, newest first,
    /// older than generation `before` (all when `None`): up to `limit` and whether more remain.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn archived(
        &self,
        cluster: &Cluster,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Operation>, bool), StoreError> {
        let prefix = op_sk_prefix(cluster.name.as_str(), cluster.incarnation);
        let low = prefix.clone();
        let high = match before {
            Some(0) => return Ok((Vec::new(), false)),
            Some(g) => op_sk(cluster.name.as_str(), cluster.incarnation, g - 1),
            // `~` sorts after every digit: the whole prefix.
            None => format!("{prefix}~"),
        };
        let mut ops = Vec::new();
        let mut start = None;
        loop {
            let want = limit + 1 - ops.len();
            let out = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .consistent_read(true)
                .scan_index_forward(false)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .set_expression_attribute_names(Some(names_used("#pk #sk")))
                .expression_attribute_values(":pk", s(tenant_pk(cluster.tenant.as_str())))
                .expression_attribute_values(":low", s(low.clone()))
                .expression_attribute_values(":high", s(high.clone()))
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| super::write::sdk_error("Query", e))?;
            for it in out.items.unwrap_or_default() {
                ops.push(from_item::<_, OpItem>(it)?.operation()?);
            }
            match out.last_evaluated_key {
                Some(k) if ops.len() <= limit => start = Some(k),
                _ => break,
            }
        }
        let more = ops.len() > limit;
        ops.truncate(limit);
        Ok((ops, more))
    }

    /// The archived operation of `cluster`'s current incarnation at `generation`, if any.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn get_archived(
        &self,
        cluster: &Cluster,
        generation: u64,
    ) -> Result<Option<Operation>, StoreError> {
        let k = key(
            tenant_pk(cluster.tenant.as_str()),
            op_sk(cluster.name.as_str(), cluster.incarnation, generation),
        );
        match self.store.get(k).await? {
            Some(item) => Ok(Some(from_item::<_, OpItem>(item)?.operation()?)),
            None => Ok(None),
        }
    }

    /// Retries `current`'s failed operation: back to the phase its action starts from
    /// (`Terminating` for a teardown, else `Pending`) with one more attempt, under
    /// [`COND_RETRY_FAILED`]. The new `attempt` in the stream starts the new execution.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn retry(&self, current: &Cluster, token: &str) -> Result<RetryOutcome, StoreError> {
        let now = crate::domain::now_rfc3339();
        let phase = match current.op.op_type {
            Some(OpType::Delete) => Phase::Terminating,
            _ => Phase::Pending,
        };
        let (sets, removes) = condition_clauses(phase);
        let update = format!(
            "SET #phase = :phase, #reason = :reason, #message = :message, #updated = :now, \
             #rv = :new_rv, #token = :token, #attempt = :attempt, {} REMOVE {}",
            sets.join(", "),
            removes.join(", ")
        );
        let values = Values::from([
            (":phase".to_string(), s(phase.as_str())),
            (":reason".into(), s("RetryRequested")),
            (
                ":message".into(),
                s("Retrying the failed operation from its failed step"),
            ),
            (":now".into(), s(&now)),
            (":new_rv".into(), n(current.resource_version.0 + 1)),
            (":expected_rv".into(), n(current.resource_version.0)),
            (":token".into(), s(token)),
            (":attempt".into(), n(current.op.attempt.max(1) + 1)),
            (":degraded".into(), s(Phase::Degraded.as_str())),
            (":gen".into(), n(current.generation)),
            (":inc".into(), n(current.incarnation)),
        ]);
        let k = key(
            tenant_pk(current.tenant.as_str()),
            cluster_sk(current.name.as_str()),
        );
        let write = self.store.update(k, &update, COND_RETRY_FAILED, values);
        let live = |item: Item| Ok(super::item::StoredCluster::from_item(item)?.live());
        Ok(
            match self.store.write(write, Some(token)).await?.decode(live)? {
                Outcome::Written(c) | Outcome::AlreadyOurs(c) => RetryOutcome::Retried(Box::new(c)),
                Outcome::Conflict(c) => RetryOutcome::Changed(Some(Box::new(c))),
                Outcome::Absent => RetryOutcome::Changed(None),
            },
        )
    }

    /// Records the current operation's steps on the cluster item, under
    /// [`COND_SAME_GENERATION`] (bumping `resourceVersion` like every status write). Returns
    /// whether it landed.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn record_steps(
        &self,
        tenant: &str,
        name: &str,
        incarnation: u64,
        generation: u64,
        steps: &[OpStep],
    ) -> Result<bool, StoreError> {
        let text =
            serde_json::to_string(steps).map_err(|e| StoreError::Corrupt(format!("steps: {e}")))?;
        let values = Values::from([
            (":steps".to_string(), s(text)),
            (":one".into(), n(1)),
            (":gen".into(), n(generation)),
            (":inc".into(), n(incarnation)),
        ]);
        let write = self.store.update(
            key(tenant_pk(tenant), cluster_sk(name)),
            "SET #opSteps = :steps, #rv = #rv + :one",
            COND_SAME_GENERATION,
            values,
        );
        Ok(self.store.write(write, None).await?.landed())
    }

    /// Removes every archived operation of `tenant` (its purge).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn purge(&self, tenant: &str) -> Result<(), StoreError> {
        for mut it in self.store.query_prefix(tenant, OP_SK_PREFIX).await? {
            it.retain(|attr, _| attr == PK || attr == SK);
            let write = self.store.delete(it, COND_ITEM_EXISTS, Values::new());
            self.store.write(write, None).await?;
        }
        Ok(())
    }
}
