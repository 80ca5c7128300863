//! Managed secrets, one item each under the tenant's partition (`SECRET#<name>`, a tombstone
//! after the deletion finishes so the name's `resourceVersion` goes on), and the tenant's secret
//! counter (`SECRETS`). A create is one transaction of the secret and the counter (conditioned on
//! room under the limit), and so is the start of a deletion (the counter gives the place back
//! then: a `Deleting` secret keeps its name but not its place). The sync workflow's status writes
//! and the final tombstone write are conditioned on the generation and version the sync read.

use super::{
    item::{from_item, key, to_item, Item, SecretItem},
    schema::*,
    write::{n, s, sdk_error, unbuilt, Outcome, Values},
    Store, StoreError,
};
use crate::domain::{
    etag::ResourceVersion,
    names::{SecretName, TenantName},
    secret::{Secret, SecretPhase, StoredSyncStatus, SyncTarget},
};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure as OnFailure, TransactWriteItem,
    Update,
};

/// The secret items of the table.
#[derive(Debug, Clone, Copy)]
pub struct Secrets<'a> {
    pub(super) store: &'a Store,
}

/// A secret item as read.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredSecret {
    /// A secret that exists (`Deleting` included).
    Live(Box<Secret>),
    /// A finished deletion; it keeps the name's version count.
    Tombstone(ResourceVersion),
}

impl StoredSecret {
    /// Reads a secret item.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the item is not a secret we wrote.
    pub fn from_item<I: Into<serde_dynamo::Item>>(item: I) -> Result<Self, StoreError> {
        let it: SecretItem = from_item(item)?;
        if it.deleted {
            return Ok(StoredSecret::Tombstone(ResourceVersion(
                it.resource_version,
            )));
        }
        Ok(StoredSecret::Live(Box::new(Secret::try_from(it)?)))
    }

    /// The live secret, if it is one.
    pub fn live(self) -> Option<Secret> {
        match self {
            StoredSecret::Live(s) => Some(*s),
            StoredSecret::Tombstone(_) => None,
        }
    }
}

impl TryFrom<SecretItem> for Secret {
    type Error = StoreError;

    fn try_from(it: SecretItem) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("{}: {what}", it.sk));
        let sync: Vec<SyncTarget> = match &it.sync {
            Some(text) => serde_json::from_str(text).map_err(|e| corrupt(&e.to_string()))?,
            None => Vec::new(),
        };
        let status: StoredSyncStatus = match &it.sync_status {
            Some(text) => serde_json::from_str(text).map_err(|e| corrupt(&e.to_string()))?,
            None => StoredSyncStatus::default(),
        };
        let phase = it
            .phase
            .as_deref()
            .and_then(SecretPhase::parse)
            .ok_or_else(|| corrupt("no phase"))?;
        Ok(Secret {
            name: it.name.clone().ok_or_else(|| corrupt("no name"))?,
            secret_path: it.secret_path.clone().ok_or_else(|| corrupt("no path"))?,
            sync,
            phase,
            conditions: status.conditions,
            sync_statuses: status.sync_statuses,
            generation: it.generation,
            observed_generation: it.observed_generation,
            resource_version: ResourceVersion(it.resource_version),
            incarnation: it.incarnation,
            created_at: it.created_at.clone().unwrap_or_default(),
            updated_at: it.updated_at.clone().unwrap_or_default(),
        })
    }
}

