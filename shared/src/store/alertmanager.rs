//! The tenant's Alertmanager configuration, one item per part under the tenant's partition:
//! each receiver (`AM#RECEIVER#<name>`, a tombstone after its deletion so its version goes on),
//! the route list (`AM#ROUTES`, which also counts live receivers and receiver deletions) and the
//! global section (`AM#GLOBAL`). Each item's `resourceVersion` is its ETag, so a write of one
//! part never makes another part's ETag stale. One `Query` reads them all.
//!
//! The rule "a route names only existing receivers" spans items; it holds under concurrency
//! because the two writes that could break it are conditioned on each other through the routes
//! item: a receiver delete is one transaction of the tombstone and the routes item (conditioned
//! on the route list read, bumping the deletion counter), and a route write is conditioned on
//! the deletion counter read (see [`COND_ROUTES_AT`]).

use super::{
    item::{from_item, key, to_item, AlertmanagerItem, Item},
    schema::*,
    write::{n, s, unbuilt, Outcome, Values},
    Store, StoreError,
};
use crate::domain::{etag::ResourceVersion, names::TenantName};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure as OnFailure, TransactWriteItem,
    Update,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// The Alertmanager items of the table.
#[derive(Debug, Clone, Copy)]
pub struct Alertmanager<'a> {
    pub(super) store: &'a Store,
}

/// A receiver as stored: live (with its body) or a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceiver {
    /// Its version (the ETag while live).
    pub resource_version: ResourceVersion,
    /// The body; `None` for a tombstone.
    pub body: Option<Value>,
}

/// A tenant's whole Alertmanager configuration, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertmanagerState {
    /// Receivers by name, tombstones included.
    pub receivers: BTreeMap<String, StoredReceiver>,
    /// The route list's version (0: never written).
    pub routes_version: ResourceVersion,
    /// The route list (`[]` when never written).
    pub routes: Value,
    /// Receiver deletions so far (route writes are conditioned on it).
    pub receiver_deletions: u64,
    /// The global section's version (0: never written).
    pub global_version: ResourceVersion,
    /// The global section (`{}` when never written).
    pub global: Value,
}

impl AlertmanagerState {
    /// The live receivers, by name.
    pub fn live(&self) -> impl Iterator<Item = (&String, ResourceVersion, &Value)> {
        self.receivers
            .iter()
            .filter_map(|(name, r)| r.body.as_ref().map(|b| (name, r.resource_version, b)))
    }

    /// Sum of every version (tombstones included): it grows with every write of the
    /// configuration, so it never repeats and serves as the assembled configuration's ETag.
    pub fn config_version(&self) -> ResourceVersion {
        ResourceVersion(self.receivers_version().0 + self.routes_version.0 + self.global_version.0)
    }

    /// Sum of the receivers' versions (tombstones included): the receiver list's ETag.
    pub fn receivers_version(&self) -> ResourceVersion {
        ResourceVersion(self.receivers.values().map(|r| r.resource_version.0).sum())
    }
}

/// What became of a receiver create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverCreate {
    /// Created (possibly by an earlier attempt of this request).
    Written,
    /// Someone else created (or re-created) the name since the read.
    Taken,
    /// The plan's receiver limit is reached.
    Full,
}

/// What became of a receiver delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverDelete {
    /// Deleted (possibly by an earlier attempt of this request).
    Written,
    /// The receiver changed or went since the read.
    ReceiverChanged,
    /// The route list changed since the read (it may name the receiver now).
    RoutesChanged,
}

/// What became of a route write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutesWrite {
    /// Written: the new version.
    Written(ResourceVersion),
    /// The route list changed since the read.
    RoutesChanged,
    /// A receiver was deleted since the read (it may be one the routes name).
    ReceiverDeleted,
}

fn json_of(item: &AlertmanagerItem) -> Result<Option<Value>, StoreError> {
    item.body
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", item.sk)))
}

/// The version clause of a write over version `v` read.
fn at_version(v: ResourceVersion) -> &'static str {
    if v.0 == 0 {
        COND_UNWRITTEN
    } else {
        COND_ROUTES_AT
    }
}

fn version_values(v: ResourceVersion) -> Values {
    Values::from([(":expected_rv".to_string(), n(v.0))])
}

fn decode(item: Item) -> Result<AlertmanagerItem, StoreError> {
    from_item(item)
}

