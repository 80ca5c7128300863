//! How many AWS calls each handler makes, counted by an SDK interceptor. The README quotes
//! these numbers; if a change adds a call, this fails.

use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

struct Case<'a> {
    what: &'a str,
    method: M,
    path: String,
    body: Option<Value>,
    if_match: Option<(&'a str, &'a str)>,
    status: StatusCode,
    calls: &'a [&'a str],
}

#[tokio::test]
async fn each_handler_makes_the_minimum_number_of_aws_calls() {
    let app = TestApp::spawn().await;
    let etag = app.create("prod").await.etag();
    // the key's lastUsedAt is fresh now: a request refreshes it at most every few minutes
    let read = &["BatchGetItem"][..];
    let read_write = &["BatchGetItem", "UpdateItem"][..];
    let case = |what, method, path, body, if_match, status, calls| Case {
        what,
        method,
        path,
        body,
        if_match,
        status,
        calls,
    };
    let cases = vec![
        case(
            "GET",
            M::GET,
            app.cluster("prod"),
            None,
            None,
            StatusCode::OK,
            read,
        ),
        case(
            "GET 304",
            M::GET,
            app.cluster("prod"),
            None,
            Some(("If-None-Match", etag.as_str())),
            StatusCode::NOT_MODIFIED,
            read,
        ),
        case(
            "GET missing",
            M::GET,
            app.cluster("nope"),
            None,
            None,
            StatusCode::NOT_FOUND,
            read,
        ),
        case(
            "list",
            M::GET,
            app.clusters(),
            None,
            None,
            StatusCode::OK,
            &["BatchGetItem", "Query"][..],
        ),
        case(
            "no-op PATCH",
            M::PATCH,
            app.cluster("prod"),
            Some(json!({"resources": {"cpu": "2"}})),
            None,
            StatusCode::OK,
            read,
        ),
        case(
            "PATCH If-Match",
            M::PATCH,
            app.cluster("prod"),
            Some(json!({"alerts": {"cpu": "high"}})),
            Some(("If-Match", etag.as_str())),
            StatusCode::OK,
            read_write,
        ),
        case(
            "GET tenant",
            M::GET,
            format!("/api/v1/tenants/{}", app.tenant),
            None,
            None,
            StatusCode::OK,
            // the tenant with the key, then its members
            &["BatchGetItem", "Query"][..],
        ),
        case(
            // the spec and the tenant's pool change in one transaction
            "resize PATCH",
            M::PATCH,
            app.cluster("prod"),
            Some(json!({"resources": {"cpu": "3"}})),
            None,
            StatusCode::OK,
            &["BatchGetItem", "TransactWriteItems"],
        ),
        case(
            "stale PATCH",
            M::PATCH,
            app.cluster("prod"),
            Some(json!({"resources": {"cpu": "4"}})),
            Some(("If-Match", etag.as_str())),
            StatusCode::PRECONDITION_FAILED,
            read,
        ),
        case(
            "create",
            M::POST,
            app.clusters(),
            Some(json!({"name": "two", "displayName": "T", "type": "shared"})),
            None,
            StatusCode::CREATED,
            &["BatchGetItem", "TransactWriteItems"],
        ),
        case(
            "DELETE",
            M::DELETE,
            app.cluster("prod"),
            None,
            None,
            StatusCode::NO_CONTENT,
            read_write,
        ),
        case(
            "repeat DELETE",
            M::DELETE,
            app.cluster("prod"),
            None,
            None,
            StatusCode::NO_CONTENT,
            read,
        ),
    ];
    for c in cases {
        app.calls.reset();
        let mut req = app.req(c.method, &c.path);
        if let Some(b) = c.body {
            req = req.json(b);
        }
        if let Some((k, v)) = c.if_match {
            req = req.header(k, v);
        }
        let r = req.send().await;
        assert_eq!(r.status, c.status, "{}", c.what);
        assert_eq!(app.calls.operations(), c.calls, "{}", c.what);
    }
    // a request refused before any lookup costs nothing
    app.calls.reset();
    let r = app
        .req(M::GET, &app.clusters())
        .key(Some("garbage"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(app.calls.operations().is_empty());
}
