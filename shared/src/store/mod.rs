//! The DynamoDB store. Every write carries a condition; a failed condition becomes a named
//! outcome (never a string), and the item DynamoDB returns with the failure
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`) tells "my own write already landed" (the SDK
//! retried after a lost reply) from a real conflict, without a second read.

pub mod item;
pub mod schema;

use crate::domain::{
    apikey::{KeyId, Role},
    cluster::Cluster,
    etag::ResourceVersion,
    names::{ClusterName, TenantName},
    phase::Phase,
};
use aws_sdk_dynamodb::{
    error::SdkError,
    operation::update_item::UpdateItemError,
    types::{AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure},
    Client,
};
use item::{Item, ItemExt};
use schema::{attr, *};
use std::collections::HashMap;

/// A store failure that is not a domain outcome: the caller answers 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SDK call failed (after its own retries of throttling and transient errors).
    #[error("DynamoDB {operation} failed: {message}")]
    Sdk {
        /// Operation name.
        operation: &'static str,
        /// Display of the SDK error (service code and message).
        message: String,
    },
    /// An item did not have the shape we write.
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

fn sdk_err<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| StoreError::Sdk {
        operation,
        message: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
    }
}

/// A conditional write's result as "did it land": a failed condition is `Ok(false)`, a named
/// outcome for the caller, never an error.
fn landed<T, E>(
    operation: &'static str,
    res: Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    match res {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(sdk_err(operation)(e)),
    }
}

/// A stored API key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Key id.
    pub id: KeyId,
    /// Owning tenant.
    pub tenant: String,
    /// Role.
    pub role: Role,
    /// SHA-256 of the whole key, hex.
    pub secret_hash: String,
    /// Display name.
    pub display_name: String,
    /// RFC 3339.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// Expiry, RFC 3339, if any.
    pub expires_at: Option<String>,
    /// Last successful use, RFC 3339, refreshed at most every few minutes.
    pub last_used_at: Option<String>,
}

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

/// What one request needs to decide: the caller's key, and optionally the tenant and a cluster,
/// fetched together in one consistent `BatchGetItem`.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The key record, if it exists.
    pub key: Option<ApiKeyRecord>,
    /// The tenant record, if asked for and present.
    pub tenant: Option<TenantRecord>,
    /// The cluster, if asked for and present (tombstones read as absent).
    pub cluster: Option<Cluster>,
    /// The `resourceVersion` of the cluster item, tombstones included: what a create continues.
    pub cluster_version: Option<ResourceVersion>,
    /// Recent authentication failures from the caller's IP, if any.
    pub auth_failures: Option<AuthFailures>,
}

/// Recent authentication failures from one client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailures {
    /// Failures in the current window.
    pub count: u32,
    /// No request from the IP is served before this (epoch seconds).
    pub blocked_until: u64,
    /// The record lapses at this time (epoch seconds; DynamoDB TTL deletes it later).
    pub expires_at: u64,
}

impl AuthFailures {
    /// Seconds the IP must still wait at `now`, if blocked.
    pub fn wait(&self, now: u64) -> Option<u64> {
        (self.expires_at > now && self.blocked_until > now).then(|| self.blocked_until - now)
    }

    /// Failures that still count at `now`.
    pub fn live_count(&self, now: u64) -> u32 {
        if self.expires_at > now {
            self.count
        } else {
            0
        }
    }
}

/// Outcome of a conditional cluster write.
#[derive(Debug)]
pub enum WriteOutcome {
    /// The write landed; here is the cluster after it.
    Written(Cluster),
    /// The condition failed because of someone else's write; here is what is there now
    /// (`None`: nothing, or a tombstone).
    Conflict(Option<Cluster>),
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

/// The DynamoDB-backed store.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl Store {
    /// Wraps a client and table name.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Reads the key, and optionally the tenant and a cluster, in one strongly consistent
    /// `BatchGetItem` (retrying unprocessed keys, which DynamoDB returns under throttling).
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails or an item is malformed.
    pub async fn snapshot(
        &self,
        key: &KeyId,
        tenant: Option<&TenantName>,
        cluster: Option<&ClusterName>,
        client_ip: Option<&str>,
    ) -> Result<Snapshot, StoreError> {
        let mut keys = vec![item::key(apikey_pk(key.hex()), APIKEY_SK)];
        if let Some(ip) = client_ip {
            keys.push(item::key(authfail_pk(ip), AUTHFAIL_SK));
        }
        if let Some(t) = tenant {
            keys.push(item::key(tenant_pk(t.as_str()), TENANT_SK));
            if let Some(c) = cluster {
                keys.push(item::key(tenant_pk(t.as_str()), cluster_sk(c.as_str())));
            }
        }
        let mut found = Vec::new();
        let mut pending = Some(keys);
        while let Some(keys) = pending.take() {
            let ka = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, ka)
                .send()
                .await
                .map_err(sdk_err("BatchGetItem"))?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|ka| ka.keys)
                .filter(|k| !k.is_empty());
        }
        let mut snap = Snapshot::default();
        for it in found {
            let sk = it.str_attr(SK)?;
            if sk == AUTHFAIL_SK {
                snap.auth_failures = Some(AuthFailures {
                    count: u32::try_from(it.num_attr(attr::FAILURES)?).unwrap_or(u32::MAX),
                    blocked_until: it.num_attr(attr::BLOCKED_UNTIL)?,
                    expires_at: it.num_attr(attr::EXPIRES_AT_EPOCH)?,
                });
            } else if sk == APIKEY_SK {
                snap.key = Some(item::api_key_from(&it)?);
            } else if sk == TENANT_SK {
                snap.tenant = Some(item::tenant_from(&it)?);
            } else {
                snap.cluster_version = Some(ResourceVersion(it.num_attr(attr::RESOURCE_VERSION)?));
                snap.cluster = item::cluster_from(&it)?;
            }
        }
        Ok(snap)
    }

    /// Creates a cluster (or re-creates one over a tombstone) and claims its quota slot, in one
    /// transaction: the tenant's `members` set gains the name only while it has fewer than
    /// `max_clusters` names (or already holds this one), and the cluster item is written only
    /// over `previous` (nothing, or the tombstone at that version). `resourceVersion` continues
    /// from the tombstone's, so it never repeats for the name.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn create_cluster(
        &self,
        c: &Cluster,
        previous: Option<ResourceVersion>,
        max_clusters: u32,
        token: &str,
    ) -> Result<CreateOutcome, StoreError> {
        use aws_sdk_dynamodb::{
            operation::transact_write_items::TransactWriteItemsError,
            types::{TransactWriteItem, Update},
        };
        let st = &c.status;
        let mut values = item::spec_values(c);
        values.extend([
            (":tenant".into(), s(c.tenant.as_str())),
            (":name".into(), s(c.name.as_str())),
            (":display".into(), s(c.display_name.as_str())),
            (":ctype".into(), s(c.cluster_type.as_str())),
            (":gen".into(), n(c.generation)),
            (":created".into(), s(&c.created_at)),
            (":phase".into(), s(st.phase.as_str())),
            (":observed".into(), n(st.observed_generation)),
            (":now".into(), s(&c.created_at)),
            (":token".into(), s(token)),
            (":reason".into(), s(st.reason.clone().unwrap_or_default())),
            (":message".into(), s(st.message.clone().unwrap_or_default())),
            (":rv".into(), n(c.resource_version.0)),
            (":deleted".into(), s(Phase::Deleted.as_str())),
        ]);
        let condition = match previous {
            None => COND_CREATE_NEW,
            Some(v) => {
                values.insert(":old_rv".into(), n(v.0));
                COND_CREATE_OVER_TOMBSTONE
            }
        };
        let (sets, removes) = condition_clauses(st.phase);
        let update = format!(
            "SET #tenant = :tenant, #name = :name, #display = :display, #ctype = :ctype, \
             #version = :version, #cpu = :cpu, #memory = :memory, #storage = :storage, \
             #alerts = :alerts, #gen = :gen, #created = :created, #updated = :updated, \
             #phase = :phase, #observed = :observed, #token = :token, #reason = :reason, \
             #message = :message, #rv = :rv, #inc = :rv, {} \
             REMOVE #endpoint, #k8s, #metrics, #ca, {}",
            sets.join(", "),
            removes.join(", ")
        );
        let expr = format!("{update} {condition}");
        let cluster_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item::key(
                tenant_pk(c.tenant.as_str()),
                cluster_sk(c.name.as_str()),
            )))
            .update_expression(&update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(item::names_used(&expr)))
            .set_expression_attribute_values(Some(item::values_used(&expr, values)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let slot = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item::key(tenant_pk(c.tenant.as_str()), TENANT_SK)))
            .update_expression("ADD #members :member")
            .condition_expression(COND_CLAIM_SLOT)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#members", attr::MEMBERS)
            .expression_attribute_values(":member", AttributeValue::Ss(vec![c.name.to_string()]))
            .expression_attribute_values(":name", s(c.name.as_str()))
            .expression_attribute_values(":max", n(u64::from(max_clusters)))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let res = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(slot).build())
            .transact_items(TransactWriteItem::builder().update(cluster_update).build())
            .client_request_token(
                token
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(36)
                    .collect::<String>(),
            )
            .send()
            .await;
        match res {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(SdkError::ServiceError(se)) => match se.into_err() {
                TransactWriteItemsError::TransactionCanceledException(tc) => {
                    let reasons = tc.cancellation_reasons.unwrap_or_default();
                    let failed = |i: usize| {
                        reasons.get(i).and_then(|r| r.code.as_deref())
                            == Some("ConditionalCheckFailed")
                    };
                    let existing = match reasons.get(1).and_then(|r| r.item.as_ref()) {
                        Some(it) => item::cluster_from(it)?,
                        None => None,
                    };
                    // Our own transaction landed and its reply was lost: the retry finds our
                    // cluster, written with our token.
                    if existing
                        .as_ref()
                        .is_some_and(|e| e.write_token.as_deref() == Some(token))
                    {
                        return Ok(CreateOutcome::Created);
                    }
                    if failed(0) {
                        Ok(CreateOutcome::OverQuota)
                    } else {
                        Ok(CreateOutcome::Exists(existing.map(Box::new)))
                    }
                }
                other => Err(StoreError::Sdk {
                    operation: "TransactWriteItems",
                    message: aws_sdk_dynamodb::error::DisplayErrorContext(&other).to_string(),
                }),
            },
            Err(e) => Err(sdk_err("TransactWriteItems")(e)),
        }
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
    ) -> Result<WriteOutcome, StoreError> {
        let mut values = item::spec_values(next);
        values.extend([
            (":gen".into(), n(next.generation)),
            (":new_rv".into(), n(next.resource_version.0)),
            (":expected_rv".into(), n(expected.0)),
            (":token".into(), s(token)),
        ]);
        let update = "SET #version = :version, #cpu = :cpu, #memory = :memory, \
             #storage = :storage, #alerts = :alerts, #gen = :gen, #updated = :updated, \
             #rv = :new_rv, #token = :token";
        self.conditional_update(next, update, COND_SAME_VERSION, values, token)
            .await
    }

    /// Moves a cluster to `Deleting` (bumping generation, which starts the teardown) if it is
    /// still at `expected`.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn mark_deleting(
        &self,
        next: &Cluster,
        expected: ResourceVersion,
        token: &str,
    ) -> Result<WriteOutcome, StoreError> {
        let st = &next.status;
        let values: Item = HashMap::from([
            (":gen".into(), n(next.generation)),
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
        self.conditional_update(next, &update, COND_SAME_VERSION, values, token)
            .await
    }

    async fn conditional_update(
        &self,
        c: &Cluster,
        update: &str,
        condition: &str,
        values: Item,
        token: &str,
    ) -> Result<WriteOutcome, StoreError> {
        let expr = format!("{update} {condition}");
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(
                tenant_pk(c.tenant.as_str()),
                cluster_sk(c.name.as_str()),
            )))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(item::names_used(&expr)))
            .set_expression_attribute_values(Some(item::values_used(&expr, values)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => {
                let attrs = out.attributes.unwrap_or_default();
                let cluster = item::cluster_from(&attrs)?
                    .ok_or_else(|| StoreError::Corrupt("write returned no cluster".into()))?;
                Ok(WriteOutcome::Written(cluster))
            }
            Err(SdkError::ServiceError(se)) => match se.into_err() {
                UpdateItemError::ConditionalCheckFailedException(ccf) => {
                    let old = match ccf.item {
                        Some(it) => item::cluster_from(&it)?,
                        None => None,
                    };
                    // Our own write landed and its reply was lost; the SDK's retry then failed
                    // the condition against our own result. That is success, not a conflict.
                    if let Some(old) = old
                        .as_ref()
                        .filter(|o| o.write_token.as_deref() == Some(token))
                    {
                        return Ok(WriteOutcome::Written(old.clone()));
                    }
                    Ok(WriteOutcome::Conflict(old))
                }
                other => Err(StoreError::Sdk {
                    operation: "UpdateItem",
                    message: aws_sdk_dynamodb::error::DisplayErrorContext(&other).to_string(),
                }),
            },
            Err(e) => Err(sdk_err("UpdateItem")(e)),
        }
    }

    /// Turns a cluster whose teardown finished into a tombstone (the workflow's last write; the
    /// state machine issues the same `UpdateItem`). Returns whether it was still there to retire.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn finish_deletion(
        &self,
        tenant: &TenantName,
        name: &ClusterName,
        generation: u64,
    ) -> Result<bool, StoreError> {
        let update = RETIRE_UPDATE;
        let expr = format!("{update} {COND_FINISH_DELETION}");
        let values: Item = HashMap::from([
            (":deleted".into(), s(Phase::Deleted.as_str())),
            (":deleting".into(), s(Phase::Deleting.as_str())),
            (":one".into(), n(1)),
            (":gen".into(), n(generation)),
        ]);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(
                tenant_pk(tenant.as_str()),
                cluster_sk(name.as_str()),
            )))
            .update_expression(update)
            .condition_expression(COND_FINISH_DELETION)
            .set_expression_attribute_names(Some(item::names_used(&expr)))
            .set_expression_attribute_values(Some(item::values_used(&expr, values)))
            .send()
            .await;
        if !landed("UpdateItem", res)? {
            return Ok(false);
        }
        self.release_slot(tenant, name).await?;
        Ok(true)
    }

    /// Gives a retired cluster's quota slot back (the state machine's `ReleaseSlot` state sends
    /// the same update). Removing a name that is not there changes nothing, so a retry is safe.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn release_slot(
        &self,
        tenant: &TenantName,
        name: &ClusterName,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(tenant_pk(tenant.as_str()), TENANT_SK)))
            .update_expression(RELEASE_SLOT_UPDATE)
            .expression_attribute_names("#members", attr::MEMBERS)
            .expression_attribute_values(":member", AttributeValue::Ss(vec![name.to_string()]))
            .send()
            .await
            .map_err(sdk_err("UpdateItem"))?;
        Ok(())
    }

    /// Moves a tenant to another plan.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; `Ok(false)` when there is no such tenant.
    pub async fn set_plan(&self, tenant: &str, plan: &str) -> Result<bool, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(tenant_pk(tenant), TENANT_SK)))
            .update_expression("SET #plan = :plan")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#plan", attr::PLAN)
            .expression_attribute_values(":plan", s(plan))
            .send()
            .await;
        landed("UpdateItem", res)
    }

    /// One cluster, strongly consistent; `None` when absent or a tombstone.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn get_cluster(
        &self,
        tenant: &TenantName,
        name: &ClusterName,
    ) -> Result<Option<Cluster>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key(
                tenant_pk(tenant.as_str()),
                cluster_sk(name.as_str()),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err("GetItem"))?;
        match out.item {
            Some(it) => item::cluster_from(&it),
            None => Ok(None),
        }
    }

    /// Marks a cluster `Failed` after its workflow died, if that workflow's generation is still
    /// the current one and its rollout was still in progress. Returns whether it wrote.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn mark_failed_if_progressing(
        &self,
        input: &crate::workflow::ExecutionInput,
        reason: &str,
        message: &str,
    ) -> Result<bool, StoreError> {
        let now = crate::domain::now_rfc3339();
        let (sets, removes) = condition_clauses(Phase::Failed);
        let update = format!(
            "SET #phase = :failed, #reason = :reason, #message = :message, #updated = :now, \
             #rv = #rv + :one, {} REMOVE {}",
            sets.join(", "),
            removes.join(", ")
        );
        let expr = format!("{update} {COND_DEAD_EXECUTION}");
        let mut values: Item = HashMap::from([
            (":failed".into(), s(Phase::Failed.as_str())),
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
            Phase::Deleting,
        ] {
            values.insert(format!(":{}", p.as_str().to_lowercase()), s(p.as_str()));
        }
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(
                tenant_pk(&input.tenant),
                cluster_sk(&input.name),
            )))
            .update_expression(update)
            .condition_expression(COND_DEAD_EXECUTION)
            .set_expression_attribute_names(Some(item::names_used(&expr)))
            .set_expression_attribute_values(Some(item::values_used(&expr, values)))
            .send()
            .await;
        landed("UpdateItem", res)
    }

    /// One page of a tenant's clusters in name order, starting after `after`. Returns up to
    /// `limit` clusters (all when `None`) and whether more remain.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn list_clusters(
        &self,
        tenant: &TenantName,
        limit: Option<usize>,
        after: Option<&ClusterName>,
    ) -> Result<(Vec<Cluster>, bool), StoreError> {
        let mut clusters = Vec::new();
        let mut start =
            after.map(|a| item::key(tenant_pk(tenant.as_str()), cluster_sk(a.as_str())));
        // One more than asked for tells whether another page exists.
        let want = limit.map(|l| l + 1);
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .filter_expression("#phase <> :deleted")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_names("#phase", attr::PHASE)
                .expression_attribute_values(":pk", s(tenant_pk(tenant.as_str())))
                .expression_attribute_values(":prefix", s(CLUSTER_SK_PREFIX))
                .expression_attribute_values(":deleted", s(Phase::Deleted.as_str()))
                .set_exclusive_start_key(start.take());
            if let Some(w) = want {
                let page = i32::try_from(w - clusters.len()).unwrap_or(i32::MAX);
                q = q.limit(page);
            }
            let out = q.send().await.map_err(sdk_err("Query"))?;
            for it in out.items.unwrap_or_default() {
                if let Some(c) = item::cluster_from(&it)? {
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

    /// Creates a tenant record.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; `Ok(false)` when the tenant exists already.
    pub async fn create_tenant(&self, t: &TenantRecord) -> Result<bool, StoreError> {
        let mut it = item::key(tenant_pk(&t.name), TENANT_SK);
        it.insert(attr::TENANT.into(), s(&t.name));
        it.insert(attr::PLAN.into(), s(&t.plan));
        it.insert(attr::CREATED_AT.into(), s(&t.created_at));
        self.put_new(it).await
    }

    /// Stores a new API key record.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; `Ok(false)` when the id is taken.
    pub async fn create_api_key(&self, k: &ApiKeyRecord) -> Result<bool, StoreError> {
        self.put_new(item::api_key_item(k)).await
    }

    /// Revokes a key: removes its record, so the next request with it is 401.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; `Ok(false)` when there was no such key.
    pub async fn revoke_api_key(&self, id: &KeyId) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::key(apikey_pk(id.hex()), APIKEY_SK)))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        landed("DeleteItem", res)
    }

    /// Counts an authentication failure from `ip` and sets its backoff. Conditional on the count
    /// it read, so concurrent failures do not overwrite each other's blocks with shorter ones;
    /// losing that race is harmless (the other failure counted).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn record_auth_failure(
        &self,
        ip: &str,
        previous: Option<&AuthFailures>,
        backoff: &crate::config::AuthBackoff,
        now: u64,
    ) -> Result<(), StoreError> {
        let count = previous.map_or(0, |p| p.live_count(now)).saturating_add(1);
        let blocked_until = now + backoff.wait_after(count);
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(authfail_pk(ip), AUTHFAIL_SK)))
            .update_expression("SET #failures = :count, #blocked = :blocked, #expires = :expires")
            .expression_attribute_names("#failures", attr::FAILURES)
            .expression_attribute_names("#blocked", attr::BLOCKED_UNTIL)
            .expression_attribute_names("#expires", attr::EXPIRES_AT_EPOCH)
            .expression_attribute_values(":count", n(u64::from(count)))
            .expression_attribute_values(":blocked", n(blocked_until))
            .expression_attribute_values(":expires", n(now + backoff.window_secs));
        req = match previous {
            Some(p) => req
                .condition_expression("#failures = :old")
                .expression_attribute_values(":old", n(u64::from(p.count))),
            None => req.condition_expression("attribute_not_exists(#failures)"),
        };
        // A lost race is harmless here: someone else's write did the same job.
        landed("UpdateItem", req.send().await).map(|_| ())
    }

    /// Refreshes a key's `lastUsedAt`, unless someone refreshed it since it was read (so
    /// concurrent requests write once).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn touch_api_key(&self, key: &ApiKeyRecord, now: &str) -> Result<(), StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(apikey_pk(key.id.hex()), APIKEY_SK)))
            .update_expression("SET #used = :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#used", attr::LAST_USED_AT)
            .expression_attribute_values(":now", s(now));
        req = match &key.last_used_at {
            Some(old) => req
                .condition_expression("attribute_exists(#pk) AND #used = :old")
                .expression_attribute_values(":old", s(old)),
            None => {
                req.condition_expression("attribute_exists(#pk) AND attribute_not_exists(#used)")
            }
        };
        // A lost race is harmless here: someone else's write did the same job.
        landed("UpdateItem", req.send().await).map(|_| ())
    }

    /// A tenant's API keys (metadata), oldest first, from the `byTenant` index.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn list_api_keys(
        &self,
        tenant: &TenantName,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_TENANT_INDEX)
                .key_condition_expression("#g = :g")
                .expression_attribute_names("#g", GSI1_PK)
                .expression_attribute_values(":g", s(apikeys_gsi_pk(tenant.as_str())))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err("Query"))?;
            for it in out.items.unwrap_or_default() {
                keys.push(item::api_key_from(&it)?);
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        keys.sort_by(|a, b| (&a.created_at, a.id.hex()).cmp(&(&b.created_at, b.id.hex())));
        Ok(keys)
    }

    /// Revokes a tenant's key: removes its record if it belongs to `tenant`. `Ok(false)` when
    /// there is no such key in the tenant.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn revoke_tenant_key(
        &self,
        tenant: &TenantName,
        id: &KeyId,
    ) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::key(apikey_pk(id.hex()), APIKEY_SK)))
            .condition_expression(COND_KEY_OF_TENANT)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#tenant", attr::TENANT)
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .send()
            .await;
        landed("DeleteItem", res)
    }

    /// Reads a tenant record (consistent).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn get_tenant(&self, tenant: &str) -> Result<Option<TenantRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key(tenant_pk(tenant), TENANT_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err("GetItem"))?;
        out.item.map(|it| item::tenant_from(&it)).transpose()
    }

    async fn put_new(&self, it: Item) -> Result<bool, StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(it))
            .condition_expression(COND_NEW_ITEM)
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        landed("PutItem", res)
    }
}
