//! Providers: what actually creates, changes and removes clusters. One trait; `simulated` is the
//! default and the only one so far. The provisioner calls exactly one short step per message.

pub mod simulated;

use crate::{
    domain::{
        cluster::Cluster, failure::FailureCode, names::ClusterName, names::TenantName,
        operation::OpStep,
    },
    workflow::{Action, StepOutput},
};

/// One step's target: the cluster as the table has it now (for the spec) and the ids the
/// workflow runs for.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Tenant.
    pub tenant: TenantName,
    /// Cluster name.
    pub name: ClusterName,
    /// Incarnation.
    pub incarnation: u64,
    /// Generation.
    pub generation: u64,
    /// What to do.
    pub action: Action,
    /// The cluster's current record, when it still exists.
    pub cluster: Option<Cluster>,
    /// The operation's execution count (1, or more for a retry).
    pub attempt: u64,
    /// The steps of this generation that finished in an earlier attempt: a retry resumes after
    /// them and does not perform them again.
    pub finished: Vec<String>,
}

/// What a step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Answer the task with this output (when done; else check again); the provider's steps
    /// for the action as they stand ([`crate::domain::operation::steps_of`], in order).
    Reply(StepOutput, Vec<OpStep>),
    /// Do not answer (a simulated hang): the workflow's heartbeat timeout must catch it.
    NoReply,
}

/// A provider failure the workflow should see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused or failed the work itself (bad spec, quota, a broken cluster):
    /// retrying cannot help, the rollout ends `Degraded` at once.
    #[error("{0}")]
    Terminal(String),
    /// The provider could not be reached or answered with a transient fault (throttling,
    /// timeouts, 5xx): the workflow retries the step with backoff.
    #[error("{0}")]
    Transient(String),
    /// The provider failed the work for a reason it classified: the rollout ends `Degraded`
    /// with that code (a transient one, `ProviderUnavailable`, is retried first).
    #[error("{1}")]
    Classified(FailureCode, String),
}

/// A cluster backend.
#[allow(async_fn_in_trait)]
pub trait Provider {
    /// Begins `op.action`. Must be idempotent: a duplicate delivery causes one side effect.
    async fn start(&self, op: &Operation) -> Result<StepOutcome, ProviderError>;
    /// Reports whether `op.action` finished (and, when done, what the cluster looks like).
    async fn check(&self, op: &Operation) -> Result<StepOutcome, ProviderError>;
}

/// One copy of a managed secret in a cluster: the Kubernetes `Secret` `namespace/secret_name`
/// of `cluster`, mirroring the tenant's vault path `secret_path`, owned by the managed secret
/// `owner`. The value is read from the vault by the cluster side; it never passes through here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretCopy {
    /// Tenant.
    pub tenant: String,
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// The Kubernetes `Secret`'s name.
    pub secret_name: String,
    /// The managed secret it mirrors.
    pub owner: String,
    /// The vault path.
    pub secret_path: String,
}

/// Places and removes secret copies in clusters. Each call is idempotent.
#[allow(async_fn_in_trait)]
pub trait SecretCopies {
    /// Places (or refreshes) a copy.
    async fn place(&self, copy: &SecretCopy) -> Result<(), ProviderError>;
    /// Removes a copy; removing one that is not there is success.
    async fn remove(&self, copy: &SecretCopy) -> Result<(), ProviderError>;
    /// The copies of the managed secret `owner` of `tenant`, in every cluster.
    async fn placed(&self, tenant: &str, owner: &str) -> Result<Vec<SecretCopy>, ProviderError>;
}
