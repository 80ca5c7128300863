//! The provisioner: each SQS message carries a task token and asks for one short step (start or
//! check an action) of the provider; it answers with `SendTaskSuccess` / `SendTaskFailure`
//! after a heartbeat. Duplicates cause one side effect; failed records are reported.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use kupe_shared::{
    lifecycle,
    provider::simulated::{Simulated, SimulatedConfig},
    WorkflowCtx,
};
use std::sync::OnceLock;

/// The provider the Lambda runs with, from `SIM_*` and `CLUSTER_DOMAIN`.
///
/// # Errors
/// A message naming the bad variable.
pub fn provider(ctx: &WorkflowCtx) -> Result<Simulated, String> {
    let config = SimulatedConfig::from_env()?;
    Ok(Simulated::new(
        ctx.store.client().clone(),
        ctx.store.table().to_string(),
        config,
    ))
}

/// Handles one SQS batch with `provider`.
pub async fn handle(ctx: &WorkflowCtx, provider: &Simulated, event: SqsEvent) -> SqsBatchResponse {
    lifecycle::provision(&ctx.store, &ctx.sfn, provider, event).await
}

/// The Lambda entry: the provider is built once per container.
///
/// # Errors
/// When the provider configuration is invalid.
pub async fn handler(
    ctx: &'static WorkflowCtx,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    static PROVIDER: OnceLock<Result<Simulated, String>> = OnceLock::new();
    let provider = PROVIDER
        .get_or_init(|| provider(ctx))
        .as_ref()
        .map_err(|e| lambda_runtime::Error::from(e.clone()))?;
    Ok(handle(ctx, provider, event).await)
}
