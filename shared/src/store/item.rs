//! The items as stored: one struct per kind of item, serialized with `serde_dynamo` to and from
//! the attribute names of [`schema::attr`](super::schema::attr). The same [`ClusterItem`] is
//! read by the store, from the stream images by the dispatcher, and by the simulated provider.
//! Reading never panics: a malformed item becomes [`StoreError::Corrupt`].

use super::{schema::*, StoreError};
use crate::domain::{
    addons,
    cluster::{Cluster, ClusterType, Metadata, Spec, Status},
    etag::ResourceVersion,
    labels::KeyValues,
    names::{ClusterName, DisplayName, TenantName},
    network::{Cidr, EndpointAccess, Network},
    operation::{OpRecord, OpType},
    phase::{ConditionType, Phase},
    quantity::Quantity,
    resources::Resources,
    version::MinorVersion,
};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::HashMap;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A primary key.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(pk.into())),
        (SK.to_string(), AttributeValue::S(sk.into())),
    ])
}

/// An item from a record.
///
/// # Errors
/// [`StoreError::Corrupt`] when the record cannot be represented (it always can for ours).
pub fn to_item<T: Serialize>(record: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A record from an item (from the SDK or from a stream image).
///
/// # Errors
/// [`StoreError::Corrupt`] when an attribute is missing or of the wrong type.
pub fn from_item<I: Into<serde_dynamo::Item>, T: DeserializeOwned>(
    item: I,
) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The attributes every cluster item has, tombstones included.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterHead {
    /// Phase (`Deleted` for a tombstone).
    pub phase: String,
    /// Write counter.
    pub resource_version: u64,
    /// Generation (absent on a tombstone).
    #[serde(default)]
    pub generation: Option<u64>,
    /// The current operation's execution count (absent = 1).
    #[serde(default)]
    pub attempt: Option<u64>,
}

/// A live cluster item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ClusterItem {
    pub pk: String,
    pub sk: String,
    pub tenant: String,
    pub name: String,
    pub display_name: String,
    pub cluster_type: String,
    pub version: String,
    pub cpu: String,
    pub memory: String,
    pub storage: String,
    /// JSON text of the alerts object.
    pub alerts: String,
    pub generation: u64,
    pub resource_version: u64,
    pub incarnation: u64,
    pub created_at: String,
    pub updated_at: String,
    pub phase: String,
    pub observed_generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_true_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_false_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progressing_true_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progressing_false_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_true_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_false_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// JSON text of the metrics object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_token: Option<String>,
    /// Absent on items written before HA existed: off.
    #[serde(default)]
    pub high_availability: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_since_generation: Option<u64>,
    // Issue 12's spec fields: every one absent on items written before them, read as defaults.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// JSON text of the annotations object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<String>,
    #[serde(default)]
    pub deletion_protection: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_cidr: Option<String>,
    /// JSON text `{"public": bool, "allowedCidrs": [..]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_access: Option<String>,
    /// JSON text of the addon list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addons: Option<String>,
    // Issue 12's operations: the current generation's operation, written by the API with the
    // generation (type, start), by a retry (attempt) and by the provisioner (steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_started_at: Option<String>,
    /// Absent = 1 (the first execution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u64>,
    /// JSON text of the steps list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_steps: Option<String>,
}

/// A cluster item as read: a live cluster, or the tombstone of a deleted one.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredCluster {
    /// A cluster that exists (in any phase but `Deleted`).
    Live(Box<Cluster>),
    /// A finished deletion; it keeps the name's `resourceVersion` count.
    Tombstone(ResourceVersion),
}

impl StoredCluster {
    /// Reads a cluster item, live or tombstone.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the item is not a cluster we wrote.
    pub fn from_item<I: Into<serde_dynamo::Item> + Clone>(item: I) -> Result<Self, StoreError> {
        let head: ClusterHead = from_item(item.clone())?;
        if head.phase == Phase::Deleted.as_str() {
            return Ok(StoredCluster::Tombstone(ResourceVersion(
                head.resource_version,
            )));
        }
        let item: ClusterItem = from_item(item)?;
        Ok(StoredCluster::Live(Box::new(Cluster::try_from(item)?)))
    }

