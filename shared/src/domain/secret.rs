//! Managed secrets: a tenant's definition of a value kept in its vault (`secretPath`) and of the
//! places in its clusters the value is mirrored to (`sync`). The server never sees, stores or
//! returns the value itself: a secret is a path and a list of targets, and the sync workflow
//! tells the provider to mirror that path into each target.
//!
//! Rules (each failure names its field):
//! - `name`: an RFC 1123 label of 2–63 characters (Kupe: "DNS-safe, 2-63 chars").
//! - `secretPath`: a relative vault KV path of at most [`MAX_SECRET_PATH`] bytes: segments of
//!   letters, digits, `-`, `_` and `.` separated by single `/`; no leading or trailing `/`, no
//!   empty segment, no `.` or `..` segment (so a path cannot climb out of the tenant's mount).
//! - `sync`: at most [`MAX_TARGETS`] targets; `cluster` a cluster name, `namespace` a Kubernetes
//!   namespace (RFC 1123 label, 1–63), `secretName` (default: the secret's name) a Kubernetes
//!   object name (RFC 1123 subdomain, ≤ 253); no two targets with the same cluster, namespace and
//!   effective `secretName`.

use super::{
    names::{namespace_problem, object_name_problem, ClusterName, SecretName},
    phase::Phase,
    Invalid,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashSet;

/// Secrets one tenant may define (Kupe's limits page: 1,000 per tenant).
pub const MAX_SECRETS_PER_TENANT: u32 = 1000;
/// Targets one secret may have.
pub const MAX_TARGETS: usize = 100;
/// Longest `secretPath`, in bytes.
pub const MAX_SECRET_PATH: usize = 512;

/// A vault KV path, relative to the tenant's mount (see the module rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPath(String);

impl SecretPath {
    /// Parses a path.
    ///
    /// # Errors
    /// [`Invalid`] at `secretPath` saying which rule the path breaks.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = |m: &str| Invalid::at("secretPath", format!("secretPath {m}"));
        if raw.is_empty() || raw.len() > MAX_SECRET_PATH {
            return Err(bad(&format!("must be 1-{MAX_SECRET_PATH} characters")));
        }
        for segment in raw.split('/') {
            if segment.is_empty() {
                return Err(bad(
                    "must be a relative path: no leading, trailing or repeated '/'",
                ));
            }
            if segment == "." || segment == ".." {
                return Err(bad("must not contain '.' or '..' segments"));
            }
            let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if !segment.chars().all(ok) {
                return Err(bad(
                    "segments may hold only letters, digits, '-', '_' and '.'",
                ));
            }
        }
        Ok(Self(raw.to_string()))
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One place a secret is mirrored to, as the client gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncTarget {
    /// A cluster of the tenant.
    pub cluster: String,
    /// The namespace in that cluster.
    pub namespace: String,
    /// The Kubernetes `Secret`'s name; absent: the managed secret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

impl SyncTarget {
    /// The Kubernetes `Secret`'s name in effect for a managed secret called `secret`.
    pub fn effective_name<'a>(&'a self, secret: &'a str) -> &'a str {
        self.secret_name.as_deref().unwrap_or(secret)
    }

    /// The target as a response shows it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "cluster": self.cluster, "namespace": self.namespace });
        if let Some(n) = &self.secret_name {
            v["secretName"] = json!(n);
        }
        v
    }
}

/// A raw target from a body: each field checked by [`SyncTargets::parse`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SyncTargetInput {
    /// Cluster name.
    pub cluster: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Kubernetes `Secret` name.
    pub secret_name: Option<String>,
}

/// A validated target list (see the module rules).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncTargets(pub Vec<SyncTarget>);

impl SyncTargets {
    /// Parses the `sync` list of the secret `secret`.
    ///
    /// # Errors
    /// [`Invalid`] naming the field at fault (`sync[1].namespace`).
    pub fn parse(secret: &SecretName, raw: Vec<SyncTargetInput>) -> Result<Self, Invalid> {
        if raw.len() > MAX_TARGETS {
            return Err(Invalid::at(
                "sync",
                format!("sync may hold at most {MAX_TARGETS} targets"),
            ));
        }
        let mut seen = HashSet::new();
        let mut targets = Vec::with_capacity(raw.len());
        for (i, t) in raw.into_iter().enumerate() {
            let at = |f: &str| format!("sync[{i}].{f}");
            let required = |f: &str| Invalid::at(at(f), format!("{} is required", at(f)));
            let cluster = t.cluster.ok_or_else(|| required("cluster"))?;
            ClusterName::parse(&cluster).map_err(|e| {
                Invalid::at(at("cluster"), format!("sync[{i}].cluster {}", problem(&e)))
            })?;
            let namespace = t.namespace.ok_or_else(|| required("namespace"))?;
            if let Some(p) = namespace_problem(&namespace) {
                return Err(Invalid::at(
                    at("namespace"),
                    format!("{} {p}", at("namespace")),
                ));
            }
            if let Some(n) = &t.secret_name {
                if let Some(p) = object_name_problem(n) {
                    return Err(Invalid::at(
                        at("secretName"),
                        format!("{} {p}", at("secretName")),
                    ));
                }
            }
            let target = SyncTarget {
                cluster,
                namespace,
                secret_name: t.secret_name,
            };
            let key = (
                target.cluster.clone(),
                target.namespace.clone(),
                target.effective_name(secret.as_str()).to_string(),
            );
            if !seen.insert(key) {
                return Err(Invalid::at(
                    format!("sync[{i}]"),
                    format!(
                        "sync[{i}] repeats a target: cluster {}, namespace {}, secretName {}",
                        target.cluster,
                        target.namespace,
                        target.effective_name(secret.as_str())
                    ),
                ));
            }
            targets.push(target);
        }
        Ok(SyncTargets(targets))
    }
}

/// A [`NameError`](super::names::NameError)'s problem without its leading field name.
fn problem(e: &super::names::NameError) -> String {
    let text = e.to_string();
    text.split_once(' ')
        .map_or(text.clone(), |(_, p)| p.to_string())
}

/// A validated create: `{name, secretPath, sync}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSecret {
    /// Name.
    pub name: SecretName,
    /// Vault path.
    pub secret_path: SecretPath,
    /// Targets (`[]` when absent or `null`).
    pub sync: SyncTargets,
}

