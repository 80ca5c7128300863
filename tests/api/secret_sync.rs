//! The secret sync on the emulator executing the real ASL: a secret's stream record → the
//! dispatcher → the secret-sync state machine → an SQS task token → the provisioner → the
//! simulated provider's copies and the conditional status write; and cluster changes (Running,
//! deleted) re-syncing the secrets that target them.

use kupe_shared::provider::{
    simulated::{Simulated, SimulatedConfig},
    SecretCopy,
};
use kupe_tests::{LifecycleApp, TestResponse, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

fn secret_path(lc: &LifecycleApp, name: &str) -> String {
    format!("/api/v1/tenants/{}/secrets/{name}", lc.app.tenant)
}

/// The copies the simulated clusters of the tenant hold: (cluster, namespace, secretName, owner,
/// vault path).
async fn copies(lc: &LifecycleApp) -> Vec<(String, String, String, String, String)> {
    let provider = Simulated::new(
        lc.app.ctx.store.clone(),
        SimulatedConfig::fast("clusters.test"),
    );
    provider
        .copies(&lc.app.tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|c: SecretCopy| {
            (
                c.cluster,
                c.namespace,
                c.secret_name,
                c.owner,
                c.secret_path,
            )
        })
        .collect()
}

fn copy(cluster: &str, ns: &str, name: &str) -> (String, String, String, String, String) {
    (
        cluster.into(),
        ns.into(),
        name.into(),
        "db-creds".into(),
        "apps/db".into(),
    )
}

/// Polls GET of the secret until `done` holds (or it is gone, when `done` accepts `Null`).
async fn wait_secret(
    lc: &LifecycleApp,
    name: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let r: TestResponse = lc.app.req(M::GET, &secret_path(lc, name)).send().await;
        let body = if r.status == StatusCode::NOT_FOUND {
            Value::Null
        } else {
            r.body
        };
        if done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting; last: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

fn phase(s: &Value) -> &str {
    s["status"]["phase"].as_str().unwrap_or("")
}

fn target<'a>(s: &'a Value, cluster: &str) -> &'a Value {
    s["status"]["syncStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["cluster"] == cluster)
        .unwrap_or(&Value::Null)
}

fn running(c: &Value) -> bool {
    c["status"]["phase"] == "Running" && c["status"]["observedGeneration"] == c["generation"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_follow_the_secret_and_its_clusters_until_it_is_deleted() {
    let lc = LifecycleApp::spawn(|_| {}).await;
    let app = &lc.app;
    app.create("east").await;
    app.create("west").await;
    // GIVEN a secret targeting two clusters that are still being created
    let r = app
        .req(M::POST, &format!("/api/v1/tenants/{}/secrets", app.tenant))
        .json(json!({"name": "db-creds", "secretPath": "apps/db",
                     "sync": [{"cluster": "east", "namespace": "default"},
                              {"cluster": "west", "namespace": "apps", "secretName": "db"}]}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // THEN once both clusters are Running, both copies are placed and the secret is Active
    // (a target on a cluster not Running yet waits, and is synced when it becomes Running)
    lc.wait_for("east", 60, running).await;
    lc.wait_for("west", 60, running).await;
    let s = wait_secret(&lc, "db-creds", 60, |s| phase(s) == "Active").await;
    assert_eq!(s["status"]["observedGeneration"], 1);
    assert_eq!(s["status"]["conditions"][0]["status"], "True");
    for t in s["status"]["syncStatuses"].as_array().unwrap() {
        assert_eq!(t["phase"], "Synced", "{t}");
        assert!(t["lastSyncTime"].as_str().is_some(), "{t}");
    }
    assert_eq!(
        copies(&lc).await,
        vec![
            copy("east", "default", "db-creds"),
            copy("west", "apps", "db")
        ]
    );
    // WHEN one cluster is deleted
    let d = app.req(M::DELETE, &app.cluster("west")).send().await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    lc.wait_for("west", 60, Value::is_null).await;
    // THEN its target shows why, the secret is Degraded, and that cluster holds no copy
    let s = wait_secret(&lc, "db-creds", 60, |s| {
        target(s, "west")["message"] == "cluster west does not exist"
    })
    .await;
    assert_eq!(phase(&s), "Degraded", "{s}");
    assert_eq!(target(&s, "west")["phase"], "Failed");
    assert_eq!(target(&s, "east")["phase"], "Synced");
    assert_eq!(copies(&lc).await, vec![copy("east", "default", "db-creds")]);
    // WHEN the list is PATCHed to another namespace of the remaining cluster only
    let p = app
        .req(M::PATCH, &secret_path(&lc, "db-creds"))
        .header(
            "If-Match",
            &format!("\"{}\"", s["resourceVersion"].as_str().unwrap()),
        )
        .json(json!({"sync": [{"cluster": "east", "namespace": "apps"}]}))
        .send()
        .await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    // THEN the removed copies are gone, the new one is placed, and the secret is Active again
    let s = wait_secret(&lc, "db-creds", 60, |s| {
        phase(s) == "Active" && s["status"]["observedGeneration"] == s["generation"]
    })
    .await;
    assert_eq!(s["status"]["syncStatuses"].as_array().unwrap().len(), 1);
    assert_eq!(copies(&lc).await, vec![copy("east", "apps", "db-creds")]);
    // WHEN it is deleted
    let d = app
        .req(M::DELETE, &secret_path(&lc, "db-creds"))
        .send()
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    // THEN every copy is removed, then the secret is gone
    wait_secret(&lc, "db-creds", 60, Value::is_null).await;
    assert_eq!(copies(&lc).await, vec![]);
    // every sync execution ended well (none failed or is still running)
    let list = lc
        .sfn
        .list_executions()
        .state_machine_arn(&lc.stack.secret_sync_arn)
        .send()
        .await
        .unwrap();
    assert!(list.executions.len() >= 4, "{:?}", list.executions);
    for e in &list.executions {
        assert_ne!(e.status.as_str(), "FAILED", "{}", e.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_emptied_list_removes_every_copy_and_keeps_the_secret_active() {
    let lc = LifecycleApp::spawn(|_| {}).await;
    let app = &lc.app;
    app.create("east").await;
    lc.wait_for("east", 60, running).await;
    let r = app
        .req(M::POST, &format!("/api/v1/tenants/{}/secrets", app.tenant))
        .json(json!({"name": "db-creds", "secretPath": "apps/db",
                     "sync": [{"cluster": "east", "namespace": "default"}]}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    wait_secret(&lc, "db-creds", 60, |s| phase(s) == "Active").await;
    assert_eq!(copies(&lc).await.len(), 1);
    let p = app
        .req(M::PATCH, &secret_path(&lc, "db-creds"))
        .json(json!({"sync": []}))
        .send()
        .await;
    assert_eq!(p.status, StatusCode::OK);
    let s = wait_secret(&lc, "db-creds", 60, |s| {
        phase(s) == "Active" && s["status"]["observedGeneration"] == 2
    })
    .await;
    assert_eq!(s["status"]["syncStatuses"], json!([]));
    assert_eq!(copies(&lc).await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_record_starts_one_sync_and_each_cluster_change_its_own() {
    use kupe_shared::workflow::SecretSyncInput;
    // GIVEN a stack whose event sources do not run: the test delivers the starts itself
    let lc = LifecycleApp::spawn_idle().await;
    let input = |generation, trigger: &str| SecretSyncInput {
        tenant: lc.app.tenant.clone(),
        secret: "db-creds".into(),
        incarnation: 1,
        generation,
        trigger: trigger.into(),
    };
    // WHEN one record's sync is started three times, and two cluster changes call for theirs
    for _ in 0..3 {
        lc.workers
            .dispatcher
            .start_secret_sync(&input(1, "spec"))
            .await
            .unwrap();
    }
    for trigger in ["cluster/east/4", "cluster/east/7", "cluster/east/7"] {
        lc.workers
            .dispatcher
            .start_secret_sync(&input(1, trigger))
            .await
            .unwrap();
    }
    // THEN there is one execution per (generation, trigger)
    let list = lc
        .sfn
        .list_executions()
        .state_machine_arn(&lc.stack.secret_sync_arn)
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = list.executions.into_iter().map(|e| e.name).collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_on_a_failed_cluster_says_so_and_the_secret_is_degraded() {
    use kupe_shared::provider::simulated::Rule;
    // GIVEN a provider that fails to provision cluster `bad`
    let lc = LifecycleApp::spawn(|c| c.fail = Rule::parse_list("provision:bad").unwrap()).await;
    let app = &lc.app;
    app.create("good").await;
    app.create("bad").await;
    let r = app
        .req(M::POST, &format!("/api/v1/tenants/{}/secrets", app.tenant))
        .json(json!({"name": "db-creds", "secretPath": "apps/db",
                     "sync": [{"cluster": "good", "namespace": "default"},
                              {"cluster": "bad", "namespace": "default"}]}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    lc.wait_for("bad", 60, |c| c["status"]["phase"] == "Degraded")
        .await;
    lc.wait_for("good", 60, running).await;
    // THEN the good target is placed, the bad one says why, and the secret is Degraded
    let s = wait_secret(&lc, "db-creds", 60, |s| {
        target(s, "good")["phase"] == "Synced" && target(s, "bad")["phase"] == "Failed"
    })
    .await;
    assert_eq!(target(&s, "bad")["message"], "cluster bad is Degraded");
    assert_eq!(phase(&s), "Degraded");
    assert_eq!(s["status"]["conditions"][0]["status"], "False");
    assert_eq!(
        s["status"]["conditions"][0]["message"],
        "cluster bad is Degraded"
    );
    assert_eq!(copies(&lc).await, vec![copy("good", "default", "db-creds")]);
}