/// The JSON text of a secret's status attribute.
pub fn status_text(secret: &Secret) -> String {
    let stored = StoredSyncStatus {
        conditions: secret.conditions.clone(),
        sync_statuses: secret.sync_statuses.clone(),
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

fn item_of(tenant: &TenantName, secret: &Secret, token: &str) -> SecretItem {
    SecretItem {
        pk: tenant_pk(tenant.as_str()),
        sk: secret_sk(&secret.name),
        resource_version: secret.resource_version.0,
        deleted: false,
        tenant: Some(tenant.as_str().to_string()),
        name: Some(secret.name.clone()),
        secret_path: Some(secret.secret_path.clone()),
        sync: Some(serde_json::to_string(&secret.sync).unwrap_or_default()),
        sync_status: Some(status_text(secret)),
        generation: secret.generation,
        incarnation: secret.incarnation,
        observed_generation: secret.observed_generation,
        phase: Some(secret.phase.as_str().to_string()),
        created_at: Some(secret.created_at.clone()),
        updated_at: Some(secret.updated_at.clone()),
        write_token: Some(token.to_string()),
    }
}

/// What became of a create.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretCreate {
    /// Created (possibly by an earlier attempt of this request).
    Written,
    /// A live secret holds the name.
    Exists,
    /// The tombstone read moved on (a concurrent create and delete): read again.
    Moved,
    /// The tenant has [`MAX_SECRETS_PER_TENANT`](crate::domain::secret::MAX_SECRETS_PER_TENANT)
    /// live secrets.
    Full,
}

/// What became of the start of a deletion.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretDelete {
    /// `Deleting` now (possibly by an earlier attempt of this request).
    Written,
    /// The secret changed since the read (or is deleting, or gone): here it is, if live.
    Changed(Option<Box<Secret>>),
}

fn decode_live(item: Item) -> Result<Option<Secret>, StoreError> {
    Ok(StoredSecret::from_item(item)?.live())
}

fn cancelled_without_reason() -> StoreError {
    StoreError::Corrupt("a cancelled transaction without a reason".into())
}