/// A managed secret's phase, in Kupe's CLI's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPhase {
    /// Not synced yet at this generation (just created or changed, or a target's cluster is
    /// not `Running` yet).
    Pending,
    /// Every target holds its copy (also: no targets).
    Active,
    /// A target cannot hold its copy (its cluster is missing, failed, or being deleted).
    Degraded,
    /// DELETE was accepted: the copies are being removed; then the secret is gone.
    Deleting,
}

impl SecretPhase {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretPhase::Pending => "Pending",
            SecretPhase::Active => "Active",
            SecretPhase::Degraded => "Degraded",
            SecretPhase::Deleting => "Deleting",
        }
    }

    /// Parses a stored phase.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Active, Self::Degraded, Self::Deleting]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// One target's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetPhase {
    /// Waiting for the sync, or for its cluster to be `Running`.
    Pending,
    /// The copy is in place.
    Synced,
    /// The copy cannot be placed (the message says why); retried when the cluster recovers.
    Failed,
}

/// One target's status, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// The Kubernetes `Secret`'s name in effect.
    pub secret_name: String,
    /// State.
    pub phase: TargetPhase,
    /// Why.
    pub message: String,
    /// When the copy was last placed (absent until it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
}

/// What can be done on a target's cluster, from the cluster's phase (`None`: no such cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The cluster serves: place the copy.
    Place,
    /// The cluster is not serving yet: wait (the sync runs again when it is `Running`).
    Wait(String),
    /// The cluster cannot hold the copy.
    Fail(String),
}

impl Placement {
    /// The placement on cluster `name` in `phase`.
    pub fn on(name: &str, phase: Option<Phase>) -> Self {
        match phase {
            None | Some(Phase::Deleted) => {
                Placement::Fail(format!("cluster {name} does not exist"))
            }
            Some(Phase::Running | Phase::Upgrading | Phase::Updating | Phase::Migrating) => {
                Placement::Place
            }
            Some(p @ (Phase::Pending | Phase::Provisioning)) => Placement::Wait(format!(
                "cluster {name} is {}; the secret is placed once it is Running",
                p.as_str()
            )),
            Some(p @ (Phase::Degraded | Phase::Terminating)) => {
                Placement::Fail(format!("cluster {name} is {}", p.as_str()))
            }
        }
    }
}

/// The secret's phase from its targets' states.
pub fn phase_of(statuses: &[SyncStatus]) -> SecretPhase {
    if statuses.iter().any(|s| s.phase == TargetPhase::Failed) {
        SecretPhase::Degraded
    } else if statuses.iter().any(|s| s.phase == TargetPhase::Pending) {
        SecretPhase::Pending
    } else {
        SecretPhase::Active
    }
}

