//! The cluster resource: its spec (what the caller asked for), its status (what the workflow
//! reports), `generation` (bumped on every spec change) and `resourceVersion` (bumped on every
//! write); the validated inputs of a create and of a merge-patch PATCH, and the JSON view Kupe's
//! clients read.

use super::{
    addons::{self, Addon, AddonInput},
    etag::ResourceVersion,
    labels::{check_annotations, check_labels, KeyValues},
    names::{ClusterName, DisplayName, TenantName},
    network::{EndpointAccess, Network},
    operation::{OpRecord, OpType, Operation},
    phase::{Condition, ConditionType, Phase},
    plan::Plan,
    quantity::Quantity,
    resources::{ResourceKind, Resources, ResourcesInput},
    version::MinorVersion,
    Invalid,
};
use serde_json::{json, Map, Value};

/// Largest serialized `alerts` object.
pub const MAX_ALERTS_BYTES: usize = 16 * 1024;

/// `shared` (vCluster on shared infrastructure) or `dedicated` (isolated nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterType {
    /// Shared infrastructure.
    Shared,
    /// Dedicated nodes; only where the tenant's plan enables it.
    Dedicated,
}

impl ClusterType {
    /// Parses `shared` or `dedicated`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "shared" => Some(Self::Shared),
            "dedicated" => Some(Self::Dedicated),
            _ => None,
        }
    }

    /// The type as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Dedicated => "dedicated",
        }
    }
}

/// The mutable part of a cluster: what a PATCH may change. Any change bumps `generation`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Requested minor version.
    pub version: MinorVersion,
    /// Resources in effect.
    pub resources: Resources,
    /// Free-form alert configuration.
    pub alerts: Map<String, Value>,
    /// A three-replica control plane. Plan-gated; once on, it stays on (Kupe's operator rejects
    /// turning it off: `HA_DISABLE_UNSUPPORTED`).
    pub high_availability: bool,
    /// Pod and service ranges (immutable after create; a PATCH may only echo them).
    pub network: Network,
    /// Who may reach the API server (a change is a rollout).
    pub endpoint_access: EndpointAccess,
    /// Addons from the catalog (a change is a rollout).
    pub addons: Vec<Addon>,
}

/// What a PATCH may change without a rollout: no new `generation`, no workflow, only a new
/// `resourceVersion`. Labels and annotations describe the cluster; deletion protection guards
/// the API's DELETE.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// Labels (Kubernetes syntax), selectable with `labelSelector`.
    pub labels: KeyValues,
    /// Annotations (Kubernetes keys, free-text values).
    pub annotations: KeyValues,
    /// While true, `DELETE` of the cluster is refused (409 `DeletionProtected`).
    pub deletion_protection: bool,
}

/// Control-plane replicas of a highly available cluster.
pub const HA_REPLICAS: u32 = 3;

/// What the workflow reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Current phase.
    pub phase: Phase,
    /// API server URL, once provisioned.
    pub endpoint: Option<String>,
    /// Running patch version (`v1.32.6`), once provisioned.
    pub kubernetes_version: Option<String>,
    /// The generation the last finished rollout served.
    pub observed_generation: u64,
    /// Machine-readable reason of the latest phase change.
    pub reason: Option<String>,
    /// Human-readable message of the latest phase change.
    pub message: Option<String>,
    /// When `Ready` last flipped.
    pub ready_changed_at: String,
    /// When `Progressing` last flipped.
    pub progressing_changed_at: String,
    /// When `Degraded` last flipped.
    pub degraded_changed_at: String,
    /// Free-form metrics, when the provider reports any.
    pub metrics: Option<Map<String, Value>>,
    /// Base64 PEM of the cluster CA, once provisioned (served by the kubeconfig route only).
    pub certificate_authority: Option<String>,
}

