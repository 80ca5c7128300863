//! Issue 12's failure catalog on the emulator: each failure the simulated provider injects
//! ends the rollout `Degraded` with its catalog code as the reason, the code's `retryable`, and
//! a message that starts with what to do.

use kupe_shared::{domain::failure::FailureCode, provider::simulated::Rule, workflow::Action};
use kupe_tests::{LifecycleApp, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

fn degraded(c: &Value) -> bool {
    c["status"]["phase"] == "Degraded"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_injected_failure_degrades_with_its_code_retryable_flag_and_advice() {
    let rule = |cluster: &str| Rule {
        action: Action::Provision,
        cluster: cluster.into(),
    };
    let cases = [
        ("quota", FailureCode::ProviderQuotaExceeded),
        ("invalid", FailureCode::InvalidSpec),
        ("capacity", FailureCode::CapacityUnavailable),
        ("slow", FailureCode::ProviderTimeout),
        ("internal", FailureCode::InternalError),
        ("unreachable", FailureCode::ProviderUnavailable),
    ];
    let lc = LifecycleApp::spawn(|c| {
        c.fail_with = cases.iter().map(|(n, code)| (rule(n), *code)).collect();
        c.fail = vec![rule("plain")];
    })
    .await;
    let app = &lc.app;
    let all = cases
        .iter()
        .copied()
        .chain([("plain", FailureCode::ProviderError)]);
    for (name, _) in all.clone() {
        let r = app
            .req(M::POST, &app.clusters())
            .json(json!({"name": name, "displayName": name, "type": "shared"}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    for (name, code) in all {
        // ProviderUnavailable is retried with backoff first (up to about 30 s)
        let c = lc.wait_for(name, 75, degraded).await;
        let cond = &c["status"]["conditions"][2];
        assert_eq!(cond["type"], "Degraded");
        assert_eq!(cond["status"], "True");
        assert_eq!(cond["reason"], code.as_str(), "{name}: {cond}");
        assert_eq!(cond["retryable"], code.retryable(), "{name}: {cond}");
        let message = cond["message"].as_str().unwrap();
        let advice = format!("The provision step failed: {}", code.advice());
        assert!(message.starts_with(&advice), "{name}: {message}");
        assert!(message.contains("injected"), "{name}: {message}");
        // the other conditions carry no retryable flag
        assert!(c["status"]["conditions"][0].get("retryable").is_none());
    }
    assert!(!FailureCode::ProviderQuotaExceeded.retryable());
    assert!(FailureCode::CapacityUnavailable.retryable());
}
