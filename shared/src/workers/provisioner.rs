//! The provisioner: each work-queue message carries a task token and asks for one short step of
//! the provider (start an action, or check it). The state machine sends one `start` per action
//! and waits for the answer; the provisioner answers only when the provider's work is done. Until
//! then it re-checks through the queue: after each step that is not done yet it sends itself the
//! same message with step `check`, delayed by the check interval (SQS `DelaySeconds`), and
//! heartbeats, so a slow provider costs queue messages, not state transitions. It heartbeats on
//! pickup, every third of the task's heartbeat timeout while the provider call runs, and after
//! scheduling the next check; it answers with `SendTaskSuccess` once done, or `SendTaskFailure`
//! under a stable name ([`TaskFailure`]) that tells the workflow whether to retry.
//!
//! A batch's records run concurrently, each within the invocation's time. A task that is already
//! over (answered, timed out, or its execution gone) leaves the message nothing to do, which also
//! ends its chain of checks. Duplicate deliveries cause one side effect (the provider's steps are
//! idempotent): a duplicated `start` or `check` makes two chains of checks, each answering when
//! done; Step Functions takes the first answer and refuses the second (`TaskTimedOut`), which is
//! dropped. A lost check message stops the heartbeats: the task times out and the state machine
//! sends `start` again, which finds the work already started.

use crate::{
    config::{required, sdk_config, ConfigError, Connect},
    domain::{
        failure::FailureCode,
        names::{ClusterName, TenantName},
        operation::{steps_of, OpStep, StepState},
    },
    provider::{
        simulated::{Simulated, SimulatedConfig},
        Operation, Provider, ProviderError, SecretCopies, StepOutcome,
    },
    store::{Store, StoreError},
    workflow::{Action, SecretTaskMessage, Step, TaskMessage, SECRET_SYNC_KIND},
};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_sfn::{
    error::{ProvideErrorMetadata, SdkError},
    Client as SfnClient,
};
use aws_sdk_sqs::Client as SqsClient;
use std::{future::Future, time::Duration};
use tokio::time::Instant;

/// Why a message could not be handled: it is reported as failed and redelivered (and reaches
/// the dead-letter queue after the queue's receive limit).
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The body is not a task message.
    #[error("malformed task message: {0}")]
    Malformed(String),
    /// The record did not finish within the batch's time (it is redelivered; the provider's
    /// steps are idempotent).
    #[error("the step did not finish within the batch's time")]
    OutOfTime,
    /// The next check could not be queued.
    #[error("queueing the next check failed: {0}")]
    Queue(String),
    /// A Step Functions call failed.
    #[error("Step Functions {operation} failed: {message}")]
    StepFunctions {
        /// The call.
        operation: &'static str,
        /// What it said.
        message: String,
    },
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A failure the workflow should see: sent with `SendTaskFailure` under a stable error name
/// that the state machine's `Retry` and `Catch` match and the cluster's `Degraded` condition
/// shows. The names are a contract with `infra/statemachine/cluster-lifecycle.asl.json` (a test
/// checks both lists against it): rename one only together with the ASL.
///
/// | name | meaning | the workflow |
/// |---|---|---|
/// | `ProviderError` | the provider refused or failed the work, unclassified | `Degraded` at once, reason `ProviderError` |
/// | a terminal code of the failure catalog ([`FailureCode::TERMINAL`]) | the provider classified its failure | `Degraded` at once, that reason |
/// | `ProviderUnavailable` | the provider could not be reached, or answered a transient fault | retries the step with backoff; then `Degraded`, reason `ProviderUnavailable` |
/// | `StoreUnavailable` | the provisioner could not read the cluster | retries; then `Degraded`, reason `InternalError` |
///
/// The cause sent with a failure starts with the catalog's advice for its code, so the
/// `Degraded` condition's message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailure {
    /// The provider reported a terminal error.
    #[error("{0}")]
    Provider(String),
    /// The provider reported a transient fault.
    #[error("{0}")]
    ProviderUnavailable(String),
    /// The table failed while reading the cluster.
    #[error("reading the cluster failed: {0}")]
    StoreUnavailable(#[from] StoreError),
    /// The provider classified a terminal failure.
    #[error("{1}")]
    Classified(FailureCode, String),
}

