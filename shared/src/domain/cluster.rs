//! The cluster resource: its spec (what the caller asked for), its status (what the workflow
//! reports), `generation` (bumped on every spec change) and `resourceVersion` (bumped on every
//! write), and the JSON view Kupe's clients read.

use super::{
    etag::ResourceVersion,
    names::{ClusterName, DisplayName, TenantName},
    phase::{Condition, ConditionType, Phase},
    resources::Resources,
    version::MinorVersion,
};
use serde_json::{json, Map, Value};

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
}

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
}

impl Status {
    /// The conditions this status implies, one per type. `Ready` is true while the cluster
    /// serves (including during a rolling upgrade or update), `Progressing` while a rollout or
    /// teardown runs, `Degraded` once the workflow failed.
    pub fn conditions(&self) -> Vec<Condition> {
        let phase = self.phase;
        let reason = self
            .reason
            .clone()
            .unwrap_or_else(|| phase.as_str().to_string());
        let message = self.message.clone().unwrap_or_default();
        let cond = |type_, on: bool, at: &String| Condition {
            type_,
            status: if on { "True" } else { "False" },
            reason: reason.clone(),
            message: message.clone(),
            last_transition_time: at.clone(),
        };
        phase
            .conditions()
            .into_iter()
            .map(|(type_, on)| {
                let at = match type_ {
                    ConditionType::Ready => &self.ready_changed_at,
                    ConditionType::Progressing => &self.progressing_changed_at,
                    ConditionType::Degraded => &self.degraded_changed_at,
                };
                cond(type_, on, at)
            })
            .collect()
    }
}

impl Cluster {
    /// Whether the cluster is done: running the generation it was last asked for.
    pub fn is_done(&self) -> bool {
        self.status.phase == Phase::Running && self.status.observed_generation == self.generation
    }

    /// The JSON the API returns.
    pub fn to_json(&self) -> Value {
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
            "generation": self.generation,
            "resourceVersion": self.resource_version.to_string(),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "status": status,
        })
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_follow_the_phase_one_per_type() {
        let failed = Status {
            phase: Phase::Failed,
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
}
