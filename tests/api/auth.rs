use kupe_shared::{
    domain::apikey::{KeyId, RawKey, Role},
    store::ApiKeyRecord,
};
use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

/// Every route, with a body where it takes one, and its success status for an admin.
fn routes(app: &TestApp) -> Vec<(M, String, Option<serde_json::Value>, StatusCode)> {
    vec![
        (M::GET, app.clusters(), None, StatusCode::OK),
        (M::GET, app.cluster("prod"), None, StatusCode::OK),
        (
            M::PATCH,
            app.cluster("prod"),
            Some(json!({"resources": {"cpu": "3"}})),
            StatusCode::OK,
        ),
        (
            M::POST,
            app.clusters(),
            Some(json!({"name": "new", "displayName": "N", "type": "shared"})),
            StatusCode::CREATED,
        ),
        (M::DELETE, app.cluster("prod"), None, StatusCode::NO_CONTENT),
        // tenancy: the tenant itself
        (
            M::GET,
            format!("/api/v1/tenants/{}", app.tenant),
            None,
            StatusCode::OK,
        ),
        (
            M::PATCH,
            format!("/api/v1/tenants/{}", app.tenant),
            Some(json!({"enforceLogLimit": true})),
            StatusCode::OK,
        ),
        (M::GET, members(app, ""), None, StatusCode::OK),
        (
            M::POST,
            members(app, ""),
            Some(json!({"email": "new@acme.com", "role": "readonly"})),
            StatusCode::CREATED,
        ),
        (
            M::PATCH,
            members(app, "/ro%40acme.com"),
            Some(json!({"role": "admin"})),
            StatusCode::OK,
        ),
        (
            M::DELETE,
            members(app, "/ro%40acme.com"),
            None,
            StatusCode::NO_CONTENT,
        ),
        // the Alertmanager configuration (a receiver `existing` is there before)
        (M::GET, alertmanager(app, "config"), None, StatusCode::OK),
        (M::GET, alertmanager(app, "receivers"), None, StatusCode::OK),
        (
            M::GET,
            alertmanager(app, "receivers/existing"),
            None,
            StatusCode::OK,
        ),
        (
            M::PUT,
            alertmanager(app, "receivers/slack"),
            Some(json!({"slack_configs": [{"api_url": "https://hooks.slack.com/x"}]})),
            StatusCode::CREATED,
        ),
        (M::GET, alertmanager(app, "routes"), None, StatusCode::OK),
        (
            M::PUT,
            alertmanager(app, "routes"),
            Some(json!({"items": [{"receiver": "slack"}]})),
            StatusCode::OK,
        ),
        (
            M::DELETE,
            alertmanager(app, "receivers/existing"),
            None,
            StatusCode::NO_CONTENT,
        ),
        (M::GET, alertmanager(app, "global"), None, StatusCode::OK),
        (
            M::PUT,
            alertmanager(app, "global"),
            Some(json!({"resolve_timeout": "5m"})),
            StatusCode::OK,
        ),
        // last: the tenant goes (the cluster above is deleting, so with cascade)
        (
            M::DELETE,
            format!("/api/v1/tenants/{}", app.tenant),
            Some(json!({"confirm": app.tenant, "cascade": true})),
            StatusCode::ACCEPTED,
        ),
    ]
}

fn alertmanager(app: &TestApp, rest: &str) -> String {
    format!("/api/v1/tenants/{}/alertmanager/{rest}", app.tenant)
}

fn members(app: &TestApp, rest: &str) -> String {
    format!("/api/v1/tenants/{}/members{rest}", app.tenant)
}

/// The public routes: every credential, even a refused one, is ignored.
fn public_routes() -> Vec<String> {
    vec!["/api/v1/plans".into(), "/api/v1/plans/pro".into()]
}

/// A credential that must be refused: what it is, the key (or a raw Authorization header), and
/// the status and message the refusal carries.
type Refusal = (
    &'static str,
    Option<String>,
    Option<&'static str>,
    StatusCode,
    &'static str,
);

async fn expired_key(app: &TestApp) -> String {
    let key = RawKey::generate(KeyId::random());
    let record = ApiKeyRecord {
        id: key.id().clone(),
        tenant: app.tenant.clone(),
        role: Role::Admin,
        secret_hash: key.hash(),
        display_name: "expired".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        created_by: "tests".into(),
        expires_at: Some("2026-01-02T00:00:00Z".into()),
        last_used_at: None,
    };
    assert!(app.ctx.store.api_keys().create(&record).await.unwrap());
    key.expose().to_string()
}

