//! The dispatcher: the table's stream is the outbox. Every spec change (a new `generation` of a
//! live cluster) starts exactly one lifecycle execution, named after (cluster, incarnation,
//! generation), so a redelivered record cannot start a second one; status-only changes start
//! nothing. Records that fail are reported for a retry of just them.

use crate::{
    config::{required, sdk_config, ConfigError},
    store::item::{from_item, ClusterHead, ClusterItem},
    store::schema::CLUSTER_SK_PREFIX,
    workflow::{action_for, execution_name, ExecutionInput, ImageFacts},
};
use aws_lambda_events::{
    dynamodb::Event as StreamEvent,
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};
use aws_sdk_sfn::{error::SdkError, Client as SfnClient};

/// A stream image.
pub type Image = serde_dynamo::Item;

/// Why an execution could not be started (the record is retried).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The input could not be serialized.
    #[error("execution input: {0}")]
    Input(#[from] serde_json::Error),
    /// `StartExecution` failed with something other than "already exists".
    #[error("StartExecution failed: {0}")]
    Start(String),
}

/// The dispatcher and what it needs.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    sfn: SfnClient,
    state_machine_arn: String,
}

/// The execution one stream record calls for, if any: a live cluster whose `generation`
/// changed. Tombstones, other items and status-only writes call for none.
pub fn execution_for(new: &Image, old: &Image) -> Option<ExecutionInput> {
    let new: ClusterItem = from_item(new.clone()).ok()?;
    if !new.sk.starts_with(CLUSTER_SK_PREFIX) {
        return None;
    }
    let old: Option<ClusterHead> = from_item(old.clone()).ok();
    if old.as_ref().and_then(|o| o.generation) == Some(new.generation) {
        return None;
    }
    let facts = ImageFacts {
        phase: &new.phase,
        generation: new.generation,
        observed_generation: new.observed_generation,
        version: &new.version,
        kubernetes_version: new.kubernetes_version.as_deref(),
    };
    Some(ExecutionInput {
        action: action_for(&facts),
        tenant: new.tenant,
        name: new.name,
        incarnation: new.incarnation,
        generation: new.generation,
        from_phase: old.map(|o| o.phase).unwrap_or_default(),
    })
}

impl Dispatcher {
    /// A dispatcher starting executions of `state_machine_arn`.
    pub fn new(sfn: SfnClient, state_machine_arn: impl Into<String>) -> Self {
        Self {
            sfn,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// From `STATE_MACHINE_ARN` (required) and the SDK's environment.
    ///
    /// # Errors
    /// [`ConfigError`] when the ARN is missing.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let arn = required("STATE_MACHINE_ARN")?;
        Ok(Self::new(SfnClient::new(&sdk_config().await), arn))
    }

    /// Starts one execution; `ExecutionAlreadyExists` means a duplicate delivery and is success.
    ///
    /// # Errors
    /// [`DispatchError`] for any other failure.
    pub async fn start(&self, input: &ExecutionInput) -> Result<(), DispatchError> {
        let name = execution_name(
            &input.tenant,
            &input.name,
            input.incarnation,
            input.generation,
        );
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(&name)
            .input(serde_json::to_string(input)?)
            .send()
            .await;
        match started {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_execution_already_exists() => Ok(()),
            Err(e) => Err(DispatchError::Start(
                aws_sdk_sfn::error::DisplayErrorContext(&e).to_string(),
            )),
        }
    }

    /// Handles one stream batch: starts the execution each record calls for, and reports the
    /// records that failed (with their sequence numbers) for a retry of just them.
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in event.records {
            let change = &record.change;
            let Some(input) = execution_for(&change.new_image, &change.old_image) else {
                continue;
            };
            match self.start(&input).await {
                Ok(()) => tracing::info!(tenant = %input.tenant, name = %input.name,
                    generation = input.generation, action = ?input.action, "execution started"),
                Err(e) => {
                    tracing::error!(error = %e, tenant = %input.tenant, name = %input.name,
                        "start execution failed");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = change.sequence_number.clone();
                    response.batch_item_failures.push(failure);
                }
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{testing::ClusterBuilder, workflow::Action};

    fn image(c: &crate::domain::cluster::Cluster) -> Image {
        serde_dynamo::to_item(ClusterItem::from(c)).unwrap()
    }

    #[test]
    fn a_new_generation_calls_for_one_execution_and_a_status_write_for_none() {
        let before = ClusterBuilder::new("prod").running().build();
        let resized = ClusterBuilder::new("prod").running().generation(2).build();
        let input = execution_for(&image(&resized), &image(&before)).unwrap();
        assert_eq!((input.generation, input.action), (2, Action::Update));
        assert_eq!(input.from_phase, "Running");
        assert!(execution_for(&image(&before), &image(&before)).is_none());
        let deleting = ClusterBuilder::new("prod")
            .terminating()
            .generation(2)
            .build();
        let input = execution_for(&image(&deleting), &image(&before)).unwrap();
        assert_eq!(input.action, Action::Delete);
        let created = ClusterBuilder::new("prod").build();
        let input = execution_for(&image(&created), &Image::default()).unwrap();
        assert_eq!(
            (input.action, input.from_phase.as_str()),
            (Action::Provision, "")
        );
    }
}