/// The statuses of targets no sync has looked at yet (a create, a PATCH).
pub fn pending_statuses(secret: &str, targets: &SyncTargets) -> Vec<SyncStatus> {
    targets
        .0
        .iter()
        .map(|t| SyncStatus {
            cluster: t.cluster.clone(),
            namespace: t.namespace.clone(),
            secret_name: t.effective_name(secret).to_string(),
            phase: TargetPhase::Pending,
            message: "waiting for the sync".into(),
            last_sync_time: None,
        })
        .collect()
}

/// A Kubernetes-style condition of a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretCondition {
    /// `Ready`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True` | `False`.
    pub status: String,
    /// The phase.
    pub reason: String,
    /// Why.
    pub message: String,
    /// When `status` last flipped.
    pub last_transition_time: String,
}

/// The `Ready` condition for `phase`, keeping `previous`'s transition time when its status
/// holds.
pub fn ready_condition(
    phase: SecretPhase,
    message: &str,
    previous: Option<&SecretCondition>,
    now: &str,
) -> SecretCondition {
    let status = if phase == SecretPhase::Active {
        "True"
    } else {
        "False"
    };
    let since = previous
        .filter(|p| p.status == status)
        .map_or(now.to_string(), |p| p.last_transition_time.clone());
    SecretCondition {
        kind: "Ready".into(),
        status: status.into(),
        reason: phase.as_str().into(),
        message: message.into(),
        last_transition_time: since,
    }
}

/// The message of the `Ready` condition for statuses in `phase`.
pub fn summary(phase: SecretPhase, statuses: &[SyncStatus]) -> String {
    let failed: Vec<&str> = statuses
        .iter()
        .filter(|s| s.phase != TargetPhase::Synced)
        .map(|s| s.message.as_str())
        .collect();
    match phase {
        SecretPhase::Active => format!("{} of {} targets synced", statuses.len(), statuses.len()),
        SecretPhase::Deleting => "removing the synced copies".into(),
        _ => failed.join("; "),
    }
}