/// A cluster as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Owning tenant.
    pub tenant: TenantName,
    /// Name, unique in the tenant.
    pub name: ClusterName,
    /// Display name (immutable).
    pub display_name: DisplayName,
    /// Type (immutable).
    pub cluster_type: ClusterType,
    /// The mutable spec.
    pub spec: Spec,
    /// Labels, annotations and deletion protection.
    pub meta: Metadata,
    /// Bumped on every spec change (and on delete, which starts the teardown).
    pub generation: u64,
    /// Bumped on every write; the ETag.
    pub resource_version: ResourceVersion,
    /// The `resourceVersion` this incarnation of the name was created with: unique per name.
    pub incarnation: u64,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last write time, RFC 3339.
    pub updated_at: String,
    /// Workflow status.
    pub status: Status,
    /// Token of the API request that wrote this version (tells a retried write from a conflict).
    pub write_token: Option<String>,
    /// The generation that turned `high_availability` on: HA is in place once the workflow has
    /// observed it. `None` while HA is off.
    pub ha_since_generation: Option<u64>,
    /// What the item records about the current generation's operation.
    pub op: OpRecord,
}

/// A validated create request; resources are resolved against the tenant's plan later.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCluster {
    /// Name.
    pub name: ClusterName,
    /// Display name.
    pub display_name: DisplayName,
    /// Type.
    pub cluster_type: ClusterType,
    /// Version (the latest stable minor when omitted).
    pub version: MinorVersion,
    /// Requested resources; the plan fills in the rest.
    pub resources: ResourcesInput,
    /// Alerts, at most [`MAX_ALERTS_BYTES`] serialized.
    pub alerts: Map<String, Value>,
    /// A three-replica control plane (plan-gated).
    pub high_availability: bool,
    /// Labels, annotations, deletion protection.
    pub meta: Metadata,
    /// Pod and service ranges (defaults filled in).
    pub network: Network,
    /// API endpoint reach.
    pub endpoint_access: EndpointAccess,
    /// Addons.
    pub addons: Vec<Addon>,
}

/// A merge patch of `endpointAccess`: `public: null` returns it to `true`, `allowedCidrs: null`
/// empties the list; a given list replaces the old one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointAccessPatch {
    /// `public`, when given.
    pub public: Option<Option<bool>>,
    /// `allowedCidrs`, when given.
    pub allowed_cidrs: Option<Option<Vec<String>>>,
}

/// A validated JSON merge patch (RFC 7396) of a cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterPatch {
    /// A new minor version.
    pub version: Option<MinorVersion>,
    /// Per resource: `Some(Some(q))` sets it, `Some(None)` (a JSON `null`) returns it to the
    /// plan's default.
    pub resources: [Option<Option<Quantity>>; 3],
    /// A merge patch of `alerts`; `Value::Null` removes them all.
    pub alerts: Option<Value>,
    /// `highAvailability`, when given.
    pub high_availability: Option<bool>,
    /// A merge patch of `labels`: a `null` value removes a key, `null` for the whole object
    /// removes them all.
    pub labels: Option<Option<std::collections::BTreeMap<String, Option<String>>>>,
    /// A merge patch of `annotations`, as `labels`.
    pub annotations: Option<Option<std::collections::BTreeMap<String, Option<String>>>>,
    /// `deletionProtection`; `null` turns it off.
    pub deletion_protection: Option<Option<bool>>,
    /// `network` echoed back (`podCidr`, `serviceCidr`), accepted only when equal to the
    /// current values.
    pub network: Option<(Option<String>, Option<String>)>,
    /// `endpointAccess`; `Some(None)` (a `null`) returns it to the default.
    pub endpoint_access: Option<Option<EndpointAccessPatch>>,
    /// `addons`: a list replaces the old one whole, `null` empties it.
    pub addons: Option<Option<Vec<AddonInput>>>,
    /// Immutable fields echoed back, accepted only when equal to the current values.
    pub echoed: Vec<(&'static str, Value)>,
}

/// Checks the size of an `alerts` object.
///
/// # Errors
/// [`Invalid`] when it serializes to more than [`MAX_ALERTS_BYTES`].
pub fn check_alerts(alerts: &Map<String, Value>) -> Result<(), Invalid> {
    if Value::Object(alerts.clone()).to_string().len() > MAX_ALERTS_BYTES {
        return Err(Invalid::at(
            "alerts",
            format!("alerts exceeds {MAX_ALERTS_BYTES} bytes"),
        ));
    }
    Ok(())
}