impl From<ProviderError> for TaskFailure {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Terminal(m) => TaskFailure::Provider(m),
            ProviderError::Transient(m) => TaskFailure::ProviderUnavailable(m),
            ProviderError::Classified(c, m)
                if c.retryable() && !FailureCode::TERMINAL.contains(&c) =>
            {
                TaskFailure::ProviderUnavailable(m)
            }
            ProviderError::Classified(c, m) => TaskFailure::Classified(c, m),
        }
    }
}

/// Failure names the workflow never retries: the catalog's terminal codes.
pub const TERMINAL_FAILURES: [&str; 6] = [
    FailureCode::TERMINAL[0].as_str(),
    FailureCode::TERMINAL[1].as_str(),
    FailureCode::TERMINAL[2].as_str(),
    FailureCode::TERMINAL[3].as_str(),
    FailureCode::TERMINAL[4].as_str(),
    FailureCode::TERMINAL[5].as_str(),
];
/// Failure names the workflow retries with backoff before giving up.
pub const TRANSIENT_FAILURES: [&str; 2] = ["ProviderUnavailable", "StoreUnavailable"];

impl TaskFailure {
    /// The error name sent in `SendTaskFailure`.
    pub fn name(&self) -> &'static str {
        match self {
            TaskFailure::Provider(_) => FailureCode::ProviderError.as_str(),
            TaskFailure::ProviderUnavailable(_) => TRANSIENT_FAILURES[0],
            TaskFailure::StoreUnavailable(_) => TRANSIENT_FAILURES[1],
            TaskFailure::Classified(c, _) => c.as_str(),
        }
    }

    /// The cause sent with the failure: the catalog's advice, then what happened.
    pub fn cause(&self) -> String {
        let code = match self {
            TaskFailure::Provider(_) => FailureCode::ProviderError,
            TaskFailure::ProviderUnavailable(_) => FailureCode::ProviderUnavailable,
            TaskFailure::StoreUnavailable(_) => FailureCode::InternalError,
            TaskFailure::Classified(c, _) => *c,
        };
        format!("{} Cause: {self}", code.advice())
    }

    /// Whether the workflow retries it.
    pub fn is_transient(&self) -> bool {
        TRANSIENT_FAILURES.contains(&self.name())
    }
}

/// The steps to record after a provider step: the provider's report, keeping the times an
/// earlier attempt recorded for the steps it finished.
fn merged(recorded: &[OpStep], reported: &[OpStep]) -> Vec<OpStep> {
    reported
        .iter()
        .map(|s| {
            recorded
                .iter()
                .find(|r| r.name == s.name && r.state == StepState::Succeeded)
                .cloned()
                .unwrap_or_else(|| {
                    // A running step keeps the start an earlier check recorded.
                    let mut s = s.clone();
                    if let Some(r) = recorded.iter().find(|r| r.name == s.name) {
                        if s.state == StepState::Running && r.state == StepState::Running {
                            s.started_at = r.started_at.clone();
                        }
                    }
                    s
                })
        })
        .collect()
}

/// The steps to record after a failed provider step: the first step not finished fails with
/// `error` (the action's steps, when none were recorded yet).
fn failed(recorded: &[OpStep], action: Action, error: &str) -> Vec<OpStep> {
    let mut steps: Vec<OpStep> = if recorded.is_empty() {
        steps_of(action)
            .iter()
            .map(|n| OpStep::pending(n))
            .collect()
    } else {
        recorded.to_vec()
    };
    let now = crate::domain::now_rfc3339();
    if let Some(s) = steps.iter_mut().find(|s| s.state != StepState::Succeeded) {
        s.state = StepState::Failed;
        s.started_at = s.started_at.clone().or_else(|| Some(now.clone()));
        s.finished_at = Some(now);
        s.error = Some(error.to_string());
    }
    steps
}

