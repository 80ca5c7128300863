//! The emulator every test talks to (one per `make test` run, shared by the test processes),
//! the SDK configuration that reaches it, and its fault injection.

use aws_config::SdkConfig;
use std::{path::PathBuf, sync::OnceLock};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The emulator's URL: `KUPE_EMULATOR_URL` when the caller started one (as `make test` does, so
/// every test process shares it), otherwise one started here for this process, on a free port.
pub fn emulator_url() -> &'static str {
    static EMULATOR: OnceLock<String> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        if let Ok(url) = std::env::var("KUPE_EMULATOR_URL") {
            return url;
        }
        // Never waited on: it exits with this process (`--parent-pid`).
        let emulator = kupe_local::emulator::Emulator::start(&repo_root()).expect("emulator");
        emulator.url
    })
}

/// SDK configuration pointing at the emulator.
pub fn sdk_config() -> SdkConfig {
    kupe_local::emulator::sdk_config(emulator_url())
}

/// Arms a fault in the emulator: the next `count` calls of `target` whose body contains
/// `scope` get `action` (`commit_then_500`, `fail_500`, `throttle`: a 400
/// `ProvisionedThroughputExceededException`).
pub fn arm_fault(target: &str, action: &str, scope: &str, count: u32) {
    let body =
        serde_json::json!({"target": target, "action": action, "match": scope, "count": count});
    post_json(
        &format!("{}/_kupe/faults", emulator_url()),
        &body.to_string(),
    );
}

fn post_json(url: &str, body: &str) {
    let resp = http("POST", url, body);
    assert!(
        resp.starts_with("HTTP/1.1 204") || resp.starts_with("HTTP/1.0 204"),
        "{resp}"
    );
}

/// A tiny blocking HTTP/1.1 request (the whole response, status line included), to keep the
/// harness free of an HTTP client dependency.
fn http(method: &str, url: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).expect("connect emulator");
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

/// Arms a fault that lets the next `count` calls of `target` whose body contains `scope` land,
/// then holds their replies back for `ms` milliseconds.
pub fn arm_late_reply(target: &str, scope: &str, ms: u64, count: u32) {
    let body = serde_json::json!({"target": target, "action": "late_reply", "ms": ms,
        "match": scope, "count": count});
    post_json(
        &format!("{}/_kupe/faults", emulator_url()),
        &body.to_string(),
    );
}

/// Arms a fault answering the next `count` calls of `target` whose body contains `scope` with
/// the DynamoDB error `error_type` and HTTP `status`, applying nothing.
pub fn arm_error(target: &str, error_type: &str, status: u16, scope: &str, count: u32) {
    let body = serde_json::json!({"target": target, "action": "error", "type": error_type,
        "status": status, "match": scope, "count": count});
    post_json(
        &format!("{}/_kupe/faults", emulator_url()),
        &body.to_string(),
    );
}