    /// The live cluster, if this is one.
    pub fn live(self) -> Option<Cluster> {
        match self {
            StoredCluster::Live(c) => Some(*c),
            StoredCluster::Tombstone(_) => None,
        }
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn json_object(
    what: &str,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(corrupt(what, "not a JSON object")),
    }
}

/// A JSON object of strings (annotations) from its stored text.
fn string_map(what: &str, text: &str) -> Result<KeyValues, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// The networks of an item; an item from before networks existed has the defaults, which is
/// what its cluster was given.
fn network_of(pod: Option<&str>, service: Option<&str>) -> Result<Network, StoreError> {
    let defaults = Network::default();
    let cidr = |what, text: Option<&str>, default| {
        text.map_or(Ok(default), |t| {
            Cidr::parse(t).map_err(|e| corrupt(what, e))
        })
    };
    Ok(Network {
        pod_cidr: cidr("podCidr", pod, defaults.pod_cidr)?,
        service_cidr: cidr("serviceCidr", service, defaults.service_cidr)?,
    })
}

/// The stored text of an endpoint access.
pub fn endpoint_access_text(access: &EndpointAccess) -> String {
    serde_json::json!({"public": access.public, "allowedCidrs": access.allowed_texts()}).to_string()
}

fn endpoint_access_of(text: Option<&str>) -> Result<EndpointAccess, StoreError> {
    let Some(text) = text else {
        return Ok(EndpointAccess::default());
    };
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| corrupt("endpointAccess", e))?;
    let public = v["public"].as_bool().unwrap_or(true);
    let allowed = v["allowedCidrs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str())
                .map(Cidr::parse)
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| corrupt("endpointAccess", e))?
        .unwrap_or_default();
    Ok(EndpointAccess {
        public,
        allowed_cidrs: allowed,
    })
}

/// When a condition last flipped: whichever of its two attributes exists.
fn since(
    true_at: &Option<String>,
    false_at: &Option<String>,
    what: &str,
) -> Result<String, StoreError> {
    true_at
        .clone()
        .or_else(|| false_at.clone())
        .ok_or_else(|| corrupt("conditions", format!("no transition time for {what}")))
}

impl TryFrom<ClusterItem> for Cluster {
    type Error = StoreError;