/// The heartbeat timeout assumed for a message that does not say its own.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(60);

/// How often to heartbeat while a provider call runs: three times per heartbeat timeout, so
/// one lost or slow heartbeat does not fail a healthy step.
pub fn heartbeat_interval(heartbeat_seconds: Option<u64>) -> Duration {
    let timeout = heartbeat_seconds.map_or(DEFAULT_HEARTBEAT, Duration::from_secs);
    (timeout / 3).max(Duration::from_millis(500))
}

/// The pause between checks assumed for a message that does not say its own (the
/// `CheckIntervalSeconds` default in `template.yaml`).
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(15);

/// The longest `DelaySeconds` SQS accepts.
pub const MAX_QUEUE_DELAY_SECS: u64 = 900;

/// The delay of the next check message: the check interval, but at most a third of the heartbeat
/// timeout (the task sees no heartbeat between scheduling a check and picking it up, so the
/// delay plus the queue's latency must stay well inside it), at least 1 s and at most SQS's 900 s.
pub fn check_delay(check_interval_seconds: Option<u64>, heartbeat_seconds: Option<u64>) -> u64 {
    let interval = check_interval_seconds.unwrap_or(DEFAULT_CHECK_INTERVAL.as_secs());
    let heartbeat = heartbeat_seconds.unwrap_or(DEFAULT_HEARTBEAT.as_secs());
    interval.min(heartbeat / 3).clamp(1, MAX_QUEUE_DELAY_SECS)
}

/// The time one batch may take when the caller gives no deadline: within the provisioner's
/// function timeout in `template.yaml` (30 s), with room to report.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(25);

/// A task message naming an invalid tenant, cluster or secret.
fn malformed(e: crate::domain::names::NameError) -> ProvisionError {
    ProvisionError::Malformed(e.to_string())
}

/// Whether a `SendTask*` error says the task is already over.
fn task_over<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some("TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken")
    )
}

fn answered<T, E, R>(
    operation: &'static str,
    res: Result<T, SdkError<E, R>>,
) -> Result<(), ProvisionError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
    SdkError<E, R>: ProvideErrorMetadata,
{
    match res {
        Ok(_) => Ok(()),
        Err(e) if task_over(&e) => Ok(()),
        Err(e) => Err(ProvisionError::StepFunctions {
            operation,
            message: aws_sdk_sfn::error::DisplayErrorContext(&e).to_string(),
        }),
    }
}

/// The provisioner and what it needs.
#[derive(Debug, Clone)]
pub struct Provisioner<P> {
    store: Store,
    sfn: SfnClient,
    sqs: SqsClient,
    provider: P,
}

impl Provisioner<Simulated> {
    /// From `TABLE_NAME`, the simulated provider's `SIM_*` and `CLUSTER_DOMAIN`, and the SDK's
    /// environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming a missing or malformed variable.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::connect_from_env()?(&sdk_config().await))
    }

    /// Reads and checks `TABLE_NAME`, `SIM_*` and `CLUSTER_DOMAIN` now; builds the clients later
    /// (see [`Connect`]).
    ///
    /// # Errors
    /// [`ConfigError`] naming a missing or malformed variable.
    pub fn connect_from_env() -> Result<Connect<Self>, ConfigError> {
        let table = required("TABLE_NAME")?;
        let config = SimulatedConfig::from_env()?;
        Ok(Box::new(move |sdk| {
            let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), table.clone());
            let provider = Simulated::new(store.clone(), config.clone());
            Self::new(store, SfnClient::new(sdk), SqsClient::new(sdk), provider)
        }))
    }
}

