//! The contract between the table, the dispatcher, the state machine and the provisioner: which
//! change starts which workflow, under which execution name, and the messages the workflow's
//! task tokens travel in. Only ids travel; the spec is read from the table when needed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a workflow does for one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// First rollout (`Provisioning`), also after a failed first rollout.
    Provision,
    /// A version change (`Upgrading`).
    Upgrade,
    /// A resources or alerts change (`Updating`).
    Update,
    /// Turning on high availability: three control-plane replicas (`Migrating`).
    Migrate,
    /// Teardown (`Terminating`).
    Delete,
}

/// The input of one execution: which generation of which incarnation of which cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionInput {
    /// Tenant.
    pub tenant: String,
    /// Cluster name.
    pub name: String,
    /// The incarnation (creation `resourceVersion`) of the name.
    pub incarnation: u64,
    /// The generation this execution serves; its status writes are conditional on it.
    pub generation: u64,
    /// What to do.
    pub action: Action,
    /// The phase before the change that started this execution (the old stream image's; empty
    /// for a new cluster). A teardown reports it as the `Terminating` event's old phase.
    pub from_phase: String,
    /// For a teardown: what the `ReleaseSlot` state gives back to the tenant's pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_release: Option<PoolRelease>,
    /// The operation's execution count: absent for the first, 2 and up for a retry (its
    /// execution is named [`retry_execution_name`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u64>,
}

impl ExecutionInput {
    /// The execution's name: [`execution_name`] for the first attempt, [`retry_execution_name`]
    /// for a retry.
    pub fn execution_name(&self) -> String {
        let first = execution_name(&self.tenant, &self.name, self.incarnation, self.generation);
        match self.attempt {
            Some(a) if a > 1 => retry_execution_name(&first, a),
            _ => first,
        }
    }
}

/// The execution name of a retry: the first attempt's name (the operation id) and `-a<attempt>`,
/// so one retry starts one execution. At most 71 + 2 + 3 = 76 characters for the attempts the
/// API allows (up to 100).
pub fn retry_execution_name(first: &str, attempt: u64) -> String {
    format!("{first}-a{attempt}")
}

/// A cluster's resources negated, in exact units, as the decimal strings DynamoDB's `N` takes:
/// the state machine's `ReleaseSlot` adds them to the tenant's `allocated*` counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRelease {
    /// Millicores, negated.
    pub cpu: String,
    /// Bytes, negated.
    pub memory: String,
    /// Bytes, negated.
    pub storage: String,
}

impl PoolRelease {
    /// Giving back `held`.
    pub fn of(held: &crate::domain::pool::Allocation) -> Self {
        let back = held.negated();
        PoolRelease {
            cpu: back.cpu.to_string(),
            memory: back.memory.to_string(),
            storage: back.storage.to_string(),
        }
    }
}

/// The longest execution name Step Functions accepts.
pub const MAX_EXECUTION_NAME: usize = 80;

