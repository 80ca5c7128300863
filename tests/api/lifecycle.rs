//! The lifecycle on the emulator executing the real ASL: stream → dispatcher → Step Functions →
//! SQS task tokens → provisioner → status writes and phase-change events.

use base64::{engine::general_purpose::STANDARD, Engine};
use kupe_tests::{LifecycleApp, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

fn phase(c: &Value) -> &str {
    c["status"]["phase"].as_str().unwrap_or("")
}

fn done(c: &Value) -> bool {
    phase(c) == "Running" && c["status"]["observedGeneration"] == c["generation"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_created_cluster_reaches_running_with_endpoint_version_and_a_real_ca() {
    let lc = LifecycleApp::spawn(|_| {}).await;
    let app = &lc.app;
    app.req(M::POST, &app.clusters())
        .json(json!({"name": "prod", "displayName": "Prod", "type": "shared", "version": "1.32"}))
        .send()
        .await;
    let kc = app
        .req(M::GET, &format!("{}/kubeconfig", app.cluster("prod")))
        .send()
        .await;
    assert_eq!(kc.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", kc.body);
    let c = lc.wait_for("prod", 30, done).await;
    assert_eq!(c["status"]["kubernetesVersion"], "v1.32.6");
    assert_eq!(
        c["status"]["endpoint"],
        format!("https://prod.{}.clusters.test", app.tenant)
    );
    assert_eq!(c["status"]["observedGeneration"], 1);
    assert!(c["status"]["metrics"]["nodes"].as_u64().unwrap() >= 1);
    let conds = c["status"]["conditions"].as_array().unwrap();
    assert_eq!(conds[0]["status"], "True", "Ready");
    assert_eq!(conds[1]["status"], "False", "Progressing");
    let kc = app
        .req(M::GET, &format!("{}/kubeconfig", app.cluster("prod")))
        .send()
        .await;
    assert_eq!(kc.status, StatusCode::OK);
    assert_eq!(kc.body["endpoint"], c["status"]["endpoint"]);
    let pem = STANDARD
        .decode(kc.body["certificateAuthority"].as_str().unwrap())
        .unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM");
    let cert = pem.parse_x509().expect("X.509");
    assert!(cert.is_ca(), "a CA certificate");
    assert!(cert
        .subject()
        .to_string()
        .contains(&format!("prod.{}", app.tenant)));
}