impl<P: Provider + SecretCopies> Provisioner<P> {
    /// A provisioner over a store, Step Functions, SQS (for its delayed checks) and a provider.
    pub fn new(store: Store, sfn: SfnClient, sqs: SqsClient, provider: P) -> Self {
        Self {
            store,
            sfn,
            sqs,
            provider,
        }
    }

    /// Handles one task message: heartbeat, one provider step, then success or failure when the
    /// provider is done or failed, else the next delayed check and a heartbeat.
    ///
    /// # Errors
    /// [`ProvisionError`]: the message is retried.
    pub async fn handle_message(&self, body: &str) -> Result<(), ProvisionError> {
        if let Ok(secret) = serde_json::from_str::<SecretTaskMessage>(body) {
            if secret.kind == SECRET_SYNC_KIND {
                return self.handle_secret(&secret).await;
            }
        }
        let msg: TaskMessage =
            serde_json::from_str(body).map_err(|e| ProvisionError::Malformed(e.to_string()))?;
        if !self.task_open(&msg.task_token).await? {
            return Ok(());
        }
        let tenant = TenantName::parse(&msg.tenant).map_err(malformed)?;
        let name = ClusterName::parse(&msg.name).map_err(malformed)?;
        let every = heartbeat_interval(msg.heartbeat_seconds);
        let step = self.step(tenant, name, &msg);
        let Some(outcome) = self.heartbeating(&msg.task_token, every, step).await else {
            // the task ended while the provider worked (timed out, or its execution stopped)
            return Ok(());
        };
        match outcome {
            Ok(StepOutcome::NoReply) => Ok(()),
            Ok(StepOutcome::Reply(output, _)) if !output.done && msg.queue_url.is_some() => {
                self.check_later(&msg).await
            }
            Ok(StepOutcome::Reply(output, _)) => {
                let output = serde_json::to_string(&output)
                    .map_err(|e| ProvisionError::Malformed(e.to_string()))?;
                self.succeed(&msg.task_token, output).await
            }
            Err(failure) => {
                if failure.is_transient() {
                    tracing::warn!(error = %failure, name = failure.name(), "transient step failure");
                }
                self.fail(&msg.task_token, failure.name(), failure.cause())
                    .await
            }
        }
    }

    /// Heartbeats the task `token` before any work: `false` when the task is already over (timed
    /// out, or its execution stopped), and the message is then dropped.
    async fn task_open(&self, token: &str) -> Result<bool, ProvisionError> {
        let heartbeat = self
            .sfn
            .send_task_heartbeat()
            .task_token(token)
            .send()
            .await;
        if heartbeat.as_ref().is_err_and(task_over) {
            return Ok(false);
        }
        answered("SendTaskHeartbeat", heartbeat)?;
        Ok(true)
    }

    /// Answers the task `token` with `SendTaskSuccess` and `output`.
    async fn succeed(&self, token: &str, output: String) -> Result<(), ProvisionError> {
        let sent = self
            .sfn
            .send_task_success()
            .task_token(token)
            .output(output)
            .send()
            .await;
        answered("SendTaskSuccess", sent)
    }

    /// Answers the task `token` with `SendTaskFailure` under the error name `error`.
    async fn fail(&self, token: &str, error: &str, cause: String) -> Result<(), ProvisionError> {
        let sent = self
            .sfn
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await;
        answered("SendTaskFailure", sent)
    }

