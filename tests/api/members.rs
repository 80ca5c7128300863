//! Tenant members, through the handlers against the emulator: every route, status and rule,
//! URL-encoded emails, If-Match on the tenant's ETag, the last-admin rule (also under
//! concurrency), and "a refused request writes nothing".

use futures::future::join_all;
use kupe_tests::{TestApp, TestResponse, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

fn members(app: &TestApp) -> String {
    format!("/api/v1/tenants/{}/members", app.tenant)
}

fn member(app: &TestApp, email: &str) -> String {
    format!("/api/v1/tenants/{}/members/{email}", app.tenant)
}

async fn add(app: &TestApp, email: &str, role: &str) -> TestResponse {
    app.req(M::POST, &members(app))
        .json(json!({"email": email, "role": role}))
        .send()
        .await
}

async fn list(app: &TestApp) -> Value {
    let r = app.req(M::GET, &members(app)).send().await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn members_are_added_listed_changed_and_removed() {
    let app = TestApp::spawn().await;
    assert_eq!(list(&app).await, json!({"items": []}));
    // add: 201 {email, role} and the tenant's new ETag (a tenant is onboarded at 1)
    let r = add(&app, "Zoe@Acme.com", "admin").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body, json!({"email": "Zoe@Acme.com", "role": "admin"}));
    assert_eq!(r.etag(), "\"2\"");
    let r = add(&app, "  bob@acme.com ", "readonly").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["email"], "bob@acme.com", "trimmed");
    assert_eq!(r.etag(), "\"3\"");
    // list: sorted by email, case-insensitively; readonly keys may read; ETag is the tenant's
    let r = app
        .req(M::GET, &members(&app))
        .key(Some(&app.readonly))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.etag(), "\"3\"");
    assert_eq!(
        r.body,
        json!({"items": [{"email": "bob@acme.com", "role": "readonly"},
                         {"email": "Zoe@Acme.com", "role": "admin"}]})
    );
    // a duplicate, in any case: 409 AlreadyExists, nothing written
    let before = app.items().await;
    let r = add(&app, "ZOE@acme.COM", "readonly").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "AlreadyExists");
    assert_eq!(r.error(), "Member already exists");
    assert_eq!(app.items().await, before);
    // PATCH by URL-encoded email (and by a raw @, and in another case, as Terraform sends it)
    for (path_email, role) in [
        ("bob%40acme.com", "admin"),
        ("bob@acme.com", "readonly"),
        ("BOB%40ACME.COM", "admin"),
    ] {
        let r = app
            .req(M::PATCH, &member(&app, path_email))
            .json(json!({"role": role}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path_email}: {:?}", r.body);
        assert_eq!(r.body, json!({"email": "bob@acme.com", "role": role}));
    }
    assert_eq!(list(&app).await["items"][0]["role"], "admin");
    // a PATCH that changes nothing: 200, no write
    let before = app.items().await;
    let r = app
        .req(M::PATCH, &member(&app, "bob%40acme.com"))
        .json(json!({"role": "admin"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.etag(), "\"6\"");
    assert_eq!(app.items().await, before);
    // DELETE: 204 and the new ETag; then 404 for it, and for PATCH of it
    let r = app
        .req(M::DELETE, &member(&app, "Bob%40acme.com"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.etag(), "\"7\"");
    let before = app.items().await;
    let r = app
        .req(M::DELETE, &member(&app, "bob%40acme.com"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        (r.body["code"].as_str(), r.error()),
        (Some("NotFound"), "Member not found")
    );
    let r = app
        .req(M::PATCH, &member(&app, "nobody%40acme.com"))
        .json(json!({"role": "admin"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.items().await, before);
    assert_eq!(
        list(&app).await,
        json!({"items": [{"email": "Zoe@Acme.com", "role": "admin"}]})
    );
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    add(&app, "admin@acme.com", "admin").await;
    add(&app, "ro@acme.com", "readonly").await;
    let before = app.items().await;
    let long = format!("{}@acme.com", "a".repeat(250));
    let bodies = [
        (json!({"email": "no-at-sign", "role": "admin"}), "email"),
        (json!({"email": "a@b@acme.com", "role": "admin"}), "email"),
        (json!({"email": "@acme.com", "role": "admin"}), "email"),
        (json!({"email": "dev@localhost", "role": "admin"}), "email"),
        (
            json!({"email": "dev ops@acme.com", "role": "admin"}),
            "email",
        ),
        (
            json!({"email": "dev\u{1}@acme.com", "role": "admin"}),
            "email",
        ),
        (json!({"email": long, "role": "admin"}), "email"),
        (json!({"email": 7, "role": "admin"}), "email"),
        (json!({"role": "admin"}), "email"),
        (json!({"email": "x@acme.com", "role": "owner"}), "role"),
        (json!({"email": "x@acme.com"}), "role"),
        (
            json!({"email": "x@acme.com", "role": "admin", "name": "X"}),
            "name",
        ),
    ];
    for (body, field) in bodies {
        let r = app
            .req(M::POST, &members(&app))
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.body["code"], "ValidationFailed", "{body}");
        assert_eq!(r.body["field"], field, "{body}: {:?}", r.body);
    }
    for (path_email, body, field) in [
        ("ro%40acme.com", json!({"role": "owner"}), "role"),
        ("ro%40acme.com", json!({}), "role"),
        (
            "ro%40acme.com",
            json!({"role": "admin", "email": "y@acme.com"}),
            "email",
        ),
        ("not-an-email", json!({"role": "admin"}), "email"),
        ("ro%2540acme.com", json!({"role": "admin"}), "email"),
    ] {
        let r = app
            .req(M::PATCH, &member(&app, path_email))
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path_email} {body}");
        assert_eq!(r.body["field"], field, "{path_email} {body}: {:?}", r.body);
    }
    let r = app.req(M::DELETE, &member(&app, "no%20such")).send().await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("email"))
    );
    let r = app
        .req(M::POST, &members(&app))
        .raw("text/plain", b"{}")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.items().await,
        before,
        "no refused request wrote anything"
    );
}

#[tokio::test]
async fn if_match_takes_the_tenants_etag() {
    let app = TestApp::spawn().await;
    // a tenant just onboarded has ETag "1"
    let r = app
        .req(M::POST, &members(&app))
        .header("If-Match", "\"1\"")
        .json(json!({"email": "a@acme.com", "role": "admin"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let etag = r.etag();
    let before = app.items().await;
    for stale in ["\"1\"", "W/\"2\"", "\"7\", \"9\""] {
        let r = app
            .req(M::POST, &members(&app))
            .header("If-Match", stale)
            .json(json!({"email": "b@acme.com", "role": "readonly"}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{stale}");
        assert_eq!(r.body["code"], "PreconditionFailed");
        let r = app
            .req(M::DELETE, &member(&app, "a%40acme.com"))
            .header("If-Match", stale)
            .send()
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{stale}");
    }
    assert_eq!(app.items().await, before, "a 412 writes nothing");
    // 404 comes before 412
    let r = app
        .req(M::PATCH, &member(&app, "ghost%40acme.com"))
        .header("If-Match", "\"0\"")
        .json(json!({"role": "admin"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // the current tag, bare or in a list, and `*` match
    let r = app
        .req(M::POST, &members(&app))
        .header("If-Match", &format!("\"5\", {etag}"))
        .json(json!({"email": "b@acme.com", "role": "readonly"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .req(M::PATCH, &member(&app, "b%40acme.com"))
        .header("If-Match", r.etag().trim_matches('"'))
        .json(json!({"role": "admin"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .req(M::DELETE, &member(&app, "b%40acme.com"))
        .header("If-Match", "*")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.etag(), "\"5\"");
}

#[tokio::test]
async fn the_last_admin_can_be_neither_removed_nor_demoted() {
    let app = TestApp::spawn().await;
    add(&app, "a@acme.com", "admin").await;
    add(&app, "r@acme.com", "readonly").await;
    let before = app.items().await;
    let r = app
        .req(M::DELETE, &member(&app, "a%40acme.com"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("last admin"), "{}", r.error());
    let r = app
        .req(M::PATCH, &member(&app, "a%40acme.com"))
        .json(json!({"role": "readonly"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("last admin"), "{}", r.error());
    assert_eq!(app.items().await, before);
    // a readonly member goes freely; with a second admin, the first may go
    let r = app
        .req(M::DELETE, &member(&app, "r%40acme.com"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    add(&app, "b@acme.com", "admin").await;
    let r = app
        .req(M::PATCH, &member(&app, "a%40acme.com"))
        .json(json!({"role": "readonly"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .req(M::DELETE, &member(&app, "b%40acme.com"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "b is the last admin now");
}

#[tokio::test]
async fn a_terminating_tenant_takes_no_member_changes_and_no_clusters() {
    let app = TestApp::spawn().await;
    add(&app, "a@acme.com", "admin").await;
    add(&app, "r@acme.com", "readonly").await;
    let r = app
        .req(M::DELETE, &format!("/api/v1/tenants/{}", app.tenant))
        .json(json!({"confirm": app.tenant, "cascade": true}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let before = app.items().await;
    let writes = [
        app.req(M::POST, &members(&app))
            .json(json!({"email": "n@acme.com", "role": "admin"}))
            .send()
            .await,
        app.req(M::PATCH, &member(&app, "r%40acme.com"))
            .json(json!({"role": "admin"}))
            .send()
            .await,
        app.req(M::DELETE, &member(&app, "r%40acme.com"))
            .send()
            .await,
        app.req(M::POST, &app.clusters())
            .json(json!({"name": "late", "displayName": "Late", "type": "shared"}))
            .send()
            .await,
    ];
    for r in writes {
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert_eq!(r.body["code"], "Conflict");
        assert!(r.error().contains("being deleted"), "{}", r.error());
    }
    assert_eq!(app.items().await, before);
    // reading still works until the purge
    assert_eq!(list(&app).await["items"].as_array().unwrap().len(), 2);
}

fn rounds() -> usize {
    std::env::var("KUPE_RACE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200)
        .min(40)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_demotions_of_the_last_two_admins_leave_one_admin() {
    // GIVEN one admin
    let app = TestApp::spawn().await;
    add(&app, "first@acme.com", "admin").await;
    let mut survivor = "first@acme.com".to_string();
    for round in 0..rounds() {
        // a second admin joins; then both are demoted (or removed) at once
        let other = format!("r{round}@acme.com");
        assert_eq!(add(&app, &other, "admin").await.status, StatusCode::CREATED);
        let pair = [survivor.clone(), other.clone()];
        let requests = pair.iter().enumerate().map(|(i, email)| {
            let app = &app;
            let path = member(app, &email.replace('@', "%40"));
            async move {
                if (round + i) % 2 == 0 {
                    app.req(M::PATCH, &path)
                        .json(json!({"role": "readonly"}))
                        .send()
                        .await
                } else {
                    app.req(M::DELETE, &path).send().await
                }
            }
        });
        let results = join_all(requests).await;
        let won: Vec<usize> = (0..2).filter(|i| results[*i].status.is_success()).collect();
        let refused = results
            .iter()
            .filter(|r| r.status == StatusCode::BAD_REQUEST)
            .count();
        // THEN exactly one lands and the other is refused as the last admin
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        assert_eq!(refused, 1, "round {round}: {results:?}");
        let admins: Vec<String> = list(&app).await["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "admin")
            .map(|m| m["email"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(admins.len(), 1, "round {round}: {admins:?}");
        survivor = pair[1 - won[0]].clone();
        assert_eq!(admins[0], survivor, "round {round}");
    }
}
