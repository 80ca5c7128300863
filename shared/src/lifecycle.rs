//! The non-HTTP Lambdas' logic: the dispatcher (table stream → one execution per generation),
//! the provisioner (task-token messages → one provider step → `SendTask*`), and the reconciler
//! (executions that died where their own Catch could not see → `Failed`).

use crate::{
    domain::{
        names::{ClusterName, TenantName},
        phase::Phase,
    },
    provider::{Operation, Provider, StepOutcome},
    store::{schema::CLUSTER_SK_PREFIX, Store},
    workflow::{action_for, execution_name, ExecutionInput, ImageFacts, TaskMessage},
};
use aws_lambda_events::{
    dynamodb::Event as StreamEvent,
    eventbridge::EventBridgeEvent,
    sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent},
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};
use aws_sdk_sfn::{error::SdkError, Client as SfnClient};
use serde_dynamo::AttributeValue as Av;
use std::collections::HashMap;

type Image = HashMap<String, Av>;

fn s<'a>(img: &'a Image, k: &str) -> Option<&'a str> {
    match img.get(k) {
        Some(Av::S(v)) => Some(v),
        _ => None,
    }
}

fn n(img: &Image, k: &str) -> Option<u64> {
    match img.get(k) {
        Some(Av::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// What the dispatcher made of one stream record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatch {
    /// Not a spec change of a live cluster (a status write, a tombstone, another item).
    Ignored,
    /// An execution was started, or already existed under its name: either way, exactly one.
    Started(ExecutionInput),
}

/// The execution one stream record calls for, if any: a cluster whose `generation` changed.
pub fn execution_for(new: &Image, old: &Image) -> Option<ExecutionInput> {
    if !s(new, "sk").is_some_and(|sk| sk.starts_with(CLUSTER_SK_PREFIX)) {
        return None;
    }
    let generation = n(new, "generation")?;
    let phase = s(new, "phase")?;
    if phase == Phase::Deleted.as_str() || n(old, "generation") == Some(generation) {
        return None;
    }
    let facts = ImageFacts {
        phase,
        generation,
        observed_generation: n(new, "observedGeneration").unwrap_or(0),
        version: s(new, "version")?,
        kubernetes_version: s(new, "kubernetesVersion"),
    };
    Some(ExecutionInput {
        tenant: s(new, "tenant")?.to_string(),
        name: s(new, "name")?.to_string(),
        incarnation: n(new, "incarnation")?,
        generation,
        action: action_for(&facts),
        from_phase: s(old, "phase").unwrap_or_default().to_string(),
    })
}

/// Starts one execution; `ExecutionAlreadyExists` means a duplicate delivery and is success.
///
/// # Errors
/// The SDK error text of any other failure.
pub async fn start_execution(
    sfn: &SfnClient,
    state_machine_arn: &str,
    input: &ExecutionInput,
) -> Result<(), String> {
    let name = execution_name(
        &input.tenant,
        &input.name,
        input.incarnation,
        input.generation,
    );
    let body = serde_json::to_string(input).map_err(|e| e.to_string())?;
    match sfn
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(&name)
        .input(body)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(se)) if se.err().is_execution_already_exists() => Ok(()),
        Err(e) => Err(aws_sdk_sfn::error::DisplayErrorContext(&e).to_string()),
    }
}

/// The dispatcher: for each record of a batch, start the execution its new generation calls for.
/// Records that fail are reported (with their sequence numbers) for a retry of just them.
pub async fn dispatch(
    sfn: &SfnClient,
    state_machine_arn: &str,
    event: StreamEvent,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        let new: &Image = record.change.new_image.as_ref();
        let old: &Image = record.change.old_image.as_ref();
        let Some(input) = execution_for(new, old) else {
            continue;
        };
        if let Err(e) = start_execution(sfn, state_machine_arn, &input).await {
            tracing::error!(error = %e, tenant = %input.tenant, name = %input.name, "start execution failed");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
        } else {
            tracing::info!(tenant = %input.tenant, name = %input.name, generation = input.generation, action = ?input.action, "execution started");
        }
    }
    response
}

