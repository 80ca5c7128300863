use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn get_returns_the_cluster_with_the_etag_and_304_on_if_none_match() {
    let app = TestApp::spawn().await;
    let created = app.create("prod").await;
    let got = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, created.body);
    assert_eq!(got.etag(), created.etag());
    let etag = got.etag();
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        "*".into(),
        format!("\"0\", {etag}"),
    ] {
        let r = app
            .req(M::GET, &app.cluster("prod"))
            .header("If-None-Match", &inm)
            .send()
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{inm}");
        assert_eq!(r.body, serde_json::Value::Null);
        assert_eq!(r.etag(), etag);
    }
    let r = app
        .req(M::GET, &app.cluster("prod"))
        .header("If-None-Match", "\"999999\"")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn get_of_a_missing_cluster_is_404_and_a_bad_name_is_400() {
    let app = TestApp::spawn().await;
    let r = app.req(M::GET, &app.cluster("nope")).send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "Cluster nope not found");
    let r = app.req(M::GET, &app.cluster("NOPE")).send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_patch_with_the_current_etag_succeeds_and_the_next_get_shows_the_new_etag() {
    let app = TestApp::spawn().await;
    let etag = app.create("prod").await.etag();
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .header("If-Match", &etag)
        .json(json!({"resources": {"cpu": "4"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_ne!(r.etag(), etag);
    let got = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(got.etag(), r.etag(), "GET is strongly consistent");
    assert_eq!(got.body["resources"]["cpu"], "4");
}

#[tokio::test]
async fn a_stale_or_weak_if_match_is_412_and_star_or_a_list_with_the_tag_matches() {
    let app = TestApp::spawn().await;
    let old = app.create("prod").await.etag();
    let new = app
        .req(M::PATCH, &app.cluster("prod"))
        .json(json!({"resources": {"cpu": "3"}}))
        .send()
        .await
        .etag();
    let before = app.items().await;
    for stale in [old.clone(), format!("W/{new}"), "\"12345678\"".to_string()] {
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .header("If-Match", &stale)
            .json(json!({"resources": {"cpu": "5"}}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{stale}");
        let r = app
            .req(M::DELETE, &app.cluster("prod"))
            .header("If-Match", &stale)
            .send()
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{stale}");
    }
    assert_eq!(app.items().await, before, "a 412 writes nothing");
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .header("If-Match", &format!("{old}, {new}"))
        .json(json!({"resources": {"cpu": "5"}}))
        .send()
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a list naming the current tag matches: {:?}",
        r.body
    );
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .header("If-Match", "\"1")
        .json(json!({"resources": {"cpu": "5"}}))
        .send()
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a malformed If-Match is 400"
    );
}

#[tokio::test]
async fn if_match_star_and_lists_are_honoured_on_patch_and_delete() {
    let app = TestApp::spawn().await;
    let e1 = app.create("prod").await.etag();
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .header("If-Match", "*")
        .json(json!({"resources": {"cpu": "3"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let e2 = r.etag();
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .header("If-Match", &format!("{e1}, {e2}"))
        .json(json!({"resources": {"cpu": "4"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let e3 = r.etag();
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .header("If-Match", e3.trim_matches('"'))
        .json(json!({"resources": {"cpu": "5"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "a bare tag is accepted");
    let r = app
        .req(M::DELETE, &app.cluster("prod"))
        .header("If-Match", "*")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_etag_of_a_deleted_incarnation_never_matches_the_recreated_one() {
    let app = TestApp::spawn().await;
    // GIVEN a cluster that was patched a few times, then deleted and its teardown finished
    let mut etags = vec![app.create("prod").await.etag()];
    for cpu in ["3", "4"] {
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .json(json!({"resources": {"cpu": cpu}}))
            .send()
            .await;
        etags.push(r.etag());
    }
    assert_eq!(
        app.req(M::DELETE, &app.cluster("prod")).send().await.status,
        StatusCode::NO_CONTENT
    );
    let deleting = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(deleting.body["status"]["phase"], "Terminating");
    etags.push(deleting.etag());
    let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
    let name = kupe_shared::domain::names::ClusterName::parse("prod").unwrap();
    let gen = deleting.body["generation"].as_u64().unwrap();
    assert!(app
        .ctx
        .store
        .clusters()
        .finish_deletion(&tenant, &name, gen)
        .await
        .unwrap());
    assert_eq!(
        app.req(M::GET, &app.cluster("prod")).send().await.status,
        StatusCode::NOT_FOUND
    );
    // WHEN the name is created again
    let again = app.create("prod").await;
    // THEN its ETag is new, and no old ETag matches it
    assert!(
        !etags.contains(&again.etag()),
        "{etags:?} vs {}",
        again.etag()
    );
    for old in &etags {
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .header("If-Match", old)
            .json(json!({"resources": {"cpu": "6"}}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{old}");
    }
    assert_eq!(
        again.body["generation"], 1,
        "a new incarnation starts at generation 1"
    );
}
