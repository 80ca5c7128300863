//! Starting the emulator: moto server behind `infra/emulator/serve.py` (DynamoDB calls
//! serialized, faults injectable), from the project-local venv, on a free port.

use std::{
    io::{self, BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

/// A running emulator. It exits when the process that started it exits (`--parent-pid`), so a
/// crashed test or a killed local stack leaves nothing behind.
#[derive(Debug)]
pub struct Emulator {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Emulator {
    /// Starts the emulator from the repository at `root` (which must have run `make venv`).
    ///
    /// # Errors
    /// When the venv is missing or the emulator does not report ready.
    pub fn start(root: &Path) -> io::Result<Emulator> {
        let python = root.join(".venv/bin/python");
        let mut child = Command::new(&python)
            .arg(root.join("infra/emulator/serve.py"))
            .args([
                "--port",
                "0",
                "--parent-pid",
                &std::process::id().to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start {} (run `make venv`): {e}", python.display()),
                )
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line
            .trim()
            .strip_prefix("READY ")
            .ok_or_else(|| io::Error::other(format!("emulator did not start: {line:?}")))?;
        Ok(Emulator {
            url: format!("http://127.0.0.1:{port}"),
            child,
        })
    }
}

/// SDK configuration for the emulator: fixed region and dummy credentials, and the functions'
/// HTTP client (the SDK has no default client in this workspace).
pub fn sdk_config(url: &str) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(kupe_shared::config::https_client())
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    ACCESS_KEY,
                    ACCESS_KEY,
                    None,
                    None,
                    "kupe-local",
                ),
            ),
        )
        .build()
}

/// Region the emulator is used in.
pub const REGION: &str = "us-east-1";
/// Dummy access key id and secret for the emulator.
pub const ACCESS_KEY: &str = "local";
