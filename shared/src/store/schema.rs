//! The single-table layout: keys, attribute names and every condition expression, each with a
//! comment saying which states it admits. Attribute names are always sent as `#placeholders`
//! (`name`, `status` and friends are DynamoDB reserved words).
//!
//! | item      | pk                 | sk                |
//! |-----------|--------------------|-------------------|
//! | tenant    | `TENANT#<tenant>`  | `TENANT`          |
//! | cluster   | `TENANT#<tenant>`  | `CLUSTER#<name>`  |
//! | API key   | `APIKEY#<8 hex>`   | `APIKEY`          |
//!
//! A deleted cluster is not removed: the teardown's last write turns it into a tombstone
//! (`phase = Deleted`) that keeps `resourceVersion`, so a re-created cluster continues the count
//! and an ETag of a deleted incarnation can never match the new one.

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";

/// Sort key of the tenant item.
pub const TENANT_SK: &str = "TENANT";
/// Sort key of an API key item.
pub const APIKEY_SK: &str = "APIKEY";
/// Sort key prefix of cluster items.
pub const CLUSTER_SK_PREFIX: &str = "CLUSTER#";

/// Partition key of everything a tenant owns.
pub fn tenant_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}")
}
/// Sort key of a cluster.
pub fn cluster_sk(name: &str) -> String {
    format!("{CLUSTER_SK_PREFIX}{name}")
}
/// Partition key of an API key.
pub fn apikey_pk(id_hex: &str) -> String {
    format!("APIKEY#{id_hex}")
}

/// Sort key of an authentication-failure counter.
pub const AUTHFAIL_SK: &str = "AUTHFAIL";

/// Partition key of the authentication-failure counter of one client IP.
pub fn authfail_pk(ip: &str) -> String {
    format!("AUTHFAIL#{ip}")
}

/// The index listing a tenant's API keys.
pub const BY_TENANT_INDEX: &str = "byTenant";
/// Its partition key attribute.
pub const GSI1_PK: &str = "gsi1pk";
/// Its sort key attribute.
pub const GSI1_SK: &str = "gsi1sk";

/// The `byTenant` partition of a tenant's API keys.
pub fn apikeys_gsi_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}#APIKEYS")
}

/// Revoke a key. Admits only an existing key of the tenant in the path: another tenant's key id
/// reads as absent (404), never as "not yours".
pub const COND_KEY_OF_TENANT: &str = "attribute_exists(#pk) AND #tenant = :tenant";