impl NewCluster {
    /// The cluster this request creates, at `resource_version` (which continues a tombstone's
    /// count) with the resources the plan resolved, written by the request `token`.
    pub fn into_cluster(
        self,
        tenant: TenantName,
        resources: Resources,
        resource_version: ResourceVersion,
        now: &str,
        token: &str,
    ) -> Cluster {
        Cluster {
            tenant,
            name: self.name,
            display_name: self.display_name,
            cluster_type: self.cluster_type,
            spec: Spec {
                version: self.version,
                resources,
                alerts: self.alerts,
                high_availability: self.high_availability,
                network: self.network,
                endpoint_access: self.endpoint_access,
                addons: self.addons,
            },
            meta: self.meta,
            generation: 1,
            resource_version,
            incarnation: resource_version.0,
            created_at: now.to_string(),
            updated_at: now.to_string(),
            status: Status::pending(now),
            write_token: Some(token.to_string()),
            ha_since_generation: self.high_availability.then_some(1),
            op: OpRecord::accepted(OpType::Create, now),
        }
    }
}

impl Cluster {
    /// Whether the cluster is done: running the generation it was last asked for.
    pub fn is_done(&self) -> bool {
        self.status.phase == Phase::Running && self.status.observed_generation == self.generation
    }

    /// The spec after `patch`, checked against the rules and `plan`.
    ///
    /// # Errors
    /// [`Invalid`] for a changed immutable field, a downgrade or skipped minor, resources out of
    /// the plan's bounds, or alerts too large.
    pub fn patched_spec(&self, patch: &ClusterPatch, plan: &Plan) -> Result<Spec, Invalid> {
        for (field, value) in &patch.echoed {
            let current = match *field {
                "name" => self.name.as_str(),
                "displayName" => self.display_name.as_str(),
                _ => self.cluster_type.as_str(),
            };
            if value.as_str() != Some(current) {
                return Err(Invalid::at(
                    *field,
                    format!("{field} is immutable and cannot be changed"),
                ));
            }
        }
        let mut spec = self.spec.clone();
        if let Some(v) = patch.version {
            self.spec
                .version
                .check_upgrade_to(v)
                .map_err(Invalid::of("version"))?;
            spec.version = v;
        }
        for (kind, change) in ResourceKind::ALL.iter().zip(&patch.resources) {
            if let Some(change) = change {
                let q = change.clone().unwrap_or_else(|| plan.default_for(*kind));
                *spec.resources.get_mut(*kind) = q;
            }
        }
        plan.check(&spec.resources)
            .map_err(Invalid::of("resources"))?;
        if let Some(p) = &patch.alerts {
            let mut alerts = Value::Object(spec.alerts);
            json_patch::merge(&mut alerts, p);
            spec.alerts = match alerts {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            check_alerts(&spec.alerts)?;
        }
        match patch.high_availability {
            Some(false) if self.spec.high_availability => {
                return Err(Invalid::at(
                    "highAvailability",
                    "HA_DISABLE_UNSUPPORTED: high availability cannot be turned off once enabled",
                ))
            }
            Some(on) => spec.high_availability = on,
            None => {}
        }
        if let Some((pod, service)) = &patch.network {
            for (field, given, current) in [
                ("network.podCidr", pod, spec.network.pod_cidr),
                ("network.serviceCidr", service, spec.network.service_cidr),
            ] {
                if given.as_ref().is_some_and(|g| *g != current.to_string()) {
                    return Err(Invalid::at(
                        field,
                        format!("{field} is immutable and cannot be changed (it is {current})"),
                    ));
                }
            }
        }
        match &patch.endpoint_access {
            None => {}
            Some(None) => spec.endpoint_access = EndpointAccess::default(),
            Some(Some(p)) => {
                let public = match p.public {
                    None => spec.endpoint_access.public,
                    Some(v) => v.unwrap_or(true),
                };
                let allowed = match &p.allowed_cidrs {
                    None => spec.endpoint_access.allowed_texts(),
                    Some(v) => v.clone().unwrap_or_default(),
                };
                spec.endpoint_access =
                    EndpointAccess::parse(public, &allowed).map_err(|(f, m)| Invalid::at(f, m))?;
            }
        }
        if let Some(list) = &patch.addons {
            spec.addons = addons::check(list.clone().unwrap_or_default())
                .map_err(|(f, m)| Invalid::at(f, m))?;
        }
        Ok(spec)
    }

    /// The labels, annotations and deletion protection after `patch`, checked.
    ///
    /// # Errors
    /// [`Invalid`] naming the label or annotation at fault.
    pub fn patched_meta(&self, patch: &ClusterPatch) -> Result<Metadata, Invalid> {
        let mut meta = self.meta.clone();
        if let Some(p) = &patch.labels {
            merge_key_values(&mut meta.labels, p.as_ref());
            check_labels(&meta.labels).map_err(|(f, m)| Invalid::at(f, m))?;
        }
        if let Some(p) = &patch.annotations {
            merge_key_values(&mut meta.annotations, p.as_ref());
            check_annotations(&meta.annotations).map_err(|(f, m)| Invalid::at(f, m))?;
        }
        if let Some(p) = patch.deletion_protection {
            meta.deletion_protection = p.unwrap_or(false);
        }
        Ok(meta)
    }

    /// The generation from which HA is wanted, after a spec change to `spec` at `generation`.
    pub fn ha_since_after(&self, spec: &Spec, generation: u64) -> Option<u64> {
        match (self.spec.high_availability, spec.high_availability) {
            (_, false) => None,
            (true, true) => self.ha_since_generation.or(Some(generation)),
            (false, true) => Some(generation),
        }
    }

    /// Where the HA rollout stands: Kupe's `haPhase` (`pending`, `migrating`, `ha-healthy`,
    /// `ha-degraded`), whether it is in place, and the ready replicas. `None` when HA is off.
    pub fn ha_status(&self) -> Option<(&'static str, bool, u32)> {
        let since = self
            .ha_since_generation
            .filter(|_| self.spec.high_availability)?;
        let configured = self.status.observed_generation >= since;
        let never_ran = self.status.observed_generation == 0;
        let phase = match (configured, self.status.phase) {
            (true, Phase::Degraded) => "ha-degraded",
            (true, _) => "ha-healthy",
            (false, _) if never_ran => "pending",
            (false, _) => "migrating",
        };
        let ready = match (configured, never_ran) {
            (true, _) => HA_REPLICAS,
            (false, true) => 0,
            (false, false) => 1,
        };
        Some((phase, configured, ready))
    }

    /// The JSON the API returns.
    pub fn to_json(&self) -> Value {
        let mut view = self.core_json();
        let spec = &self.spec;
        view["labels"] = json!(self.meta.labels);
        view["annotations"] = json!(self.meta.annotations);
        view["deletionProtection"] = json!(self.meta.deletion_protection);
        view["network"] = json!({
            "podCidr": spec.network.pod_cidr.to_string(),
            "serviceCidr": spec.network.service_cidr.to_string(),
        });
        view["endpointAccess"] = json!({
            "public": spec.endpoint_access.public,
            "allowedCidrs": spec.endpoint_access.allowed_texts(),
        });
        view["addons"] = addons::to_json(&spec.addons);
        view
    }

    /// The fields every version of the cluster view has had.
    fn core_json(&self) -> Value {
        let mut status = json!({
            "phase": self.status.phase.as_str(),
            "observedGeneration": self.status.observed_generation,
            "conditions": self.status.conditions(),
        });
        if let Some(endpoint) = &self.status.endpoint {
            status["endpoint"] = json!(endpoint);
        }
        if let Some(v) = &self.status.kubernetes_version {
            status["kubernetesVersion"] = json!(v);
        }
        if let Some(m) = &self.status.metrics {
            status["metrics"] = Value::Object(m.clone());
        }
        status["currentOperation"] = Operation::current(self).summary_json();
        if let Some((phase, configured, ready)) = self.ha_status() {
            status["haPhase"] = json!(phase);
            status["haConfigured"] = json!(configured);
            status["haReplicasReady"] = json!(ready);
            status["haReplicasDesired"] = json!(HA_REPLICAS);
        }
        json!({
            "name": self.name.as_str(),
            "displayName": self.display_name.as_str(),
            "type": self.cluster_type.as_str(),
            "version": self.spec.version.to_string(),
            "resources": {
                "cpu": self.spec.resources.cpu.as_str(),
                "memory": self.spec.resources.memory.as_str(),
                "storage": self.spec.resources.storage.as_str(),
            },
            "alerts": Value::Object(self.spec.alerts.clone()),
            "highAvailability": self.spec.high_availability,
            "generation": self.generation,
            "resourceVersion": self.resource_version.to_string(),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "status": status,
        })
    }
}

/// Applies a merge patch to labels or annotations: `None` (a `null` object) removes every
/// key, a `null` value removes its key, a string sets it.
fn merge_key_values(
    current: &mut KeyValues,
    patch: Option<&std::collections::BTreeMap<String, Option<String>>>,
) {
    let Some(patch) = patch else {
        current.clear();
        return;
    };
    for (k, v) in patch {
        match v {
            Some(v) => {
                current.insert(k.clone(), v.clone());
            }
            None => {
                current.remove(k);
            }
        }
    }
}

/// Checks the metadata of a create.
///
/// # Errors
/// [`Invalid`] naming the label or annotation at fault.
pub fn check_meta(meta: &Metadata) -> Result<(), Invalid> {
    check_labels(&meta.labels).map_err(|(f, m)| Invalid::at(f, m))?;
    check_annotations(&meta.annotations).map_err(|(f, m)| Invalid::at(f, m))
}

impl Status {
    /// The status of a cluster just accepted: `Pending`, every condition set now.
    pub fn pending(now: &str) -> Status {
        Status {
            phase: Phase::Pending,
            endpoint: None,
            kubernetes_version: None,
            observed_generation: 0,
            reason: Some("Accepted".into()),
            message: Some("Waiting for the provisioning workflow to start".into()),
            ready_changed_at: now.into(),
            progressing_changed_at: now.into(),
            degraded_changed_at: now.into(),
            metrics: None,
            certificate_authority: None,
        }
    }