impl Secrets<'_> {
    fn key(tenant: &str, name: &str) -> Item {
        key(tenant_pk(tenant), secret_sk(name))
    }

    /// A secret (live or tombstone), strongly consistent.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn get(
        &self,
        tenant: &TenantName,
        name: &SecretName,
    ) -> Result<Option<StoredSecret>, StoreError> {
        self.store
            .get(Self::key(tenant.as_str(), name.as_str()))
            .await?
            .map(StoredSecret::from_item)
            .transpose()
    }

    /// The counter's part of a create or delete transaction.
    fn count_update(
        &self,
        tenant: &TenantName,
        delta: i64,
        room: Option<u32>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut values =
            Values::from([(":delta".to_string(), AttributeValue::N(delta.to_string()))]);
        let mut update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(tenant_pk(tenant.as_str()), SECRET_COUNT_SK)))
            .update_expression(SECRET_COUNT_UPDATE);
        let mut expr = SECRET_COUNT_UPDATE.to_string();
        if let Some(max) = room {
            values.insert(":max".into(), n(max.into()));
            update = update
                .condition_expression(COND_SECRET_ROOM)
                .return_values_on_condition_check_failure(OnFailure::AllOld);
            expr = format!("{expr} {COND_SECRET_ROOM}");
        }
        let update = update
            .set_expression_attribute_names(Some(names_used(&expr)))
            .set_expression_attribute_values(Some(values_used(&expr, values)))
            .build()
            .map_err(unbuilt)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Creates `secret` (over its tombstone at `tombstone`, if the name had one), taking one of
    /// the tenant's `max` places, in one transaction.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn create(
        &self,
        tenant: &TenantName,
        secret: &Secret,
        tombstone: Option<ResourceVersion>,
        max: u32,
        token: &str,
    ) -> Result<SecretCreate, StoreError> {
        let (condition, values) = match tombstone {
            None => (COND_SECRET_NEW, Values::new()),
            Some(t) => (
                COND_SECRET_OVER_TOMBSTONE,
                Values::from([
                    (":true".to_string(), AttributeValue::Bool(true)),
                    (":old_rv".into(), n(t.0)),
                ]),
            ),
        };
        let values = values_used(condition, values);
        let put = Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(to_item(&item_of(tenant, secret, token))?))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_used(condition)))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(unbuilt)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            self.count_update(tenant, 1, Some(max))?,
        ];
        Ok(match self.store.transact(items, token).await? {
            Ok(()) => SecretCreate::Written,
            Err(reasons) => match reasons.as_slice() {
                [Some(Outcome::AlreadyOurs(_)), _] => SecretCreate::Written,
                [Some(Outcome::Conflict(it)), _] => match StoredSecret::from_item(it.clone())? {
                    StoredSecret::Live(_) => SecretCreate::Exists,
                    StoredSecret::Tombstone(_) => SecretCreate::Moved,
                },
                [Some(Outcome::Absent | Outcome::Written(_)), _] => SecretCreate::Moved,
                [None, Some(_)] => SecretCreate::Full,
                _ => return Err(cancelled_without_reason()),
            },
        })
    }

    /// Replaces the targets of the secret read at `expected` with `next`'s (a new generation,
    /// `Pending`).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn replace_sync(
        &self,
        tenant: &TenantName,
        next: &Secret,
        expected: ResourceVersion,
        token: &str,
    ) -> Result<Outcome<Secret>, StoreError> {
        let update = "SET #sync = :sync, #syncStatus = :status, #phase = :phase, #gen = :gen, \
                      #updated = :now, #token = :token ADD #rv :one";
        let values = Values::from([
            (
                ":sync".to_string(),
                s(serde_json::to_string(&next.sync).unwrap_or_default()),
            ),
            (":status".into(), s(status_text(next))),
            (":phase".into(), s(next.phase.as_str())),
            (":gen".into(), n(next.generation)),
            (":now".into(), s(&next.updated_at)),
            (":token".into(), s(token)),
            (":one".into(), n(1)),
            (":deleting".into(), s(SecretPhase::Deleting.as_str())),
            (":expected_rv".into(), n(expected.0)),
        ]);
        let write = self.store.update(
            Self::key(tenant.as_str(), &next.name),
            update,
            COND_SECRET_LIVE_AT,
            values,
        );
        self.store
            .write(write, Some(token))
            .await?
            .decode(decode_live)
    }

    /// Starts the deletion of the secret read at `expected`: `next` is it `Deleting`; the
    /// counter gives its place back in the same transaction.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn mark_deleting(
        &self,
        tenant: &TenantName,
        next: &Secret,
        expected: ResourceVersion,
        token: &str,
    ) -> Result<SecretDelete, StoreError> {
        let update_expr = "SET #phase = :phase, #syncStatus = :status, #gen = :gen, \
                           #updated = :now, #token = :token ADD #rv :one";
        let values = Values::from([
            (":status".to_string(), s(status_text(next))),
            (":phase".into(), s(next.phase.as_str())),
            (":gen".into(), n(next.generation)),
            (":now".into(), s(&next.updated_at)),
            (":token".into(), s(token)),
            (":one".into(), n(1)),
            (":deleting".into(), s(SecretPhase::Deleting.as_str())),
            (":expected_rv".into(), n(expected.0)),
        ]);
        let expr = format!("{update_expr} {COND_SECRET_LIVE_AT}");
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(Self::key(tenant.as_str(), &next.name)))
            .update_expression(update_expr)
            .condition_expression(COND_SECRET_LIVE_AT)
            .set_expression_attribute_names(Some(names_used(&expr)))
            .set_expression_attribute_values(Some(values_used(&expr, values)))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(unbuilt)?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.count_update(tenant, -1, None)?,
        ];
        Ok(match self.store.transact(items, token).await? {
            Ok(()) => SecretDelete::Written,
            Err(reasons) => match reasons.into_iter().next().flatten() {
                Some(Outcome::AlreadyOurs(_)) => SecretDelete::Written,
                Some(Outcome::Conflict(it) | Outcome::Written(it)) => {
                    SecretDelete::Changed(decode_live(it)?.map(Box::new))
                }
                Some(Outcome::Absent) => SecretDelete::Changed(None),
                None => return Err(cancelled_without_reason()),
            },
        })
    }

    /// A sync's status write (see [`COND_SECRET_STATUS_WRITE`]): `secret` carries the phase,
    /// conditions and statuses; `generation` and `expected` are what the sync read.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn write_status(
        &self,
        tenant: &str,
        secret: &Secret,
        expected: ResourceVersion,
        now: &str,
    ) -> Result<bool, StoreError> {
        let values = Values::from([
            (":phase".to_string(), s(secret.phase.as_str())),
            (":status".into(), s(status_text(secret))),
            (":gen".into(), n(secret.generation)),
            (":now".into(), s(now)),
            (":one".into(), n(1)),
            (":expected_rv".into(), n(expected.0)),
        ]);
        let write = self.store.update(
            Self::key(tenant, &secret.name),
            SECRET_STATUS_UPDATE,
            COND_SECRET_STATUS_WRITE,
            values,
        );
        Ok(self.store.write(write, None).await?.landed())
    }

    /// The end of a deletion (see [`COND_SECRET_RETIRE`]).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn retire(
        &self,
        tenant: &str,
        name: &str,
        generation: u64,
        expected: ResourceVersion,
    ) -> Result<bool, StoreError> {
        let values = Values::from([
            (":true".to_string(), AttributeValue::Bool(true)),
            (":one".into(), n(1)),
            (":deleting".into(), s(SecretPhase::Deleting.as_str())),
            (":gen".into(), n(generation)),
            (":expected_rv".into(), n(expected.0)),
        ]);
        let write = self.store.update(
            Self::key(tenant, name),
            SECRET_RETIRE_UPDATE,
            COND_SECRET_RETIRE,
            values,
        );
        Ok(self.store.write(write, None).await?.landed())
    }

    /// One page of a tenant's live secrets in name order, starting after `after`: up to `limit`
    /// (all when `None`) and whether more remain.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn list(
        &self,
        tenant: &str,
        limit: Option<usize>,
        after: Option<&str>,
    ) -> Result<(Vec<Secret>, bool), StoreError> {
        let mut secrets = Vec::new();
        let mut start = after.map(|a| Self::key(tenant, a));
        let want = limit.map(|l| l + 1);
        loop {
            let mut q = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .filter_expression("attribute_not_exists(#deleted)")
                .set_expression_attribute_names(Some(names_used("#pk #sk #deleted")))
                .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                .expression_attribute_values(":prefix", s(SECRET_SK_PREFIX))
                .set_exclusive_start_key(start.take());
            if let Some(w) = want {
                q = q.limit(i32::try_from(w - secrets.len()).unwrap_or(i32::MAX));
            }
            let out = q.send().await.map_err(|e| sdk_error("Query", e))?;
            for it in out.items.unwrap_or_default() {
                if let Some(secret) = decode_live(it)? {
                    secrets.push(secret);
                }
            }
            let full = want.is_some_and(|w| secrets.len() >= w);
            match out.last_evaluated_key {
                Some(k) if !full => start = Some(k),
                _ => break,
            }
        }
        let more = limit.is_some_and(|l| secrets.len() > l);
        if let Some(l) = limit {
            secrets.truncate(l);
        }
        Ok((secrets, more))
    }

    /// The tenant's live secrets with a target on `cluster`.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn targeting(&self, tenant: &str, cluster: &str) -> Result<Vec<Secret>, StoreError> {
        let (all, _) = self.list(tenant, None, None).await?;
        Ok(all
            .into_iter()
            .filter(|s| s.sync.iter().any(|t| t.cluster == cluster))
            .collect())
    }

    /// Removes every secret item of a tenant (tombstones and the counter too): its purge.
    /// Idempotent.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn purge(&self, tenant: &str) -> Result<(), StoreError> {
        for mut it in self.store.query_prefix(tenant, SECRET_SK_PREFIX).await? {
            it.retain(|attr, _| attr == PK || attr == SK); // the item's key
            let write = self.store.delete(it, COND_ITEM_EXISTS, Values::new());
            self.store.write(write, None).await?;
        }
        let counter = key(tenant_pk(tenant), SECRET_COUNT_SK);
        let write = self.store.delete(counter, COND_ITEM_EXISTS, Values::new());
        self.store.write(write, None).await?;
        Ok(())
    }
}
