//! The provisioner: each work-queue message carries a task token and asks for one short step of
//! the provider (start an action, or check it); the provisioner heartbeats, runs the step, and
//! answers with `SendTaskSuccess` or `SendTaskFailure`. A task that is already over (answered,
//! timed out, or its execution gone) leaves the message nothing to do. Duplicate deliveries
//! cause one side effect (the provider's steps are idempotent).

use crate::{
    config::{required, sdk_config, ConfigError},
    domain::names::{ClusterName, TenantName},
    provider::{
        simulated::{Simulated, SimulatedConfig},
        Operation, Provider, ProviderError, StepOutcome,
    },
    store::{Store, StoreError},
    workflow::{Step, TaskMessage},
};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_sfn::{
    error::{ProvideErrorMetadata, SdkError},
    Client as SfnClient,
};

/// Why a message could not be handled: it is reported as failed and redelivered (and reaches
/// the dead-letter queue after the queue's receive limit).
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The body is not a task message.
    #[error("malformed task message: {0}")]
    Malformed(String),
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
/// that the state machine's `Catch` matches and the cluster's `Degraded` reason shows.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailure {
    /// The provider reported an error.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl TaskFailure {
    /// The error name sent in `SendTaskFailure`.
    pub fn name(&self) -> &'static str {
        match self {
            TaskFailure::Provider(_) => "ProviderError",
        }
    }
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
    provider: P,
}

impl Provisioner<Simulated> {
    /// From `TABLE_NAME`, the simulated provider's `SIM_*` and `CLUSTER_DOMAIN`, and the SDK's
    /// environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming a missing or malformed variable.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table = required("TABLE_NAME")?;
        let config = SimulatedConfig::from_env()?;
        let sdk = sdk_config().await;
        let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), table);
        let provider = Simulated::new(store.clone(), config);
        Ok(Self::new(store, SfnClient::new(&sdk), provider))
    }
}

impl<P: Provider> Provisioner<P> {
    /// A provisioner over a store, Step Functions and a provider.
    pub fn new(store: Store, sfn: SfnClient, provider: P) -> Self {
        Self {
            store,
            sfn,
            provider,
        }
    }

    /// Handles one task message: heartbeat, one provider step, then success or failure.
    ///
    /// # Errors
    /// [`ProvisionError`]: the message is retried.
    pub async fn handle_message(&self, body: &str) -> Result<(), ProvisionError> {
        let msg: TaskMessage =
            serde_json::from_str(body).map_err(|e| ProvisionError::Malformed(e.to_string()))?;
        let heartbeat = self
            .sfn
            .send_task_heartbeat()
            .task_token(&msg.task_token)
            .send()
            .await;
        if heartbeat.as_ref().is_err_and(task_over) {
            return Ok(());
        }
        answered("SendTaskHeartbeat", heartbeat)?;
        let malformed =
            |e: crate::domain::names::NameError| ProvisionError::Malformed(e.to_string());
        let tenant = TenantName::parse(&msg.tenant).map_err(malformed)?;
        let name = ClusterName::parse(&msg.name).map_err(malformed)?;
        let cluster = self
            .store
            .clusters()
            .get(&tenant, &name)
            .await?
            .filter(|c| c.incarnation == msg.incarnation);
        let op = Operation {
            tenant,
            name,
            incarnation: msg.incarnation,
            generation: msg.generation,
            action: msg.action,
            cluster,
        };
        let outcome = match msg.step {
            Step::Start => self.provider.start(&op).await,
            Step::Check => self.provider.check(&op).await,
        };
        match outcome.map_err(TaskFailure::from) {
            Ok(StepOutcome::NoReply) => Ok(()),
            Ok(StepOutcome::Reply(output)) => {
                let output = serde_json::to_string(&output)
                    .map_err(|e| ProvisionError::Malformed(e.to_string()))?;
                let sent = self
                    .sfn
                    .send_task_success()
                    .task_token(&msg.task_token)
                    .output(output)
                    .send()
                    .await;
                answered("SendTaskSuccess", sent)
            }
            Err(failure) => {
                let sent = self
                    .sfn
                    .send_task_failure()
                    .task_token(&msg.task_token)
                    .error(failure.name())
                    .cause(failure.to_string())
                    .send()
                    .await;
                answered("SendTaskFailure", sent)
            }
        }
    }

    /// Handles one SQS batch; failures are reported per record.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in event.records {
            let body = record.body.as_deref().unwrap_or_default();
            if let Err(e) = self.handle_message(body).await {
                tracing::error!(error = %e, "task message failed");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        response
    }
}