    /// The conditions this status implies, one per type. `Ready` is true while the cluster
    /// serves (including during a rolling upgrade or update), `Progressing` while a rollout or
    /// teardown runs, `Degraded` once the workflow failed.
    pub fn conditions(&self) -> Vec<Condition> {
        let reason = self
            .reason
            .clone()
            .unwrap_or_else(|| self.phase.as_str().to_string());
        let message = self.message.clone().unwrap_or_default();
        self.phase
            .conditions()
            .into_iter()
            .map(|(type_, on)| Condition {
                type_,
                status: if on { "True" } else { "False" },
                reason: reason.clone(),
                message: message.clone(),
                last_transition_time: match type_ {
                    ConditionType::Ready => &self.ready_changed_at,
                    ConditionType::Progressing => &self.progressing_changed_at,
                    ConditionType::Degraded => &self.degraded_changed_at,
                }
                .clone(),
                retryable: (type_ == ConditionType::Degraded && on)
                    .then(|| super::failure::reason_retryable(&reason)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ClusterBuilder;

    #[test]
    fn conditions_follow_the_phase_one_per_type() {
        let failed = Status {
            phase: Phase::Degraded,
            ..Status::pending("t0")
        };
        let conds = failed.conditions();
        assert_eq!(conds.len(), 3);
        assert_eq!(
            conds.iter().map(|c| c.status).collect::<Vec<_>>(),
            ["False", "False", "True"]
        );
        let running = Status {
            phase: Phase::Running,
            ..Status::pending("t0")
        };
        assert_eq!(running.conditions()[0].status, "True");
    }

    #[test]
    fn a_patch_merges_alerts_per_rfc7396_and_resets_a_null_resource_to_the_default() {
        let plan = Plan::by_name("pro").unwrap();
        let c = ClusterBuilder::new("prod")
            .alerts(json!({"a": "b", "c": {"d": "e", "f": "g"}}))
            .cpu("6")
            .build();
        let patch = ClusterPatch {
            resources: [Some(None), None, None],
            alerts: Some(json!({"a": "z", "c": {"f": null}})),
            ..Default::default()
        };
        let spec = c.patched_spec(&patch, plan).unwrap();
        assert_eq!(
            Value::Object(spec.alerts),
            json!({"a": "z", "c": {"d": "e"}})
        );
        assert_eq!(spec.resources.cpu.as_str(), "2");
    }

    #[test]
    fn an_echoed_immutable_field_must_equal_the_current_value() {
        let plan = Plan::by_name("pro").unwrap();
        let c = ClusterBuilder::new("prod").build();
        let same = ClusterPatch {
            echoed: vec![("name", json!("prod")), ("type", json!("shared"))],
            ..Default::default()
        };
        assert_eq!(c.patched_spec(&same, plan).unwrap(), c.spec);
        let changed = ClusterPatch {
            echoed: vec![("displayName", json!(7))],
            ..Default::default()
        };
        let err = c.patched_spec(&changed, plan).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("displayName"));
    }
}
