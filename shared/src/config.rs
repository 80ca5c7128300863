//! Configuration, read once per container at start-up and failing loudly: a missing or
//! malformed variable stops the function's Init with an error that names it, instead of a
//! default that surfaces later as a wrong answer. Endpoints (for the emulator) come from the
//! SDK's own `AWS_ENDPOINT_URL*` variables, not from here.

use crate::store::Store;
use std::str::FromStr;

/// A missing or malformed environment variable.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name} {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: String,
}

impl ConfigError {
    /// A problem with `name`.
    pub fn new(name: &'static str, problem: impl Into<String>) -> Self {
        Self {
            name,
            problem: problem.into(),
        }
    }
}

/// A variable that must be set and not blank.
///
/// # Errors
/// [`ConfigError`] naming it.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        Ok(_) => Err(ConfigError::new(name, "is empty")),
        Err(_) => Err(ConfigError::new(name, "is not set")),
    }
}

/// A variable that may be unset (then `default`), but must parse when set.
///
/// # Errors
/// [`ConfigError`] naming it when it does not parse.
pub fn optional<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError::new(name, format!("has an unusable value {v:?}"))),
    }
}

/// The SDK configuration every function builds its clients from, once, with [`https_client`].
///
/// What can be read straight from the environment is given to the loader instead of being
/// looked up by the SDK's default chains, whose construction was most of what our Init spent
/// above a hello-world bootstrap (about 0.5 ms of 1.4 ms: the credentials chain builds an STS
/// client for web identity and an IMDS client before it looks at anything). Lambda always sets
/// both:
/// - `AWS_REGION`: the default region chain reads it first and stops there;
/// - `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (non-blank; the execution role's keys,
///   with `AWS_SESSION_TOKEN`): the default credentials chain's first provider is this same
///   environment provider, and the chain stops at the first that has credentials.
///
/// So the result is the chains' own, and without those variables (a developer's machine, a
/// container with a credentials endpoint) the full chains run as before.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client());
    if let Ok(region) = std::env::var("AWS_REGION") {
        loader = loader.region(aws_config::Region::new(region));
    }
    if env_credentials_set() {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    loader.load().await
}

/// Whether the environment holds credentials the SDK's environment provider accepts.
fn env_credentials_set() -> bool {
    let set = |name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY")
}

/// The SDK's own HTTPS client (hyper + rustls, as its `default-https-client` feature builds it,
/// but on ring instead of aws-lc) trusting the Mozilla root set compiled into the binary
/// ([`trusted_roots_pem`]) instead of the OS store. The SDK's default scans the OS certificate
/// store when a client is built: a bundle plus every file of the certificates directory (about
/// 290 here), which was about 70% of our Init above a hello-world bootstrap. A compiled-in set
/// costs no file I/O, is the same in every container image, and is what the SDK's `TrustStore`
/// takes cleanly (PEM); one bundle file would tie Init to the image's layout. The set is updated
/// with the `webpki-root-certs` crate; AWS endpoints chain to Amazon Trust Services roots, which
/// it has.
///
/// ring rather than aws-lc: one crypto library fewer in every bootstrap (the workspace drops the
/// SDK's `default-https-client`, so aws-lc is not linked at all). What it gives up: the SDK's
/// aws-lc mode also offers the post-quantum hybrid key exchange (X25519MLKEM768), which ring's
/// rustls provider does not have; the handshake uses X25519 (or P-256/P-384) as before that mode.
/// This is the only HTTP client the SDK has here: every configuration must be given it.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{
        tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore},
        Builder,
    };
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(trusted_roots_pem().as_bytes());
    // `build` cannot fail in this version (it only moves the settings); were that to change, Init
    // fails here, visibly, rather than falling back to the OS store.
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context with a PEM trust store builds");
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// The compiled-in trusted roots (Mozilla's set, from `webpki-root-certs`) as one PEM bundle,
/// encoded at build time (`shared/build.rs`).
pub fn trusted_roots_pem() -> &'static str {
    include_str!(concat!(env!("OUT_DIR"), "/trusted_roots.pem"))
}