/// Cluster and tenant attribute names.
pub mod attr {
    /// Owning tenant (on clusters and keys).
    pub const TENANT: &str = "tenant";
    /// Cluster name.
    pub const NAME: &str = "name";
    /// Display name.
    pub const DISPLAY_NAME: &str = "displayName";
    /// `shared` | `dedicated`.
    pub const CLUSTER_TYPE: &str = "clusterType";
    /// Requested minor, `1.32`.
    pub const VERSION: &str = "version";
    /// Resources in effect.
    pub const CPU: &str = "cpu";
    /// Resources in effect.
    pub const MEMORY: &str = "memory";
    /// Resources in effect.
    pub const STORAGE: &str = "storage";
    /// Alerts as a JSON string (a native map would hit DynamoDB's 32-level and 38-digit limits).
    pub const ALERTS: &str = "alerts";
    /// Spec generation (N).
    pub const GENERATION: &str = "generation";
    /// Write counter (N), the ETag.
    pub const RESOURCE_VERSION: &str = "resourceVersion";
    /// `resourceVersion` at creation (N): identifies this incarnation of the name.
    pub const INCARNATION: &str = "incarnation";
    /// RFC 3339.
    pub const CREATED_AT: &str = "createdAt";
    /// RFC 3339.
    pub const UPDATED_AT: &str = "updatedAt";
    /// Phase.
    pub const PHASE: &str = "phase";
    /// API server URL.
    pub const ENDPOINT: &str = "endpoint";
    /// Running patch version.
    pub const KUBERNETES_VERSION: &str = "kubernetesVersion";
    /// Generation the last finished rollout served (N).
    pub const OBSERVED_GENERATION: &str = "observedGeneration";
    /// Reason of the latest phase change.
    pub const REASON: &str = "statusReason";
    /// Message of the latest phase change.
    pub const MESSAGE: &str = "statusMessage";
    /// Since when `Ready` is true (absent while false).
    pub const READY_TRUE_AT: &str = "readyTrueAt";
    /// Since when `Ready` is false (absent while true).
    pub const READY_FALSE_AT: &str = "readyFalseAt";
    /// Since when `Progressing` is true.
    pub const PROGRESSING_TRUE_AT: &str = "progressingTrueAt";
    /// Since when `Progressing` is false.
    pub const PROGRESSING_FALSE_AT: &str = "progressingFalseAt";
    /// Since when `Degraded` is true.
    pub const DEGRADED_TRUE_AT: &str = "degradedTrueAt";
    /// Since when `Degraded` is false.
    pub const DEGRADED_FALSE_AT: &str = "degradedFalseAt";
    /// Base64 PEM of the cluster's CA, once provisioned.
    pub const CERTIFICATE_AUTHORITY: &str = "certificateAuthority";
    /// Metrics as a JSON string.
    pub const METRICS: &str = "metrics";
    /// Request token of the API write that produced this version.
    pub const WRITE_TOKEN: &str = "writeToken";
    /// Tenant plan name.
    pub const PLAN: &str = "plan";
    /// Names holding a slot of the tenant's quota (string set).
    pub const MEMBERS: &str = "members";
    /// Key role.
    pub const ROLE: &str = "role";
    /// SHA-256 of the whole key, hex.
    pub const SECRET_HASH: &str = "secretHash";
    /// Key expiry, RFC 3339.
    pub const EXPIRES_AT: &str = "expiresAt";
    /// Who created the key.
    pub const CREATED_BY: &str = "createdBy";
    /// Authentication failures counted for an IP (N).
    pub const FAILURES: &str = "failures";
    /// Epoch seconds before which an IP is not served (N).
    pub const BLOCKED_UNTIL: &str = "blockedUntil";
    /// Epoch seconds when a record lapses: the table's TTL attribute (N).
    pub const EXPIRES_AT_EPOCH: &str = "ttl";
    /// Last successful use of a key, RFC 3339.
    pub const LAST_USED_AT: &str = "lastUsedAt";
}

/// The `SET` and `REMOVE` clauses that record the conditions of `phase` (with `:now`): for each
/// condition, the attribute of its current truth keeps its time if it already held
/// (`if_not_exists`) and the other one is removed. So `lastTransitionTime` moves only when a
/// condition flips, in the same single write and without reading the item first. The state
/// machine's status writes carry the same clauses (a test compares them).
pub fn condition_clauses(phase: crate::domain::phase::Phase) -> (Vec<String>, Vec<String>) {
    let mut sets = Vec::new();
    let mut removes = Vec::new();
    for (kind, on) in phase.conditions() {
        let prefix = kind.attr_prefix();
        let (set, remove) = if on {
            ("True", "False")
        } else {
            ("False", "True")
        };
        sets.push(format!(
            "#{prefix}{set}At = if_not_exists(#{prefix}{set}At, :now)"
        ));
        removes.push(format!("#{prefix}{remove}At"));
    }
    (sets, removes)
}

/// Create a cluster under a name never used. Admits only the absence of any item.
pub const COND_CREATE_NEW: &str = "attribute_not_exists(#pk)";

/// Re-create a cluster over the tombstone the request read. Admits only that tombstone at that
/// version: a live cluster, one still `Deleting`, or a tombstone that moved on is refused.
pub const COND_CREATE_OVER_TOMBSTONE: &str = "#phase = :deleted AND #rv = :old_rv";

