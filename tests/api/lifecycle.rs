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

/// moto's executor sends a step's message, then starts listening for the task's heartbeats and
/// answer. A provisioner fast enough (or an executor thread slow enough, on a busy machine) to
/// heartbeat and answer in between had its heartbeat refused as `InvalidToken` and its answer
/// dropped, and the step waited out the whole heartbeat timeout: the flake of this file's other
/// tests on a loaded CI machine. Here every step's `SendMessage` reply is held back for a second,
/// so the provisioner always answers inside that window; the emulator must keep the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_answered_before_the_executor_listens_is_not_lost() {
    let lc = LifecycleApp::spawn(|_| {}).await;
    let queue = lc.stack.queue_url.rsplit('/').next().unwrap().to_string();
    kupe_tests::arm_late_reply("SendMessage", &queue, 1000, 4);
    create(&lc, "prod", "1.32").await;
    // Well under the 30 s heartbeat timeout a lost answer would wait out.
    let c = lc.wait_for("prod", 20, done).await;
    assert_eq!(c["status"]["observedGeneration"], 1);
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
    let failed = lc.wait_for("silent", 60, |c| phase(c) == "Degraded").await;
    // three attempts of 3 s each (the step is retried twice on States.Timeout, after 2 s and
    // 4 s), plus the workflow's own overhead
    assert!(
        started.elapsed().as_secs() < 35,
        "heartbeat 3 s, two retries, took {:?}",
        started.elapsed()
    );
    let degraded = &failed["status"]["conditions"][2];
    assert_eq!(degraded["reason"], "ProviderTimeout", "{degraded}");
    assert_eq!(degraded["retryable"], true, "{degraded}");
    let message = degraded["message"].as_str().unwrap();
    assert!(message.contains("States.Timeout"), "{message}");
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

