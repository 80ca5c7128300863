//! Operations: every rollout of a cluster (create, upgrade, update, HA change, delete) as a
//! resource a client can follow, retry and read failures from. Nothing here is a second source
//! of truth: the CURRENT operation (the cluster's current generation) is derived from the cluster
//! item the state machine already writes (phase, observed generation, reason, condition times)
//! plus what the API and the provisioner record on it (`opType`, `opStartedAt`, `attempt`,
//! `opSteps`); an operation that a newer generation replaced is the immutable copy the API
//! archived in the same transaction that replaced it (see `store::operations`).
//!
//! | cluster item | operation `state` |
//! |---|---|
//! | `Pending` or a rollout phase | `Running` |
//! | `Running`, `observedGeneration` = `generation` | `Succeeded` |
//! | `Running`, an older `observedGeneration` (accepted, not started yet) | `Running` |
//! | `Degraded` since this operation started | `Failed` (`error.code` = the reason) |
//! | replaced by a newer generation while `Running` | `Superseded` (archived) |

use super::{
    cluster::Cluster,
    failure::{reason_retryable, FailureCode},
    phase::Phase,
};
use crate::workflow::{action_for, execution_name, Action, ImageFacts};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OpType {
    /// The first rollout.
    Create,
    /// A Kubernetes version change.
    Upgrade,
    /// A resources, endpoint access, addons or alerts change.
    Update,
    /// Turning high availability on.
    HighAvailability,
    /// The teardown.
    Delete,
}

impl OpType {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            OpType::Create => "create",
            OpType::Upgrade => "upgrade",
            OpType::Update => "update",
            OpType::HighAvailability => "highAvailability",
            OpType::Delete => "delete",
        }
    }

    /// Parses a stored type.
    pub fn parse(s: &str) -> Option<Self> {
        [
            OpType::Create,
            OpType::Upgrade,
            OpType::Update,
            OpType::HighAvailability,
            OpType::Delete,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// The operation a workflow action performs.
    pub fn of(action: Action) -> Self {
        match action {
            Action::Provision => OpType::Create,
            Action::Upgrade => OpType::Upgrade,
            Action::Update => OpType::Update,
            Action::Migrate => OpType::HighAvailability,
            Action::Delete => OpType::Delete,
        }
    }

    /// The workflow action that performs it (a retry starts it again).
    pub fn action(self) -> Action {
        match self {
            OpType::Create => Action::Provision,
            OpType::Upgrade => Action::Upgrade,
            OpType::Update => Action::Update,
            OpType::HighAvailability => Action::Migrate,
            OpType::Delete => Action::Delete,
        }
    }
}

/// The provider steps of an action, in order: what the simulated provider performs and what an
/// operation's `steps` lists.
pub fn steps_of(action: Action) -> &'static [&'static str] {
    match action {
        Action::Provision => &["ControlPlane", "NodePools", "Addons"],
        Action::Upgrade => &["ControlPlane", "NodePools"],
        Action::Update => &["Apply"],
        Action::Migrate => &["ControlPlane"],
        Action::Delete => &["NodePools", "ControlPlane"],
    }
}

/// The state of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpState {
    /// Accepted or rolling out.
    Running,
    /// Finished: the cluster serves this generation.
    Succeeded,
    /// Ended `Degraded`; the error says why.
    Failed,
    /// A newer generation replaced it before it finished.
    Superseded,
    /// Stopped without a newer generation (not produced yet; part of the contract).
    Cancelled,
}

impl OpState {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Running => "Running",
            OpState::Succeeded => "Succeeded",
            OpState::Failed => "Failed",
            OpState::Superseded => "Superseded",
            OpState::Cancelled => "Cancelled",
        }
    }

    /// Parses a stored state.
    pub fn parse(s: &str) -> Option<Self> {
        [
            OpState::Running,
            OpState::Succeeded,
            OpState::Failed,
            OpState::Superseded,
            OpState::Cancelled,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// The state of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepState {
    /// Not started.
    Pending,
    /// Being performed.
    Running,
    /// Done (by this attempt or an earlier one).
    Succeeded,
    /// Failed; the operation failed with it.
    Failed,
}

/// One step of an operation, as the provisioner records it (`opSteps`, JSON text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpStep {
    /// Step name ([`steps_of`]).
    pub name: String,
    /// Its state.
    pub state: StepState,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OpStep {
    /// A step not started yet.
    pub fn pending(name: &str) -> Self {
        OpStep {
            name: name.to_string(),
            state: StepState::Pending,
            started_at: None,
            finished_at: None,
            error: None,
        }
    }
}

/// What the cluster item records about its current operation (beyond its status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpRecord {
    /// The operation's type (absent on items written before operations existed).
    pub op_type: Option<OpType>,
    /// When the API accepted it.
    pub started_at: Option<String>,
    /// 1 for the first execution; each retry adds one.
    pub attempt: u64,
    /// The steps as the provisioner last recorded them (empty until the first one starts).
    pub steps: Vec<OpStep>,
}

