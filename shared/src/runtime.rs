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