    fn try_from(it: ClusterItem) -> Result<Self, StoreError> {
        let phase = Phase::parse(&it.phase).ok_or_else(|| corrupt("phase", &it.phase))?;
        let q = |name: &str, v: &str| Quantity::parse(v).map_err(|e| corrupt(name, e));
        Ok(Cluster {
            tenant: TenantName::parse(&it.tenant).map_err(|e| corrupt("tenant", e))?,
            name: ClusterName::parse(&it.name).map_err(|e| corrupt("name", e))?,
            display_name: DisplayName::parse(&it.display_name)
                .map_err(|e| corrupt("displayName", e))?,
            cluster_type: ClusterType::parse(&it.cluster_type)
                .ok_or_else(|| corrupt("clusterType", &it.cluster_type))?,
            spec: Spec {
                version: MinorVersion::parse(&it.version).map_err(|e| corrupt("version", e))?,
                resources: Resources {
                    cpu: q("cpu", &it.cpu)?,
                    memory: q("memory", &it.memory)?,
                    storage: q("storage", &it.storage)?,
                },
                alerts: json_object("alerts", &it.alerts)?,
                high_availability: it.high_availability,
                network: network_of(it.pod_cidr.as_deref(), it.service_cidr.as_deref())?,
                endpoint_access: endpoint_access_of(it.endpoint_access.as_deref())?,
                addons: it
                    .addons
                    .as_deref()
                    .map(|a| addons::from_json(a).map_err(|e| corrupt("addons", e)))
                    .transpose()?
                    .unwrap_or_default(),
            },
            meta: Metadata {
                labels: it.labels,
                annotations: it
                    .annotations
                    .as_deref()
                    .map(|a| string_map("annotations", a))
                    .transpose()?
                    .unwrap_or_default(),
                deletion_protection: it.deletion_protection,
            },
            generation: it.generation,
            resource_version: ResourceVersion(it.resource_version),
            incarnation: it.incarnation,
            created_at: it.created_at,
            updated_at: it.updated_at,
            status: Status {
                phase,
                endpoint: it.endpoint,
                kubernetes_version: it.kubernetes_version,
                observed_generation: it.observed_generation,
                reason: it.status_reason.filter(|s| !s.is_empty()),
                message: it.status_message.filter(|s| !s.is_empty()),
                ready_changed_at: since(&it.ready_true_at, &it.ready_false_at, "Ready")?,
                progressing_changed_at: since(
                    &it.progressing_true_at,
                    &it.progressing_false_at,
                    "Progressing",
                )?,
                degraded_changed_at: since(
                    &it.degraded_true_at,
                    &it.degraded_false_at,
                    "Degraded",
                )?,
                metrics: it
                    .metrics
                    .as_deref()
                    .map(|m| json_object("metrics", m))
                    .transpose()?,
                certificate_authority: it.certificate_authority,
            },
            write_token: it.write_token,
            ha_since_generation: it.ha_since_generation,
            op: OpRecord {
                op_type: it.op_type.as_deref().and_then(OpType::parse),
                started_at: it.op_started_at,
                attempt: it.attempt.unwrap_or(1),
                steps: it
                    .op_steps
                    .as_deref()
                    .map(|s| serde_json::from_str(s).map_err(|e| corrupt("opSteps", e)))
                    .transpose()?
                    .unwrap_or_default(),
            },
        })
    }
}

impl From<&Cluster> for ClusterItem {
    fn from(c: &Cluster) -> Self {
        let st = &c.status;
        let mut item = ClusterItem {
            pk: tenant_pk(c.tenant.as_str()),
            sk: cluster_sk(c.name.as_str()),
            tenant: c.tenant.to_string(),
            name: c.name.to_string(),
            display_name: c.display_name.as_str().to_string(),
            cluster_type: c.cluster_type.as_str().to_string(),
            version: c.spec.version.to_string(),
            cpu: c.spec.resources.cpu.to_string(),
            memory: c.spec.resources.memory.to_string(),
            storage: c.spec.resources.storage.to_string(),
            alerts: serde_json::Value::Object(c.spec.alerts.clone()).to_string(),
            generation: c.generation,
            resource_version: c.resource_version.0,
            incarnation: c.incarnation,
            created_at: c.created_at.clone(),
            updated_at: c.updated_at.clone(),
            phase: st.phase.as_str().to_string(),
            observed_generation: st.observed_generation,
            endpoint: st.endpoint.clone(),
            kubernetes_version: st.kubernetes_version.clone(),
            status_reason: st.reason.clone(),
            status_message: st.message.clone(),
            ready_true_at: None,
            ready_false_at: None,
            progressing_true_at: None,
            progressing_false_at: None,
            degraded_true_at: None,
            degraded_false_at: None,
            certificate_authority: st.certificate_authority.clone(),
            metrics: st
                .metrics
                .as_ref()
                .map(|m| serde_json::Value::Object(m.clone()).to_string()),
            write_token: c.write_token.clone(),
            high_availability: c.spec.high_availability,
            ha_since_generation: c.ha_since_generation,
            labels: c.meta.labels.clone(),
            annotations: (!c.meta.annotations.is_empty())
                .then(|| serde_json::json!(c.meta.annotations).to_string()),
            deletion_protection: c.meta.deletion_protection,
            pod_cidr: Some(c.spec.network.pod_cidr.to_string()),
            service_cidr: Some(c.spec.network.service_cidr.to_string()),
            endpoint_access: Some(endpoint_access_text(&c.spec.endpoint_access)),
            addons: (!c.spec.addons.is_empty())
                .then(|| addons::to_json(&c.spec.addons).to_string()),
            op_type: c.op.op_type.map(|t| t.as_str().to_string()),
            op_started_at: c.op.started_at.clone(),
            attempt: (c.op.attempt > 1).then_some(c.op.attempt),
            op_steps: (!c.op.steps.is_empty())
                .then(|| serde_json::to_string(&c.op.steps).unwrap_or_default()),
        };
        // Each condition is one attribute of a pair: the one of its current truth, holding the
        // time it last flipped.
        for (kind, on) in st.phase.conditions() {
            let (at, slot) = match (kind, on) {
                (ConditionType::Ready, true) => (&st.ready_changed_at, &mut item.ready_true_at),
                (ConditionType::Ready, false) => (&st.ready_changed_at, &mut item.ready_false_at),
                (ConditionType::Progressing, true) => {
                    (&st.progressing_changed_at, &mut item.progressing_true_at)
                }
                (ConditionType::Progressing, false) => {
                    (&st.progressing_changed_at, &mut item.progressing_false_at)
                }
                (ConditionType::Degraded, true) => {
                    (&st.degraded_changed_at, &mut item.degraded_true_at)
                }
                (ConditionType::Degraded, false) => {
                    (&st.degraded_changed_at, &mut item.degraded_false_at)
                }
            };
            *slot = Some(at.clone());
        }
        item
    }
}

