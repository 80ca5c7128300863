//! Issue 12's operations on the emulator: a rollout followed from Running to Succeeded with
//! monotone progress; an injected step failure → Failed with its catalog code → retry →
//! Succeeded without performing the finished steps again; a superseded operation; the 409s of a
//! retry; 404 for an unknown operation; pagination; the `Operation-Id` of every write.

use kupe_shared::{
    domain::failure::FailureCode,
    provider::simulated::{Rule, Simulated, SimulatedConfig, StepFailure},
    workflow::Action,
};
use kupe_tests::{LifecycleApp, TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn ops(app: &TestApp, name: &str) -> String {
    format!("{}/operations", app.cluster(name))
}

fn op(app: &TestApp, name: &str, id: &str) -> String {
    format!("{}/operations/{id}", app.cluster(name))
}

async fn get_op(app: &TestApp, name: &str, id: &str) -> Value {
    let r = app.req(M::GET, &op(app, name, id)).send().await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

/// Polls the operation until `done` holds, returning every body seen.
async fn follow(
    app: &TestApp,
    name: &str,
    id: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    loop {
        let body = get_op(app, name, id).await;
        let finished = done(&body);
        seen.push(body);
        if finished {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; last: {}",
            seen.last().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn state(op: &Value) -> &str {
    op["state"].as_str().unwrap_or("")
}

fn step_names(op: &Value) -> Vec<&str> {
    op["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

async fn create(app: &TestApp, name: &str) -> String {
    let r = app.create(name).await;
    let id = r.header("Operation-Id").expect("Operation-Id").to_string();
    assert_eq!(r.body["status"]["currentOperation"]["id"], id.as_str());
    assert_eq!(r.body["status"]["currentOperation"]["type"], "create");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_is_followed_from_running_to_succeeded_with_monotone_progress() {
    // GIVEN a provider whose create takes three steps of two seconds
    let lc = LifecycleApp::spawn(|c| c.provision = Duration::from_secs(6)).await;
    let app = &lc.app;
    // WHEN a cluster is created and its operation followed
    let id = create(app, "prod").await;
    let seen = follow(app, "prod", &id, 90, |o| state(o) != "Running").await;
    // THEN it runs, then succeeds, its progress never going back
    assert_eq!(state(&seen[0]), "Running", "{}", seen[0]);
    let last = seen.last().unwrap();
    assert_eq!(state(last), "Succeeded", "{last}");
    let progress: Vec<u64> = seen
        .iter()
        .map(|o| o["progress"].as_u64().unwrap())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(*progress.last().unwrap(), 100);
    assert!(
        progress.iter().any(|p| (1..100).contains(p)),
        "some step finished before the end: {progress:?}"
    );
    // and the steps are the provider's, each finished, with its times
    assert_eq!(step_names(last), ["ControlPlane", "NodePools", "Addons"]);
    for s in last["steps"].as_array().unwrap() {
        assert_eq!(s["state"], "Succeeded", "{s}");
        assert!(
            s["startedAt"].is_string() && s["finishedAt"].is_string(),
            "{s}"
        );
    }
    assert_eq!(last["type"], "create");
    assert_eq!(last["generation"], 1);
    assert!(last["finishedAt"].is_string() && last["startedAt"].is_string());
    assert!(last.get("error").is_none());
    // the cluster says the same
    let c = lc
        .wait_for("prod", 5, |c| c["status"]["phase"] == "Running")
        .await;
    assert_eq!(
        c["status"]["currentOperation"],
        json!({"id": id, "type": "create", "state": "Succeeded", "progress": 100})
    );
    // and a succeeded operation is not retried
    let r = app
        .req(M::POST, &format!("{}/retry", op(app, "prod", &id)))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["code"], "OperationNotRetryable", "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_step_is_retried_without_performing_the_finished_steps_again() {
    // GIVEN a provider whose NodePools step fails the first attempt of c1's create
    let lc = LifecycleApp::spawn(|c| {
        c.fail_step = vec![StepFailure {
            rule: Rule {
                action: Action::Provision,
                cluster: "c1".into(),
            },
            code: FailureCode::CapacityUnavailable,
            step: "NodePools".into(),
        }];
    })
    .await;
    let app = &lc.app;
    let id = create(app, "c1").await;
    // WHEN the create fails
    let seen = follow(app, "c1", &id, 60, |o| state(o) != "Running").await;
    let failed = seen.last().unwrap();
    // THEN the operation is Failed with the catalog's code, the failed step says why
    assert_eq!(state(failed), "Failed", "{failed}");
    assert_eq!(failed["error"]["code"], "CapacityUnavailable", "{failed}");
    assert_eq!(failed["error"]["retryable"], true);
    assert!(failed["error"]["message"]
        .as_str()
        .unwrap()
        .contains("injected"));
    let steps = failed["steps"].as_array().unwrap();
    assert_eq!(
        (&steps[0]["state"], &steps[1]["state"], &steps[2]["state"]),
        (&json!("Succeeded"), &json!("Failed"), &json!("Pending")),
        "{failed}"
    );
    assert!(steps[1]["error"].as_str().unwrap().contains("NodePools"));
    assert_eq!(failed["progress"], 33);
    let provider = Simulated::new(
        app.ctx.store.clone(),
        SimulatedConfig::fast("clusters.test"),
    );
    let c = lc
        .wait_for("c1", 5, |c| c["status"]["phase"] == "Degraded")
        .await;
    let incarnation = {
        let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
        let name = kupe_shared::domain::names::ClusterName::parse("c1").unwrap();
        let stored = app.ctx.store.clusters().get(&tenant, &name).await.unwrap();
        stored.unwrap().incarnation
    };
    assert_eq!(c["status"]["currentOperation"]["state"], "Failed");
    let performed = provider
        .performed(&app.tenant, "c1", incarnation)
        .await
        .unwrap();
    assert_eq!(performed, [(1, "ControlPlane".to_string(), 1)]);
    // WHEN it is retried
    let r = app
        .req(M::POST, &format!("{}/retry", op(app, "c1", &id)))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(r.header("Operation-Id"), Some(id.as_str()));
    assert_eq!(r.body["attempt"], 2);
    assert_eq!(state(&r.body), "Running");
    // a second retry while it runs is refused
    let again = app
        .req(M::POST, &format!("{}/retry", op(app, "c1", &id)))
        .send()
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    // THEN it succeeds, and the provider performed ControlPlane once, in the first attempt
    let seen = follow(app, "c1", &id, 60, |o| state(o) != "Running").await;
    let done = seen.last().unwrap();
    assert_eq!(state(done), "Succeeded", "{done}");
    assert_eq!(done["attempt"], 2);
    assert!(done.get("error").is_none());
    let performed = provider
        .performed(&app.tenant, "c1", incarnation)
        .await
        .unwrap();
    let mut performed: Vec<(String, u64)> = performed.into_iter().map(|(_, s, a)| (s, a)).collect();
    performed.sort();
    assert_eq!(
        performed,
        [
            ("Addons".to_string(), 2),
            ("ControlPlane".to_string(), 1),
            ("NodePools".to_string(), 2),
        ]
    );
    // and the retry was its own execution, named after the operation
    let executions = lc.executions().await;
    let names: Vec<&str> = executions.iter().map(|(n, _, _)| n.as_str()).collect();
    assert!(names.contains(&id.as_str()), "{names:?}");
    assert!(names.contains(&format!("{id}-a2").as_str()), "{names:?}");
    let c = lc
        .wait_for("c1", 10, |c| c["status"]["phase"] == "Running")
        .await;
    assert!(c["status"]["endpoint"].is_string(), "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_during_a_rollout_supersedes_its_operation() {
    let lc = LifecycleApp::spawn(|c| c.provision = Duration::from_secs(6)).await;
    let app = &lc.app;
    let first = create(app, "prod").await;
    lc.wait_for("prod", 30, |c| c["status"]["phase"] == "Provisioning")
        .await;
    // WHEN a PATCH writes a new generation while the create runs
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"resources": {"cpu": "3"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let second = r.header("Operation-Id").expect("Operation-Id").to_string();
    assert_ne!(second, first);
    // THEN the old operation reads Superseded, at once and for good
    let old = get_op(app, "prod", &first).await;
    assert_eq!(state(&old), "Superseded", "{old}");
    assert!(old["finishedAt"].is_string());
    assert_eq!(old["generation"], 1);
    // and the new one runs to Succeeded
    let seen = follow(app, "prod", &second, 90, |o| state(o) != "Running").await;
    assert_eq!(state(seen.last().unwrap()), "Succeeded", "{seen:?}");
    let list = app.req(M::GET, &ops(app, "prod")).send().await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body["items"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = items
        .iter()
        .map(|o| (o["id"].as_str().unwrap(), state(o)))
        .collect();
    assert_eq!(
        listed,
        [
            (second.as_str(), "Succeeded"),
            (first.as_str(), "Superseded")
        ]
    );
    // a replaced operation is not retried
    let r = app
        .req(M::POST, &format!("{}/retry", op(app, "prod", &first)))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["code"], "OperationNotRetryable", "{:?}", r.body);
}

#[tokio::test]
async fn operations_page_newest_first_and_unknown_ones_are_404() {
    // GIVEN a cluster (no workflow runs here) with five generations: a create, three PATCHes
    // and a DELETE
    let app = TestApp::spawn().await;
    let first = create(&app, "prod").await;
    let mut ids = vec![first];
    for i in 0..3 {
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .json(json!({"alerts": {"round": i}}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        ids.push(r.header("Operation-Id").expect("Operation-Id").to_string());
    }
    // a PATCH of metadata only is no rollout: no operation
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"labels": {"team": "a"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.header("Operation-Id"), None);
    let r = app.req(M::DELETE, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    ids.push(r.header("Operation-Id").expect("Operation-Id").to_string());
    // a repeated DELETE names the same operation
    let r = app.req(M::DELETE, &app.cluster("prod")).send().await;
    assert_eq!(r.header("Operation-Id"), Some(ids[4].as_str()));
    // WHEN the list is read two at a time
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = app.req(M::GET, &ops(&app, "prod")).query("limit", "2");
        if let Some(t) = &token {
            req = req.query("continue", t);
        }
        let r = req.send().await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let page: Vec<Value> = r.body["items"].as_array().unwrap().clone();
        pages.push(page);
        match r.body["continue"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    // THEN it pages newest first, each operation once
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let all: Vec<&Value> = pages.iter().flatten().collect();
    let listed: Vec<&str> = all.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);
    let types: Vec<&str> = all.iter().map(|o| o["type"].as_str().unwrap()).collect();
    // the PATCHes of a cluster that never ran call for its first rollout again: creates
    assert_eq!(types, ["delete", "create", "create", "create", "create"]);
    // the teardown runs (accepted); every replaced one is Superseded (none had started)
    let states: Vec<&str> = all.iter().map(|o| state(o)).collect();
    assert_eq!(
        states,
        [
            "Running",
            "Superseded",
            "Superseded",
            "Superseded",
            "Superseded"
        ]
    );
    // a running operation is not retried
    let r = app
        .req(M::POST, &format!("{}/retry", op(&app, "prod", &ids[4])))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    // unknown ids are 404, malformed ones 400, an unknown cluster 404
    let unknown = format!("prod-g2-{}", "0".repeat(32));
    for id in [unknown.as_str(), "nope", "prod-g99-abc"] {
        let r = app.req(M::GET, &op(&app, "prod", id)).send().await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}: {:?}", r.body);
        let r = app
            .req(M::POST, &format!("{}/retry", op(&app, "prod", id)))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}: {:?}", r.body);
    }
    let r = app.req(M::GET, &op(&app, "prod", "Not_An_Id")).send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let r = app.req(M::GET, &ops(&app, "ghost")).send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .req(M::GET, &ops(&app, "prod"))
        .query("continue", "garbage")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // a readonly key reads operations but cannot retry
    let r = app
        .req(M::GET, &ops(&app, "prod"))
        .key(Some(&app.readonly))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .req(M::POST, &format!("{}/retry", op(&app, "prod", &ids[4])))
        .key(Some(&app.readonly))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_update_and_a_failed_teardown_are_retried_to_their_end() {
    // GIVEN a provider whose update (Apply) and teardown (ControlPlane) of prod fail once
    let lc = LifecycleApp::spawn(|c| {
        let failing = |action, step: &str| StepFailure {
            rule: Rule {
                action,
                cluster: "prod".into(),
            },
            code: FailureCode::InternalError,
            step: step.into(),
        };
        c.fail_step = vec![
            failing(Action::Update, "Apply"),
            failing(Action::Delete, "ControlPlane"),
        ];
    })
    .await;
    let app = &lc.app;
    let created = create(app, "prod").await;
    follow(app, "prod", &created, 60, |o| state(o) == "Succeeded").await;
    // WHEN a resize fails, THEN its operation is Failed; a retry brings it to Succeeded
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"resources": {"cpu": "3"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let update = r.header("Operation-Id").unwrap().to_string();
    let failed = follow(app, "prod", &update, 60, |o| state(o) != "Running").await;
    let failed = failed.last().unwrap();
    assert_eq!(
        (state(failed), &failed["type"], &failed["error"]["code"]),
        ("Failed", &json!("update"), &json!("InternalError")),
        "{failed}"
    );
    let r = app
        .req(M::POST, &format!("{}/retry", op(app, "prod", &update)))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    follow(app, "prod", &update, 60, |o| state(o) == "Succeeded").await;
    let c = lc
        .wait_for("prod", 10, |c| c["status"]["phase"] == "Running")
        .await;
    assert_eq!(c["status"]["observedGeneration"], 2);
    assert_eq!(
        c["status"]["metrics"]["cpuCores"], 3.0,
        "the retry applied it"
    );
    // WHEN the teardown fails, THEN a retry finishes it: the cluster is gone
    let r = app.req(M::DELETE, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let teardown = r.header("Operation-Id").unwrap().to_string();
    let failed = follow(app, "prod", &teardown, 60, |o| state(o) != "Running").await;
    let failed = failed.last().unwrap();
    assert_eq!(
        (state(failed), &failed["type"]),
        ("Failed", &json!("delete"))
    );
    let steps = failed["steps"].as_array().unwrap();
    assert_eq!(
        (&steps[0]["state"], &steps[1]["state"]),
        (&json!("Succeeded"), &json!("Failed")),
        "{failed}"
    );
    let r = app
        .req(M::POST, &format!("{}/retry", op(app, "prod", &teardown)))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    lc.wait_for("prod", 60, Value::is_null).await;
    // and the tenant's pool gets the resources back (the state after the tombstone's)
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = app
            .req(M::GET, &format!("/api/v1/tenants/{}", app.tenant))
            .send()
            .await;
        if t.body["status"]["allocatedResources"]["cpu"] == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "not released: {}", t.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