    /// Handles a secret-sync task: one sync of the secret (reading it and the clusters as they
    /// are now, see [`crate::workers::secret_sync`]), heartbeating while it runs, then
    /// `SendTaskSuccess` with `{"phase": ...}` or `SendTaskFailure` under a [`TaskFailure`] name.
    async fn handle_secret(&self, msg: &SecretTaskMessage) -> Result<(), ProvisionError> {
        if !self.task_open(&msg.task_token).await? {
            return Ok(());
        }
        let tenant = TenantName::parse(&msg.tenant).map_err(malformed)?;
        let secret = crate::domain::names::SecretName::parse(&msg.secret).map_err(malformed)?;
        let every = heartbeat_interval(msg.heartbeat_seconds);
        let work =
            crate::workers::secret_sync::sync_secret(&self.store, &self.provider, &tenant, &secret);
        let Some(outcome) = self.heartbeating(&msg.task_token, every, work).await else {
            return Ok(());
        };
        match outcome {
            Ok(synced) => {
                let output = serde_json::json!({ "phase": synced.as_str() }).to_string();
                self.succeed(&msg.task_token, output).await
            }
            Err(failure) => {
                tracing::warn!(error = %failure, name = failure.name(), "secret sync failed");
                self.fail(&msg.task_token, failure.name(), failure.to_string())
                    .await
            }
        }
    }

    /// Sends the message again as a `check`, delayed by [`check_delay`], then heartbeats: the
    /// task's heartbeat timeout now covers the delay and the queue's latency until the check is
    /// picked up (and heartbeats again).
    async fn check_later(&self, msg: &TaskMessage) -> Result<(), ProvisionError> {
        let Some(queue_url) = msg.queue_url.as_deref() else {
            return Ok(());
        };
        let next = TaskMessage {
            step: Step::Check,
            ..msg.clone()
        };
        let body =
            serde_json::to_string(&next).map_err(|e| ProvisionError::Malformed(e.to_string()))?;
        let delay = check_delay(msg.check_interval_seconds, msg.heartbeat_seconds);
        self.sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| {
                ProvisionError::Queue(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
            })?;
        // Not retried on failure: handling the message again would queue a second check. The
        // check's own pickup heartbeat follows within the delay; a task that is over is seen then.
        let beat = self
            .sfn
            .send_task_heartbeat()
            .task_token(&msg.task_token)
            .send()
            .await;
        if let Err(e) = answered("SendTaskHeartbeat", beat) {
            tracing::warn!(error = %e, "heartbeat after queueing the next check failed");
        }
        Ok(())
    }

    /// One provider step: the cluster as the table has it now, then start or check.
    async fn step(
        &self,
        tenant: TenantName,
        name: ClusterName,
        msg: &TaskMessage,
    ) -> Result<StepOutcome, TaskFailure> {
        let cluster = self
            .store
            .clusters()
            .get(&tenant, &name)
            .await?
            .filter(|c| c.incarnation == msg.incarnation);
        // The operation this generation's item records: its attempt, and the steps an
        // earlier attempt finished (a retry resumes after them).
        let recorded = cluster
            .as_ref()
            .filter(|c| c.generation == msg.generation)
            .map(|c| c.op.clone())
            .unwrap_or_default();
        let finished = recorded
            .steps
            .iter()
            .filter(|s| s.state == StepState::Succeeded)
            .map(|s| s.name.clone())
            .collect();
        let op = Operation {
            tenant,
            name,
            incarnation: msg.incarnation,
            generation: msg.generation,
            action: msg.action,
            cluster,
            attempt: recorded.attempt.max(1),
            finished,
        };
        let outcome = match msg.step {
            Step::Start => self.provider.start(&op).await,
            Step::Check => self.provider.check(&op).await,
        };
        let steps = match &outcome {
            Ok(StepOutcome::Reply(_, steps)) => merged(&recorded.steps, steps),
            Ok(StepOutcome::NoReply) => recorded.steps.clone(),
            // A transient fault is retried by the workflow: the step is not over.
            Err(e) if TaskFailure::from(e.clone()).is_transient() => recorded.steps.clone(),
            Err(e) => failed(&recorded.steps, msg.action, &e.to_string()),
        };
        if steps != recorded.steps {
            // Only when a step changed: a check that finds the provider still busy writes nothing.
            self.store
                .operations()
                .record_steps(
                    op.tenant.as_str(),
                    op.name.as_str(),
                    op.incarnation,
                    op.generation,
                    &steps,
                )
                .await?;
        }
        Ok(outcome?)
    }