/// A tenant item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TenantItem {
    pub pk: String,
    pub sk: String,
    pub tenant: String,
    pub plan: String,
    pub created_at: String,
    /// Cluster slots: names holding a slot of the quota; a string set, absent while empty.
    #[serde(default, skip_serializing)]
    pub members: Vec<String>,
    /// Write counter, the tenant's ETag (absent = 0 on tenants onboarded before it existed).
    #[serde(default)]
    pub resource_version: u64,
    /// `Active` when absent; `Terminating` once the tenant's deletion was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    // tenancy: settings and the resource pool counters (absent = 0 / unset)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    #[serde(default)]
    pub enforce_log_limit: bool,
    #[serde(default)]
    pub enforce_metrics_limit: bool,
    /// Millicores.
    #[serde(default)]
    pub allocated_cpu: i64,
    /// Bytes.
    #[serde(default)]
    pub allocated_memory: i64,
    /// Bytes.
    #[serde(default)]
    pub allocated_storage: i64,
}

/// A member item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct MemberItem {
    pub pk: String,
    pub sk: String,
    pub tenant: String,
    /// As first given, trimmed (the sort key holds it lowercased).
    pub email: String,
    pub role: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_token: Option<String>,
}

/// An API key item (also in the `byTenant` index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ApiKeyItem {
    pub pk: String,
    pub sk: String,
    pub tenant: String,
    pub role: String,
    pub secret_hash: String,
    #[serde(default)]
    pub display_name: String,
    pub created_at: String,
    #[serde(default)]
    pub created_by: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

/// An Alertmanager item of a tenant: a receiver (`AM#RECEIVER#<name>`), the route list
/// (`AM#ROUTES`, which also counts the receivers) or the global section (`AM#GLOBAL`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct AlertmanagerItem {
    pub pk: String,
    pub sk: String,
    /// Write counter, the ETag (absent = 0: a route list or global section never written).
    #[serde(default)]
    pub resource_version: u64,
    /// Canonical JSON of the receiver body, route list or global section (absent on a
    /// tombstone and on a routes item only counted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A deleted receiver's tombstone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Routes item: live receivers.
    #[serde(default)]
    pub receiver_count: i64,
    /// Routes item: receiver deletions so far.
    #[serde(default)]
    pub receiver_deletions: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A managed secret: live, or (with `deleted`) the tombstone of a deleted one, which keeps only
/// the keys and `resourceVersion`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SecretItem {
    pub pk: String,
    pub sk: String,
    #[serde(default)]
    pub resource_version: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_path: Option<String>,
    /// JSON text of the target list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<String>,
    /// JSON text of `{conditions, syncStatuses}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
    #[serde(default)]
    pub generation: u64,
    #[serde(default)]
    pub incarnation: u64,
    #[serde(default)]
    pub observed_generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_token: Option<String>,
}

