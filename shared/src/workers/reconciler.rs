//! The reconciler: an execution that failed, timed out or was aborted where its own `Catch`
//! could not see (stopped from outside, execution timeout) leaves its cluster `Degraded` instead
//! of stuck in a progressing phase, unless a newer generation or the workflow's own `Degraded`
//! write got there first.

use crate::{
    config::{required, sdk_config, ConfigError, Connect},
    domain::failure::FailureCode,
    store::{Store, StoreError},
    workflow::ExecutionInput,
};
use aws_lambda_events::eventbridge::EventBridgeEvent;

/// Execution statuses that end a workflow without its own `Degraded` write.
pub const DEAD_STATUSES: [&str; 3] = ["FAILED", "TIMED_OUT", "ABORTED"];

/// The reconciler and what it needs.
#[derive(Debug, Clone)]
pub struct Reconciler {
    store: Store,
}

impl Reconciler {
    /// A reconciler over a store.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// From `TABLE_NAME` and the SDK's environment.
    ///
    /// # Errors
    /// [`ConfigError`] when the table is not named.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::connect_from_env()?(&sdk_config().await))
    }

    /// Reads and checks `TABLE_NAME` now; builds the client later (see [`Connect`]).
    ///
    /// # Errors
    /// [`ConfigError`] when the table is not named.
    pub fn connect_from_env() -> Result<Connect<Self>, ConfigError> {
        let table = required("TABLE_NAME")?;
        Ok(Box::new(move |sdk| {
            Self::new(Store::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table.clone(),
            ))
        }))
    }

    /// Handles one "Step Functions Execution Status Change" event; returns whether it marked a
    /// cluster `Degraded`.
    ///
    /// # Errors
    /// A store failure (EventBridge retries the event).
    pub async fn handle(
        &self,
        event: EventBridgeEvent<serde_json::Value>,
    ) -> Result<bool, StoreError> {
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
        let code = match status {
            "TIMED_OUT" => FailureCode::ExecutionTimedOut,
            "ABORTED" => FailureCode::ExecutionAborted,
            _ => FailureCode::ExecutionFailed,
        };
        let message = format!(
            "{} The {:?} workflow ended {status} before finishing.",
            code.advice(),
            input.action
        );
        self.store
            .clusters()
            .mark_degraded_if_progressing(&input, code.as_str(), &message)
            .await
    }
}
