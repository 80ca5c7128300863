//! The tenant's Alertmanager configuration, through the handlers against the emulator:
//! receivers by type (create, replace, delete, masking and the sentinel that keeps a stored
//! credential), routes (validation, references, the 409 of a used receiver), the global
//! section, If-Match / If-None-Match, the plan's receiver limit, "a refused request writes
//! nothing", the assembled configuration as Alertmanager YAML, and the purge.

use kupe_shared::store::schema::tenant_pk;
use kupe_tests::{TestApp, TestResponse, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn am(app: &TestApp, rest: &str) -> String {
    format!("/api/v1/tenants/{}/alertmanager/{rest}", app.tenant)
}

fn receiver(app: &TestApp, name: &str) -> String {
    am(app, &format!("receivers/{name}"))
}

async fn put(app: &TestApp, path: &str, body: Value) -> TestResponse {
    app.req(M::PUT, path).json(body).send().await
}

async fn get(app: &TestApp, path: &str) -> TestResponse {
    let r = app.req(M::GET, path).send().await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {:?}", r.body);
    r
}

fn slack(url: &str) -> Value {
    json!({"slack_configs": [{"api_url": url, "channel": "#alerts", "send_resolved": true}]})
}

const HOOK: &str = "https://hooks.slack.com/services/T000/B000/real-secret";

/// The stored text of the table, to find a credential in it.
async fn stored_text(app: &TestApp) -> String {
    format!("{:?}", app.items().await)
}

#[tokio::test]
async fn receivers_are_created_read_listed_replaced_and_deleted() {
    let app = TestApp::spawn().await;
    assert_eq!(
        get(&app, &am(&app, "receivers")).await.body,
        json!({"items": []})
    );
    // create: 201 with ETag "1"; the credential is stored, and answered as <secret>
    let r = put(&app, &receiver(&app, "slack"), slack(HOOK)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.etag(), "\"1\"");
    assert_eq!(r.body["name"], "slack");
    assert_eq!(r.body["slack_configs"][0]["api_url"], "<secret>");
    assert_eq!(r.body["slack_configs"][0]["channel"], "#alerts");
    assert!(stored_text(&app).await.contains(HOOK));
    // read by a readonly key: the same, masked, with the ETag
    let r = app
        .req(M::GET, &receiver(&app, "slack"))
        .key(Some(&app.readonly))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.etag(), "\"1\"");
    assert_eq!(r.body["slack_configs"][0]["api_url"], "<secret>");
    assert!(!r.body.to_string().contains("real-secret"));
    // If-None-Match: 304
    let r = app
        .req(M::GET, &receiver(&app, "slack"))
        .header("If-None-Match", "\"1\"")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    // replace with If-Match, sending the sentinel back: the stored URL is kept
    let mut next = json!({"name": "other", "slack_configs": [{"api_url": "<secret>",
        "channel": "#ops"}]});
    let r = app
        .req(M::PUT, &receiver(&app, "slack"))
        .header("If-Match", "\"1\"")
        .json(next.clone())
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.etag(), "\"2\"");
    assert_eq!(r.body["name"], "slack", "the path names the receiver");
    assert_eq!(r.body["slack_configs"][0]["channel"], "#ops");
    assert!(
        stored_text(&app).await.contains(HOOK),
        "the sentinel kept it"
    );
    // the same PUT again changes nothing: 200, same ETag, no write
    let before = app.items().await;
    let r = put(&app, &receiver(&app, "slack"), next.clone()).await;
    assert_eq!((r.status, r.etag()), (StatusCode::OK, "\"2\"".to_string()));
    assert_eq!(app.items().await, before);
    // a stale If-Match: 412, nothing written
    next["slack_configs"][0]["channel"] = json!("#stale");
    let r = app
        .req(M::PUT, &receiver(&app, "slack"))
        .header("If-Match", "\"1\"")
        .json(next)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.body["code"], "PreconditionFailed");
    // If-Match on a receiver that does not exist: 412 (even `*`)
    let r = app
        .req(M::PUT, &receiver(&app, "nope"))
        .header("If-Match", "*")
        .json(slack(HOOK))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    // the sentinel where nothing is stored: 400 naming the field
    let r = put(&app, &receiver(&app, "fresh"), slack("<secret>")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["field"], "slack_configs[0].api_url");
    assert_eq!(app.items().await, before, "no refused request wrote");
    // list: by name, masked
    put(
        &app,
        &receiver(&app, "a-pager"),
        json!({"pagerduty_configs": [{"routing_key": "k1"}]}),
    )
    .await;
    let list = get(&app, &am(&app, "receivers")).await.body;
    let names: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("a-pager"), json!("slack")]);
    assert_eq!(
        list["items"][0]["pagerduty_configs"][0]["routing_key"],
        "<secret>"
    );
    // delete: 204, then 404 for GET and DELETE; re-created, its ETag goes on (never repeats)
    let r = app.req(M::DELETE, &receiver(&app, "slack")).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    // (the root route's receiver is not the tenant's: 404 too)
    for (method, name) in [
        (M::GET, "slack"),
        (M::DELETE, "slack"),
        (M::GET, "kupe-default"),
    ] {
        let r = app.req(method.clone(), &receiver(&app, name)).send().await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(r.error(), "Receiver not found");
    }
    let r = put(&app, &receiver(&app, "slack"), slack(HOOK)).await;
    assert_eq!(
        (r.status, r.etag()),
        (StatusCode::CREATED, "\"4\"".to_string())
    );
}