#[tokio::test]
async fn every_route_answers_the_credential_matrix() {
    // GIVEN a tenant with a cluster, and every kind of credential
    let app = TestApp::spawn().await;
    app.create("prod").await;
    for (email, role) in [("owner@acme.com", "admin"), ("ro@acme.com", "readonly")] {
        kupe_shared::admin::add_member(&app.ctx.store, &app.tenant, email, role)
            .await
            .unwrap();
    }
    let other = app.tenant("pro").await;
    let other_admin = app.key(&other, "admin", None).await;
    let revoked = app.key(&app.tenant, "admin", None).await;
    let revoked_id = RawKey::parse(&revoked).unwrap().id().clone();
    assert!(app.ctx.store.api_keys().revoke(&revoked_id).await.unwrap());
    let expired = expired_key(&app).await;
    let unknown = RawKey::generate(KeyId::random()).expose().to_string();
    let wrong_secret = format!("{}_{}", &app.admin[..13], "A".repeat(43));
    let existing = app
        .req(M::PUT, &alertmanager(&app, "receivers/existing"))
        .json(json!({"webhook_configs": [{"url": "https://hooks.acme.com/x"}]}))
        .send()
        .await;
    assert_eq!(existing.status, StatusCode::CREATED);
    let before = app.items().await;
    let refused: Vec<Refusal> = vec![
        (
            "no key",
            None,
            None,
            StatusCode::UNAUTHORIZED,
            "Missing API key",
        ),
        (
            "basic auth",
            None,
            Some("Basic dXNlcjpwYXNz"),
            StatusCode::UNAUTHORIZED,
            "Malformed",
        ),
        (
            "malformed",
            Some("not-a-kupe-key".into()),
            None,
            StatusCode::UNAUTHORIZED,
            "Invalid",
        ),
        (
            "unknown",
            Some(unknown),
            None,
            StatusCode::UNAUTHORIZED,
            "Invalid",
        ),
        (
            "wrong secret",
            Some(wrong_secret),
            None,
            StatusCode::UNAUTHORIZED,
            "Invalid",
        ),
        (
            "expired",
            Some(expired),
            None,
            StatusCode::UNAUTHORIZED,
            "Invalid",
        ),
        (
            "revoked",
            Some(revoked),
            None,
            StatusCode::UNAUTHORIZED,
            "Invalid",
        ),
        (
            "other tenant's admin",
            Some(other_admin),
            None,
            StatusCode::FORBIDDEN,
            "Not a member of this tenant",
        ),
    ];
    for (method, path, body, _) in routes(&app) {
        for (what, key, raw_header, status, msg) in &refused {
            let mut req = app.req(method.clone(), &path).key(key.as_deref());
            if let Some(h) = raw_header {
                req = req.header("authorization", h);
            }
            if let Some(b) = &body {
                req = req.json(b.clone());
            }
            let r = req.send().await;
            assert_eq!(r.status, *status, "{method} {path} with {what}");
            assert!(
                r.error().contains(msg),
                "{method} {path} with {what}: {}",
                r.error()
            );
            assert!(
                !r.body.to_string().contains(&app.tenant) && !r.body.to_string().contains("prod"),
                "nothing of the tenant leaks"
            );
        }
    }
    // the public routes answer every credential alike
    for path in public_routes() {
        for (what, key, raw_header, _, _) in &refused {
            let mut req = app.req(M::GET, &path).key(key.as_deref());
            if let Some(h) = raw_header {
                req = req.header("authorization", h);
            }
            let r = req.send().await;
            assert_eq!(r.status, StatusCode::OK, "GET {path} with {what}");
        }
    }
    // a readonly key reads, and is refused every write
    for (method, path, body, ok) in routes(&app) {
        let mut req = app.req(method.clone(), &path).key(Some(&app.readonly));
        if let Some(b) = &body {
            req = req.json(b.clone());
        }
        let r = req.send().await;
        if method == M::GET {
            assert_eq!(r.status, ok, "{method} {path} readonly");
        } else {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path} readonly");
            assert_eq!(r.error(), "Admin access required");
        }
    }
    assert_eq!(
        app.items().await,
        before,
        "no refused request wrote anything"
    );
    // and the admin key succeeds on every route
    for (method, path, body, ok) in routes(&app) {
        let mut req = app.req(method.clone(), &path);
        if let Some(b) = &body {
            req = req.json(b.clone());
        }
        assert_eq!(req.send().await.status, ok, "{method} {path} admin");
    }
}

#[tokio::test]
async fn failures_follow_the_status_precedence() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    let bad_body = json!({"resources": {"cpu": "x"}});
    // 401 beats everything
    let r = app
        .req(M::PATCH, "/api/v1/tenants/NOPE/clusters/NOPE")
        .key(None)
        .json(bad_body.clone())
        .send()
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // 403 beats 400
    let r = app
        .req(M::PATCH, &app.cluster("prod"))
        .key(Some(&app.readonly))
        .json(bad_body.clone())
        .send()
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // 400 beats 404
    let r = app
        .req(M::PATCH, &app.cluster("ghost"))
        .json(bad_body.clone())
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // 404 beats 412
    let r = app
        .req(M::PATCH, &app.cluster("ghost"))
        .header("If-Match", "\"1\"")
        .json(json!({"alerts": {}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_revoked_key_is_refused_on_the_very_next_request() {
    let app = TestApp::spawn().await;
    let key = app.key(&app.tenant, "readonly", None).await;
    assert_eq!(
        app.req(M::GET, &app.clusters())
            .key(Some(&key))
            .send()
            .await
            .status,
        StatusCode::OK
    );
    app.ctx
        .store
        .api_keys()
        .revoke(RawKey::parse(&key).unwrap().id())
        .await
        .unwrap();
    assert_eq!(
        app.req(M::GET, &app.clusters())
            .key(Some(&key))
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_table_holds_only_a_hash_of_each_key() {
    let app = TestApp::spawn().await;
    let dump = format!("{:?}", app.items().await);
    for key in [&app.admin, &app.readonly] {
        let secret = key.rsplit('_').next().unwrap();
        assert!(!dump.contains(secret), "the secret is not stored");
        assert!(
            dump.contains(&RawKey::parse(key).unwrap().hash()),
            "its hash is"
        );
    }
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = TestApp::spawn().await;
    let r = app.req(M::GET, "/api/v1/nothing").send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.req(M::PUT, &app.cluster("prod")).send().await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // RFC 9110: a 405 lists the methods the path answers (found by schemathesis).
    assert_eq!(r.header("allow"), Some("DELETE, GET, PATCH"));
    let r = app.req(M::TRACE, "/api/v1/plans").send().await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("GET"));
}
