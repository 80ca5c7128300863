//! An SDK interceptor that counts AWS operations and attempts, so tests can pin how many calls
//! a handler makes.

use aws_sdk_dynamodb::config::Intercept;
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::context::BeforeTransmitInterceptorContextRef, orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

/// Counts AWS operations (and attempts, which include the SDK's own retries) by name.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    ops: Arc<Mutex<Vec<String>>>,
    attempts: Arc<Mutex<usize>>,
}

impl CallCounter {
    /// Operations since the last reset, in order.
    pub fn operations(&self) -> Vec<String> {
        self.ops.lock().unwrap().clone()
    }
    /// Transmission attempts since the last reset.
    pub fn attempts(&self) -> usize {
        *self.attempts.lock().unwrap()
    }
    /// Forgets what was counted.
    pub fn reset(&self) {
        self.ops.lock().unwrap().clear();
        *self.attempts.lock().unwrap() = 0;
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Serialization happens once per operation (retries re-send the same request), and by then
    // the operation's metadata is in the config bag.
    fn read_after_serialization(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg.load::<Metadata>().map_or("?", |m| m.name()).to_string();
        self.ops.lock().unwrap().push(name);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.attempts.lock().unwrap() += 1;
        Ok(())
    }
}
