//! Cluster phases and the Kubernetes-style conditions derived from them.

use serde::Serialize;

/// Where a cluster is in its life, in the vocabulary of Kupe's clients. `Deleted` is internal:
/// the tombstone a finished teardown leaves so that `resourceVersion` keeps counting up if the
/// name is created again.
///
/// Until this release the store wrote `Deleting` and `Failed`; both still read (as
/// [`Phase::Terminating`] and [`Phase::Degraded`]) and every condition that names a phase also
/// admits its old spelling, so items written before, and executions started before, finish
/// under the new code. Only the new spellings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Accepted, no workflow has picked it up yet.
    Pending,
    /// The first rollout is running.
    Provisioning,
    /// Serving, and (when `observedGeneration == generation`) done.
    Running,
    /// A version change is rolling out.
    Upgrading,
    /// A resources or alerts change is rolling out.
    Updating,
    /// High availability is being turned on: the control plane moves to three replicas.
    Migrating,
    /// Teardown is running; the cluster disappears when it ends.
    Terminating,
    /// The workflow gave up; the `Degraded` condition says why and a later PATCH retries.
    Degraded,
    /// Internal tombstone of a deleted cluster: never shown, reads as 404.
    Deleted,
}

impl Phase {
    /// The phase as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Provisioning => "Provisioning",
            Phase::Running => "Running",
            Phase::Upgrading => "Upgrading",
            Phase::Updating => "Updating",
            Phase::Migrating => "Migrating",
            Phase::Terminating => "Terminating",
            Phase::Degraded => "Degraded",
            Phase::Deleted => "Deleted",
        }
    }

    /// The spelling stores written before this release, for the phases that were renamed.
    pub fn legacy(self) -> Option<&'static str> {
        match self {
            Phase::Terminating => Some("Deleting"),
            Phase::Degraded => Some("Failed"),
            _ => None,
        }
    }

    /// Parses a stored phase, old spellings included.
    pub fn parse(s: &str) -> Option<Phase> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s || p.legacy() == Some(s))
    }

    /// Every phase.
    pub const ALL: [Phase; 9] = [
        Phase::Pending,
        Phase::Provisioning,
        Phase::Running,
        Phase::Upgrading,
        Phase::Updating,
        Phase::Migrating,
        Phase::Terminating,
        Phase::Degraded,
        Phase::Deleted,
    ];

    /// The truth of each condition in this phase. `Ready` holds while the cluster serves
    /// (a rolling upgrade or update keeps serving), `Progressing` while a rollout or teardown
    /// runs, `Degraded` once the workflow failed.
    pub fn conditions(self) -> [(ConditionType, bool); 3] {
        [
            (ConditionType::Ready, self.is_serving()),
            (ConditionType::Progressing, self.is_progressing()),
            (ConditionType::Degraded, self == Phase::Degraded),
        ]
    }

    /// Whether the cluster serves in this phase (a rolling change keeps serving).
    pub fn is_serving(self) -> bool {
        matches!(
            self,
            Phase::Running | Phase::Upgrading | Phase::Updating | Phase::Migrating
        )
    }

    /// Whether a rollout or teardown is in progress in this phase.
    pub fn is_progressing(self) -> bool {
        matches!(
            self,
            Phase::Pending
                | Phase::Provisioning
                | Phase::Upgrading
                | Phase::Updating
                | Phase::Migrating
                | Phase::Terminating
        )
    }
}

impl ConditionType {
    /// The attribute prefix of this condition's transition times (`ready`, `progressing`, ...).
    pub fn attr_prefix(self) -> &'static str {
        match self {
            ConditionType::Ready => "ready",
            ConditionType::Progressing => "progressing",
            ConditionType::Degraded => "degraded",
        }
    }
}

/// A condition type; one entry per type in `status.conditions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConditionType {
    /// The cluster serves requests.
    Ready,
    /// A rollout or teardown is under way.
    Progressing,
    /// The workflow failed.
    Degraded,
}

/// A Kubernetes-style condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Which condition.
    #[serde(rename = "type")]
    pub type_: ConditionType,
    /// `"True"`, `"False"` or `"Unknown"`.
    pub status: &'static str,
    /// CamelCase machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// When `status` last flipped.
    pub last_transition_time: String,
    /// On a true `Degraded` only: whether retrying the same spec can succeed (from the failure
    /// catalog, [`super::failure`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}
