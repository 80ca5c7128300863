//! Strict JSON: a body that repeats a key, at any depth, is ambiguous (parsers disagree on which
//! value wins), so it is refused with 400 naming the key by its JSON path, and nothing is
//! written.

use kupe_tests::{TestApp, TestResponse, M};
use lambda_http::http::StatusCode;

const WRITES: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
];

/// Sends `body` (raw text: `json!` cannot repeat a key) and checks the 400 and that no write
/// was even attempted.
async fn refused(app: &TestApp, method: M, path: &str, body: &str, field: &str) {
    let before = app.items().await;
    let mut req = app.req(method.clone(), path);
    if method == M::PATCH {
        let etag = app.req(M::GET, path).send().await.etag();
        req = req.header("If-Match", &etag);
    }
    app.calls.reset();
    let r: TestResponse = req.raw("application/json", body.as_bytes()).send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
    assert_eq!(r.body["code"], "ValidationFailed", "{body}");
    assert_eq!(r.body["field"], field, "{body}");
    assert_eq!(r.error(), format!("duplicate field {field}"));
    let writes: Vec<String> = app
        .calls
        .operations()
        .into_iter()
        .filter(|op| WRITES.contains(&op.as_str()))
        .collect();
    assert!(writes.is_empty(), "{body}: wrote {writes:?}");
    assert_eq!(app.items().await, before, "{body}");
}

#[tokio::test]
async fn a_create_with_a_repeated_key_is_400_naming_it_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let path = app.clusters();
    let cases = [
        (
            r#"{"name":"a1","name":"b1","displayName":"D","type":"shared"}"#,
            "name",
        ),
        (
            r#"{"name":"a1","displayName":"D","type":"shared","resources":{"cpu":"1","cpu":"2"}}"#,
            "resources.cpu",
        ),
        (
            r#"{"name":"a1","displayName":"D","type":"shared","alerts":{"receiver":{"slack":"ops","slack":"dev"}}}"#,
            "alerts.receiver.slack",
        ),
        (
            r#"{"name":"a1","displayName":"D","type":"shared","alerts":{"rules":[{"x":1},{"x":1,"x":2}]}}"#,
            "alerts.rules[1].x",
        ),
    ];
    for (body, field) in cases {
        refused(&app, M::POST, &path, body, field).await;
    }
    // the same key in sibling objects is not a repeat
    let r = app
        .req(M::POST, &path)
        .raw(
            "application/json",
            br#"{"name":"a1","displayName":"D","type":"shared","alerts":{"a":{"x":1},"b":{"x":1}}}"#,
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn a_patch_with_a_repeated_key_is_400_naming_it_and_writes_nothing() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    let path = app.cluster("prod");
    refused(
        &app,
        M::PATCH,
        &path,
        r#"{"version":"1.32","version":"1.33"}"#,
        "version",
    )
    .await;
    refused(
        &app,
        M::PATCH,
        &path,
        r#"{"resources":{"memory":"2Gi","memory":null}}"#,
        "resources.memory",
    )
    .await;
    refused(
        &app,
        M::PATCH,
        &path,
        r#"{"alerts":{"receiver":{"slack":"ops"},"receiver":null}}"#,
        "alerts.receiver",
    )
    .await;
}

#[tokio::test]
async fn an_api_key_create_with_a_repeated_key_is_400_naming_it_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let path = format!("/api/v1/tenants/{}/apikeys", app.tenant);
    refused(
        &app,
        M::POST,
        &path,
        r#"{"displayName":"ci","role":"readonly","role":"admin"}"#,
        "role",
    )
    .await;
}
