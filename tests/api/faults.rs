//! Lost replies: the write commits, the reply is lost (the emulator answers 500 after applying
//! it), the SDK retries, the retry fails its own condition. The caller must still see success.

use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_patch_whose_reply_was_lost_still_succeeds_once() {
    let app = TestApp::spawn().await;
    let etag = app.create("prod").await.etag();
    app.arm_fault("UpdateItem", "commit_then_500").await;
    app.calls.reset();
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .header("If-Match", &etag)
        .json(json!({"resources": {"cpu": "3"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        app.calls.attempts() > app.calls.operations().len(),
        "the SDK did retry"
    );
    assert_eq!(r.body["generation"], 2, "applied once");
    assert_eq!(r.body["resources"]["cpu"], "3");
    let got = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(got.etag(), r.etag());
}

#[tokio::test]
async fn a_create_whose_reply_was_lost_is_201_not_409() {
    let app = TestApp::spawn().await;
    app.arm_fault("TransactWriteItems", "commit_then_500").await;
    app.calls.reset();
    let r = app.create("prod").await;
    assert!(
        app.calls.attempts() > app.calls.operations().len(),
        "the SDK did retry"
    );
    assert_eq!(r.body["generation"], 1);
}

#[tokio::test]
async fn a_delete_whose_reply_was_lost_is_204() {
    let app = TestApp::spawn().await;
    let etag = app.create("prod").await.etag();
    app.arm_fault("UpdateItem", "commit_then_500").await;
    app.calls.reset();
    let r = app
        .req(M::DELETE, &app.cluster("prod"))
        .header("If-Match", &etag)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        app.calls.attempts() > app.calls.operations().len(),
        "the SDK did retry"
    );
    let got = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(got.body["generation"], 2, "one teardown generation");
}

#[tokio::test]
async fn a_throttled_read_is_retried_by_the_sdk() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    app.arm_fault("BatchGetItem", "throttle").await;
    app.calls.reset();
    let r = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.calls.attempts(), 2);
}

#[tokio::test]
async fn a_store_that_keeps_failing_is_a_500_without_internals() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    for _ in 0..3 {
        app.arm_fault("BatchGetItem", "fail_500").await;
    }
    let r = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.error(), "Internal server error");
}
