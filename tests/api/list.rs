use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;

async fn names(
    app: &TestApp,
    limit: Option<&str>,
    cont: Option<&str>,
) -> (Vec<String>, Option<String>) {
    let mut req = app.req(M::GET, &app.clusters()).key(Some(&app.readonly));
    if let Some(l) = limit {
        req = req.query("limit", l);
    }
    if let Some(c) = cont {
        req = req.query("continue", c);
    }
    let r = req.send().await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let names = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    (names, r.body["continue"].as_str().map(str::to_string))
}

#[tokio::test]
async fn list_returns_every_cluster_sorted_by_name_and_pages_with_limit_and_continue() {
    let app = TestApp::spawn_with_plan("enterprise").await;
    let (empty, none) = names(&app, None, None).await;
    assert!(empty.is_empty() && none.is_none());
    for n in ["delta", "alpha", "echo", "charlie", "bravo"] {
        app.create(n).await;
    }
    // another tenant's cluster never appears
    let other = app.tenant("pro").await;
    let other_key = app.key(&other, "admin", None).await;
    let r = app
        .req(M::POST, &format!("/api/v1/tenants/{other}/clusters"))
        .key(Some(&other_key))
        .json(serde_json::json!({"name": "bravo2", "displayName": "B", "type": "shared"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (all, cont) = names(&app, None, None).await;
    assert_eq!(all, ["alpha", "bravo", "charlie", "delta", "echo"]);
    assert!(cont.is_none());
    let (p1, c1) = names(&app, Some("2"), None).await;
    assert_eq!(p1, ["alpha", "bravo"]);
    let (p2, c2) = names(&app, Some("2"), c1.as_deref()).await;
    assert_eq!(p2, ["charlie", "delta"]);
    let (p3, c3) = names(&app, Some("2"), c2.as_deref()).await;
    assert_eq!(p3, ["echo"]);
    assert!(c3.is_none(), "the last page has no continue token");
    let (exact, c) = names(&app, Some("5"), None).await;
    assert_eq!(exact.len(), 5);
    assert!(c.is_none());
}

#[tokio::test]
async fn deleting_clusters_are_listed_and_finished_ones_are_not() {
    let app = TestApp::spawn().await;
    for n in ["aa", "bb", "cc"] {
        app.create(n).await;
    }
    app.req(M::DELETE, &app.cluster("bb")).send().await;
    let (all, _) = names(&app, None, None).await;
    assert_eq!(all, ["aa", "bb", "cc"]);
    let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
    let name = kupe_shared::domain::names::ClusterName::parse("bb").unwrap();
    app.ctx
        .store
        .clusters()
        .finish_deletion(&tenant, &name, 2)
        .await
        .unwrap();
    let (p1, c1) = names(&app, Some("1"), None).await;
    assert_eq!(p1, ["aa"]);
    let (p2, c2) = names(&app, Some("1"), c1.as_deref()).await;
    assert_eq!(
        p2,
        ["cc"],
        "a tombstone is skipped, not returned as a short page"
    );
    assert!(c2.is_none());
}

#[tokio::test]
async fn bad_limit_or_continue_is_400() {
    let app = TestApp::spawn().await;
    for (k, v) in [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "x"),
        ("limit", "-1"),
        ("continue", "garbage!"),
        ("continue", "djE6QUJD"),
    ] {
        let r = app.req(M::GET, &app.clusters()).query(k, v).send().await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{k}={v}");
    }
}