/// The authentication-failure counter of one client IP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct AuthFailureItem {
    pub pk: String,
    pub sk: String,
    pub failures: u32,
    pub blocked_until: u64,
    /// The table's TTL attribute.
    pub ttl: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ClusterBuilder;

    fn names<T: Serialize>(record: &T) -> Vec<String> {
        let mut names: Vec<String> = to_item(record).unwrap().into_keys().collect();
        names.sort();
        names
    }

    #[test]
    fn a_cluster_survives_the_round_trip_through_its_item() {
        for c in [
            ClusterBuilder::new("prod").build(),
            ClusterBuilder::new("prod").running().build(),
            ClusterBuilder::new("prod")
                .degraded("ProviderError")
                .build(),
        ] {
            let item = to_item(&ClusterItem::from(&c)).unwrap();
            assert_eq!(StoredCluster::from_item(item).unwrap().live(), Some(c));
        }
    }

    #[test]
    fn the_item_structs_use_exactly_the_schema_attribute_names() {
        let known: Vec<&str> = PLACEHOLDERS
            .iter()
            .map(|(_, a)| *a)
            .chain([
                attr::ROLE,
                attr::SECRET_HASH,
                attr::CREATED_BY,
                attr::EXPIRES_AT,
                GSI1_PK,
                GSI1_SK,
            ])
            .collect();
        let c = ClusterBuilder::new("prod")
            .running()
            .high_availability(1)
            .build();
        let key = ApiKeyItem {
            pk: "p".into(),
            sk: "s".into(),
            tenant: "t".into(),
            role: "admin".into(),
            secret_hash: "h".into(),
            display_name: "d".into(),
            created_at: "c".into(),
            created_by: "b".into(),
            gsi1pk: "g".into(),
            gsi1sk: "g".into(),
            expires_at: Some("e".into()),
            last_used_at: Some("u".into()),
        };
        let failures = AuthFailureItem {
            pk: "p".into(),
            sk: "s".into(),
            failures: 1,
            blocked_until: 2,
            ttl: 3,
        };
        let tenant = TenantItem {
            pk: "p".into(),
            sk: "s".into(),
            tenant: "t".into(),
            plan: "pro".into(),
            created_at: "c".into(),
            members: Vec::new(),
            resource_version: 1,
            phase: Some("Active".into()),
            display_name: Some("T".into()),
            contact_email: Some("ops@example.com".into()),
            enforce_log_limit: true,
            enforce_metrics_limit: false,
            allocated_cpu: 1,
            allocated_memory: 2,
            allocated_storage: 3,
        };
        let member = MemberItem {
            pk: "p".into(),
            sk: "s".into(),
            tenant: "t".into(),
            email: "e".into(),
            role: "admin".into(),
            created_at: "c".into(),
            write_token: Some("w".into()),
        };
        let written = [
            names(&ClusterItem::from(&c)),
            names(&key),
            names(&failures),
            names(&tenant),
            names(&member),
        ];
        for name in written.iter().flatten() {
            assert!(
                known.contains(&name.as_str()),
                "{name} is not in the schema"
            );
        }
    }

    #[test]
    fn a_tombstone_reads_as_one_and_a_malformed_item_is_an_error_not_a_panic() {
        let mut it = key("TENANT#a", "CLUSTER#b");
        assert!(StoredCluster::from_item(it.clone()).is_err());
        it.insert(attr::PHASE.into(), AttributeValue::S("Deleted".into()));
        it.insert(attr::RESOURCE_VERSION.into(), AttributeValue::N("9".into()));
        assert_eq!(
            StoredCluster::from_item(it.clone()).unwrap(),
            StoredCluster::Tombstone(ResourceVersion(9))
        );
        it.insert(attr::PHASE.into(), AttributeValue::S("Nope".into()));
        assert!(StoredCluster::from_item(it.clone()).is_err());
        it.insert(attr::PHASE.into(), AttributeValue::N("1".into()));
        assert!(StoredCluster::from_item(it).is_err());
    }
}
