use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn patch_merges_resources_and_alerts_and_bumps_generation() {
    let app = TestApp::spawn().await;
    app.req(M::POST, &app.clusters())
        .json(json!({"name": "prod", "displayName": "P", "type": "shared", "alerts": {"a": 1, "b": {"c": 2, "d": 3}}}))
        .send()
        .await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .raw(
            "application/merge-patch+json",
            br#"{"resources": {"memory": "16Gi"}, "alerts": {"b": {"c": null}, "e": true}}"#,
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["generation"], 2);
    assert_eq!(
        r.body["resources"],
        json!({"cpu": "2", "memory": "16Gi", "storage": "50Gi"})
    );
    assert_eq!(r.body["alerts"], json!({"a": 1, "b": {"d": 3}, "e": true}));
    // null resets a resource to the plan default; alerts: null removes them all
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"resources": {"memory": null}, "alerts": null}))
        .send()
        .await;
    assert_eq!(r.body["resources"]["memory"], "8Gi");
    assert_eq!(r.body["alerts"], json!({}));
    assert_eq!(r.body["generation"], 3);
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_generation_and_resource_version() {
    let app = TestApp::spawn().await;
    let created = app.create("prod").await;
    let before = app.items().await;
    for body in [
        json!({"resources": {"cpu": "2"}}),
        json!({"version": "1.33"}),
        json!({"name": "prod", "displayName": "Cluster prod", "type": "shared"}),
        json!({"alerts": {}}),
    ] {
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{body}");
        assert_eq!(r.body["generation"], 1, "{body}");
        assert_eq!(r.etag(), created.etag(), "{body}");
    }
    assert_eq!(app.items().await, before, "a no-op PATCH writes nothing");
}

#[tokio::test]
async fn immutable_fields_empty_bodies_and_bad_versions_are_400_and_write_nothing() {
    let app = TestApp::spawn().await;
    app.req(M::POST, &app.clusters())
        .json(json!({"name": "prod", "displayName": "P", "type": "shared", "version": "1.31"}))
        .send()
        .await;
    let before = app.items().await;
    for (body, want) in [
        (json!({"name": "other"}), "name is immutable"),
        (json!({"displayName": "Other"}), "displayName is immutable"),
        (json!({"type": "dedicated"}), "type is immutable"),
        (json!({}), "at least one"),
        (json!({"version": "1.33"}), "one minor at a time"),
        (json!({"version": "1.30"}), "downgraded"),
        (json!({"version": "1.28"}), "not supported"),
        (json!({"version": null}), "cannot be removed"),
        (json!({"resources": {"cpu": "100"}}), "exceeds"),
        (json!({"resources": {"cpu": "0"}}), "greater than 0"),
        (json!({"resources": {"cpu": "abc"}}), "resources.cpu"),
        (json!({"alerts": "loud"}), "alerts must be"),
        (
            json!({"status": {"phase": "Running"}}),
            "unknown field status",
        ),
    ] {
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            r.error().contains(want),
            "{body}: {:?} lacks {want:?}",
            r.error()
        );
    }
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .raw("text/plain", b"{}")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.items().await, before);
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"version": "1.32"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "the next minor is allowed");
    assert_eq!(r.body["version"], "1.32");
}

#[tokio::test]
async fn patch_of_a_missing_cluster_is_404() {
    let app = TestApp::spawn().await;
    let r = app
        .req(M::PATCH, &app.cluster("ghost"))
        .json(json!({"resources": {"cpu": "1"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.req(M::DELETE, &app.cluster("ghost")).send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_moves_to_terminating_and_a_repeat_is_204_without_a_new_generation() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    let r = app.req(M::DELETE, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, serde_json::Value::Null);
    let got = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "GET keeps returning the cluster until teardown ends"
    );
    assert_eq!(got.body["status"]["phase"], "Terminating");
    assert_eq!(
        got.body["generation"], 2,
        "delete bumps generation: it starts the teardown"
    );
    let before = app.items().await;
    let r = app
        .req(M::DELETE, &app.cluster("prod"))
        .header("If-Match", "\"1\"")
        .send()
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "a repeat DELETE, even with a stale tag, is 204"
    );
    assert_eq!(
        app.items().await,
        before,
        "and writes nothing (no second teardown)"
    );
}

#[tokio::test]
async fn patch_while_terminating_is_409_and_create_of_the_name_is_409() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    app.req(M::DELETE, &app.cluster("prod")).send().await;
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"resources": {"cpu": "3"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.error().contains("being deleted"));
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .header("If-Match", "\"1\"")
        .json(json!({"resources": {"cpu": "3"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "409 comes before 412");
    let r = app
        .req(M::POST, &app.clusters())
        .json(json!({"name": "prod", "displayName": "P", "type": "shared"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.error().contains("still being deleted"), "{}", r.error());
}

#[tokio::test]
async fn once_teardown_finishes_the_cluster_is_gone_and_the_name_reusable() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    app.req(M::DELETE, &app.cluster("prod")).send().await;
    let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
    let name = kupe_shared::domain::names::ClusterName::parse("prod").unwrap();
    assert!(
        !app.ctx
            .store
            .clusters()
            .finish_deletion(&tenant, &name, 1)
            .await
            .unwrap(),
        "a stale generation retires nothing"
    );
    assert!(app
        .ctx
        .store
        .clusters()
        .finish_deletion(&tenant, &name, 2)
        .await
        .unwrap());
    assert_eq!(
        app.req(M::GET, &app.cluster("prod")).send().await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.req(M::DELETE, &app.cluster("prod")).send().await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.req(M::PATCH, &app.cluster("prod"))
            .json(json!({"alerts": {}}))
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let list = app.req(M::GET, &app.clusters()).send().await;
    assert_eq!(list.body["items"], json!([]));
    app.create("prod").await;
}
