//! The Lambda wiring every function shares, so each `main.rs` is one line: initialise logging
//! (level and format from `AWS_LAMBDA_LOG_LEVEL` / `AWS_LAMBDA_LOG_FORMAT`), read and check the
//! function's configuration (a missing variable fails Init, visibly), then serve; the SDK
//! configuration and clients are built once per container, on the first invocation
//! ([`OnFirstInvocation`]).

use crate::{
    api::UseCase,
    config::{sdk_config, ApiContext, Connect},
    routes::{serve, FromIncoming},
    workers::{Dispatcher, Provisioner, Reconciler},
};
pub use lambda_runtime::Error;
use lambda_runtime::{service_fn, LambdaEvent};
use std::convert::Infallible;
use tokio::sync::OnceCell;

/// A function's state, built on the first invocation instead of at Init, then kept for the
/// container's life. Init is then what a hello-world bootstrap does plus reading the variables:
/// the SDK configuration and its clients (about 0.8 ms, most of it `Client::new`; see
/// bench/lambda.md) wait for the first event, where the first request opens its connection
/// anyway. Every later invocation pays one atomic load ([`OnceCell::get_or_init`] once set).
/// What the handlers get is the same value the function built at Init before.
pub struct OnFirstInvocation<T: 'static> {
    connect: Connect<T>,
    built: OnceCell<T>,
}

impl<T: Send + Sync + 'static> OnFirstInvocation<T> {
    /// Holds `connect` for the container's life (leaked: every invocation borrows the state).
    pub fn leak(connect: Connect<T>) -> &'static Self {
        Box::leak(Box::new(Self {
            connect,
            built: OnceCell::new(),
        }))
    }

    /// The state, built by the first caller (the SDK configuration, then `connect`).
    pub async fn get(&'static self) -> &'static T {
        self.built
            .get_or_init(|| async { (self.connect)(&sdk_config().await) })
            .await
    }
}

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
    let ctx = OnFirstInvocation::leak(ApiContext::connect_from_env()?);
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, Infallible>(serve::<R>(ctx.get().await, req).await)
    }))
    .await
}

/// Runs the dispatcher (stream → executions).
///
/// # Errors
/// When configuration is missing or the runtime stops.
pub async fn run_dispatcher() -> Result<(), Error> {
    init_logging();
    let dispatcher = OnFirstInvocation::leak(Dispatcher::connect_from_env()?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(dispatcher.get().await.handle(event.payload).await)
    }))
    .await
}

/// Runs the provisioner (work queue → provider steps).
///
/// # Errors
/// When configuration is missing or the runtime stops.
pub async fn run_provisioner() -> Result<(), Error> {
    init_logging();
    let provisioner = OnFirstInvocation::leak(Provisioner::connect_from_env()?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let provisioner = provisioner.get().await;
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
    let reconciler = OnFirstInvocation::leak(Reconciler::connect_from_env()?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(reconciler.get().await.handle(event.payload).await?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn the_state_is_built_on_the_first_invocation_and_only_once() {
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        // As Lambda sets them, so that `sdk_config` reads them instead of running the chains.
        std::env::set_var("AWS_REGION", "eu-west-3");
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        let state = OnFirstInvocation::leak(Box::new(|sdk: &aws_config::SdkConfig| {
            BUILT.fetch_add(1, Ordering::SeqCst);
            sdk.region().map(ToString::to_string)
        }));
        assert_eq!(BUILT.load(Ordering::SeqCst), 0, "nothing built at Init");
        let first = state.get().await;
        let second = state.get().await;
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
        assert!(std::ptr::eq(first, second));
        assert_eq!(first.as_deref(), Some("eu-west-3"));
    }
}
