//! The Lambda wiring every HTTP function shares, so each `main.rs` is one line: initialise
//! logging (level and format from `AWS_LAMBDA_LOG_LEVEL` / `AWS_LAMBDA_LOG_FORMAT`), read the
//! configuration and build the SDK clients once per container, then serve.

use crate::Ctx;
use lambda_http::{Body, Error, Request, Response};
use std::{convert::Infallible, future::Future};

/// Runs an HTTP handler under the Lambda runtime.
///
/// # Errors
/// When configuration is missing (the container fails its Init, visibly) or the runtime stops.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(&'static Ctx, Request) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    lambda_http::tracing::init_default_subscriber();
    // Lives as long as the container; leaking it lets every invocation borrow it for 'static.
    let ctx: &'static Ctx = Box::leak(Box::new(Ctx::from_env().await?));
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(handler(ctx, req).await)
    }))
    .await
}

/// Runs an event handler (stream, queue or EventBridge) under the Lambda runtime, with the
/// workflow context built once per container.
///
/// # Errors
/// When configuration is missing or the runtime stops.
pub async fn run_event<E, R, F, Fut>(handler: F) -> Result<(), Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(&'static crate::WorkflowCtx, E) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
{
    lambda_runtime::tracing::init_default_subscriber();
    let ctx: &'static crate::WorkflowCtx =
        Box::leak(Box::new(crate::WorkflowCtx::from_env().await?));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<E>| async move { handler(ctx, event.payload).await },
    ))
    .await
}