    /// Runs `work`, sending a heartbeat every `every` while it runs, so a slow but healthy
    /// provider call never trips the task's heartbeat timeout. `None` when a heartbeat says the
    /// task is already over (the work is abandoned: nobody waits for its answer).
    async fn heartbeating<F: Future>(
        &self,
        token: &str,
        every: Duration,
        work: F,
    ) -> Option<F::Output> {
        let work = std::pin::pin!(work);
        let mut work = work;
        let mut tick = tokio::time::interval_at(Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                out = &mut work => return Some(out),
                _ = tick.tick() => {
                    let beat = self.sfn.send_task_heartbeat().task_token(token).send().await;
                    match beat {
                        Err(e) if task_over(&e) => return None,
                        Err(e) => tracing::warn!(
                            error = %aws_sdk_sfn::error::DisplayErrorContext(&e),
                            "heartbeat failed; the next one may land"
                        ),
                        Ok(_) => {}
                    }
                }
            }
        }
    }

    /// Handles one message, retrying a failed attempt (a Step Functions or table call that
    /// failed after the SDK's own retries) with backoff until `deadline`. Handling a message
    /// again is what a redelivery would do, only sooner: a redelivery waits out the queue's
    /// visibility timeout, by which time the task's heartbeat timeout has long passed.
    async fn handle_retrying(&self, body: &str, deadline: Instant) -> Result<(), ProvisionError> {
        let mut pause = Duration::from_millis(200);
        loop {
            let attempt = tokio::time::timeout_at(deadline, self.handle_message(body)).await;
            match attempt {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e @ ProvisionError::Malformed(_))) => return Err(e),
                Ok(Err(e)) if Instant::now() + pause >= deadline => return Err(e),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "task message failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(_) => return Err(ProvisionError::OutOfTime),
            }
        }
    }

    /// Handles one SQS batch within [`DEFAULT_BUDGET`]; failures are reported per record.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_until(event, Instant::now() + DEFAULT_BUDGET)
            .await
    }

    /// Handles one SQS batch, its records concurrently (one slow provider call must not hold
    /// up the others until their tasks' heartbeats expire), each by `deadline` (the invocation's
    /// own, less a margin to answer): a record still running then is reported as failed and
    /// redelivered, instead of the whole batch being lost to the function timeout.
    pub async fn handle_until(&self, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
        let handled =
            futures_util::future::join_all(event.records.into_iter().map(|record| async move {
                let body = record.body.as_deref().unwrap_or_default();
                (
                    record.message_id,
                    self.handle_retrying(body, deadline).await,
                )
            }))
            .await;
        let mut response = SqsBatchResponse::default();
        for (id, result) in handled {
            if let Err(e) = result {
                tracing::error!(error = %e, "task message failed");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_delayed_by_the_interval_within_the_heartbeat_and_sqs_limits() {
        // template.yaml: 15 s checks, 60 s heartbeat
        assert_eq!(check_delay(Some(15), Some(60)), 15);
        // the local stack: 1 s checks, 30 s heartbeat
        assert_eq!(check_delay(Some(1), Some(30)), 1);
        // an interval too long for the heartbeat is cut to a third of it
        assert_eq!(check_delay(Some(60), Some(60)), 20);
        // never a busy loop, never past SQS's 900 s
        assert_eq!(check_delay(Some(0), Some(60)), 1);
        assert_eq!(check_delay(Some(1), Some(2)), 1);
        assert_eq!(check_delay(Some(3600), Some(86_400)), MAX_QUEUE_DELAY_SECS);
        // a message that says neither: the template's defaults
        assert_eq!(check_delay(None, None), DEFAULT_CHECK_INTERVAL.as_secs());
    }
}
