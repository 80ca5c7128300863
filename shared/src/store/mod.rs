//! The DynamoDB store, one module per aggregate: [`clusters`], [`tenants`], [`apikeys`],
//! [`members`], [`alertmanager`], [`secrets`], [`tenant_purge`] (a tenant's deletion), [`auth_failures`], and [`session`] (the one read every request starts with). Each aggregate
//! is a handle borrowed from [`Store`] (`store.clusters()`), takes domain values, ids and
//! numbers (never policy objects), and sends every write through the one conditional-write
//! helper in `write`, which turns a failed condition into a named [`Outcome`].
//!
//! To add an aggregate: a module here with its handle and methods, its item struct in [`item`],
//! its keys, attribute names and conditions in [`schema`].

pub mod alertmanager;
pub mod apikeys;
pub mod auth_failures;
pub mod clusters;
pub mod item;
pub mod members;
pub mod operations;
pub mod schema;
pub mod secrets;
pub mod session;
pub mod tenant_purge;
pub mod tenants;
mod write;

pub use apikeys::ApiKeyRecord;
pub use auth_failures::AuthFailures;
pub use clusters::CreateOutcome;
pub use item::StoredCluster;
pub use session::Snapshot;
pub use tenants::TenantRecord;
pub use write::Outcome;

use aws_sdk_dynamodb::Client;

/// The key condition of a tenant partition's items of one kind: the partition `:pk`, sort keys
/// beginning with `:prefix`.
const PREFIX_QUERY: &str = "#pk = :pk AND begins_with(#sk, :prefix)";

/// A store failure that is not a domain outcome.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB kept failing in a way that may pass if the call is sent again later, after the
    /// SDK's own retries: throttling, a transaction conflict, a 5xx, a timeout or a lost
    /// connection. The API answers 503 `Throttled` with `Retry-After`.
    #[error("DynamoDB {operation} was throttled or unavailable: {cause}")]
    Throttled {
        /// Operation name.
        operation: &'static str,
        /// What DynamoDB or the SDK said, for the log.
        cause: String,
    },
    /// The SDK call failed (after its own retries of transient errors).
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

/// The DynamoDB-backed store: a client and the table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
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

    /// Every item of `tenant`'s partition whose sort key starts with `prefix`, strongly
    /// consistent, following every page (one `Query` per MB).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub(crate) async fn query_prefix(
        &self,
        tenant: &str,
        prefix: &str,
    ) -> Result<Vec<item::Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression(PREFIX_QUERY)
                .set_expression_attribute_names(Some(schema::names_used(PREFIX_QUERY)))
                .expression_attribute_values(":pk", write::s(schema::tenant_pk(tenant)))
                .expression_attribute_values(":prefix", write::s(prefix))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| write::sdk_error("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(items),
            }
        }
    }

    /// Operations of clusters.
    pub fn operations(&self) -> operations::Operations<'_> {
        operations::Operations { store: self }
    }

    /// Clusters.
    pub fn clusters(&self) -> clusters::Clusters<'_> {
        clusters::Clusters { store: self }
    }

    /// Tenants.
    pub fn tenants(&self) -> tenants::Tenants<'_> {
        tenants::Tenants { store: self }
    }

    /// Tenant members.
    pub fn members(&self) -> members::Members<'_> {
        members::Members { store: self }
    }

    /// A tenant's deletion and purge.
    pub fn tenant_purge(&self) -> tenant_purge::TenantPurge<'_> {
        tenant_purge::TenantPurge { store: self }
    }

    /// The tenants' Alertmanager configurations.
    pub fn alertmanager(&self) -> alertmanager::Alertmanager<'_> {
        alertmanager::Alertmanager { store: self }
    }

    /// The tenants' managed secrets.
    pub fn secrets(&self) -> secrets::Secrets<'_> {
        secrets::Secrets { store: self }
    }

    /// API keys.
    pub fn api_keys(&self) -> apikeys::ApiKeys<'_> {
        apikeys::ApiKeys { store: self }
    }

    /// Authentication-failure counters.
    pub fn auth_failures(&self) -> auth_failures::AuthFailureCounters<'_> {
        auth_failures::AuthFailureCounters { store: self }
    }
}
