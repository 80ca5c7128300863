//! The Lambda wiring every function shares, so each `main.rs` is one line: initialise logging
//! (level and format from `AWS_LAMBDA_LOG_LEVEL` / `AWS_LAMBDA_LOG_FORMAT`), read the function's
//! configuration and build its clients once per container (a missing variable fails Init,
//! visibly), then serve.

use crate::{
    api::UseCase,
    config::ApiContext,
    routes::{serve, FromIncoming},
    workers::{Dispatcher, Provisioner, Reconciler},
};
pub use lambda_runtime::Error;
use lambda_runtime::{service_fn, LambdaEvent};
use std::convert::Infallible;

/// Logging as lambda_runtime's default subscriber sets it up (level from `AWS_LAMBDA_LOG_LEVEL`,
/// else `RUST_LOG`, else INFO; JSON when `AWS_LAMBDA_LOG_FORMAT` is `json`; no time, no target),
/// without its `EnvFilter`: a level, not per-module directives, which keeps regex out of every
/// bootstrap.
pub fn init_logging() {
    use std::str::FromStr;
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| LevelFilter::from_str(l.trim()).ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    // `try_init`: a second call (tests) keeps the first subscriber.
    let _ = if json {
        fmt.json().try_init()
    } else {
        fmt.try_init()
    };
}

/// Runs the HTTP function of the route whose request type is `R`.
///
/// # Errors
/// When configuration is missing or the runtime stops.
pub async fn run_http<R: FromIncoming + UseCase + 'static>() -> Result<(), Error> {
    init_logging();
    // Lives as long as the container; leaking it lets every invocation borrow it.
    let ctx: &'static ApiContext = Box::leak(Box::new(ApiContext::from_env().await?));
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, Infallible>(serve::<R>(ctx, req).await)
    }))
    .await
}

/// Runs the dispatcher (stream → executions).
///
/// # Errors
/// When configuration is missing or the runtime stops.
pub async fn run_dispatcher() -> Result<(), Error> {
    init_logging();
    let dispatcher: &'static Dispatcher = Box::leak(Box::new(Dispatcher::from_env().await?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(dispatcher.handle(event.payload).await)
    }))
    .await
}

/// Runs the provisioner (work queue → provider steps).
///
/// # Errors
/// When configuration is missing or the runtime stops.
pub async fn run_provisioner() -> Result<(), Error> {
    init_logging();
    let provisioner = Box::leak(Box::new(Provisioner::from_env().await?));
    let provisioner: &'static _ = provisioner;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        // Finish (or give up on) every record 2 s before the function times out, so the batch
        // response reports each record instead of the timeout failing all of them.
        let left = event
            .context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(std::time::Duration::from_secs(2));
        let deadline = tokio::time::Instant::now() + left;
        Ok::<_, Error>(provisioner.handle_until(event.payload, deadline).await)
    }))
    .await
}

/// Runs the reconciler (dead executions → `Degraded`).
///
/// # Errors
/// When configuration is missing, the runtime stops, or (per event, retried by EventBridge)
/// the store fails.
pub async fn run_reconciler() -> Result<(), Error> {
    init_logging();
    let reconciler: &'static Reconciler = Box::leak(Box::new(Reconciler::from_env().await?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(reconciler.handle(event.payload).await?)
    }))
    .await
}

/// Runs the function that answers every route Kupe documents but this server does not serve
/// yet ([`crate::routes::NOT_SERVED`]): 501 `NotImplemented`. It needs no configuration and
/// touches no AWS service.
///
/// # Errors
/// When the runtime stops.
pub async fn run_not_served() -> Result<(), Error> {
    init_logging();
    lambda_http::run(lambda_http::service_fn(
        |req: lambda_http::Request| async move {
            let incoming = crate::http::Incoming::read(req, "");
            Ok::<_, Infallible>(crate::http::render(
                Err(crate::routes::not_served()),
                incoming.request_id(),
            ))
        },
    ))
    .await
}