/// Exponential backoff for repeated authentication failures from one client IP: from the
/// `threshold`-th failure within `window_secs`, the IP waits 1, 2, 4, ... seconds (at most
/// `max_secs`) before any request of it is served again (429 with `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthBackoff {
    /// Failures before the first wait.
    pub threshold: u32,
    /// Longest wait.
    pub max_secs: u64,
    /// How long failures are remembered after the last one.
    pub window_secs: u64,
}

impl Default for AuthBackoff {
    fn default() -> Self {
        Self {
            threshold: 5,
            max_secs: 900,
            window_secs: 900,
        }
    }
}

impl AuthBackoff {
    /// From `AUTH_FAILURE_THRESHOLD`, `AUTH_BACKOFF_MAX_SECONDS` and
    /// `AUTH_FAILURE_WINDOW_SECONDS`, each defaulting to [`AuthBackoff::default`].
    ///
    /// # Errors
    /// [`ConfigError`] for a value that is set but not a number.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            threshold: optional("AUTH_FAILURE_THRESHOLD", d.threshold)?,
            max_secs: optional("AUTH_BACKOFF_MAX_SECONDS", d.max_secs)?,
            window_secs: optional("AUTH_FAILURE_WINDOW_SECONDS", d.window_secs)?,
        })
    }

    /// The wait after the `failures`-th failure (0 below the threshold).
    pub fn wait_after(&self, failures: u32) -> u64 {
        if failures < self.threshold {
            return 0;
        }
        let doublings = (failures - self.threshold).min(40);
        (1u64 << doublings).min(self.max_secs)
    }
}

/// What every API function needs, built once per container.
#[derive(Debug, Clone)]
pub struct ApiContext {
    /// The table.
    pub store: Store,
    /// Backoff for repeated authentication failures.
    pub auth_backoff: AuthBackoff,
}

impl ApiContext {
    /// A context over a store.
    pub fn new(store: Store, auth_backoff: AuthBackoff) -> Self {
        Self {
            store,
            auth_backoff,
        }
    }

    /// Reads `TABLE_NAME` and the backoff settings, loads the SDK configuration.
    ///
    /// # Errors
    /// [`ConfigError`] naming a missing or malformed variable.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::connect_from_env()?(&sdk_config().await))
    }

    /// Reads and checks `TABLE_NAME` and the backoff settings now; builds the clients later
    /// (see [`Connect`]).
    ///
    /// # Errors
    /// [`ConfigError`] naming a missing or malformed variable.
    pub fn connect_from_env() -> Result<Connect<Self>, ConfigError> {
        let table = required("TABLE_NAME")?;
        let backoff = AuthBackoff::from_env()?;
        Ok(Box::new(move |sdk| {
            Self::new(
                Store::new(aws_sdk_dynamodb::Client::new(sdk), table.clone()),
                backoff,
            )
        }))
    }
}

/// How to build a function's state (its SDK clients) from the SDK configuration, once its
/// environment variables have been read and checked. The two steps are apart so that a missing
/// variable still fails Init while the clients are built on the first invocation
/// ([`crate::runtime`]): constructing the SDK configuration and a client is most of what our
/// Init spends above a hello-world bootstrap (bench/lambda.md). `Fn`, not `FnOnce`, so that a
/// construction that panicked can be tried again by the next invocation.
pub type Connect<T> = Box<dyn Fn(&aws_config::SdkConfig) -> T + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_the_threshold_up_to_its_cap() {
        let b = AuthBackoff {
            threshold: 3,
            max_secs: 5,
            window_secs: 60,
        };
        let waits: Vec<u64> = (1..=7).map(|f| b.wait_after(f)).collect();
        assert_eq!(waits, [0, 0, 1, 2, 4, 5, 5]);
    }
}
