//! The reconciler: an execution that failed, timed out or was aborted (where its own Catch
//! could not see) leaves its cluster `Failed` instead of stuck in a progressing phase.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use kupe_shared::{lifecycle, WorkflowCtx};

/// Handles one "Step Functions Execution Status Change" event; returns whether it marked a
/// cluster `Failed`.
///
/// # Errors
/// A store failure (EventBridge retries the event).
pub async fn handler(
    ctx: &WorkflowCtx,
    event: EventBridgeEvent<serde_json::Value>,
) -> Result<bool, lambda_runtime::Error> {
    Ok(lifecycle::reconcile(&ctx.store, event).await?)
}
