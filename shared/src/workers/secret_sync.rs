//! One sync of a managed secret, run by the provisioner for a secret-sync task: read the secret
//! and the tenant's clusters as they are now, remove the copies that should no longer exist,
//! place the ones that should, and write the status, conditioned on the generation and version
//! read ([`COND_SECRET_STATUS_WRITE`](crate::store::schema::COND_SECRET_STATUS_WRITE)). If the
//! secret changed meanwhile (a PATCH, a DELETE, another sync's status), the write fails and the
//! sync starts over from the newer state, so the last status written always describes the newest
//! spec and cluster states, whichever execution wrote it. A `Deleting` secret has no desired
//! copies; once they are all removed the secret becomes a tombstone (GET answers 404).
//!
//! | a target's cluster | the copy | the target |
//! |---|---|---|
//! | `Running`, `Upgrading`, `Updating`, `Migrating` | placed | `Synced` |
//! | `Pending`, `Provisioning` | none yet | `Pending`: "cluster x is Provisioning; …" |
//! | `Degraded`, `Terminating`, missing | removed | `Failed`: "cluster x is Degraded" / "… does not exist" |
//!
//! A cluster that changes between these rows starts a sync of the secrets that target it (the
//! dispatcher), so a `Pending` or `Failed` target is retried when its cluster is `Running` again.

use crate::{
    domain::{
        names::{SecretName, TenantName},
        now_rfc3339,
        phase::Phase,
        secret::{
            phase_of, ready_condition, summary, Placement, Secret, SecretPhase, SyncStatus,
            TargetPhase,
        },
    },
    provider::{ProviderError, SecretCopies, SecretCopy},
    store::Store,
    workers::provisioner::TaskFailure,
};
use std::collections::{BTreeSet, HashMap};

/// Reads again and reconciles at most this many times when other writes keep landing.
const MAX_ROUNDS: usize = 5;

/// What a sync ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// The status is written: the secret's phase now.
    Status(SecretPhase),
    /// A deleted secret's copies are gone and so is the secret.
    Deleted,
    /// There is no such secret (any more): nothing to do.
    Gone,
}

impl Synced {
    /// As the task's output says it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Synced::Status(p) => p.as_str(),
            Synced::Deleted => "Deleted",
            Synced::Gone => "Gone",
        }
    }
}

fn copy_of(tenant: &str, secret: &Secret, cluster: &str, ns: &str, name: &str) -> SecretCopy {
    SecretCopy {
        tenant: tenant.to_string(),
        cluster: cluster.to_string(),
        namespace: ns.to_string(),
        secret_name: name.to_string(),
        owner: secret.name.clone(),
        secret_path: secret.secret_path.clone(),
    }
}

/// Syncs the secret `name` of `tenant` once (see the module).
///
/// # Errors
/// [`TaskFailure`]: the table or the provider failed in a way a retry may fix, or the secret kept
/// changing for [`MAX_ROUNDS`] rounds; the workflow retries the task.
pub async fn sync_secret<P: SecretCopies>(
    store: &Store,
    provider: &P,
    tenant: &TenantName,
    name: &SecretName,
) -> Result<Synced, TaskFailure> {
    for _ in 0..MAX_ROUNDS {
        let Some(secret) = store
            .secrets()
            .get(tenant, name)
            .await?
            .and_then(|s| s.live())
        else {
            return Ok(Synced::Gone);
        };
        let (clusters, _) = store.clusters().list(tenant, None, None).await?;
        let phases: HashMap<&str, Phase> = clusters
            .iter()
            .map(|c| (c.name.as_str(), c.status.phase))
            .collect();
        let deleting = secret.phase == SecretPhase::Deleting;
        let now = now_rfc3339();
        let mut statuses = Vec::new();
        let mut desired = BTreeSet::new();
        for t in &secret.sync {
            let secret_name = t.effective_name(&secret.name).to_string();
            let placement = Placement::on(&t.cluster, phases.get(t.cluster.as_str()).copied());
            let (phase, message) = match placement {
                Placement::Place if !deleting => {
                    let copy = copy_of(
                        tenant.as_str(),
                        &secret,
                        &t.cluster,
                        &t.namespace,
                        &secret_name,
                    );
                    match provider.place(&copy).await {
                        Ok(()) => {
                            desired.insert((
                                t.cluster.clone(),
                                t.namespace.clone(),
                                secret_name.clone(),
                            ));
                            (
                                TargetPhase::Synced,
                                format!("placed as {}/{secret_name}", t.namespace),
                            )
                        }
                        Err(ProviderError::Terminal(m)) => (TargetPhase::Failed, m),
                        Err(ProviderError::Classified(code, m)) if !code.retryable() => {
                            (TargetPhase::Failed, format!("{}: {m}", code.as_str()))
                        }
                        Err(e @ (ProviderError::Transient(_) | ProviderError::Classified(..))) => {
                            return Err(e.into())
                        }
                    }
                }
                Placement::Place => (TargetPhase::Pending, "removing the copy".into()),
                Placement::Wait(m) => (TargetPhase::Pending, m),
                Placement::Fail(m) => (TargetPhase::Failed, m),
            };
            let last_sync_time = (phase == TargetPhase::Synced).then(|| now.clone());
            statuses.push(SyncStatus {
                cluster: t.cluster.clone(),
                namespace: t.namespace.clone(),
                secret_name,
                phase,
                message,
                last_sync_time,
            });
        }
        for copy in provider.placed(tenant.as_str(), &secret.name).await? {
            let key = (
                copy.cluster.clone(),
                copy.namespace.clone(),
                copy.secret_name.clone(),
            );
            if !desired.contains(&key) {
                provider.remove(&copy).await?;
            }
        }
        if deleting {
            if store
                .secrets()
                .retire(
                    tenant.as_str(),
                    &secret.name,
                    secret.generation,
                    secret.resource_version,
                )
                .await?
            {
                return Ok(Synced::Deleted);
            }
            continue;
        }
        let phase = phase_of(&statuses);
        let condition = ready_condition(
            phase,
            &summary(phase, &statuses),
            secret.conditions.first(),
            &now,
        );
        let next = Secret {
            phase,
            conditions: vec![condition],
            sync_statuses: statuses,
            observed_generation: secret.generation,
            ..secret.clone()
        };
        if store
            .secrets()
            .write_status(tenant.as_str(), &next, secret.resource_version, &now)
            .await?
        {
            return Ok(Synced::Status(phase));
        }
    }
    Err(TaskFailure::ProviderUnavailable(
        "the secret kept changing while it was synced; retrying".into(),
    ))
}
