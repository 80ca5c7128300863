//! Lost replies: the write commits, the reply is lost (the emulator answers 500 after applying
//! it), the SDK retries, the retry fails its own condition. The caller must still see success.

use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_patch_whose_reply_was_lost_still_succeeds_once() {
    let app = TestApp::spawn().await;
    let etag = app.create("prod").await.etag();
    // a new generation is one transaction with the archive of the operation it replaces
    app.arm_fault("TransactWriteItems", "commit_then_500").await;
    app.calls.reset();
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .header("If-Match", &etag)
        .json(json!({"alerts": {"cpu": "high"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        app.calls.attempts() > app.calls.operations().len(),
        "the SDK did retry"
    );
    assert_eq!(r.body["generation"], 2, "applied once");
    assert_eq!(r.body["alerts"]["cpu"], "high");
    let got = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(got.etag(), r.etag());
}

#[tokio::test]
async fn a_resize_whose_reply_was_lost_still_succeeds_and_counts_once() {
    let app = TestApp::spawn().await;
    let etag = app.create("prod").await.etag();
    app.arm_fault("TransactWriteItems", "commit_then_500").await;
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
    let t = app
        .req(M::GET, &format!("/api/v1/tenants/{}", app.tenant))
        .send()
        .await;
    assert_eq!(
        t.body["status"]["allocatedResources"]["cpu"], "3",
        "the pool counted the resize once"
    );
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
    app.arm_fault("TransactWriteItems", "commit_then_500").await;
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

/// The SDK's own attempts per call (standard retry mode).
const SDK_ATTEMPTS: u32 = 3;

fn is_throttled(r: &kupe_tests::TestResponse) {
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(r.body["code"], "Throttled");
    assert_eq!(r.header("retry-after"), Some("1"));
    let body = r.body.to_string();
    assert!(
        !body.contains("injected") && !body.contains("Exception"),
        "no internals: {body}"
    );
}

#[tokio::test]
async fn a_read_throttled_past_the_sdk_retries_is_503_throttled_with_retry_after() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    app.arm_error(
        "BatchGetItem",
        "ProvisionedThroughputExceededException",
        400,
        SDK_ATTEMPTS,
    )
    .await;
    app.calls.reset();
    let r = app.req(M::GET, &app.cluster("prod")).send().await;
    is_throttled(&r);
    assert_eq!(
        app.calls.attempts(),
        SDK_ATTEMPTS as usize,
        "the SDK retried"
    );
    let r = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::OK, "served once the throttling stops");
}

#[tokio::test]
async fn a_store_that_keeps_failing_with_5xx_is_503_throttled_without_internals() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    for _ in 0..SDK_ATTEMPTS {
        app.arm_fault("BatchGetItem", "fail_500").await;
    }
    let r = app.req(M::GET, &app.cluster("prod")).send().await;
    is_throttled(&r);
}

#[tokio::test]
async fn throttled_writes_are_503_throttled_and_write_nothing() {
    let app = TestApp::spawn().await;
    let etag = app.create("prod").await.etag();
    let before = app.items().await;
    for (target, error, body) in [
        // a rollout field: the new generation and the operation's archive, one transaction
        (
            "TransactWriteItems",
            "ThrottlingException",
            json!({"alerts": {"cpu": "high"}}),
        ),
        (
            "TransactWriteItems",
            "RequestLimitExceeded",
            json!({"alerts": {"cpu": "high"}}),
        ),
        (
            "TransactWriteItems",
            "TransactionConflictException",
            json!({"alerts": {"cpu": "high"}}),
        ),
        // metadata only: one UpdateItem
        (
            "UpdateItem",
            "ThrottlingException",
            json!({"labels": {"team": "a"}}),
        ),
    ] {
        app.arm_error(target, error, 400, SDK_ATTEMPTS).await;
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .header("If-Match", &etag)
            .json(body)
            .send()
            .await;
        is_throttled(&r);
        assert_eq!(app.items().await, before, "{error}");
    }
    app.arm_error(
        "TransactWriteItems",
        "ProvisionedThroughputExceededException",
        400,
        SDK_ATTEMPTS,
    )
    .await;
    is_throttled(
        &app.req(M::POST, &app.clusters())
            .json(json!({"name": "next", "displayName": "N", "type": "shared"}))
            .send()
            .await,
    );
    app.arm_error(
        "TransactWriteItems",
        "InternalServerError",
        500,
        SDK_ATTEMPTS,
    )
    .await;
    is_throttled(
        &app.req(M::POST, &app.clusters())
            .json(json!({"name": "next", "displayName": "N", "type": "shared"}))
            .send()
            .await,
    );
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn a_store_error_that_retrying_cannot_fix_is_still_a_500() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    app.arm_error("BatchGetItem", "ValidationException", 400, 1)
        .await;
    let r = app.req(M::GET, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.error(), "Internal server error");
    assert_eq!(r.header("retry-after"), None);
}
