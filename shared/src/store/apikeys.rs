//! The API-key aggregate: issue (by id, never twice), list a tenant's keys through the
//! `byTenant` index, revoke, and the `lastUsedAt` refresh.

use super::{
    item::{from_item, key, to_item, ApiKeyItem, Item},
    schema::*,
    write::{sdk_error, Values},
    Store, StoreError,
};
use crate::domain::{
    apikey::{KeyId, Role},
    names::TenantName,
};
use aws_sdk_dynamodb::types::AttributeValue;

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

impl TryFrom<ApiKeyItem> for ApiKeyRecord {
    type Error = StoreError;

    fn try_from(it: ApiKeyItem) -> Result<Self, StoreError> {
        let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("{what}: {v}"));
        let id = it
            .pk
            .strip_prefix("APIKEY#")
            .and_then(|h| KeyId::parse(&format!("ak-{h}")))
            .ok_or_else(|| corrupt("api key id", &it.pk))?;
        Ok(ApiKeyRecord {
            id,
            tenant: it.tenant,
            role: Role::parse(&it.role).ok_or_else(|| corrupt("role", &it.role))?,
            secret_hash: it.secret_hash,
            display_name: it.display_name,
            created_at: it.created_at,
            created_by: it.created_by,
            expires_at: it.expires_at,
            last_used_at: it.last_used_at,
        })
    }
}

impl From<&ApiKeyRecord> for ApiKeyItem {
    fn from(k: &ApiKeyRecord) -> Self {
        ApiKeyItem {
            pk: apikey_pk(k.id.hex()),
            sk: APIKEY_SK.into(),
            tenant: k.tenant.clone(),
            role: k.role.as_str().into(),
            secret_hash: k.secret_hash.clone(),
            display_name: k.display_name.clone(),
            created_at: k.created_at.clone(),
            created_by: k.created_by.clone(),
            gsi1pk: apikeys_gsi_pk(&k.tenant),
            gsi1sk: format!("{}#{}", k.created_at, k.id.hex()),
            expires_at: k.expires_at.clone(),
            last_used_at: None,
        }
    }
}

/// The API keys of the table.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeys<'a> {
    pub(super) store: &'a Store,
}

impl ApiKeys<'_> {
    fn key(id: &KeyId) -> Item {
        key(apikey_pk(id.hex()), APIKEY_SK)
    }

    /// Stores a new API key record.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; `Ok(false)` when the id is taken.
    pub async fn create(&self, k: &ApiKeyRecord) -> Result<bool, StoreError> {
        let write = self
            .store
            .put(to_item(&ApiKeyItem::from(k))?, COND_NEW_ITEM, Values::new());
        Ok(self.store.write(write, None).await?.landed())
    }

    /// A tenant's API keys (metadata), oldest first, from the `byTenant` index.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn list(&self, tenant: &TenantName) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .index_name(BY_TENANT_INDEX)
                .key_condition_expression("#g = :g")
                .expression_attribute_names("#g", GSI1_PK)
                .expression_attribute_values(
                    ":g",
                    AttributeValue::S(apikeys_gsi_pk(tenant.as_str())),
                )
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for it in out.items.unwrap_or_default() {
                keys.push(ApiKeyRecord::try_from(from_item::<_, ApiKeyItem>(it)?)?);
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
    pub async fn revoke_of_tenant(
        &self,
        tenant: &TenantName,
        id: &KeyId,
    ) -> Result<bool, StoreError> {
        let values = Values::from([(":tenant".into(), AttributeValue::S(tenant.to_string()))]);
        self.remove(id, COND_KEY_OF_TENANT, values).await
    }

    /// Refreshes a key's `lastUsedAt`, unless someone refreshed it since it was read (so
    /// concurrent requests write once). Losing that race is harmless: the other request did
    /// the same job.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn touch(&self, key_record: &ApiKeyRecord, now: &str) -> Result<(), StoreError> {
        let mut values = Values::from([(":now".into(), AttributeValue::S(now.into()))]);
        let condition = match &key_record.last_used_at {
            Some(old) => {
                values.insert(":old".into(), AttributeValue::S(old.clone()));
                COND_KEY_USED_SINCE
            }
            None => COND_KEY_NEVER_USED,
        };
        let write = self.store.update(
            Self::key(&key_record.id),
            "SET #used = :now",
            condition,
            values,
        );
        self.store.write(write, None).await?;
        Ok(())
    }

    /// Revokes a key of any tenant: removes its record, so the next request with it is 401.
    /// Test support.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure; `Ok(false)` when there was no such key.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn revoke(&self, id: &KeyId) -> Result<bool, StoreError> {
        self.remove(id, COND_ITEM_EXISTS, Values::new()).await
    }

    async fn remove(
        &self,
        id: &KeyId,
        condition: &str,
        values: Values,
    ) -> Result<bool, StoreError> {
        let write = self.store.delete(Self::key(id), condition, values);
        Ok(self.store.write(write, None).await?.landed())
    }
}