impl OpRecord {
    /// A new operation of `op_type`, accepted at `now`.
    pub fn accepted(op_type: OpType, now: &str) -> Self {
        OpRecord {
            op_type: Some(op_type),
            started_at: Some(now.to_string()),
            attempt: 1,
            steps: Vec::new(),
        }
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// A code of the failure catalog (`Degraded`'s reason).
    pub code: String,
    /// What happened and what to do (`Degraded`'s message).
    pub message: String,
    /// Whether a retry can succeed.
    pub retryable: bool,
}

/// An operation as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The first execution's Step Functions name ([`execution_name`]).
    pub id: String,
    /// Its type.
    pub op_type: OpType,
    /// The generation it rolls out.
    pub generation: u64,
    /// Its state.
    pub state: OpState,
    /// When the API accepted it.
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Executions so far (1 + retries).
    pub attempt: u64,
    /// The provider steps.
    pub steps: Vec<OpStep>,
    /// Why it failed.
    pub error: Option<OpError>,
}

/// The action a cluster's current generation calls for, as the dispatcher decides it.
pub fn action_of(c: &Cluster) -> Action {
    action_for(&ImageFacts {
        phase: c.status.phase.as_str(),
        generation: c.generation,
        observed_generation: c.status.observed_generation,
        version: &c.spec.version.to_string(),
        kubernetes_version: c.status.kubernetes_version.as_deref(),
        ha_since_generation: c.ha_since_generation.filter(|_| c.spec.high_availability),
    })
}

/// Whether RFC 3339 time `a` is at or after `b` (unparseable times compare as text).
fn at_or_after(a: &str, b: &str) -> bool {
    use time::{format_description::well_known::Rfc3339, OffsetDateTime};
    match (
        OffsetDateTime::parse(a, &Rfc3339),
        OffsetDateTime::parse(b, &Rfc3339),
    ) {
        // The API's times have second precision, the state machine's milliseconds: compare
        // at second precision, so a failure in the second the operation started counts.
        (Ok(a), Ok(b)) => a.unix_timestamp() >= b.unix_timestamp(),
        _ => a >= b,
    }
}

impl Operation {
    /// The current operation of `c`: its current generation's, derived from the item.
    pub fn current(c: &Cluster) -> Operation {
        let op = &c.op;
        let op_type = op.op_type.unwrap_or_else(|| OpType::of(legacy_action(c)));
        let started_at = op
            .started_at
            .clone()
            .unwrap_or_else(|| c.updated_at.clone());
        let st = &c.status;
        let state = match st.phase {
            Phase::Running if st.observed_generation >= c.generation => OpState::Succeeded,
            Phase::Degraded if at_or_after(&st.degraded_changed_at, &started_at) => OpState::Failed,
            _ => OpState::Running,
        };
        let finished_at = match state {
            OpState::Succeeded => Some(st.progressing_changed_at.clone()),
            OpState::Failed => Some(st.degraded_changed_at.clone()),
            _ => None,
        };
        let error = (state == OpState::Failed).then(|| {
            let code = st
                .reason
                .clone()
                .unwrap_or_else(|| FailureCode::InternalError.as_str().to_string());
            OpError {
                retryable: reason_retryable(&code),
                message: st.message.clone().unwrap_or_default(),
                code,
            }
        });
        let mut steps = if op.steps.is_empty() {
            steps_of(op_type.action())
                .iter()
                .map(|n| OpStep::pending(n))
                .collect()
        } else {
            op.steps.clone()
        };
        if state == OpState::Succeeded {
            // A finished rollout performed every step (items from before steps were recorded).
            for s in &mut steps {
                if s.state != StepState::Succeeded {
                    s.state = StepState::Succeeded;
                    s.finished_at = s.finished_at.clone().or_else(|| finished_at.clone());
                }
            }
        }
        Operation {
            id: execution_name(
                c.tenant.as_str(),
                c.name.as_str(),
                c.incarnation,
                c.generation,
            ),
            op_type,
            generation: c.generation,
            state,
            started_at,
            finished_at,
            attempt: op.attempt.max(1),
            steps,
            error,
        }
    }

