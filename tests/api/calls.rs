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
            // the new generation and the archive of the operation it replaces, in one
            // transaction
            "PATCH If-Match",
            M::PATCH,
            app.cluster("prod"),
            Some(json!({"alerts": {"cpu": "high"}})),
            Some(("If-Match", etag.as_str())),
            StatusCode::OK,
            &["BatchGetItem", "TransactWriteItems"],
        ),
        case(
            // metadata only: no new generation, no operation
            "labels PATCH",
            M::PATCH,
            app.cluster("prod"),
            Some(json!({"labels": {"team": "a"}})),
            None,
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
            // Terminating and the archive of the operation the teardown replaces
            "DELETE",
            M::DELETE,
            app.cluster("prod"),
            None,
            None,
            StatusCode::NO_CONTENT,
            &["BatchGetItem", "TransactWriteItems"],
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

/// What, method, path, body, status, calls.
type AmCase<'a> = (&'a str, M, String, Option<Value>, StatusCode, &'a [&'a str]);

#[tokio::test]
async fn the_alertmanager_handlers_read_the_configuration_once_and_write_at_most_once() {
    let app = TestApp::spawn().await;
    let am = |rest: &str| format!("/api/v1/tenants/{}/alertmanager/{rest}", app.tenant);
    // warm up: the key's lastUsedAt is fresh from now on
    app.req(M::GET, &am("config")).send().await;
    let read = &["BatchGetItem", "Query"][..];
    let update = &["BatchGetItem", "Query", "UpdateItem"][..];
    let transact = &["BatchGetItem", "Query", "TransactWriteItems"][..];
    let slack = json!({"slack_configs": [{"api_url": "https://hooks.slack.com/x"}]});
    let cases: Vec<AmCase> = vec![
        (
            "create a receiver",
            M::PUT,
            am("receivers/slack"),
            Some(slack.clone()),
            StatusCode::CREATED,
            transact,
        ),
        (
            "replace it",
            M::PUT,
            am("receivers/slack"),
            Some(json!({"slack_configs": [{"api_url": "<secret>", "channel": "#a"}]})),
            StatusCode::OK,
            update,
        ),
        (
            "replace it with itself",
            M::PUT,
            am("receivers/slack"),
            Some(json!({"slack_configs": [{"api_url": "<secret>", "channel": "#a"}]})),
            StatusCode::OK,
            read,
        ),
        (
            "get it",
            M::GET,
            am("receivers/slack"),
            None,
            StatusCode::OK,
            read,
        ),
        ("list", M::GET, am("receivers"), None, StatusCode::OK, read),
        (
            "put routes",
            M::PUT,
            am("routes"),
            Some(json!({"items": [{"receiver": "slack"}]})),
            StatusCode::OK,
            update,
        ),
        (
            "get routes",
            M::GET,
            am("routes"),
            None,
            StatusCode::OK,
            read,
        ),
        (
            "a used receiver's delete",
            M::DELETE,
            am("receivers/slack"),
            None,
            StatusCode::CONFLICT,
            read,
        ),
        (
            "put global",
            M::PUT,
            am("global"),
            Some(json!({"resolve_timeout": "5m"})),
            StatusCode::OK,
            update,
        ),
        (
            "get global",
            M::GET,
            am("global"),
            None,
            StatusCode::OK,
            read,
        ),
        (
            "get config",
            M::GET,
            am("config"),
            None,
            StatusCode::OK,
            read,
        ),
        (
            "clear routes",
            M::PUT,
            am("routes"),
            Some(json!({"items": []})),
            StatusCode::OK,
            update,
        ),
        (
            "delete the receiver",
            M::DELETE,
            am("receivers/slack"),
            None,
            StatusCode::NO_CONTENT,
            transact,
        ),
    ];
    for (what, method, path, body, status, calls) in cases {
        app.calls.reset();
        let mut req = app.req(method, &path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await;
        assert_eq!(r.status, status, "{what}: {:?}", r.body);
        assert_eq!(app.calls.operations(), calls, "{what}");
    }
}

#[tokio::test]
async fn the_secret_handlers_read_once_and_write_at_most_once() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    let base = format!("/api/v1/tenants/{}/secrets", app.tenant);
    let one = format!("{base}/db");
    let read = &["BatchGetItem"][..];
    let transact = &["BatchGetItem", "TransactWriteItems"][..];
    // warm the key's lastUsedAt, so no request below refreshes it
    app.req(M::GET, &base).send().await;
    let target = json!({"sync": [{"cluster": "prod", "namespace": "default"}]});
    let cases: Vec<AmCase> = vec![
        (
            "create",
            M::POST,
            base.clone(),
            Some(json!({"name": "db", "secretPath": "a"})),
            StatusCode::CREATED,
            transact,
        ),
        ("get", M::GET, one.clone(), None, StatusCode::OK, read),
        (
            "list",
            M::GET,
            base.clone(),
            None,
            StatusCode::OK,
            &["BatchGetItem", "Query"][..],
        ),
        (
            "patch",
            M::PATCH,
            one.clone(),
            Some(target.clone()),
            StatusCode::OK,
            &["BatchGetItem", "UpdateItem"][..],
        ),
        (
            "patch that changes nothing",
            M::PATCH,
            one.clone(),
            Some(target),
            StatusCode::OK,
            read,
        ),
        (
            "a target on no cluster",
            M::PATCH,
            one.clone(),
            Some(json!({"sync": [{"cluster": "nope", "namespace": "default"}]})),
            StatusCode::BAD_REQUEST,
            read,
        ),
        (
            "delete",
            M::DELETE,
            one.clone(),
            None,
            StatusCode::NO_CONTENT,
            transact,
        ),
        (
            "delete again",
            M::DELETE,
            one,
            None,
            StatusCode::NO_CONTENT,
            read,
        ),
    ];
    for (what, method, path, body, status, calls) in cases {
        app.calls.reset();
        let mut req = app.req(method, &path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await;
        assert_eq!(r.status, status, "{what}: {:?}", r.body);
        assert_eq!(app.calls.operations(), calls, "{what}");
    }
}
