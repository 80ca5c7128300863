//! The single-table layout, in one place: keys, attribute names, the `#placeholders` every
//! expression uses, and each condition expression with a comment saying which states it admits.
//! The state machine's expressions use the same names and clauses (a test compares them).
//!
//! | item            | pk                 | sk                |
//! |-----------------|--------------------|-------------------|
//! | tenant          | `TENANT#<tenant>`  | `TENANT`          |
//! | cluster         | `TENANT#<tenant>`  | `CLUSTER#<name>`  |
//! | API key         | `APIKEY#<8 hex>`   | `APIKEY`          |
//! | member          | `TENANT#<tenant>`  | `MEMBER#<email lowercased>` |
//! | auth failures   | `AUTHFAIL#<ip>`    | `AUTHFAIL`        |
//! | managed secret  | `TENANT#<tenant>`  | `SECRET#<name>`   |
//! | secret count    | `TENANT#<tenant>`  | `SECRETS`         |
//!
//! A deleted cluster is not removed: the teardown's last write turns it into a tombstone
//! (`phase = Deleted`) that keeps `resourceVersion`, so a re-created cluster continues the count
//! and an ETag of a deleted incarnation can never match the new one.

use std::collections::HashMap;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// Sort key of the tenant item.
pub const TENANT_SK: &str = "TENANT";
/// Sort key of an API key item.
pub const APIKEY_SK: &str = "APIKEY";
/// Sort key of an authentication-failure counter.
pub const AUTHFAIL_SK: &str = "AUTHFAIL";
/// Sort key prefix of cluster items.
pub const CLUSTER_SK_PREFIX: &str = "CLUSTER#";
/// Sort key prefix of member items.
pub const MEMBER_SK_PREFIX: &str = "MEMBER#";
/// The index listing a tenant's API keys.
pub const BY_TENANT_INDEX: &str = "byTenant";
/// Its partition key attribute.
pub const GSI1_PK: &str = "gsi1pk";
/// Its sort key attribute.
pub const GSI1_SK: &str = "gsi1sk";

/// Partition key of everything a tenant owns.
pub fn tenant_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}")
}
/// Sort key of a cluster.
pub fn cluster_sk(name: &str) -> String {
    format!("{CLUSTER_SK_PREFIX}{name}")
}
/// The sort key prefix of the archived operations of one incarnation of a cluster.
pub fn op_sk_prefix(name: &str, incarnation: u64) -> String {
    format!("OP#{name}#{incarnation:020}#")
}

/// The sort key of an archived operation: zero-padded, so a reverse `Query` lists the newest
/// first.
pub fn op_sk(name: &str, incarnation: u64, generation: u64) -> String {
    format!("{}{generation:020}", op_sk_prefix(name, incarnation))
}

/// The sort key prefix of every archived operation of a tenant (the tenant purge removes them).
pub const OP_SK_PREFIX: &str = "OP#";

/// Sort key of a member: the email lowercased, so one address is one member whatever its case.
pub fn member_sk(email_key: &str) -> String {
    format!("{MEMBER_SK_PREFIX}{email_key}")
}
/// Sort-key prefix of every Alertmanager item of a tenant (receivers, routes, global): one
/// `Query` reads the whole configuration, and the purge finds it all.
pub const ALERTMANAGER_SK_PREFIX: &str = "AM#";
/// Sort-key prefix of a receiver.
pub const RECEIVER_SK_PREFIX: &str = "AM#RECEIVER#";
/// Sort key of the route list (also the receivers' count and deletion counter).
pub const ROUTES_SK: &str = "AM#ROUTES";
/// Sort key of the `global` section.
pub const GLOBAL_SK: &str = "AM#GLOBAL";
/// Sort key of a receiver.
pub fn receiver_sk(name: &str) -> String {
    format!("{RECEIVER_SK_PREFIX}{name}")
}
/// Sort-key prefix of a managed secret (a tombstone after its deletion, so its version goes
/// on).
pub const SECRET_SK_PREFIX: &str = "SECRET#";
/// Sort key of the tenant's secret counter (`secretCount`): creates and deletes change it in
/// the same transaction as the secret, so the per-tenant limit holds under concurrency. (It does
/// not begin with [`SECRET_SK_PREFIX`], so a query of the secrets does not read it.)
pub const SECRET_COUNT_SK: &str = "SECRETS";
/// Sort key of a managed secret.
pub fn secret_sk(name: &str) -> String {
    format!("{SECRET_SK_PREFIX}{name}")
}
/// Partition key of an API key.
pub fn apikey_pk(id_hex: &str) -> String {
    format!("APIKEY#{id_hex}")
}
/// Partition key of the authentication-failure counter of one client IP.
pub fn authfail_pk(ip: &str) -> String {
    format!("AUTHFAIL#{ip}")
}
/// The `byTenant` partition of a tenant's API keys.
pub fn apikeys_gsi_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}#APIKEYS")
}