    /// The operation `c`'s current one becomes when a new generation replaces it at `now`: as
    /// derived, except that one still running is `Superseded`.
    pub fn archived(c: &Cluster, now: &str) -> Operation {
        let mut op = Operation::current(c);
        if op.state == OpState::Running {
            op.state = OpState::Superseded;
            op.finished_at = Some(now.to_string());
        }
        op
    }

    /// Percent done: finished steps over all steps, 100 only once it succeeded. Monotone while
    /// it runs: steps only ever finish.
    pub fn progress(&self) -> u64 {
        if self.state == OpState::Succeeded {
            return 100;
        }
        let total = self.steps.len() as u64;
        let done = self
            .steps
            .iter()
            .filter(|s| s.state == StepState::Succeeded)
            .count() as u64;
        (done * 100).checked_div(total).unwrap_or(0).min(99)
    }

    /// The JSON view.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "type": self.op_type.as_str(),
            "generation": self.generation,
            "state": self.state.as_str(),
            "startedAt": self.started_at,
            "progress": self.progress(),
            "attempt": self.attempt,
            "steps": self.steps,
        });
        if let Some(f) = &self.finished_at {
            v["finishedAt"] = json!(f);
        }
        if let Some(e) = &self.error {
            v["error"] = json!({"code": e.code, "message": e.message, "retryable": e.retryable});
        }
        v
    }

    /// The summary a cluster's `status.currentOperation` carries.
    pub fn summary_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.op_type.as_str(),
            "state": self.state.as_str(),
            "progress": self.progress(),
        })
    }
}

/// The type of an operation accepted before `opType` was recorded: a teardown while
/// terminating, a create for the first generation, else an update.
fn legacy_action(c: &Cluster) -> Action {
    match c.status.phase {
        Phase::Terminating => Action::Delete,
        _ if c.generation <= 1 => Action::Provision,
        _ => Action::Update,
    }
}

/// An operation id as a request names it: an execution name's characters and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationId(String);

impl OperationId {
    /// Parses a path's `{id}`.
    ///
    /// # Errors
    /// A message when it cannot be an operation id.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= crate::workflow::MAX_EXECUTION_NAME
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(OperationId(s.to_string()))
        } else {
            Err("id must be an operation id: up to 80 of a-z, 0-9 and -".into())
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The generation an operation id names (`…-g<generation>-<digest>`), if it is one.
pub fn generation_of_id(id: &str) -> Option<u64> {
    let (rest, digest) = id.rsplit_once('-')?;
    if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (_, gen) = rest.rsplit_once("-g")?;
    gen.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ClusterBuilder;

    #[test]
    fn the_id_names_its_generation() {
        let id = execution_name("acme", "prod-g7", 3, 12);
        assert_eq!(generation_of_id(&id), Some(12));
        assert_eq!(generation_of_id("prod-g12-xyz"), None);
        assert_eq!(generation_of_id(""), None);
    }

    #[test]
    fn the_state_follows_the_item() {
        let pending = ClusterBuilder::new("prod").build();
        let op = Operation::current(&pending);
        assert_eq!((op.state, op.op_type), (OpState::Running, OpType::Create));
        assert_eq!(op.progress(), 0);
        let running = ClusterBuilder::new("prod").running().build();
        let op = Operation::current(&running);
        assert_eq!((op.state, op.progress()), (OpState::Succeeded, 100));
        assert!(op.steps.iter().all(|s| s.state == StepState::Succeeded));
        assert_eq!(
            Operation::archived(&pending, "2026-01-01T00:00:00Z").state,
            OpState::Superseded
        );
        assert_eq!(
            Operation::archived(&running, "2026-01-01T00:00:00Z").state,
            OpState::Succeeded
        );
    }

    #[test]
    fn progress_counts_finished_steps() {
        let mut c = ClusterBuilder::new("prod").build();
        c.op.steps = steps_of(Action::Provision)
            .iter()
            .map(|n| OpStep::pending(n))
            .collect();
        c.op.steps[0].state = StepState::Succeeded;
        assert_eq!(Operation::current(&c).progress(), 33);
        c.op.steps[1].state = StepState::Succeeded;
        c.op.steps[2].state = StepState::Succeeded;
        assert_eq!(
            Operation::current(&c).progress(),
            99,
            "100 only once Running"
        );
    }
}