/// Keeps every core busy while alive (the "busy two-core machine" of issue 9): one spinning
/// thread per core, stopped on drop.
struct CpuLoad {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuLoad {
    fn start() -> CpuLoad {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        CpuLoad { stop, threads }
    }
}

impl Drop for CpuLoad {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Polls every cluster in `names` until `want` holds for all of them, failing at once (with the
/// body, whose `Degraded` condition says which step gave up and why) if one goes `Degraded`.
async fn wait_all_without_degraded(
    lc: &LifecycleApp,
    names: &[String],
    secs: u64,
    want: impl Fn(&Value) -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut pending: Vec<&String> = names.iter().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for name in pending {
            let r = lc.app.req(M::GET, &lc.app.cluster(name)).send().await;
            let body = if r.status == StatusCode::NOT_FOUND {
                Value::Null
            } else {
                r.body
            };
            assert_ne!(
                phase(&body),
                "Degraded",
                "{name} went Degraded with nothing wrong with it: {}",
                body["status"]["conditions"][2]
            );
            if !want(&body) {
                still.push(name);
            }
        }
        pending = still;
        assert!(
            std::time::Instant::now() < deadline || pending.is_empty(),
            "timed out waiting for {pending:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Issue 9: on a busy two-core machine, rollouts and teardowns of healthy clusters ended
/// `Degraded` with `States.Timeout`, because our own plumbing (the work queue, its players, a
/// slow emulator) ran out of time. With both cores spinning and a provider whose every call
/// takes 3 s (healthy, only slow), 12 clusters each go through an upgrade and a resize at once
/// (24 rollouts) and are then all deleted: every rollout must end `Running` at its generation
/// and every delete at 404, none `Degraded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rollouts_and_teardowns_on_a_loaded_machine_never_end_degraded() {
    use futures::future::join_all;
    let lc = LifecycleApp::spawn(|c| c.latency = std::time::Duration::from_secs(3)).await;
    let names: Vec<String> = (0..12).map(|i| format!("load-{i:02}")).collect();
    join_all(names.iter().map(|n| create(&lc, n, "1.32"))).await;
    wait_all_without_degraded(&lc, &names, 60, done).await;
    let _load = CpuLoad::start();
    let started = std::time::Instant::now();
    // half upgrade then resize, half resize then upgrade: both kinds in flight together
    join_all(names.iter().enumerate().map(|(i, n)| {
        let first = if i % 2 == 0 {
            json!({"version": "1.33"})
        } else {
            json!({"resources": {"cpu": "6"}})
        };
        patch(&lc, n, first)
    }))
    .await;
    wait_all_without_degraded(&lc, &names, 90, done).await;
    join_all(names.iter().enumerate().map(|(i, n)| {
        let second = if i % 2 == 0 {
            json!({"resources": {"cpu": "6"}})
        } else {
            json!({"version": "1.33"})
        };
        patch(&lc, n, second)
    }))
    .await;
    wait_all_without_degraded(&lc, &names, 90, done).await;
    for n in &names {
        let c = lc.app.req(M::GET, &lc.app.cluster(n)).send().await.body;
        assert_eq!(c["generation"], 3, "{c}");
        assert_eq!(c["status"]["kubernetesVersion"], "v1.33.2", "{c}");
        assert_eq!(c["status"]["metrics"]["cpuCores"], 6.0, "{c}");
    }
    join_all(names.iter().map(|n| async {
        let r = lc.app.req(M::DELETE, &lc.app.cluster(n)).send().await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    }))
    .await;
    wait_all_without_degraded(&lc, &names, 90, Value::is_null).await;
    eprintln!(
        "rollouts and teardowns under load took {:?}",
        started.elapsed()
    );
}

async fn delete_to_404(lc: &LifecycleApp, name: &str, secs: u64) {
    let r = lc.app.req(M::DELETE, &lc.app.cluster(name)).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    lc.wait_for(name, secs, Value::is_null).await;
}

/// Issue 9, "a delete always finishes": a cluster whose create failed, one whose create failed
/// half-way (the provider started it, then went silent until the retries ran out) and one
/// degraded by a failed resize are all deleted to 404, and no execution is left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_degraded_or_half_provisioned_cluster_reaches_404() {
    use kupe_shared::{provider::simulated::Rule, workflow::Action};
    let rule = |action, cluster: &str| Rule {
        action,
        cluster: cluster.into(),
    };
    let lc = LifecycleApp::spawn_with(
        kupe_local::stack::Timings {
            heartbeat_secs: 2,
            ..kupe_local::stack::Timings::FAST
        },
        |c| {
            c.fail = vec![
                rule(Action::Provision, "refused"),
                rule(Action::Update, "bad-resize"),
            ];
            c.hang = vec![rule(Action::Provision, "half")];
        },
    )
    .await;
    for n in ["refused", "half", "bad-resize"] {
        create(&lc, n, "1.32").await;
    }
    lc.wait_for("bad-resize", 30, done).await;
    patch(&lc, "bad-resize", json!({"resources": {"cpu": "6"}})).await;
    for (n, reason) in [
        ("refused", "ProviderError"),
        ("half", "ProviderTimeout"),
        ("bad-resize", "ProviderError"),
    ] {
        let c = lc.wait_for(n, 40, |c| phase(c) == "Degraded").await;
        assert_eq!(c["status"]["conditions"][2]["reason"], reason, "{n}: {c}");
    }
    for n in ["refused", "half", "bad-resize"] {
        delete_to_404(&lc, n, 30).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while lc.executions().await.iter().any(|(_, s, _)| s == "RUNNING") {
        assert!(
            std::time::Instant::now() < deadline,
            "an execution is left running"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // each name is free again
    create(&lc, "half", "1.33").await;
    lc.wait_for("half", 30, |c| phase(c) == "Provisioning" || done(c))
        .await;
}

/// Issue 9, "a delete always finishes": deleting a cluster whose create is still running
/// reaches 404; the create's execution ends superseded, writing nothing after the teardown.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_cluster_while_its_create_is_still_running_reaches_404() {
    let lc = LifecycleApp::spawn(|c| c.provision = std::time::Duration::from_secs(6)).await;
    create(&lc, "young", "1.32").await;
    lc.wait_for("young", 30, |c| phase(c) == "Provisioning")
        .await;
    delete_to_404(&lc, "young", 30).await;
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
    // still gone once the create's execution has ended
    let r = lc.app.req(M::GET, &lc.app.cluster("young")).send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn turning_on_ha_migrates_the_control_plane_and_reports_three_replicas() {
    let lc = LifecycleApp::spawn(|c| c.update = std::time::Duration::from_secs(3)).await;
    create(&lc, "prod", "1.32").await;
    lc.wait_for("prod", 30, done).await;
    let patched = patch(&lc, "prod", json!({"highAvailability": true})).await;
    assert_eq!(patched["generation"], 2);
    let migrating = lc.wait_for("prod", 30, |c| phase(c) == "Migrating").await;
    assert_eq!(migrating["status"]["haPhase"], "migrating");
    assert_eq!(migrating["status"]["haReplicasReady"], 1);
    assert_eq!(
        migrating["status"]["conditions"][0]["status"], "True",
        "Ready while migrating"
    );
    let c = lc.wait_for("prod", 30, done).await;
    assert_eq!(c["status"]["haPhase"], "ha-healthy");
    assert_eq!(c["status"]["haConfigured"], true);
    assert_eq!(c["status"]["haReplicasReady"], 3);
    // a later resize is an ordinary update: HA stays in place
    patch(&lc, "prod", json!({"resources": {"cpu": "8"}})).await;
    let updating = lc.wait_for("prod", 30, |c| phase(c) == "Updating").await;
    assert_eq!(updating["status"]["haPhase"], "ha-healthy");
    lc.wait_for("prod", 30, done).await;
    let phases: Vec<String> = lc
        .events()
        .await
        .iter()
        .map(|e| e["newPhase"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        phases,
        [
            "Provisioning",
            "Running",
            "Migrating",
            "Running",
            "Updating",
            "Running"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_clusters_resources_come_back_to_the_pool_exactly_once() {
    use kupe_shared::domain::{
        names::{ClusterName, TenantName},
        pool::Allocation,
    };
    let lc = LifecycleApp::spawn(|_| {}).await;
    let app = &lc.app;
    let tenant_path = format!("/api/v1/tenants/{}", app.tenant);
    let r = app
        .req(M::POST, &app.clusters())
        .json(json!({"name": "prod", "displayName": "P", "type": "shared",
            "resources": {"cpu": "3", "memory": "12Gi", "storage": "70Gi"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    lc.wait_for("prod", 30, done).await;
    // a resize moves the allocation by the difference
    patch(&lc, "prod", json!({"resources": {"cpu": "5500m"}})).await;
    let t = app.req(M::GET, &tenant_path).send().await.body;
    assert_eq!(
        t["status"]["allocatedResources"],
        json!({"cpu": "5500m", "memory": "12Gi", "storage": "70Gi"})
    );
    lc.wait_for("prod", 30, done).await;
    let r = app.req(M::DELETE, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    lc.wait_for("prod", 30, Value::is_null).await;
    // the teardown's last step gives the slot and the resources back
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let t = loop {
        let t = app.req(M::GET, &tenant_path).send().await.body;
        if t["status"]["clusterCount"] == 0 {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slot never released: {t}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(
        t["status"]["allocatedResources"],
        json!({"cpu": "0", "memory": "0", "storage": "0"})
    );
    // releasing again (a retried step) finds nothing to give back
    let held = Allocation {
        cpu: 5500,
        memory: 12 << 30,
        storage: 70 << 30,
    };
    let again = app
        .ctx
        .store
        .tenants()
        .release_slot(
            &TenantName::parse(&app.tenant).unwrap(),
            &ClusterName::parse("prod").unwrap(),
            &held,
        )
        .await
        .unwrap();
    assert!(!again, "already released");
    let record = app
        .ctx
        .store
        .tenants()
        .get(&app.tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.allocated, Allocation::default());
}

/// Creates `name`, waits for `Running`, resizes it, waits for `Running`, deletes it, waits for
/// 404, and returns the state transitions of its three executions (each counted from its
/// history, retries included: see [`kupe_tests::transitions`]).
async fn create_resize_delete(lc: &LifecycleApp, name: &str) -> Vec<(String, u64)> {
    create(lc, name, "1.32").await;
    lc.wait_for(name, 60, done).await;
    patch(lc, name, json!({"resources": {"cpu": "3"}})).await;
    lc.wait_for(name, 60, |c| done(c) && c["generation"] == 2)
        .await;
    delete_to_404(lc, name, 60).await;
    let per_execution = lc.transitions_when_settled(30).await;
    assert_eq!(per_execution.len(), 3, "{per_execution:?}");
    per_execution
}

/// Issue 13: a provider action is one task, answered when the provider is done (the provisioner
/// re-checks through delayed queue messages), so a create + resize + delete costs the same state
/// transitions with a provider that takes 5 s per action (about five checks each, at a 1 s
/// check interval) as with one that takes none, and at most 30. Before, every check was three
/// transitions (Wait, Check, Choice): 41 with the fast provider, about 86 with 15 s checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_provider_adds_no_state_transitions_to_a_lifecycle() {
    let slow = std::time::Duration::from_secs(5);
    let (instant, slow_lc) = tokio::join!(
        LifecycleApp::spawn(|c| {
            c.provision = std::time::Duration::ZERO;
            c.update = std::time::Duration::ZERO;
            c.delete = std::time::Duration::ZERO;
        }),
        LifecycleApp::spawn(|c| {
            c.provision = slow;
            c.update = slow;
            c.delete = slow;
        }),
    );
    assert_eq!(kupe_local::stack::Timings::FAST.check_interval_secs, 1);
    let started = std::time::Instant::now();
    let (fast, (slow_counts, slow_took)) =
        tokio::join!(create_resize_delete(&instant, "prod"), async {
            let counts = create_resize_delete(&slow_lc, "prod").await;
            (counts, started.elapsed())
        });
    assert!(
        slow_took >= slow * 3,
        "the slow provider really took its time: {slow_took:?}"
    );
    let total = |v: &[(String, u64)]| v.iter().map(|(_, n)| n).sum::<u64>();
    eprintln!("transitions per lifecycle: 0 s provider {fast:?}, 5 s provider {slow_counts:?}");
    assert_eq!(
        total(&fast),
        total(&slow_counts),
        "0 s: {fast:?}; 5 s: {slow_counts:?}"
    );
    assert!(total(&fast) <= 30, "{fast:?}");
}

/// The provisioner's re-checks rely on SQS `DelaySeconds` per message: the emulator must hold a
/// delayed message back for its delay (and a plain one not at all), as SQS does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_emulator_holds_a_delayed_message_back_for_its_delay() {
    let lc = LifecycleApp::spawn_idle().await;
    let sqs = aws_sdk_sqs::Client::new(&kupe_tests::sdk_config());
    let queue = &lc.stack.queue_url;
    let sent = std::time::Instant::now();
    for (body, delay) in [("delayed", 3), ("plain", 0)] {
        sqs.send_message()
            .queue_url(queue)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .unwrap();
    }
    let mut arrivals = Vec::new();
    while arrivals.len() < 2 {
        assert!(sent.elapsed().as_secs() < 10, "{arrivals:?}");
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            arrivals.push((m.body.unwrap_or_default(), sent.elapsed()));
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(arrivals[0].0, "plain", "{arrivals:?}");
    assert!(arrivals[0].1.as_secs_f64() < 1.5, "{arrivals:?}");
    assert_eq!(arrivals[1].0, "delayed", "{arrivals:?}");
    let took = arrivals[1].1.as_secs_f64();
    assert!((2.9..5.0).contains(&took), "{arrivals:?}");
}
