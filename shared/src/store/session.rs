//! The one read every request starts with: the caller's key, the IP's authentication failures,
//! the tenant, and the item the request addresses, in one strongly consistent `BatchGetItem`.

use super::{
    apikeys::ApiKeyRecord,
    auth_failures::AuthFailures,
    item::{from_item, key, ApiKeyItem, AuthFailureItem, Item, TenantItem},
    schema::*,
    tenants::TenantRecord,
    write::sdk_error,
    Store, StoreError,
};
use crate::domain::{apikey::KeyId, names::TenantName};
use aws_sdk_dynamodb::types::KeysAndAttributes;

/// What one request needs to decide, read together.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The key record, if it exists.
    pub key: Option<ApiKeyRecord>,
    /// The tenant record, if asked for and present.
    pub tenant: Option<TenantRecord>,
    /// The addressed item (a cluster, tombstones included), if asked for and present.
    pub target: Option<Item>,
    /// Recent authentication failures from the caller's IP, if any.
    pub auth_failures: Option<AuthFailures>,
}

fn sort_key(it: &Item) -> Option<&str> {
    it.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// Retries of the keys a `BatchGetItem` left unprocessed (after 50, 100, 200 ms).
const UNPROCESSED_ROUNDS: u32 = 3;

impl Store {
    /// Reads the key, the IP's failures, and (with a tenant) the tenant and the `target` key of
    /// that tenant's partition, in one strongly consistent `BatchGetItem` (retrying unprocessed
    /// keys, which DynamoDB returns under throttling).
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails or an item is malformed.
    pub async fn snapshot(
        &self,
        key_id: &KeyId,
        client_ip: &str,
        tenant: Option<&TenantName>,
        target_sk: Option<String>,
    ) -> Result<Snapshot, StoreError> {
        let mut keys = vec![
            key(apikey_pk(key_id.hex()), APIKEY_SK),
            key(authfail_pk(client_ip), AUTHFAIL_SK),
        ];
        if let Some(t) = tenant {
            keys.push(key(tenant_pk(t.as_str()), TENANT_SK));
            if let Some(sk) = target_sk {
                keys.push(key(tenant_pk(t.as_str()), sk));
            }
        }
        let mut found: Vec<Item> = Vec::new();
        let mut pending = Some(keys);
        let mut round = 0u32;
        while let Some(keys) = pending.take() {
            if round > 0 {
                // DynamoDB left keys unprocessed: it is throttling. Back off a little; after
                // a few rounds, give up as throttled rather than spin.
                if round > UNPROCESSED_ROUNDS {
                    return Err(StoreError::Throttled {
                        operation: "BatchGetItem",
                        cause: format!("keys still unprocessed after {UNPROCESSED_ROUNDS} retries"),
                    });
                }
                tokio::time::sleep(std::time::Duration::from_millis(25 << round)).await;
            }
            round += 1;
            let batch = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(|e| sdk_error("BatchGetItem", e))?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|batch| batch.keys)
                .filter(|k| !k.is_empty());
        }
        let mut snap = Snapshot::default();
        for it in found {
            match sort_key(&it) {
                Some(AUTHFAIL_SK) => {
                    snap.auth_failures = Some(from_item::<_, AuthFailureItem>(it)?.into());
                }
                Some(APIKEY_SK) => {
                    snap.key = Some(ApiKeyRecord::try_from(from_item::<_, ApiKeyItem>(it)?)?);
                }
                Some(TENANT_SK) => snap.tenant = Some(from_item::<_, TenantItem>(it)?.into()),
                _ => snap.target = Some(it),
            }
        }
        Ok(snap)
    }
}
