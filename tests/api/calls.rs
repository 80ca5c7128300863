//! How many AWS calls each handler makes, counted by an SDK interceptor. The README quotes
//! these numbers; if a change adds a call, this fails.

use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

async fn ops(app: &TestApp, method: M, path: &str, body: Option<serde_json::Value>, headers: &[(&str, &str)]) -> (StatusCode, Vec<String>) {
    app.calls.reset();
    let mut req = app.req(method, path);
    if let Some(b) = body {
        req = req.json(b);
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.send().await;
    (r.status, app.calls.operations())
}

#[tokio::test]
async fn each_handler_makes_the_minimum_number_of_aws_calls() {
    let app = TestApp::spawn().await;
    let etag = app.create("prod").await.etag();
    let cases: Vec<(&str, M, String, Option<serde_json::Value>, Vec<(&str, &str)>, StatusCode, Vec<&str>)> = vec![
        ("GET", M::GET, app.cluster("prod"), None, vec![], StatusCode::OK, vec!["BatchGetItem"]),
        ("GET 304", M::GET, app.cluster("prod"), None, vec![("If-None-Match", etag.as_str())], StatusCode::NOT_MODIFIED, vec!["BatchGetItem"]),
        ("GET missing", M::GET, app.cluster("nope"), None, vec![], StatusCode::NOT_FOUND, vec!["BatchGetItem"]),
        ("list", M::GET, app.clusters(), None, vec![], StatusCode::OK, vec!["BatchGetItem", "Query"]),
        ("no-op PATCH", M::PATCH, app.cluster("prod"), Some(json!({"resources": {"cpu": "2"}})), vec![], StatusCode::OK, vec!["BatchGetItem"]),
        ("PATCH If-Match", M::PATCH, app.cluster("prod"), Some(json!({"resources": {"cpu": "3"}})), vec![("If-Match", etag.as_str())], StatusCode::OK, vec!["BatchGetItem", "UpdateItem"]),
        ("stale PATCH", M::PATCH, app.cluster("prod"), Some(json!({"resources": {"cpu": "4"}})), vec![("If-Match", etag.as_str())], StatusCode::PRECONDITION_FAILED, vec!["BatchGetItem"]),
        ("create", M::POST, app.clusters(), Some(json!({"name": "two", "displayName": "T", "type": "shared"})), vec![], StatusCode::CREATED, vec!["BatchGetItem", "UpdateItem"]),
        ("DELETE", M::DELETE, app.cluster("prod"), None, vec![], StatusCode::NO_CONTENT, vec!["BatchGetItem", "UpdateItem"]),
        ("repeat DELETE", M::DELETE, app.cluster("prod"), None, vec![], StatusCode::NO_CONTENT, vec!["BatchGetItem"]),
    ];
    for (what, method, path, body, headers, status, want) in cases {
        let (got_status, got) = ops(&app, method, &path, body, &headers).await;
        assert_eq!(got_status, status, "{what}");
        assert_eq!(got, want, "{what}");
    }
    // a request refused before any lookup costs nothing
    app.calls.reset();
    let r = app.req(M::GET, &app.clusters()).key(Some("garbage")).send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(app.calls.operations().is_empty());
}