/// Attribute names. The item structs in [`super::item`] serialize to exactly these (a test
/// checks it).
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
    /// Since when `Ready` is true (absent while false); likewise for the other five below.
    pub const READY_TRUE_AT: &str = "readyTrueAt";
    /// Since when `Ready` is false.
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
    /// Whether the control plane is highly available (BOOL; absent = off).
    pub const HIGH_AVAILABILITY: &str = "highAvailability";
    /// The generation that turned high availability on (N).
    pub const HA_SINCE_GENERATION: &str = "haSinceGeneration";
    /// Labels (M of S; absent = none).
    pub const LABELS: &str = "labels";
    /// Annotations as a JSON object string (absent = none).
    pub const ANNOTATIONS: &str = "annotations";
    /// Deletion protection (BOOL; absent = off). Read by [`super::COND_DELETE_UNPROTECTED`].
    pub const DELETION_PROTECTION: &str = "deletionProtection";
    /// Pod range (S; absent on items from before networks: the default range).
    pub const POD_CIDR: &str = "podCidr";
    /// Service range (S; absent: the default range).
    pub const SERVICE_CIDR: &str = "serviceCidr";
    /// Endpoint access as a JSON object string (absent: public, from anywhere).
    pub const ENDPOINT_ACCESS: &str = "endpointAccess";
    /// Addons as a JSON array string (absent: none).
    pub const ADDONS: &str = "addons";
    /// The current operation's type (issue 12).
    pub const OP_TYPE: &str = "opType";
    /// When the API accepted the current operation.
    pub const OP_STARTED_AT: &str = "opStartedAt";
    /// The current operation's execution count (absent = 1).
    pub const ATTEMPT: &str = "attempt";
    /// The current operation's steps (JSON text), written by the provisioner.
    pub const OP_STEPS: &str = "opSteps";
    /// Request token of the API write that produced this version.
    pub const WRITE_TOKEN: &str = "writeToken";
    /// Tenant plan name.
    pub const PLAN: &str = "plan";
    /// On the tenant item: the names of the clusters holding a slot of the tenant's quota
    /// (string set, absent while empty). The name is historical (the state machine uses it):
    /// these are cluster slots, not the tenant's people, which are member items.
    pub const MEMBERS: &str = "members";
    /// A member's email as first given.
    pub const EMAIL: &str = "email";
    /// Key role.
    pub const ROLE: &str = "role";
    /// SHA-256 of the whole key, hex.
    pub const SECRET_HASH: &str = "secretHash";
    /// Key expiry, RFC 3339.
    pub const EXPIRES_AT: &str = "expiresAt";
    /// Who created the key.
    pub const CREATED_BY: &str = "createdBy";
    /// Last successful use of a key, RFC 3339.
    pub const LAST_USED_AT: &str = "lastUsedAt";
    /// Authentication failures counted for an IP (N).
    pub const FAILURES: &str = "failures";
    /// Epoch seconds before which an IP is not served (N).
    pub const BLOCKED_UNTIL: &str = "blockedUntil";
    /// Epoch seconds when a record lapses: the table's TTL attribute (N).
    pub const EXPIRES_AT_EPOCH: &str = "ttl";

    // Tenant attributes (tenancy): the tenant's own settings and its resource pool counters.
    /// Tenant contact address.
    pub const CONTACT_EMAIL: &str = "contactEmail";
    /// Whether log ingest beyond the plan is refused (bool).
    pub const ENFORCE_LOG_LIMIT: &str = "enforceLogLimit";
    /// Whether metrics beyond the plan are refused (bool).
    pub const ENFORCE_METRICS_LIMIT: &str = "enforceMetricsLimit";
    /// CPU the tenant's clusters hold, millicores (N; absent = 0).
    pub const ALLOCATED_CPU: &str = "allocatedCpu";
    /// Memory the tenant's clusters hold, bytes (N; absent = 0).
    pub const ALLOCATED_MEMORY: &str = "allocatedMemory";
    /// Storage the tenant's clusters hold, bytes (N; absent = 0).
    pub const ALLOCATED_STORAGE: &str = "allocatedStorage";
    // alertmanager
    /// A receiver's body, a route list or the global section: canonical JSON text (S).
    pub const BODY: &str = "body";
    /// A deleted receiver's tombstone mark (BOOL): it keeps the name's `resourceVersion`.
    pub const DELETED: &str = "deleted";
    /// Live receivers of the tenant, on the routes item (N).
    pub const RECEIVER_COUNT: &str = "receiverCount";
    /// Receiver deletions so far, on the routes item (N): a route write is conditioned on it.
    pub const RECEIVER_DELETIONS: &str = "receiverDeletions";
    // secrets
    /// A secret's vault path (S).
    pub const SECRET_PATH: &str = "secretPath";
    /// A secret's targets: canonical JSON text of the list (S).
    pub const SYNC: &str = "sync";
    /// A secret's sync status: JSON text of `{conditions, syncStatuses}` (S).
    pub const SYNC_STATUS: &str = "syncStatus";
    /// Live secrets of the tenant, on the counter item (N).
    pub const SECRET_COUNT: &str = "secretCount";
}

