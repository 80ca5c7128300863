//! `DELETE /tenants/{tenant}` with Kupe's CLI body `{confirm, cascade}`: the refusals (400
//! `confirm`, 409 `clusters_exist`, 409 `already_terminating`), the purge (idempotent; the
//! tenant's keys get 401 after it), and the cascade on the whole lifecycle: a tenant with two
//! clusters → both reach 404, then the tenant item, its members and its keys are gone.

use kupe_shared::{
    admin,
    store::{schema::tenant_pk, tenant_purge::Purged},
};
use kupe_tests::{LifecycleApp, TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn tenant_path(app: &TestApp) -> String {
    format!("/api/v1/tenants/{}", app.tenant)
}

async fn delete(app: &TestApp, body: Value) -> kupe_tests::TestResponse {
    app.req(M::DELETE, &tenant_path(app))
        .json(body)
        .send()
        .await
}

/// Every item of the tenant's partition.
async fn partition(app: &TestApp) -> Vec<String> {
    app.items()
        .await
        .into_iter()
        .filter(|i| i["pk"].as_s().ok() == Some(&tenant_pk(&app.tenant)))
        .map(|i| i["sk"].as_s().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn a_delete_needs_the_confirmation_and_cascade_while_clusters_exist() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    let before = app.items().await;
    for (body, field) in [
        (json!({}), "confirm"),
        (json!({"confirm": ""}), "confirm"),
        (
            json!({"confirm": "someone-else", "cascade": true}),
            "confirm",
        ),
        (json!({"confirm": app.tenant, "cascade": "yes"}), "cascade"),
        (json!({"confirm": app.tenant, "force": true}), "force"),
    ] {
        let r = delete(&app, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.body["field"], field, "{body}: {:?}", r.body);
    }
    let r = app.req(M::DELETE, &tenant_path(&app)).send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no body");
    // readonly: 403
    let r = app
        .req(M::DELETE, &tenant_path(&app))
        .key(Some(&app.readonly))
        .json(json!({"confirm": app.tenant, "cascade": true}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // without cascade while a cluster exists: 409 with the code Kupe's CLI matches
    for body in [
        json!({"confirm": app.tenant}),
        json!({"confirm": app.tenant, "cascade": false}),
    ] {
        let r = delete(&app, body).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.body["code"], "clusters_exist");
        assert!(r.error().contains("cascade"), "{}", r.error());
    }
    // a deleting cluster still counts
    let r = app.req(M::DELETE, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let before_deleting = app.items().await;
    let r = delete(&app, json!({"confirm": app.tenant})).await;
    assert_eq!(r.body["code"], "clusters_exist");
    assert_eq!(app.items().await, before_deleting, "refusals write nothing");
    assert_ne!(before, before_deleting);
}

#[tokio::test]
async fn a_tenant_without_clusters_terminates_and_its_purge_removes_it_members_and_keys() {
    let app = TestApp::spawn().await;
    admin::add_member(&app.ctx.store, &app.tenant, "owner@acme.com", "admin")
        .await
        .unwrap();
    // WHEN the tenant is deleted (no cascade needed without clusters)
    let r = delete(&app, json!({"confirm": app.tenant})).await;
    // THEN 202 with the tenant, Terminating, and its new ETag
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(r.body["name"], app.tenant.as_str());
    assert_eq!(
        r.body["status"],
        json!({"phase": "Terminating", "clusterCount": 0})
    );
    assert_eq!(r.etag(), "\"3\"", "onboarded at 1, the member add made 2");
    // a repeat is 409 already_terminating (and only bumps the version, to retry the purge)
    let r = delete(&app, json!({"confirm": app.tenant, "cascade": true})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "already_terminating");
    // the purge (the dispatcher runs it on the tenant's stream record) removes the tenant item,
    // its members and its keys; cluster tombstones would stay
    assert_eq!(partition(&app).await.len(), 2, "tenant + member");
    let purge = app.ctx.store.tenant_purge();
    assert_eq!(purge.purge(&app.tenant).await.unwrap(), Purged::Purged);
    assert_eq!(partition(&app).await, Vec::<String>::new());
    assert!(
        !format!("{:?}", app.items().await).contains(&format!("TENANT#{}#APIKEYS", app.tenant)),
        "its keys are gone"
    );
    assert_eq!(purge.purge(&app.tenant).await.unwrap(), Purged::AlreadyGone);
    // its keys are refused from now on
    for key in [&app.admin, &app.readonly] {
        let r = app.req(M::GET, &app.clusters()).key(Some(key)).send().await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_purge_leaves_an_active_tenant_alone() {
    let app = TestApp::spawn().await;
    let before = app.items().await;
    let purged = app
        .ctx
        .store
        .tenant_purge()
        .purge(&app.tenant)
        .await
        .unwrap();
    assert_eq!(purged, Purged::NotReady);
    assert_eq!(app.items().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cascade_deletes_every_cluster_then_purges_the_tenant() {
    // GIVEN a tenant with two running clusters, a member and its keys, on the whole lifecycle
    let lc = LifecycleApp::spawn(|_| {}).await;
    let app = &lc.app;
    app.create("prod").await;
    app.create("staging").await;
    for name in ["prod", "staging"] {
        lc.wait_for(name, 60, |c| c["status"]["phase"] == "Running")
            .await;
    }
    admin::add_member(&app.ctx.store, &app.tenant, "owner@acme.com", "admin")
        .await
        .unwrap();
    // WHEN the tenant is deleted with cascade
    let r = delete(app, json!({"confirm": app.tenant, "cascade": true})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(
        r.body["status"],
        json!({"phase": "Terminating", "clusterCount": 2})
    );
    // THEN both clusters go through Terminating to 404
    for name in ["prod", "staging"] {
        lc.wait_for(name, 60, |c| {
            c.is_null() || c["status"]["phase"] == "Terminating"
        })
        .await;
    }
    // (gone is 404, or 401 once the purge that follows the last teardown removed the keys: on a
    // loaded machine both teardowns and the purge can land between two polls)
    for name in ["prod", "staging"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = app.req(M::GET, &app.cluster(name)).send().await;
            if matches!(r.status, StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED) {
                break;
            }
            assert!(Instant::now() < deadline, "{name} not gone: {:?}", r.body);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    // AND then the tenant item, its members and its keys are gone (tombstones stay)
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = partition(app).await;
        if left.iter().all(|sk| sk.starts_with("CLUSTER#")) {
            break;
        }
        assert!(Instant::now() < deadline, "not purged: {left:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let r = app.req(M::GET, &app.clusters()).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "its keys are gone");
    assert_eq!(
        lc.executions().await.len(),
        4,
        "two provisions, two teardowns"
    );
}
