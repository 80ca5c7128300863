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

async fn create(lc: &LifecycleApp, name: &str, version: &str) {
    let r = lc
        .app
        .req(M::POST, &lc.app.clusters())
        .json(json!({"name": name, "displayName": name, "type": "shared", "version": version}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

async fn patch(lc: &LifecycleApp, name: &str, body: Value) -> Value {
    let r = lc
        .app
        .req(M::PATCH, &lc.app.cluster(name))
        .json(body)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgrade_and_a_resize_roll_out_through_their_phases() {
    let lc = LifecycleApp::spawn(|c| {
        c.upgrade = std::time::Duration::from_secs(3);
        c.update = std::time::Duration::from_secs(3);
    })
    .await;
    create(&lc, "prod", "1.32").await;
    lc.wait_for("prod", 30, done).await;
    patch(&lc, "prod", json!({"version": "1.33"})).await;
    lc.wait_for("prod", 30, |c| phase(c) == "Upgrading").await;
    let c = lc.wait_for("prod", 30, done).await;
    assert_eq!(c["status"]["kubernetesVersion"], "v1.33.2");
    assert_eq!(c["status"]["observedGeneration"], 2);
    patch(&lc, "prod", json!({"resources": {"cpu": "8"}})).await;
    let updating = lc.wait_for("prod", 30, |c| phase(c) == "Updating").await;
    assert_eq!(
        updating["status"]["conditions"][0]["status"], "True",
        "Ready while updating"
    );
    let c = lc.wait_for("prod", 30, done).await;
    assert_eq!(c["status"]["observedGeneration"], 3);
    assert_eq!(c["status"]["metrics"]["cpuCores"], 8.0);
    // Ready never flipped after the first rollout, so its transition time stayed put
    let events = lc.events().await;
    let seq: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["oldPhase"].as_str().unwrap().to_string(),
                e["newPhase"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("Pending", "Provisioning"),
        ("Provisioning", "Running"),
        ("Running", "Upgrading"),
        ("Upgrading", "Running"),
        ("Running", "Updating"),
        ("Updating", "Running"),
    ];
    assert_eq!(
        seq,
        want.map(|(a, b)| (a.to_string(), b.to_string())),
        "one event per transition, in order"
    );
    assert!(events
        .iter()
        .all(|e| e["tenant"] == lc.app.tenant.as_str() && e["name"] == "prod"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_during_provisioning_wins_and_the_older_execution_is_superseded() {
    let lc = LifecycleApp::spawn(|c| c.provision = std::time::Duration::from_secs(4)).await;
    create(&lc, "prod", "1.32").await;
    lc.wait_for("prod", 30, |c| phase(c) == "Provisioning")
        .await;
    patch(&lc, "prod", json!({"resources": {"memory": "32Gi"}})).await;
    let c = lc.wait_for("prod", 40, done).await;
    assert_eq!(c["generation"], 2);
    assert_eq!(c["resources"]["memory"], "32Gi");
    // both executions ended, the first one without writing anything after the second took over
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ex = lc.executions().await;
        if ex.len() == 2 && ex.iter().all(|(_, s, _)| s != "RUNNING") {
            assert!(ex.iter().all(|(_, s, _)| s == "SUCCEEDED"), "{ex:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{ex:?}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let after = lc
        .app
        .req(M::GET, &lc.app.cluster("prod"))
        .send()
        .await
        .body;
    assert_eq!(
        after, c,
        "no stale status write landed after the newest generation finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_tears_down_to_404_once_and_the_name_can_be_reused() {
    let lc = LifecycleApp::spawn(|c| c.delete = std::time::Duration::from_secs(2)).await;
    create(&lc, "prod", "1.32").await;
    lc.wait_for("prod", 30, done).await;
    assert_eq!(
        lc.app
            .req(M::DELETE, &lc.app.cluster("prod"))
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    lc.wait_for("prod", 10, |c| phase(c) == "Terminating").await;
    assert_eq!(
        lc.app
            .req(M::DELETE, &lc.app.cluster("prod"))
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    lc.wait_for("prod", 30, Value::is_null).await;
    let ex = lc.executions().await;
    let teardowns = ex
        .iter()
        .filter(|(_, _, i)| i["action"] == "delete")
        .count();
    assert_eq!(
        teardowns, 1,
        "a repeated DELETE starts no second teardown: {ex:?}"
    );
    create(&lc, "prod", "1.33").await;
    let c = lc.wait_for("prod", 30, done).await;
    assert_eq!(c["generation"], 1);
    assert_eq!(c["status"]["kubernetesVersion"], "v1.33.2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_failure_in_provisioning_or_teardown_ends_in_degraded() {
    use kupe_shared::{provider::simulated::Rule, workflow::Action};
    let lc = LifecycleApp::spawn(|c| {
        c.fail = vec![
            Rule {
                action: Action::Provision,
                cluster: "bad-create".into(),
            },
            Rule {
                action: Action::Delete,
                cluster: "bad-delete".into(),
            },
        ]
    })
    .await;
    create(&lc, "bad-create", "1.32").await;
    create(&lc, "bad-delete", "1.32").await;
    let failed = lc
        .wait_for("bad-create", 30, |c| phase(c) == "Degraded")
        .await;
    let degraded = &failed["status"]["conditions"][2];
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "ProviderError");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .contains("injected failure"),
        "{degraded}"
    );
    lc.wait_for("bad-delete", 30, done).await;
    lc.app
        .req(M::DELETE, &lc.app.cluster("bad-delete"))
        .send()
        .await;
    let failed = lc
        .wait_for("bad-delete", 30, |c| phase(c) == "Degraded")
        .await;
    assert_eq!(failed["status"]["conditions"][2]["reason"], "ProviderError");
    // no execution is left running
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while lc.executions().await.iter().any(|(_, s, _)| s == "RUNNING") {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_degraded_by_a_step_recovers_with_a_later_patch() {
    use kupe_shared::{provider::simulated::Rule, workflow::Action};
    // resizing "flaky" always fails; upgrading it works
    let lc = LifecycleApp::spawn(|c| {
        c.fail = vec![Rule {
            action: Action::Update,
            cluster: "flaky".into(),
        }]
    })
    .await;
    create(&lc, "flaky", "1.31").await;
    lc.wait_for("flaky", 30, done).await;
    patch(&lc, "flaky", json!({"resources": {"cpu": "6"}})).await;
    let failed = lc.wait_for("flaky", 30, |c| phase(c) == "Degraded").await;
    assert_eq!(failed["status"]["observedGeneration"], 1);
    assert_eq!(
        failed["status"]["conditions"][0]["status"], "False",
        "not Ready once Degraded"
    );
    patch(&lc, "flaky", json!({"version": "1.32"})).await;
    let c = lc.wait_for("flaky", 30, done).await;
    assert_eq!(c["status"]["observedGeneration"], 3);
    assert_eq!(c["status"]["kubernetesVersion"], "v1.32.6");
    assert_eq!(
        c["status"]["conditions"][2]["status"], "False",
        "no longer Degraded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_that_stops_heartbeating_is_degraded_within_the_heartbeat_timeout() {
    use kupe_shared::{provider::simulated::Rule, workflow::Action};
    let lc = LifecycleApp::spawn_with(
        kupe_local::stack::Timings {
            heartbeat_secs: 3,
            ..kupe_local::stack::Timings::FAST
        },
        |c| {
            c.hang = vec![Rule {
                action: Action::Provision,
                cluster: "silent".into(),
            }]
        },
    )
    .await;
    let started = std::time::Instant::now();
    create(&lc, "silent", "1.32").await;
    let failed = lc.wait_for("silent", 30, |c| phase(c) == "Degraded").await;
    assert!(
        started.elapsed().as_secs() < 20,
        "heartbeat 3 s, took {:?}",
        started.elapsed()
    );
    let reason = failed["status"]["conditions"][2]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("Timeout"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_execution_stopped_from_outside_leaves_the_cluster_degraded_via_the_reconciler() {
    use kupe_shared::{provider::simulated::Rule, workflow::Action};
    let lc = LifecycleApp::spawn_with(
        kupe_local::stack::Timings {
            heartbeat_secs: 300,
            step_timeout_secs: 400,
            ..kupe_local::stack::Timings::FAST
        },
        |c| {
            c.hang = vec![Rule {
                action: Action::Provision,
                cluster: "stuck".into(),
            }]
        },
    )
    .await;
    create(&lc, "stuck", "1.32").await;
    lc.wait_for("stuck", 30, |c| phase(c) == "Provisioning")
        .await;
    let arn = loop {
        let ex = lc
            .sfn
            .list_executions()
            .state_machine_arn(&lc.stack.state_machine_arn)
            .send()
            .await
            .unwrap();
        if let Some(e) = ex.executions.first() {
            break e.execution_arn.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    lc.sfn
        .stop_execution()
        .execution_arn(arn)
        .cause("operator")
        .send()
        .await
        .unwrap();
    let failed = lc.wait_for("stuck", 30, |c| phase(c) == "Degraded").await;
    assert_eq!(
        failed["status"]["conditions"][2]["reason"],
        "ExecutionAborted"
    );
}