/// Every `#placeholder` an expression may use, and the attribute it stands for. The state
/// machine's `ExpressionAttributeNames` use the same pairs (a test checks it).
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("#pk", PK),
    ("#sk", SK),
    ("#tenant", attr::TENANT),
    ("#name", attr::NAME),
    ("#display", attr::DISPLAY_NAME),
    ("#ctype", attr::CLUSTER_TYPE),
    ("#version", attr::VERSION),
    ("#cpu", attr::CPU),
    ("#memory", attr::MEMORY),
    ("#storage", attr::STORAGE),
    ("#alerts", attr::ALERTS),
    ("#ha", attr::HIGH_AVAILABILITY),
    ("#haSince", attr::HA_SINCE_GENERATION),
    ("#labels", attr::LABELS),
    ("#annotations", attr::ANNOTATIONS),
    ("#delProt", attr::DELETION_PROTECTION),
    ("#podCidr", attr::POD_CIDR),
    ("#serviceCidr", attr::SERVICE_CIDR),
    ("#endpointAccess", attr::ENDPOINT_ACCESS),
    ("#addons", attr::ADDONS),
    ("#opType", attr::OP_TYPE),
    ("#opStartedAt", attr::OP_STARTED_AT),
    ("#attempt", attr::ATTEMPT),
    ("#opSteps", attr::OP_STEPS),
    ("#gen", attr::GENERATION),
    ("#created", attr::CREATED_AT),
    ("#updated", attr::UPDATED_AT),
    ("#phase", attr::PHASE),
    ("#observed", attr::OBSERVED_GENERATION),
    ("#readyTrueAt", attr::READY_TRUE_AT),
    ("#readyFalseAt", attr::READY_FALSE_AT),
    ("#progressingTrueAt", attr::PROGRESSING_TRUE_AT),
    ("#progressingFalseAt", attr::PROGRESSING_FALSE_AT),
    ("#degradedTrueAt", attr::DEGRADED_TRUE_AT),
    ("#degradedFalseAt", attr::DEGRADED_FALSE_AT),
    ("#ca", attr::CERTIFICATE_AUTHORITY),
    ("#token", attr::WRITE_TOKEN),
    ("#rv", attr::RESOURCE_VERSION),
    ("#inc", attr::INCARNATION),
    ("#endpoint", attr::ENDPOINT),
    ("#k8s", attr::KUBERNETES_VERSION),
    ("#metrics", attr::METRICS),
    ("#reason", attr::REASON),
    ("#message", attr::MESSAGE),
    ("#plan", attr::PLAN),
    ("#members", attr::MEMBERS),
    ("#email", attr::EMAIL),
    ("#role", attr::ROLE),
    ("#used", attr::LAST_USED_AT),
    ("#failures", attr::FAILURES),
    ("#blocked", attr::BLOCKED_UNTIL),
    ("#expires", attr::EXPIRES_AT_EPOCH),
    // tenancy
    ("#contact", attr::CONTACT_EMAIL),
    ("#enforceLog", attr::ENFORCE_LOG_LIMIT),
    ("#enforceMetrics", attr::ENFORCE_METRICS_LIMIT),
    ("#allocCpu", attr::ALLOCATED_CPU),
    ("#allocMemory", attr::ALLOCATED_MEMORY),
    ("#allocStorage", attr::ALLOCATED_STORAGE),
    // alertmanager
    ("#body", attr::BODY),
    ("#deleted", attr::DELETED),
    ("#rcount", attr::RECEIVER_COUNT),
    ("#rdeletions", attr::RECEIVER_DELETIONS),
    // secrets
    ("#secretPath", attr::SECRET_PATH),
    ("#sync", attr::SYNC),
    ("#syncStatus", attr::SYNC_STATUS),
    ("#scount", attr::SECRET_COUNT),
];

