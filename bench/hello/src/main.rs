//! The hello-world floor of `make bench-lambda`: what `cargo lambda new` generates, minus the
//! example payload type. Logging is initialised as in every one of our functions, so the
//! comparison measures our Init and handler work, not the runtime's.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(serde_json::json!({}))
    }))
    .await
}