#[tokio::test]
async fn bad_receivers_are_400_naming_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let before = app.items().await;
    let cases = [
        (
            "slack",
            json!({"slack_configs": [{"channel": "#a"}]}),
            "slack_configs[0].api_url",
        ),
        (
            "slack",
            slack("http://hooks.slack.com/x"),
            "slack_configs[0].api_url",
        ),
        (
            "slack",
            slack("https://169.254.169.254/latest/meta-data"),
            "slack_configs[0].api_url",
        ),
        (
            "teams",
            json!({"msteams_configs": [{"webhook_url": "not a url"}]}),
            "msteams_configs[0].webhook_url",
        ),
        (
            "pd",
            json!({"pagerduty_configs": [{}]}),
            "pagerduty_configs[0]",
        ),
        (
            "pd",
            json!({"pagerduty_configs": [{"routing_key": "k", "severity": "loud"}]}),
            "pagerduty_configs[0].severity",
        ),
        (
            "mail",
            json!({"email_configs": [{"to": "ops-at-acme"}]}),
            "email_configs[0].to",
        ),
        (
            "mail",
            json!({"email_configs": [{"to": "a@acme.com", "smarthost": "smtp.acme.com"}]}),
            "email_configs[0].smarthost",
        ),
        (
            "hook",
            json!({"webhook_configs": [{"url": "https://localhost:8080/"}]}),
            "webhook_configs[0].url",
        ),
        (
            "hook",
            json!({"webhook_configs": [{"url": "https://x.example.com/", "max_alerts": -1}]}),
            "webhook_configs[0].max_alerts",
        ),
        ("x", json!({"discord_configs": [{}]}), "discord_configs"),
        ("x", json!({"slack_configs": {}}), "slack_configs"),
        ("bad%2Fname", slack(HOOK), "name"),
        ("kupe-default", slack(HOOK), "name"),
    ];
    for (name, body, field) in cases {
        let r = put(&app, &receiver(&app, name), body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{name} {body}: {:?}",
            r.body
        );
        assert_eq!(r.body["code"], "ValidationFailed");
        assert_eq!(r.body["field"], field, "{body}: {:?}", r.body);
        assert_eq!(r.body["message"], r.body["error"]);
    }
    // not JSON, a wrong Content-Type, a repeated key, a body too large
    let path = receiver(&app, "slack");
    let r = app
        .req(M::PUT, &path)
        .raw("application/json", b"{")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.req(M::PUT, &path).raw("text/plain", b"{}").send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .req(M::PUT, &path)
        .raw(
            "application/json",
            br#"{"slack_configs": [], "slack_configs": []}"#,
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let big = json!({"slack_configs": [{"api_url": HOOK, "text": "x".repeat(20_000)}]});
    let r = put(&app, &path, big).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("16384"), "{}", r.error());
    let huge = json!({"slack_configs": [{"api_url": HOOK, "text": "x".repeat(70_000)}]});
    assert_eq!(put(&app, &path, huge).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.items().await,
        before,
        "no refused request wrote anything"
    );
}