fn tokens(expr: &str, sigil: char) -> impl Iterator<Item = &str> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#' || c == ':'))
        .filter(move |t| t.starts_with(sigil))
}

/// The `ExpressionAttributeNames` an expression uses (DynamoDB refuses unused ones).
pub fn names_used(expr: &str) -> HashMap<String, String> {
    tokens(expr, '#')
        .filter_map(|t| PLACEHOLDERS.iter().find(|(p, _)| *p == t))
        .map(|(p, a)| ((*p).to_string(), (*a).to_string()))
        .collect()
}

/// The subset of `values` an expression uses (DynamoDB refuses unused ones).
pub fn values_used<V>(expr: &str, mut values: HashMap<String, V>) -> HashMap<String, V> {
    let used: std::collections::HashSet<&str> = tokens(expr, ':').collect();
    values.retain(|k, _| used.contains(k.as_str()));
    values
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

/// Create a cluster under a name never used, a tenant, an API key. Admits only the absence of
/// any item.
pub const COND_NEW_ITEM: &str = "attribute_not_exists(#pk)";

/// Re-create a cluster over the tombstone the request read. Admits only that tombstone at that
/// version: a live cluster, one still `Terminating`, or a tombstone that moved on is refused.
pub const COND_CREATE_OVER_TOMBSTONE: &str = "#phase = :deleted AND #rv = :old_rv";

/// Claim a quota slot on the tenant (with [`claim_condition`], which adds the pool clauses).
/// Admits an existing tenant still on the plan the request judged by (`:plan`), whose cluster
/// slots do not hold this name yet (a name still held is a teardown that has not given its slot
/// and resources back: claiming it again would count the new cluster's resources under a slot
/// the old teardown is about to release) and have room for one more. A `Terminating` tenant
/// takes no new cluster.
pub const COND_CLAIM_SLOT: &str = "attribute_exists(#pk) AND #plan = :plan AND NOT \
     contains(#members, :name) AND (attribute_not_exists(#members) OR size(#members) < :max) \
     AND (attribute_not_exists(#phase) OR #phase <> :terminating)";

/// The pool clause of one resource: admits a tenant whose allocation (absent = 0) leaves room
/// for what is added, `:roomX` being the pool minus the addition, computed exactly by the
/// caller. Only additions are conditioned: giving resources back is always admitted.
pub const COND_POOL_CPU: &str = "(attribute_not_exists(#allocCpu) OR #allocCpu <= :roomCpu)";
/// See [`COND_POOL_CPU`].
pub const COND_POOL_MEMORY: &str =
    "(attribute_not_exists(#allocMemory) OR #allocMemory <= :roomMemory)";
/// See [`COND_POOL_CPU`].
pub const COND_POOL_STORAGE: &str =
    "(attribute_not_exists(#allocStorage) OR #allocStorage <= :roomStorage)";

/// A resize's write on the tenant (with the pool clauses of the resources that grow). Admits an
/// existing tenant still on the plan the request judged the new size by.
pub const COND_SAME_PLAN: &str = "attribute_exists(#pk) AND #plan = :plan";

/// `base` and the pool clause of each resource in `growing`.
pub fn pool_condition(base: &str, growing: &[crate::domain::resources::ResourceKind]) -> String {
    use crate::domain::resources::ResourceKind;
    let mut clauses = vec![base.to_string()];
    for kind in growing {
        clauses.push(
            match kind {
                ResourceKind::Cpu => COND_POOL_CPU,
                ResourceKind::Memory => COND_POOL_MEMORY,
                ResourceKind::Storage => COND_POOL_STORAGE,
            }
            .to_string(),
        );
    }
    clauses.join(" AND ")
}

/// The tenant's side of a create: the slot, the resources (`:cpu`, `:memory`, `:storage`) and
/// the tenant's `resourceVersion` (a create changes what a plan change must check).
pub const CLAIM_SLOT_UPDATE: &str = "ADD #members :member, #allocCpu :cpu, #allocMemory :memory, \
     #allocStorage :storage, #rv :one";

/// Give a slot and its resources back when a cluster's teardown finished (the state machine's
/// `ReleaseSlot` sends the same, with [`COND_HOLDS_SLOT`]): `:releaseX` are the cluster's
/// resources, negated.
pub const RELEASE_SLOT_UPDATE: &str = "DELETE #members :member ADD #allocCpu :releaseCpu, \
     #allocMemory :releaseMemory, #allocStorage :releaseStorage, #rv :one";

/// Release a slot. Admits only a tenant that still holds this name, so the resources are given
/// back exactly once: a retried release fails this condition, which means "already released".
pub const COND_HOLDS_SLOT: &str = "contains(#members, :name)";

/// A tenant write (PATCH) over the `resourceVersion` read (`:expected_rv`, 1 or more). Cluster
/// creates, resizes and releases bump it too, so a plan change judged against the clusters it
/// read cannot land after one of them changed what fits.
pub const COND_TENANT_AT_VERSION: &str = "attribute_exists(#pk) AND #rv = :expected_rv";

/// [`COND_TENANT_AT_VERSION`] for a tenant read at version 0 (never written since onboarding
/// before versions existed).
pub const COND_TENANT_UNVERSIONED: &str = "attribute_exists(#pk) AND attribute_not_exists(#rv)";

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

/// The start of a cluster's deletion by its own `DELETE`: [`COND_SAME_VERSION`], and deletion
/// protection off (absent on items written before it existed, or `false`). The version clause
/// alone already fails when a PATCH turning protection on lands between the read and the write;
/// the protection clause states the rule in the write itself, so no interleaving (nor a caller
/// that skipped the read's check) can delete a protected cluster. On failure the old item comes
/// back and tells "protected" (409 `DeletionProtected`) from "changed" (retry or 412).
///
/// ```text
///   DELETE: read rv=7, unprotected ──► UpdateItem … IF rv = 7 AND protection off
///   PATCH {deletionProtection: true}: rv 7 → 8 ──┘ fails → re-read → 409 DeletionProtected
/// ```
pub const COND_DELETE_UNPROTECTED: &str =
    "#rv = :expected_rv AND (attribute_not_exists(#delProt) OR #delProt = :false)";

/// Every status write of the workflow. Admits only the generation and incarnation the execution
/// serves: once a newer spec (or a new life of the name) is written, a stale execution's write
/// fails and the execution ends as superseded.
pub const COND_STATUS_WRITE: &str = "#gen = :gen AND #inc = :inc";

/// The tombstone write of a finished teardown: keeps only the keys, `phase = Deleted` and the
/// bumped `resourceVersion`. The state machine's `Retire` state sends exactly this.
pub const RETIRE_UPDATE: &str = "SET #phase = :deleted, #rv = #rv + :one REMOVE #tenant, #name, \
     #display, #ctype, #version, #cpu, #memory, #storage, #alerts, #gen, #created, #updated, \
     #observed, #readyTrueAt, #readyFalseAt, #progressingTrueAt, #progressingFalseAt, \
     #degradedTrueAt, #degradedFalseAt, #token, #inc, #endpoint, #k8s, #metrics, #ca, #reason, \
     #message, #ha, #haSince, #labels, #annotations, #delProt, #podCidr, #serviceCidr, \
     #endpointAccess, #addons, #opType, #opStartedAt, #attempt, #opSteps";

/// Turn a finished teardown into a tombstone. Admits only the `Terminating` cluster (or, written
/// before the rename, `Deleting`) of the generation and incarnation the teardown served: a
/// re-created cluster (a new incarnation, whose generations start again at 1) or a cluster not
/// terminating is left alone.
pub const COND_FINISH_DELETION: &str =
    "#phase IN (:terminating, :deleting) AND #gen = :gen AND #inc = :inc";

/// A retry of a failed operation (`POST …/operations/{id}/retry`): back to the accepted phase
/// with one more attempt, which the dispatcher turns into a new execution. Admits only the
/// cluster as the request read it (`:expected_rv`), still failed (`Degraded`), still at the
/// operation's generation and incarnation: an operation that a newer generation replaced, one
/// that is running again (a concurrent retry) or a re-created cluster are refused.
pub const COND_RETRY_FAILED: &str =
    "#rv = :expected_rv AND #phase = :degraded AND #gen = :gen AND #inc = :inc";

/// The provisioner's record of the current operation's steps. Admits only the generation and
/// incarnation the step served, like every status write of the workflow: a step of a replaced
/// generation lands nowhere.
pub const COND_SAME_GENERATION: &str = "#gen = :gen AND #inc = :inc";

/// The reconciler's `Degraded` write. Admits only the generation and incarnation the dead
/// execution served, and only while that rollout was still in progress (`:deleting` is the old
/// spelling of `Terminating`): a newer generation, a finished rollout (`Running`) or the
/// workflow's own `Degraded` write are left alone. Only the dead execution's attempt of the
/// operation (`attempt` is absent on the first, written from the second on): an execution that
/// a retry replaced is left alone too.
pub const COND_DEAD_EXECUTION: &str = "#gen = :gen AND #inc = :inc AND #phase IN \
     (:pending, :provisioning, :upgrading, :updating, :migrating, :terminating, :deleting) \
     AND (attribute_not_exists(#attempt) OR #attempt = :attempt)";

/// The tenant part of every member write and of a tenant DELETE: bump the tenant's
/// `resourceVersion` (its ETag) and record the request's token (so a retried transaction whose
/// reply was lost is told apart). `ADD` counts an absent version as 0.
pub const TENANT_BUMP_UPDATE: &str = "SET #token = :token ADD #rv :one";

/// The start of a tenant's deletion: `Terminating`, with the version bumped and the token
/// recorded as in [`TENANT_BUMP_UPDATE`].
pub const TENANT_TERMINATE_UPDATE: &str = "SET #phase = :terminating, #token = :token ADD #rv :one";

/// A member write (or a cascade's start) on the tenant. Admits an existing tenant that is not
/// `Terminating` (an item without `phase` is `Active`).
pub const COND_TENANT_ACTIVE: &str =
    "attribute_exists(#pk) AND (attribute_not_exists(#phase) OR #phase <> :terminating)";

/// [`COND_TENANT_ACTIVE`] at exactly the version the request read (or the caller named in
/// `If-Match`): any member write in between makes it fail. This is what keeps the last admin
/// under concurrency: two demotions that each counted two admins cannot both land.
pub const COND_TENANT_ACTIVE_AT: &str = "attribute_exists(#pk) AND (attribute_not_exists(#phase) \
     OR #phase <> :terminating) AND #rv = :expected_rv";

/// [`COND_TENANT_ACTIVE_AT`] for version 0: a tenant never written since onboarding has no
/// `resourceVersion` yet.
pub const COND_TENANT_ACTIVE_AT_ZERO: &str =
    "attribute_exists(#pk) AND (attribute_not_exists(#phase) \
     OR #phase <> :terminating) AND attribute_not_exists(#rv)";

/// Start deleting a tenant without `cascade`. Admits an active tenant with no cluster holding a
/// slot (a deleting cluster still holds one).
pub const COND_TENANT_EMPTY: &str = "attribute_exists(#pk) AND (attribute_not_exists(#phase) \
     OR #phase <> :terminating) AND attribute_not_exists(#members)";

/// Touch a tenant that is already terminating (a repeated DELETE), so its stream record comes
/// again and a purge that failed is retried. Admits only a `Terminating` tenant.
pub const COND_TENANT_TERMINATING: &str = "#phase = :terminating";

/// Remove a purged tenant's item, last. Admits only a `Terminating` tenant whose clusters all
/// finished their teardown (no slot held): a cluster still deleting keeps the tenant.
pub const COND_PURGE_TENANT: &str = "#phase = :terminating AND attribute_not_exists(#members)";

/// Add a member: its key must be free (one email, whatever its case, is one member).
pub const COND_NEW_MEMBER: &str = "attribute_not_exists(#pk)";

/// Change or remove a member: it must exist.
pub const COND_MEMBER_EXISTS: &str = "attribute_exists(#pk)";

/// Move a tenant to another plan; revoke a key by id. Admits only an existing item.
pub const COND_ITEM_EXISTS: &str = "attribute_exists(#pk)";

/// Refresh a key's `lastUsedAt` that was read as `:old`. Admits only that key with that value:
/// if a concurrent request refreshed it first, this one writes nothing (one write, not two).
pub const COND_KEY_USED_SINCE: &str = "attribute_exists(#pk) AND #used = :old";

/// Refresh a key's `lastUsedAt` that was read as never set. Admits only that key, still unused.
pub const COND_KEY_NEVER_USED: &str = "attribute_exists(#pk) AND attribute_not_exists(#used)";

/// Count an authentication failure over the count read as `:old`. Admits only that count, so a
/// concurrent failure's longer block is not overwritten by a shorter one.
pub const COND_FAILURES_SINCE: &str = "#failures = :old";

/// Count the first authentication failure of an IP. Admits only an IP with no counter.
pub const COND_FIRST_FAILURE: &str = "attribute_not_exists(#failures)";

/// Revoke a key. Admits only an existing key of the tenant in the path: another tenant's key id
/// reads as absent (404), never as "not yours".
pub const COND_KEY_OF_TENANT: &str = "attribute_exists(#pk) AND #tenant = :tenant";

/// Replace a live receiver. Admits exactly the version the request read (after its If-Match
/// check): another write of that receiver in between, or its deletion, fails it.
pub const COND_RECEIVER_LIVE_AT: &str = "attribute_not_exists(#deleted) AND #rv = :expected_rv";
/// Create a receiver whose name was never used. Admits only a free key.
pub const COND_RECEIVER_NEW: &str = "attribute_not_exists(#pk)";
/// Create a receiver over its tombstone, at the version read: the counter goes on, so an ETag
/// never repeats for a name. A concurrent create of the same name fails it.
pub const COND_RECEIVER_OVER_TOMBSTONE: &str = "#deleted = :true AND #rv = :old_rv";
/// The quota part of a receiver create, on the routes item. Admits fewer live receivers than
/// the plan allows (`:max`); concurrent creates cannot both take the last place.
pub const COND_RECEIVER_ROOM: &str = "attribute_not_exists(#rcount) OR #rcount < :max";
/// The count added by a receiver create.
pub const RECEIVER_CREATED_UPDATE: &str = "ADD #rcount :one";
/// The routes part of a receiver delete: one receiver fewer, one more deletion. Every route
/// write is conditioned on the deletion count it read, so a route list judged against a
/// receiver that a concurrent delete removes cannot land ([`COND_ROUTES_AT`]).
pub const RECEIVER_DELETED_UPDATE: &str = "ADD #rcount :minus_one, #rdeletions :one";
/// A receiver delete, on the routes item: the route list is still the one read (which did not
/// name the receiver): a route write in between fails it, and the delete re-reads.
///
/// ```text
///   DELETE r: read routes rv=4 (r unused) ─► [receiver → tombstone, routes IF rv = 4] ─┐
///   PUT routes naming r: read deletions=2 ─► [routes IF rv = 4 AND deletions = 2] ────┤
///        whichever lands first changes what the other is conditioned on; it fails,
///        re-reads, and answers 409 (r is used) or 400 (r does not exist)
/// ```
pub const COND_ROUTES_AT: &str = "#rv = :expected_rv";
/// [`COND_ROUTES_AT`] for a route list (or global section) never written (version 0).
pub const COND_UNWRITTEN: &str = "attribute_not_exists(#rv)";
/// The deletions part of a route write: no receiver was deleted since the read.
pub const COND_NO_DELETION_SINCE: &str = "#rdeletions = :deletions";
/// [`COND_NO_DELETION_SINCE`] when no receiver was ever deleted.
pub const COND_NEVER_DELETED: &str = "attribute_not_exists(#rdeletions)";
/// Replace a route list or the global section: the body, the token, the version bumped.
pub const SECTION_UPDATE: &str = "SET #body = :body, #token = :token, #updated = :now ADD #rv :one";
/// Replace a receiver: the same as [`SECTION_UPDATE`].
pub const RECEIVER_UPDATE: &str = SECTION_UPDATE;
/// A receiver's deletion: a tombstone that keeps the key and the version.
pub const RECEIVER_TOMBSTONE_UPDATE: &str =
    "SET #deleted = :true, #token = :token, #updated = :now REMOVE #body ADD #rv :one";

/// Create a secret whose name was never used. Admits only a free key.
pub const COND_SECRET_NEW: &str = "attribute_not_exists(#pk)";
/// Create a secret over its tombstone, at the version read: the counter goes on, so an ETag never
/// repeats for a name. A concurrent create of the same name fails it.
pub const COND_SECRET_OVER_TOMBSTONE: &str = "#deleted = :true AND #rv = :old_rv";
/// The limit part of a secret create, on the counter item. Admits fewer live secrets than the
/// limit (`:max`): concurrent creates cannot both take the last place.
pub const COND_SECRET_ROOM: &str = "attribute_not_exists(#scount) OR #scount < :max";
/// The counter change of a secret create (`:one`) or of the start of its deletion (`:minus_one`).
pub const SECRET_COUNT_UPDATE: &str = "ADD #scount :delta";
/// A PATCH of the targets or the start of a deletion. Admits exactly the live, not deleting
/// secret at the version the request read (after its If-Match check): any write in between (a
/// PATCH, a sync's status write, a DELETE) fails it, and the request re-reads (or answers 412
/// when the caller named a version).
pub const COND_SECRET_LIVE_AT: &str =
    "attribute_not_exists(#deleted) AND #phase <> :deleting AND #rv = :expected_rv";
/// A sync's status write. Admits only the generation the sync read and the version it read:
/// a newer spec (PATCH, DELETE) or another sync's status write in between fails it, and the
/// sync reads again and reconciles from the newer state, so the last status written always
/// describes the newest spec and the newest cluster states.
///
/// ```text
///   sync A reads rv=5 gen=2 ─► places copies ─► UpdateItem … IF gen = 2 AND rv = 5
///   PATCH: rv 5 → 6, gen 3 ──────────────────────────┘ fails → A reads gen 3, reconciles again
/// ```
pub const COND_SECRET_STATUS_WRITE: &str = "#gen = :gen AND #rv = :expected_rv";
/// The end of a deletion, once every copy is removed: the secret becomes a tombstone. Admits
/// only the `Deleting` secret at the generation and version the sync read.
pub const COND_SECRET_RETIRE: &str = "#phase = :deleting AND #gen = :gen AND #rv = :expected_rv";
/// A sync's status write: the phase, the statuses, the generation observed, the version bumped.
pub const SECRET_STATUS_UPDATE: &str = "SET #phase = :phase, #syncStatus = :status, \
     #observed = :gen, #updated = :now ADD #rv :one";
/// The tombstone of a deleted secret: only the keys, the mark and the bumped version remain.
pub const SECRET_RETIRE_UPDATE: &str =
    "SET #deleted = :true, #rv = #rv + :one REMOVE #tenant, #name, \
     #secretPath, #sync, #syncStatus, #gen, #inc, #observed, #phase, #created, #updated, #token";

/// Creates the table as `template.yaml` declares it (`pk`/`sk` strings, on-demand, the
/// `byTenant` index, a stream of new and old images), for the emulator: the local stack and the
/// tests.
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
        .key_schema(key(GSI1_PK, KeyType::Hash)?)
        .key_schema(key(GSI1_SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()?;
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .attribute_definitions(attr(GSI1_PK)?)
        .attribute_definitions(attr(GSI1_SK)?)
        .global_secondary_indexes(index)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .stream_specification(stream)
        .send()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_placeholders_an_expression_uses_are_sent() {
        let names = names_used("SET #phase = :p, #rv = #rv + :one REMOVE #endpoint");
        assert_eq!(names.len(), 3);
        assert_eq!(names["#phase"], "phase");
        let values = values_used(
            "SET #a = :p, #b = :one",
            HashMap::from([
                (":p".to_string(), 1),
                (":unused".into(), 2),
                (":one".into(), 3),
            ]),
        );
        assert_eq!(values.len(), 2);
        assert!(!values.contains_key(":unused"));
    }

    #[test]
    fn every_placeholder_of_every_condition_is_known() {
        for expr in [
            COND_NEW_ITEM,
            COND_CREATE_OVER_TOMBSTONE,
            COND_CLAIM_SLOT,
            RELEASE_SLOT_UPDATE,
            COND_SAME_VERSION,
            COND_DELETE_UNPROTECTED,
            COND_STATUS_WRITE,
            RETIRE_UPDATE,
            COND_FINISH_DELETION,
            COND_RETRY_FAILED,
            COND_SAME_GENERATION,
            COND_DEAD_EXECUTION,
            COND_ITEM_EXISTS,
            TENANT_BUMP_UPDATE,
            TENANT_TERMINATE_UPDATE,
            COND_TENANT_ACTIVE,
            COND_TENANT_ACTIVE_AT,
            COND_TENANT_ACTIVE_AT_ZERO,
            COND_TENANT_EMPTY,
            COND_TENANT_TERMINATING,
            COND_PURGE_TENANT,
            COND_NEW_MEMBER,
            COND_MEMBER_EXISTS,
            COND_KEY_OF_TENANT,
            COND_KEY_USED_SINCE,
            COND_KEY_NEVER_USED,
            COND_FAILURES_SINCE,
            COND_FIRST_FAILURE,
            // tenancy
            COND_POOL_CPU,
            COND_POOL_MEMORY,
            COND_POOL_STORAGE,
            COND_SAME_PLAN,
            CLAIM_SLOT_UPDATE,
            COND_HOLDS_SLOT,
            COND_TENANT_AT_VERSION,
            COND_TENANT_UNVERSIONED,
            // alertmanager
            COND_RECEIVER_LIVE_AT,
            COND_RECEIVER_NEW,
            COND_RECEIVER_OVER_TOMBSTONE,
            COND_RECEIVER_ROOM,
            RECEIVER_CREATED_UPDATE,
            RECEIVER_DELETED_UPDATE,
            COND_ROUTES_AT,
            COND_UNWRITTEN,
            COND_NO_DELETION_SINCE,
            COND_NEVER_DELETED,
            SECTION_UPDATE,
            RECEIVER_TOMBSTONE_UPDATE,
            // secrets
            COND_SECRET_NEW,
            COND_SECRET_OVER_TOMBSTONE,
            COND_SECRET_ROOM,
            SECRET_COUNT_UPDATE,
            COND_SECRET_LIVE_AT,
            COND_SECRET_STATUS_WRITE,
            COND_SECRET_RETIRE,
            SECRET_STATUS_UPDATE,
            SECRET_RETIRE_UPDATE,
        ] {
            for t in tokens(expr, '#') {
                assert!(PLACEHOLDERS.iter().any(|(p, _)| *p == t), "{t} in {expr}");
            }
        }
    }
}