/// The execution name of one (cluster, incarnation, generation): a readable prefix (the first
/// 16 characters of the name and the generation) and 128 bits of SHA-256 over all four parts,
/// so one generation can start only one execution and no two generations share a name.
/// At most 16 + 2 + 20 + 1 + 32 = 71 characters of `[a-z0-9-]`.
pub fn execution_name(tenant: &str, name: &str, incarnation: u64, generation: u64) -> String {
    let mut h = Sha256::new();
    for part in [
        tenant,
        name,
        &incarnation.to_string(),
        &generation.to_string(),
    ] {
        h.update(part.len().to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = hex::encode(&h.finalize()[..16]);
    let prefix: String = name.chars().take(16).collect();
    format!("{}-g{generation}-{digest}", prefix.trim_end_matches('-'))
}

/// The input of one secret-sync execution (`infra/statemachine/secret-sync.asl.json`): which
/// secret, and what called for the sync. The sync itself reconciles the secret as the table has
/// it when it runs (level-triggered), so an execution started for an older generation or an
/// older cluster state does no harm: its status write is conditioned on the version it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncInput {
    /// Tenant.
    pub tenant: String,
    /// Secret name.
    pub secret: String,
    /// The incarnation (creation `resourceVersion`) of the name.
    pub incarnation: u64,
    /// The secret's generation when the sync was called for.
    pub generation: u64,
    /// What called for it: `spec` (a new generation of the secret) or
    /// `cluster/<name>/<resourceVersion>` (a change of a target cluster, by its stream record).
    pub trigger: String,
}

impl SecretSyncInput {
    /// The execution name: one per (secret incarnation, generation, trigger), so a redelivered
    /// stream record cannot start a second execution, while each cluster change starts its own.
    pub fn execution_name(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.tenant.as_str(),
            self.secret.as_str(),
            &self.incarnation.to_string(),
            &self.generation.to_string(),
            self.trigger.as_str(),
        ] {
            h.update(part.len().to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = hex::encode(&h.finalize()[..16]);
        let prefix: String = self.secret.chars().take(16).collect();
        format!(
            "secret-{}-g{}-{digest}",
            prefix.trim_end_matches('-'),
            self.generation
        )
    }
}

/// The `kind` of a secret-sync task message (cluster task messages have none).
pub const SECRET_SYNC_KIND: &str = "secretSync";

/// The SQS message the secret-sync workflow's task sends the provisioner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretTaskMessage {
    /// Always [`SECRET_SYNC_KIND`].
    pub kind: String,
    /// The token to answer with.
    pub task_token: String,
    /// Tenant.
    pub tenant: String,
    /// Secret name.
    pub secret: String,
    /// The task's `HeartbeatSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_seconds: Option<u64>,
}

/// Which step of an action a task message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Begin the action (the message the state machine's `Work` state sends).
    Start,
    /// See whether it finished (the delayed messages the provisioner sends itself, carrying the
    /// same task token, until the provider is done).
    Check,
}

/// The SQS message a workflow task sends: the task token and the ids. The provisioner's own
/// delayed re-check is the same message with `step` = `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMessage {
    /// The token to answer with.
    pub task_token: String,
    /// Tenant.
    pub tenant: String,
    /// Cluster name.
    pub name: String,
    /// Incarnation.
    pub incarnation: u64,
    /// Generation.
    pub generation: u64,
    /// The action.
    pub action: Action,
    /// The step.
    pub step: Step,
    /// The task's `HeartbeatSeconds`: the provisioner heartbeats well within it while a provider
    /// call runs (absent in messages from before it was added: then a default applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_seconds: Option<u64>,
    /// The work queue (the state machine's `${QueueUrl}`): where the provisioner sends its
    /// delayed re-checks. Absent in messages from a state machine that polls by itself (the
    /// definition before issue 13, which loops Wait → Check): those are answered `done: false`
    /// after each step, as that definition expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
    /// The pause between two checks (the state machine's `${CheckIntervalSeconds}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval_seconds: Option<u64>,
}

/// What the provisioner answers a task with (`SendTaskSuccess` output).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutput {
    /// Whether the action finished.
    pub done: bool,
    /// API server URL (set when done, except for a teardown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Running patch version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Base64 PEM of the cluster CA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// Metrics as a JSON object string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
}

/// The fields of a stream image the dispatcher decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts<'a> {
    /// Phase.
    pub phase: &'a str,
    /// Generation.
    pub generation: u64,
    /// Observed generation.
    pub observed_generation: u64,
    /// Requested minor, `1.32`.
    pub version: &'a str,
    /// Running patch, `v1.32.6`, if any.
    pub kubernetes_version: Option<&'a str>,
    /// The generation that turned high availability on, if it is on.
    pub ha_since_generation: Option<u64>,
}