/// The result of a `SendTask*` call: an error that means the task is already over (answered,
/// timed out, or its execution gone) leaves the message nothing to do, so it counts as done.
fn task_sent<T, E>(res: Result<T, SdkError<E>>) -> Result<(), String>
where
    E: aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_sfn::error::ProvideErrorMetadata;
    match res {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.code(),
                Some("TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken")
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_sdk_sfn::error::DisplayErrorContext(&e).to_string()),
    }
}

/// Handles one task message: heartbeat, one provider step, then success or failure.
///
/// # Errors
/// A message to retry (the SQS record is reported as failed and redelivered).
pub async fn provision_one<P: Provider>(
    store: &Store,
    sfn: &SfnClient,
    provider: &P,
    body: &str,
) -> Result<(), String> {
    let msg: TaskMessage =
        serde_json::from_str(body).map_err(|e| format!("malformed task message: {e}"))?;
    let heartbeat = sfn
        .send_task_heartbeat()
        .task_token(&msg.task_token)
        .send()
        .await;
    if let Err(e) = &heartbeat {
        use aws_sdk_sfn::error::ProvideErrorMetadata;
        if matches!(
            e.code(),
            Some("TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken")
        ) {
            return Ok(());
        }
    }
    task_sent(heartbeat)?;
    let tenant = TenantName::parse(&msg.tenant).map_err(|e| e.to_string())?;
    let name = ClusterName::parse(&msg.name).map_err(|e| e.to_string())?;
    let cluster = store
        .get_cluster(&tenant, &name)
        .await
        .map_err(|e| e.to_string())?
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
        crate::workflow::Step::Start => provider.start(&op).await,
        crate::workflow::Step::Check => provider.check(&op).await,
    };
    match outcome {
        Ok(StepOutcome::NoReply) => Ok(()),
        Ok(StepOutcome::Reply(output)) => {
            let output = serde_json::to_string(&output).map_err(|e| e.to_string())?;
            task_sent(
                sfn.send_task_success()
                    .task_token(&msg.task_token)
                    .output(output)
                    .send()
                    .await,
            )
        }
        Err(e) => task_sent(
            sfn.send_task_failure()
                .task_token(&msg.task_token)
                .error("ProviderError")
                .cause(e.to_string())
                .send()
                .await,
        ),
    }
}

/// The provisioner: each SQS record is one task message; failures are reported per record.
pub async fn provision<P: Provider>(
    store: &Store,
    sfn: &SfnClient,
    provider: &P,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let body = record.body.as_deref().unwrap_or_default();
        if let Err(e) = provision_one(store, sfn, provider, body).await {
            tracing::error!(error = %e, "task message failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Execution statuses that end a workflow without its own `Failed` write.
pub const DEAD_STATUSES: [&str; 3] = ["FAILED", "TIMED_OUT", "ABORTED"];

/// The reconciler: an execution that failed, timed out or was aborted leaves its cluster
/// `Failed` (unless a newer generation or the workflow's own Catch got there first).
///
/// # Errors
/// A store failure, to be retried.
pub async fn reconcile(
    store: &Store,
    event: EventBridgeEvent<serde_json::Value>,
) -> Result<bool, String> {
    let status = event.detail["status"].as_str().unwrap_or_default();
    if !DEAD_STATUSES.contains(&status) {
        return Ok(false);
    }
    let Some(input) = event.detail["input"]
        .as_str()
        .and_then(|i| serde_json::from_str::<ExecutionInput>(i).ok())
    else {
        return Ok(false);
    };
    let reason = match status {
        "TIMED_OUT" => "ExecutionTimedOut",
        "ABORTED" => "ExecutionAborted",
        _ => "ExecutionFailed",
    };
    let message = format!(
        "The {:?} workflow ended {status} before finishing",
        input.action
    );
    store
        .mark_failed_if_progressing(&input, reason, &message)
        .await
        .map_err(|e| e.to_string())
}