/// Claim a quota slot on the tenant. Admits an existing tenant whose `members` set has room, or
/// already holds this name (so a retried create does not count twice).
pub const COND_CLAIM_SLOT: &str = "attribute_exists(#pk) AND (attribute_not_exists(#members) \
     OR size(#members) < :max OR contains(#members, :name))";

/// Give a slot back when a cluster's teardown finished.
pub const RELEASE_SLOT_UPDATE: &str = "DELETE #members :member";

/// Spec change or delete of a cluster. Admits exactly the version the request read, which (after
/// the If-Match check against that read) is also the version the caller named. Any write in
/// between (another PATCH, a status write of the workflow) makes it fail: the use case then
/// re-reads, and either reports 412 (the caller named a version) or retries.
///
/// ```text
///   read rv=7 ──► check If-Match, phase, rules ──► UpdateItem … IF resourceVersion = 7
///                           another writer: rv 7 → 8 ──┘ fails → 412 or retry
/// ```
pub const COND_SAME_VERSION: &str = "#rv = :expected_rv";

/// Create a tenant. Admits only a new tenant name.
pub const COND_NEW_ITEM: &str = "attribute_not_exists(#pk)";

/// The tombstone write of a finished teardown: keeps only the keys, `phase = Deleted` and the
/// bumped `resourceVersion`. The state machine's `Retire` state sends exactly this (a test
/// compares them).
pub const RETIRE_UPDATE: &str = "SET #phase = :deleted, #rv = #rv + :one REMOVE #tenant, #name, \
     #display, #ctype, #version, #cpu, #memory, #storage, #alerts, #gen, #created, #updated, \
     #observed, #readyTrueAt, #readyFalseAt, #progressingTrueAt, #progressingFalseAt, \
     #degradedTrueAt, #degradedFalseAt, #token, #inc, #endpoint, #k8s, #metrics, #ca, #reason, \
     #message";

/// Turn a finished teardown into a tombstone. Admits only the `Deleting` cluster of the
/// generation the teardown served: a newer generation (there is none after a delete, but a
/// re-created incarnation starts again at 1) or a cluster not deleting is left alone.
pub const COND_FINISH_DELETION: &str = "#phase = :deleting AND #gen = :gen";

/// Creates the table as `template.yaml` declares it (`pk`/`sk` strings, on-demand, a stream of
/// new and old images),
/// for the emulator: the local stack and the tests.
///
/// # Errors
/// The SDK error when the table cannot be created.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(BY_TENANT_INDEX)
        .key_schema(key(GSI1_PK, KeyType::Hash).map_err(aws_sdk_dynamodb::Error::from)?)
        .key_schema(key(GSI1_SK, KeyType::Range).map_err(aws_sdk_dynamodb::Error::from)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(aws_sdk_dynamodb::Error::from)?;
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(aws_sdk_dynamodb::Error::from)?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK).map_err(aws_sdk_dynamodb::Error::from)?)
        .attribute_definitions(attr(SK).map_err(aws_sdk_dynamodb::Error::from)?)
        .attribute_definitions(attr(GSI1_PK).map_err(aws_sdk_dynamodb::Error::from)?)
        .attribute_definitions(attr(GSI1_SK).map_err(aws_sdk_dynamodb::Error::from)?)
        .global_secondary_indexes(index)
        .key_schema(key(PK, KeyType::Hash).map_err(aws_sdk_dynamodb::Error::from)?)
        .key_schema(key(SK, KeyType::Range).map_err(aws_sdk_dynamodb::Error::from)?)
        .stream_specification(stream)
        .send()
        .await?;
    Ok(())
}

/// The reconciler's `Failed` write. Admits only the generation and incarnation the dead
/// execution served, and only while that rollout was still in progress: a newer generation, a
/// finished rollout (`Running`) or the workflow's own `Failed` write are left alone.
pub const COND_DEAD_EXECUTION: &str = "#gen = :gen AND #inc = :inc AND #phase IN \
     (:pending, :provisioning, :upgrading, :updating, :deleting)";
