//! Configuration read once per container, and the context every handler borrows.

use crate::store::Store;

/// A missing or malformed environment variable.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name} {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: &'static str,
}

/// Typed configuration of the API functions.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table holding tenants, keys and clusters (`TABLE_NAME`).
    pub table_name: String,
}

impl Config {
    /// Reads the configuration from the environment. Endpoints (for the emulator) come from the
    /// SDK's own `AWS_ENDPOINT_URL*` variables, not from here.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let table_name = std::env::var("TABLE_NAME").map_err(|_| ConfigError {
            name: "TABLE_NAME",
            problem: "is not set",
        })?;
        if table_name.trim().is_empty() {
            return Err(ConfigError {
                name: "TABLE_NAME",
                problem: "is empty",
            });
        }
        Ok(Self { table_name })
    }
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
    pub fn from_env() -> Self {
        let d = Self::default();
        let num = |k: &str, v: u64| {
            std::env::var(k)
                .ok()
                .and_then(|x| x.parse().ok())
                .unwrap_or(v)
        };
        Self {
            threshold: u32::try_from(num("AUTH_FAILURE_THRESHOLD", u64::from(d.threshold)))
                .unwrap_or(d.threshold),
            max_secs: num("AUTH_BACKOFF_MAX_SECONDS", d.max_secs),
            window_secs: num("AUTH_FAILURE_WINDOW_SECONDS", d.window_secs),
        }
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

/// What every API handler needs, built once per container.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The cluster/tenant/key store.
    pub store: Store,
    /// Backoff for repeated authentication failures.
    pub auth_backoff: AuthBackoff,
}

impl Ctx {
    /// Builds the context from a shared SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let client = aws_sdk_dynamodb::Client::new(sdk);
        Self::with_store(
            Store::new(client, config.table_name.clone()),
            AuthBackoff::from_env(),
        )
    }

    /// A context over a store.
    pub fn with_store(store: Store, auth_backoff: AuthBackoff) -> Self {
        Self {
            store,
            auth_backoff,
        }
    }

    /// Reads the environment and loads the SDK configuration: what every `main.rs` calls.
    ///
    /// # Errors
    /// [`ConfigError`] when a variable is missing.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self::new(&sdk, &config))
    }
}

/// What the workflow Lambdas (dispatcher, provisioner, reconciler) need, built once per
/// container.
#[derive(Debug, Clone)]
pub struct WorkflowCtx {
    /// The table.
    pub store: Store,
    /// Step Functions.
    pub sfn: aws_sdk_sfn::Client,
    /// The lifecycle state machine (`STATE_MACHINE_ARN`; only the dispatcher needs it).
    pub state_machine_arn: String,
}

impl WorkflowCtx {
    /// Builds the context from a shared SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig, table: &str, state_machine_arn: &str) -> Self {
        Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(sdk), table.to_string()),
            sfn: aws_sdk_sfn::Client::new(sdk),
            state_machine_arn: state_machine_arn.to_string(),
        }
    }

    /// Reads `TABLE_NAME` and (optionally) `STATE_MACHINE_ARN`, loads the SDK configuration.
    ///
    /// # Errors
    /// [`ConfigError`] when `TABLE_NAME` is missing.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let arn = std::env::var("STATE_MACHINE_ARN").unwrap_or_default();
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self::new(&sdk, &config.table_name, &arn))
    }
}