impl Alertmanager<'_> {
    fn key(tenant: &TenantName, sk: impl Into<String>) -> Item {
        key(tenant_pk(tenant.as_str()), sk)
    }

    /// Every Alertmanager item of a tenant (strongly consistent), raw.
    async fn items(&self, tenant: &str) -> Result<Vec<AlertmanagerItem>, StoreError> {
        self.store
            .query_prefix(tenant, ALERTMANAGER_SK_PREFIX)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// The tenant's whole configuration: one `Query` (one per MB).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn load(&self, tenant: &TenantName) -> Result<AlertmanagerState, StoreError> {
        let mut state = AlertmanagerState {
            routes: Value::Array(Vec::new()),
            global: Value::Object(serde_json::Map::new()),
            ..AlertmanagerState::default()
        };
        for it in self.items(tenant.as_str()).await? {
            let version = ResourceVersion(it.resource_version);
            if let Some(name) = it.sk.strip_prefix(RECEIVER_SK_PREFIX) {
                let body = if it.deleted { None } else { json_of(&it)? };
                let stored = StoredReceiver {
                    resource_version: version,
                    body,
                };
                state.receivers.insert(name.to_string(), stored);
            } else if it.sk == ROUTES_SK {
                state.routes_version = version;
                state.receiver_deletions = it.receiver_deletions;
                if let Some(routes) = json_of(&it)? {
                    state.routes = routes;
                }
            } else if it.sk == GLOBAL_SK {
                state.global_version = version;
                if let Some(global) = json_of(&it)? {
                    state.global = global;
                }
            }
        }
        Ok(state)
    }

    fn body_values(body: &Value, token: &str, now: &str) -> Values {
        Values::from([
            (":body".to_string(), s(body.to_string())),
            (":token".into(), s(token)),
            (":now".into(), s(now)),
            (":one".into(), n(1)),
            (":true".into(), AttributeValue::Bool(true)),
            (":minus_one".into(), AttributeValue::N("-1".into())),
        ])
    }

    /// Replaces a live receiver read at `expected`.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn replace_receiver(
        &self,
        tenant: &TenantName,
        name: &str,
        body: &Value,
        expected: ResourceVersion,
        now: &str,
        token: &str,
    ) -> Result<Outcome<ResourceVersion>, StoreError> {
        let mut values = Self::body_values(body, token, now);
        values.extend(version_values(expected));
        let write = self.store.update(
            Self::key(tenant, receiver_sk(name)),
            RECEIVER_UPDATE,
            COND_RECEIVER_LIVE_AT,
            values,
        );
        self.store
            .write(write, Some(token))
            .await?
            .decode(|it| Ok(Some(ResourceVersion(decode(it)?.resource_version))))
    }

    /// Creates a receiver (over its tombstone at `tombstone`, if it had one), taking one of the
    /// plan's `max` places, in one transaction. Returns the new version on success.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_receiver(
        &self,
        tenant: &TenantName,
        name: &str,
        body: &Value,
        tombstone: Option<ResourceVersion>,
        max: u32,
        now: &str,
        token: &str,
    ) -> Result<(ReceiverCreate, ResourceVersion), StoreError> {
        let version = ResourceVersion(tombstone.map_or(0, |t| t.0) + 1);
        let item = AlertmanagerItem {
            pk: tenant_pk(tenant.as_str()),
            sk: receiver_sk(name),
            resource_version: version.0,
            body: Some(body.to_string()),
            deleted: false,
            receiver_count: 0,
            receiver_deletions: 0,
            write_token: Some(token.into()),
            updated_at: Some(now.into()),
        };
        let (condition, values) = match tombstone {
            None => (COND_RECEIVER_NEW, Values::new()),
            Some(t) => (
                COND_RECEIVER_OVER_TOMBSTONE,
                Values::from([
                    (":true".to_string(), AttributeValue::Bool(true)),
                    (":old_rv".into(), n(t.0)),
                ]),
            ),
        };
        let values = values_used(condition, values);
        let put = Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_used(condition)))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(unbuilt)?;
        let quota_values =
            Values::from([(":one".to_string(), n(1)), (":max".into(), n(max.into()))]);
        let quota = self.routes_update(
            tenant,
            RECEIVER_CREATED_UPDATE,
            COND_RECEIVER_ROOM,
            quota_values,
        )?;
        let items = vec![TransactWriteItem::builder().put(put).build(), quota];
        let outcome = match self.store.transact(items, token).await? {
            Ok(()) => ReceiverCreate::Written,
            Err(reasons) => match reasons.as_slice() {
                [Some(Outcome::AlreadyOurs(_)), _] => ReceiverCreate::Written,
                [Some(_), _] => ReceiverCreate::Taken,
                [None, Some(_)] => ReceiverCreate::Full,
                _ => {
                    return Err(StoreError::Corrupt(
                        "a cancelled transaction without a reason".into(),
                    ))
                }
            },
        };
        Ok((outcome, version))
    }

    /// An update of the routes item, as a transaction part.
    fn routes_update(
        &self,
        tenant: &TenantName,
        update: &str,
        condition: &str,
        values: Values,
    ) -> Result<TransactWriteItem, StoreError> {
        let expr = format!("{update} {condition}");
        let values = values_used(&expr, values);
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(Self::key(tenant, ROUTES_SK)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_used(&expr)))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(unbuilt)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Deletes a receiver read at `expected`, leaving its tombstone, conditioned on the route
    /// list still being the one read at `routes` (which did not name it).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn delete_receiver(
        &self,
        tenant: &TenantName,
        name: &str,
        expected: ResourceVersion,
        routes: ResourceVersion,
        now: &str,
        token: &str,
    ) -> Result<ReceiverDelete, StoreError> {
        let mut values = Self::body_values(&Value::Null, token, now);
        values.extend(version_values(expected));
        let expr = format!("{RECEIVER_TOMBSTONE_UPDATE} {COND_RECEIVER_LIVE_AT}");
        let tombstone = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(Self::key(tenant, receiver_sk(name))))
            .update_expression(RECEIVER_TOMBSTONE_UPDATE)
            .condition_expression(COND_RECEIVER_LIVE_AT)
            .set_expression_attribute_names(Some(names_used(&expr)))
            .set_expression_attribute_values(Some(values_used(&expr, values)))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(unbuilt)?;
        let mut routes_values = version_values(routes);
        routes_values.insert(":one".into(), n(1));
        routes_values.insert(":minus_one".into(), AttributeValue::N("-1".into()));
        let routes_part = self.routes_update(
            tenant,
            RECEIVER_DELETED_UPDATE,
            at_version(routes),
            routes_values,
        )?;
        let items = vec![
            TransactWriteItem::builder().update(tombstone).build(),
            routes_part,
        ];
        Ok(match self.store.transact(items, token).await? {
            Ok(()) => ReceiverDelete::Written,
            Err(reasons) => match reasons.as_slice() {
                [Some(Outcome::AlreadyOurs(_)), _] => ReceiverDelete::Written,
                [Some(_), _] => ReceiverDelete::ReceiverChanged,
                [None, Some(_)] => ReceiverDelete::RoutesChanged,
                _ => {
                    return Err(StoreError::Corrupt(
                        "a cancelled transaction without a reason".into(),
                    ))
                }
            },
        })
    }

    /// Replaces the route list read at `expected`, if no receiver was deleted since the read
    /// (`deletions`).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn put_routes(
        &self,
        tenant: &TenantName,
        items: &Value,
        expected: ResourceVersion,
        deletions: u64,
        now: &str,
        token: &str,
    ) -> Result<RoutesWrite, StoreError> {
        let deletions_clause = if deletions == 0 {
            COND_NEVER_DELETED
        } else {
            COND_NO_DELETION_SINCE
        };
        let condition = format!("({}) AND ({deletions_clause})", at_version(expected));
        let mut values = Self::body_values(items, token, now);
        values.extend(version_values(expected));
        values.insert(":deletions".into(), n(deletions));
        let write = self.store.update(
            Self::key(tenant, ROUTES_SK),
            SECTION_UPDATE,
            &condition,
            values,
        );
        Ok(match self.store.write(write, Some(token)).await? {
            Outcome::Written(it) | Outcome::AlreadyOurs(it) => {
                RoutesWrite::Written(ResourceVersion(decode(it)?.resource_version))
            }
            Outcome::Absent => RoutesWrite::RoutesChanged,
            Outcome::Conflict(it) => {
                let now = decode(it)?;
                if now.resource_version == expected.0 {
                    RoutesWrite::ReceiverDeleted
                } else {
                    RoutesWrite::RoutesChanged
                }
            }
        })
    }

    /// Replaces the global section read at `expected`.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn put_global(
        &self,
        tenant: &TenantName,
        global: &Value,
        expected: ResourceVersion,
        now: &str,
        token: &str,
    ) -> Result<Outcome<ResourceVersion>, StoreError> {
        let mut values = Self::body_values(global, token, now);
        values.extend(version_values(expected));
        let write = self.store.update(
            Self::key(tenant, GLOBAL_SK),
            SECTION_UPDATE,
            at_version(expected),
            values,
        );
        self.store
            .write(write, Some(token))
            .await?
            .decode(|it| Ok(Some(ResourceVersion(decode(it)?.resource_version))))
    }

    /// Removes every Alertmanager item of a tenant (its purge). Idempotent.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn purge(&self, tenant: &str) -> Result<(), StoreError> {
        for it in self.items(tenant).await? {
            let write = self
                .store
                .delete(key(it.pk, it.sk), COND_ITEM_EXISTS, Values::new());
            self.store.write(write, None).await?;
        }
        Ok(())
    }
}