/// A managed secret as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// Name.
    pub name: String,
    /// Vault path.
    pub secret_path: String,
    /// Targets.
    pub sync: Vec<SyncTarget>,
    /// Phase.
    pub phase: SecretPhase,
    /// Conditions (`Ready`).
    pub conditions: Vec<SecretCondition>,
    /// Per target.
    pub sync_statuses: Vec<SyncStatus>,
    /// Bumped on every change of the targets and by DELETE.
    pub generation: u64,
    /// The generation the last sync served.
    pub observed_generation: u64,
    /// Write counter (the ETag).
    pub resource_version: super::etag::ResourceVersion,
    /// The `resourceVersion` this incarnation of the name was created with.
    pub incarnation: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Secret {
    /// A new secret, `Pending`, every target waiting for the sync.
    pub fn new(new: NewSecret, version: super::etag::ResourceVersion, now: &str) -> Self {
        let statuses = pending_statuses(new.name.as_str(), &new.sync);
        let message = "waiting for the sync";
        Secret {
            name: new.name.as_str().to_string(),
            secret_path: new.secret_path.as_str().to_string(),
            sync: new.sync.0,
            phase: SecretPhase::Pending,
            conditions: vec![ready_condition(SecretPhase::Pending, message, None, now)],
            sync_statuses: statuses,
            generation: 1,
            observed_generation: 0,
            resource_version: version,
            incarnation: version.0,
            created_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }

    /// The secret with its targets replaced by `sync`: a new generation, `Pending` until the
    /// sync has looked at it.
    pub fn with_sync(&self, sync: SyncTargets, now: &str) -> Self {
        let message = "waiting for the sync";
        Secret {
            sync_statuses: pending_statuses(&self.name, &sync),
            sync: sync.0,
            phase: SecretPhase::Pending,
            conditions: vec![ready_condition(
                SecretPhase::Pending,
                message,
                self.conditions.first(),
                now,
            )],
            generation: self.generation + 1,
            resource_version: super::etag::ResourceVersion(self.resource_version.0 + 1),
            updated_at: now.to_string(),
            ..self.clone()
        }
    }

    /// The secret as DELETE leaves it: `Deleting`, a new generation.
    pub fn deleting(&self, now: &str) -> Self {
        let message = "removing the synced copies";
        Secret {
            phase: SecretPhase::Deleting,
            conditions: vec![ready_condition(
                SecretPhase::Deleting,
                message,
                self.conditions.first(),
                now,
            )],
            generation: self.generation + 1,
            resource_version: super::etag::ResourceVersion(self.resource_version.0 + 1),
            updated_at: now.to_string(),
            ..self.clone()
        }
    }

    /// The JSON every route answers with.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "secretPath": self.secret_path,
            "sync": self.sync.iter().map(SyncTarget::to_json).collect::<Vec<_>>(),
            "status": {
                "phase": self.phase.as_str(),
                "observedGeneration": self.observed_generation,
                "conditions": self.conditions,
                "syncStatuses": self.sync_statuses,
            },
            "generation": self.generation,
            "resourceVersion": self.resource_version.to_string(),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

/// What a secret's `syncStatus` attribute holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSyncStatus {
    /// Conditions.
    #[serde(default)]
    pub conditions: Vec<SecretCondition>,
    /// Per target.
    #[serde(default)]
    pub sync_statuses: Vec<SyncStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> SecretName {
        SecretName::parse("db-creds").unwrap()
    }

    fn target(c: &str, ns: &str, n: Option<&str>) -> SyncTargetInput {
        SyncTargetInput {
            cluster: Some(c.into()),
            namespace: Some(ns.into()),
            secret_name: n.map(Into::into),
        }
    }

    #[test]
    fn secret_paths_are_relative_and_cannot_climb() {
        for ok in ["db/prod", "a", "team-a/app_1/v2.key", &"a".repeat(512)] {
            assert!(SecretPath::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/db",
            "db/",
            "db//prod",
            "../db",
            "db/../x",
            "./db",
            "db prod",
            "db\n",
            &"a".repeat(513),
        ] {
            let e = SecretPath::parse(bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("secretPath"), "{bad:?}");
        }
    }

    #[test]
    fn targets_are_checked_field_by_field_and_duplicates_refused() {
        let ok = SyncTargets::parse(
            &name(),
            vec![
                target("prod", "default", None),
                target("prod", "default", Some("other")),
                target("prod", "apps", None),
            ],
        )
        .unwrap();
        assert_eq!(ok.0.len(), 3);
        let field = |raw| SyncTargets::parse(&name(), raw).unwrap_err().field.unwrap();
        assert_eq!(field(vec![target("P", "a", None)]), "sync[0].cluster");
        assert_eq!(
            field(vec![target("prod", "a", None), target("prod", "A", None)]),
            "sync[1].namespace"
        );
        assert_eq!(
            field(vec![target("prod", "a", Some("a_b"))]),
            "sync[0].secretName"
        );
        assert_eq!(
            field(vec![
                target("prod", "a", None),
                target("prod", "a", Some("db-creds"))
            ]),
            "sync[1]",
            "the default secretName is the secret's name"
        );
        assert_eq!(field(vec![SyncTargetInput::default()]), "sync[0].cluster");
        let many = (0..=MAX_TARGETS)
            .map(|i| target("prod", &format!("n{i}"), None))
            .collect();
        assert_eq!(field(many), "sync");
    }

    #[test]
    fn the_placement_follows_the_clusters_phase() {
        assert_eq!(Placement::on("a", Some(Phase::Running)), Placement::Place);
        assert_eq!(Placement::on("a", Some(Phase::Upgrading)), Placement::Place);
        assert_eq!(
            Placement::on("a", Some(Phase::Provisioning)),
            Placement::Wait(
                "cluster a is Provisioning; the secret is placed once it is Running".into()
            )
        );
        assert_eq!(
            Placement::on("a", None),
            Placement::Fail("cluster a does not exist".into())
        );
        assert_eq!(
            Placement::on("a", Some(Phase::Deleted)),
            Placement::on("a", None)
        );
    }

    #[test]
    fn the_phase_is_the_worst_targets() {
        let s = |phase| SyncStatus {
            cluster: "a".into(),
            namespace: "b".into(),
            secret_name: "c".into(),
            phase,
            message: String::new(),
            last_sync_time: None,
        };
        assert_eq!(phase_of(&[]), SecretPhase::Active);
        assert_eq!(phase_of(&[s(TargetPhase::Synced)]), SecretPhase::Active);
        assert_eq!(
            phase_of(&[s(TargetPhase::Synced), s(TargetPhase::Pending)]),
            SecretPhase::Pending
        );
        assert_eq!(
            phase_of(&[s(TargetPhase::Failed), s(TargetPhase::Pending)]),
            SecretPhase::Degraded
        );
    }

    #[test]
    fn the_ready_condition_keeps_its_time_until_it_flips() {
        let first = ready_condition(SecretPhase::Pending, "m", None, "t1");
        let same = ready_condition(SecretPhase::Degraded, "m", Some(&first), "t2");
        assert_eq!(same.last_transition_time, "t1");
        let flipped = ready_condition(SecretPhase::Active, "m", Some(&same), "t3");
        assert_eq!(
            (
                flipped.status.as_str(),
                flipped.last_transition_time.as_str()
            ),
            ("True", "t3")
        );
    }
}
