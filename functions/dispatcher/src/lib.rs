//! The dispatcher: the table's stream is the outbox. Every spec change (a new `generation`)
//! starts exactly one lifecycle execution, named after (cluster, incarnation, generation);
//! status-only changes start nothing. Failed records are reported for a retry of just them.

use aws_lambda_events::{dynamodb::Event, streams::DynamoDbEventResponse};
use kupe_shared::{lifecycle, WorkflowCtx};

/// Handles one stream batch.
///
/// # Errors
/// Never: failures are reported per record in the response.
pub async fn handler(
    ctx: &WorkflowCtx,
    event: Event,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    Ok(lifecycle::dispatch(&ctx.sfn, &ctx.state_machine_arn, event).await)
}
