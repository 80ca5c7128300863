//! `highAvailability`: plan-gated on create and PATCH, on-only (Kupe's operator rejects turning
//! it off with `HA_DISABLE_UNSUPPORTED`), `Migrating` while it rolls out, and the HA status
//! fields Kupe's CLI reads.

use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_plan_without_ha_refuses_it_on_create_and_patch_and_writes_nothing() {
    let app = TestApp::spawn_with_plan("pro").await;
    let before = app.items().await;
    let r = app
        .req(M::POST, &app.clusters())
        .json(
            json!({"name": "prod", "displayName": "P", "type": "shared", "highAvailability": true}),
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.body["code"], "NotInPlan");
    assert_eq!(r.body["field"], "highAvailability");
    assert_eq!(app.items().await, before, "a refused create writes nothing");

    let created = app.create("prod").await;
    assert_eq!(created.body["highAvailability"], false);
    assert!(
        created.body["status"].get("haPhase").is_none(),
        "no HA status while HA is off"
    );
    let before = app.items().await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"highAvailability": true}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.body["code"], "NotInPlan");
    assert_eq!(app.items().await, before, "a refused PATCH writes nothing");
    // false on a cluster without HA changes nothing
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"highAvailability": false}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["generation"], 1);
}

#[tokio::test]
async fn ha_once_on_cannot_be_turned_off_and_shows_its_rollout_status() {
    let app = TestApp::spawn_with_plan("enterprise").await;
    let r = app
        .req(M::POST, &app.clusters())
        .json(
            json!({"name": "prod", "displayName": "P", "type": "shared", "highAvailability": true}),
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["highAvailability"], true);
    let st = &r.body["status"];
    assert_eq!(st["haPhase"], "pending");
    assert_eq!(st["haConfigured"], false);
    assert_eq!(st["haReplicasReady"], 0);
    assert_eq!(st["haReplicasDesired"], 3);
    let before = app.items().await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"highAvailability": false}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.body["field"], "highAvailability");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("HA_DISABLE_UNSUPPORTED:"),
        "{:?}",
        r.body
    );
    assert_eq!(app.items().await, before);
    // true again, and `"version": ""` (what Kupe's Terraform provider sends when the server
    // picks the version), change nothing
    for body in [json!({"highAvailability": true}), json!({"version": ""})] {
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {:?}", r.body);
        assert_eq!(r.body["generation"], 1, "{body}");
    }
    assert_eq!(app.items().await, before, "no-op PATCHes write nothing");
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"highAvailability": null}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
}