#[tokio::test]
async fn the_plan_limits_the_receivers() {
    let app = TestApp::spawn_with_plan("starter").await;
    for i in 0..3 {
        let r = put(&app, &receiver(&app, &format!("r{i}")), slack(HOOK)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let before = app.items().await;
    let r = put(&app, &receiver(&app, "r3"), slack(HOOK)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["code"], "QuotaExceeded");
    assert_eq!(r.body["field"], "receivers");
    assert_eq!(app.items().await, before);
    // replacing one is not a new one; deleting one makes room
    assert_eq!(
        put(
            &app,
            &receiver(&app, "r0"),
            slack("https://x.example.com/2")
        )
        .await
        .status,
        StatusCode::OK
    );
    let r = app.req(M::DELETE, &receiver(&app, "r0")).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        put(&app, &receiver(&app, "r3"), slack(HOOK)).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn routes_name_only_existing_receivers_and_a_used_receiver_is_not_deleted() {
    let app = TestApp::spawn().await;
    let routes = am(&app, "routes");
    let r = get(&app, &routes).await;
    assert_eq!(
        (r.body.clone(), r.etag()),
        (json!({"items": []}), "\"0\"".to_string())
    );
    let tree = json!({"items": [{"receiver": "slack", "group_by": ["alertname", "cluster"],
        "matchers": ["severity=\"critical\""], "continue": true, "group_wait": "30s",
        "routes": [{"receiver": "pager", "match_re": {"service": "api|web"},
                    "repeat_interval": "1h"}]}]});
    // a route naming missing receivers: 400, nothing written
    let before = app.items().await;
    let r = put(&app, &routes, tree.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.error(),
        "routes name receivers that do not exist: pager, slack"
    );
    assert_eq!(app.items().await, before);
    put(&app, &receiver(&app, "slack"), slack(HOOK)).await;
    put(
        &app,
        &receiver(&app, "pager"),
        json!({"pagerduty_configs": [{"routing_key": "k"}]}),
    )
    .await;
    // with If-Match "0" (never written): 200 and ETag "1", the tree as sent
    let r = app
        .req(M::PUT, &routes)
        .header("If-Match", "\"0\"")
        .json(tree.clone())
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.etag(), "\"1\"");
    assert_eq!(r.body, tree);
    let r = get(&app, &routes).await;
    assert_eq!(
        (r.body.clone(), r.etag()),
        (tree.clone(), "\"1\"".to_string())
    );
    // the same If-Match again is stale
    let r = app
        .req(M::PUT, &routes)
        .header("If-Match", "\"0\"")
        .json(json!({"items": []}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    // a receiver a route uses: DELETE is 409, nothing written
    let before = app.items().await;
    for name in ["slack", "pager"] {
        let r = app.req(M::DELETE, &receiver(&app, name)).send().await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{name}");
        assert_eq!(r.body["code"], "Conflict");
        assert!(r.error().contains("used by a route"), "{}", r.error());
    }
    assert_eq!(app.items().await, before);
    // once the routes stop naming it, it goes
    let r = put(&app, &routes, json!({"items": [{"receiver": "slack"}]})).await;
    assert_eq!((r.status, r.etag()), (StatusCode::OK, "\"2\"".to_string()));
    let r = app.req(M::DELETE, &receiver(&app, "pager")).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // the routes' ETag did not move with the receiver's deletion
    assert_eq!(get(&app, &routes).await.etag(), "\"2\"");
}

#[tokio::test]
async fn bad_routes_are_400_naming_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    put(&app, &receiver(&app, "slack"), slack(HOOK)).await;
    let before = app.items().await;
    let mut deep = json!({"receiver": "slack"});
    for _ in 0..8 {
        deep = json!({"routes": [deep]});
    }
    let cases = [
        (json!({}), "items"),
        (json!({"items": {}}), "items"),
        (json!({"items": [{"group_wait": "30 seconds"}]}), "items[0].group_wait"),
        (json!({"items": [{"group_interval": "0s"}]}), "items[0].group_interval"),
        (json!({"items": [{"routes": [{"repeat_interval": "1x"}]}]}), "items[0].routes[0].repeat_interval"),
        (json!({"items": [{"matchers": ["severity"]}]}), "items[0].matchers[0]"),
        (json!({"items": [{"matchers": ["a=~\"(unclosed\""]}]}), "items[0].matchers[0]"),
        (json!({"items": [{"match_re": {"a": "*"}}]}), "items[0].match_re.a"),
        (json!({"items": [{"match": {"1bad": "x"}}]}), "items[0].match.1bad"),
        (json!({"items": [{"group_by": ["ok", "not-a-label"]}]}), "items[0].group_by[1]"),
        (json!({"items": [{"receiver": "bad/name"}]}), "items[0].receiver"),
        (json!({"items": [{"mute_time_intervals": ["nights"]}]}), "items[0].mute_time_intervals"),
        (json!({"items": [{"recevier": "slack"}]}), "items[0].recevier"),
        (json!({"items": [{"continue": "yes"}]}), "items[0].continue"),
        (json!({"items": [deep]}), "items[0].routes[0].routes[0].routes[0].routes[0].routes[0].routes[0].routes[0].routes[0]"),
    ];
    for (body, field) in cases {
        let r = put(&app, &am(&app, "routes"), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.body["field"], field, "{body}: {:?}", r.body);
    }
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn the_global_section_is_replaced_with_if_match_and_its_credentials_masked() {
    let app = TestApp::spawn().await;
    let path = am(&app, "global");
    let r = get(&app, &path).await;
    assert_eq!((r.body.clone(), r.etag()), (json!({}), "\"0\"".to_string()));
    let g = json!({"resolve_timeout": "5m", "smtp_from": "alerts@acme.com",
        "smtp_smarthost": "smtp.acme.com:587", "smtp_auth_password": "hunter2"});
    let r = put(&app, &path, g.clone()).await;
    assert_eq!((r.status, r.etag()), (StatusCode::OK, "\"1\"".to_string()));
    assert_eq!(r.body["smtp_auth_password"], "<secret>");
    assert_eq!(r.body["smtp_from"], "alerts@acme.com");
    // send back what GET answered, with one change: the password is kept
    let mut next = get(&app, &path).await.body;
    next["resolve_timeout"] = json!("10m");
    let r = app
        .req(M::PUT, &path)
        .header("If-Match", "\"1\"")
        .json(next.clone())
        .send()
        .await;
    assert_eq!((r.status, r.etag()), (StatusCode::OK, "\"2\"".to_string()));
    assert!(stored_text(&app).await.contains("hunter2"));
    let before = app.items().await;
    let r = app
        .req(M::PUT, &path)
        .header("If-Match", "\"1\"")
        .json(json!({}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    for (body, field) in [
        (json!({"resolve_timeout": "soon"}), "resolve_timeout"),
        (json!({"smtp_from": "nobody"}), "smtp_from"),
        (
            json!({"slack_api_url": "http://hooks.slack.com"}),
            "slack_api_url",
        ),
        (json!({"smtp_auth_secret": "<secret>"}), "smtp_auth_secret"),
        (json!({"unknown": 1}), "unknown"),
    ] {
        let r = put(&app, &path, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.body["field"], field, "{body}");
    }
    assert_eq!(app.items().await, before);
    // {} clears it
    let r = put(&app, &path, json!({})).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!({})));
}

/// Every receiver a route of the tree names, at any depth.
fn route_receivers(route: &serde_yaml::Value, out: &mut BTreeSet<String>) {
    if let Some(r) = route.get("receiver").and_then(|r| r.as_str()) {
        out.insert(r.to_string());
    }
    for child in route
        .get("routes")
        .and_then(|r| r.as_sequence())
        .into_iter()
        .flatten()
    {
        route_receivers(child, out);
    }
}

#[tokio::test]
async fn the_assembled_config_is_alertmanager_yaml_naming_only_defined_receivers() {
    let app = TestApp::spawn().await;
    let config = am(&app, "config");
    let empty = get(&app, &config).await;
    assert_eq!(empty.body["route"]["receiver"], "kupe-default");
    put(&app, &receiver(&app, "slack"), slack(HOOK)).await;
    put(
        &app,
        &receiver(&app, "mail"),
        json!({"email_configs": [{"to": "ops@acme.com",
        "smarthost": "smtp.acme.com:587", "auth_password": "pw-secret"}]}),
    )
    .await;
    put(
        &app,
        &receiver(&app, "hook"),
        json!({"webhook_configs": [{"url": "https://hooks.acme.com/a?token=t0k"}]}),
    )
    .await;
    put(
        &app,
        &am(&app, "global"),
        json!({"resolve_timeout": "5m", "smtp_from": "am@acme.com"}),
    )
    .await;
    let tree = json!({"items": [
        {"receiver": "slack", "matchers": ["severity=\"critical\""], "continue": true,
         "routes": [{"receiver": "hook", "match": {"team": "web"}}]},
        {"receiver": "mail", "group_by": ["..."], "repeat_interval": "12h"}]});
    assert_eq!(
        put(&app, &am(&app, "routes"), tree).await.status,
        StatusCode::OK
    );
    let r = get(&app, &config).await;
    assert_ne!(r.etag(), empty.etag(), "the ETag follows every write");
    // the YAML parses, and its routes name only receivers it defines
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(r.body["yaml"].as_str().unwrap()).expect("valid YAML");
    let defined: BTreeSet<String> = yaml["receivers"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        defined,
        ["hook", "kupe-default", "mail", "slack"]
            .map(String::from)
            .into()
    );
    let mut used = BTreeSet::new();
    route_receivers(&yaml["route"], &mut used);
    assert!(used.is_subset(&defined), "{used:?} ⊄ {defined:?}");
    assert_eq!(used.len(), 4, "the root's and the three of the tree");
    assert_eq!(yaml["route"]["group_by"][0], "alertname");
    assert_eq!(
        yaml["route"]["routes"][0]["routes"][0]["match"]["team"],
        "web"
    );
    assert_eq!(yaml["global"]["resolve_timeout"], "5m");
    // the YAML and the JSON are the same configuration, with no credential in either
    let as_json: Value = serde_yaml::from_value(yaml).unwrap();
    let mut structured = r.body.clone();
    structured.as_object_mut().unwrap().remove("yaml");
    assert_eq!(as_json, structured);
    for secret in ["real-secret", "pw-secret", "t0k"] {
        assert!(!r.body.to_string().contains(secret), "{secret} leaked");
    }
    // If-None-Match with the current ETag: 304, for a readonly key too
    let r2 = app
        .req(M::GET, &config)
        .key(Some(&app.readonly))
        .header("If-None-Match", &r.etag())
        .send()
        .await;
    assert_eq!(r2.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn the_tenant_purge_removes_the_alertmanager_items() {
    let app = TestApp::spawn().await;
    put(&app, &receiver(&app, "slack"), slack(HOOK)).await;
    put(&app, &receiver(&app, "gone"), slack(HOOK)).await;
    app.req(M::DELETE, &receiver(&app, "gone")).send().await;
    put(
        &app,
        &am(&app, "routes"),
        json!({"items": [{"receiver": "slack"}]}),
    )
    .await;
    put(&app, &am(&app, "global"), json!({"resolve_timeout": "5m"})).await;
    let pk = tenant_pk(&app.tenant);
    let am_items =
        |items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]| {
            items
                .iter()
                .filter(|i| {
                    i["pk"].as_s().unwrap() == &pk && i["sk"].as_s().unwrap().starts_with("AM#")
                })
                .count()
        };
    assert_eq!(
        am_items(&app.items().await),
        4,
        "two receivers (one a tombstone), routes, global"
    );
    let r = app
        .req(M::DELETE, &format!("/api/v1/tenants/{}", app.tenant))
        .json(json!({"confirm": app.tenant}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    // writes while terminating: 409
    let r = put(&app, &receiver(&app, "late"), slack(HOOK)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let purged = app
        .ctx
        .store
        .tenant_purge()
        .purge(&app.tenant)
        .await
        .unwrap();
    assert_eq!(purged, kupe_shared::store::tenant_purge::Purged::Purged);
    assert_eq!(am_items(&app.items().await), 0);
}