/// The action a new generation calls for.
pub fn action_for(new: &ImageFacts<'_>) -> Action {
    if crate::domain::phase::Phase::parse(new.phase)
        == Some(crate::domain::phase::Phase::Terminating)
    {
        return Action::Delete;
    }
    let running_minor = new.kubernetes_version.map(|v| {
        let v = v.strip_prefix('v').unwrap_or(v);
        v.rsplit_once('.').map_or(v, |(minor, _)| minor)
    });
    match running_minor {
        _ if new.observed_generation == 0 => Action::Provision,
        None => Action::Provision,
        Some(minor) if minor != new.version => Action::Upgrade,
        // HA not yet observed by a finished rollout: this one migrates the control plane.
        Some(_) if new.ha_since_generation > Some(new.observed_generation) => Action::Migrate,
        Some(_) => Action::Update,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_stay_valid_and_distinct_for_the_longest_inputs() {
        let long = "a".repeat(63);
        let names: Vec<String> = [
            (1, 1),
            (1, 2),
            (2, 1),
            (u64::MAX, u64::MAX),
            (u64::MAX, u64::MAX - 1),
        ]
        .iter()
        .map(|(inc, gen)| execution_name(&long, &long, *inc, *gen))
        .collect();
        for n in &names {
            assert!(n.len() <= MAX_EXECUTION_NAME, "{n} ({})", n.len());
            assert!(
                n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{n}"
            );
        }
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        // the separator keeps ("ab","c") and ("a","bc") apart
        assert_ne!(
            execution_name("ab", "cd", 1, 1),
            execution_name("abc", "d", 1, 1)
        );
        assert_eq!(
            execution_name("t", "n", 3, 4),
            execution_name("t", "n", 3, 4)
        );
    }

    #[test]
    fn a_retry_execution_name_stays_within_the_limit_for_every_allowed_attempt() {
        let long = "a".repeat(63);
        let first = execution_name(&long, &long, u64::MAX, u64::MAX);
        let last = retry_execution_name(&first, crate::api::operations::MAX_OPERATION_ATTEMPTS);
        assert!(last.len() <= MAX_EXECUTION_NAME, "{last} ({})", last.len());
        assert_ne!(retry_execution_name(&first, 2), first);
        let input = |attempt| ExecutionInput {
            tenant: "t".into(),
            name: "n".into(),
            incarnation: 3,
            generation: 4,
            action: Action::Provision,
            from_phase: String::new(),
            pool_release: None,
            attempt,
        };
        let first = execution_name("t", "n", 3, 4);
        assert_eq!(input(None).execution_name(), first);
        assert_eq!(input(Some(1)).execution_name(), first);
        assert_eq!(input(Some(2)).execution_name(), format!("{first}-a2"));
    }

    #[test]
    fn secret_execution_names_are_valid_and_distinct_per_trigger() {
        let input = |generation, trigger: &str| SecretSyncInput {
            tenant: "a".repeat(63),
            secret: "b".repeat(63),
            incarnation: u64::MAX,
            generation,
            trigger: trigger.into(),
        };
        let names = [
            input(u64::MAX, "spec").execution_name(),
            input(1, "spec").execution_name(),
            input(1, &format!("cluster/{}/{}", "c".repeat(63), u64::MAX)).execution_name(),
            input(1, "cluster/prod/8").execution_name(),
        ];
        for n in &names {
            assert!(n.len() <= MAX_EXECUTION_NAME, "{n} ({})", n.len());
            assert!(n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert_eq!(names[1], input(1, "spec").execution_name(), "idempotent");
    }

    #[test]
    fn the_action_follows_what_changed() {
        let facts = |phase, observed, version, running| ImageFacts {
            phase,
            generation: 5,
            observed_generation: observed,
            version,
            kubernetes_version: running,
            ha_since_generation: None,
        };
        let ha = |since| ImageFacts {
            ha_since_generation: Some(since),
            ..facts("Running", 3, "1.32", Some("v1.32.6"))
        };
        assert_eq!(action_for(&ha(5)), Action::Migrate);
        assert_eq!(action_for(&ha(2)), Action::Update, "HA already in place");
        assert_eq!(
            action_for(&facts("Pending", 0, "1.32", None)),
            Action::Provision
        );
        assert_eq!(
            action_for(&facts("Degraded", 0, "1.32", None)),
            Action::Provision
        );
        assert_eq!(
            action_for(&facts("Running", 3, "1.33", Some("v1.32.6"))),
            Action::Upgrade
        );
        assert_eq!(
            action_for(&facts("Running", 3, "1.32", Some("v1.32.6"))),
            Action::Update
        );
        assert_eq!(
            action_for(&facts("Terminating", 3, "1.32", Some("v1.32.6"))),
            Action::Delete
        );
    }
}
