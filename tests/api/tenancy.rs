//! Tenancy: the API-key routes and plan quotas.

use futures::future::join_all;
use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

fn keys_path(app: &TestApp) -> String {
    format!("/api/v1/tenants/{}/apikeys", app.tenant)
}

#[tokio::test]
async fn a_key_is_created_used_listed_without_its_secret_revoked_and_refused_next() {
    let app = TestApp::spawn().await;
    // create
    let r = app
        .req(M::POST, &keys_path(&app))
        .json(json!({"displayName": "CI deploy", "role": "readonly", "expiresAt": "2099-01-01T00:00:00Z"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let key = r.body["key"].as_str().unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ak-") && key.starts_with(&format!("kupe_{}_", &id[3..])));
    assert_eq!(r.body["role"], "readonly");
    assert_eq!(r.body["displayName"], "CI deploy");
    assert_eq!(r.body["expiresAt"], "2099-01-01T00:00:00Z");
    let admin_id = format!("ak-{}", &app.admin[5..13]);
    assert_eq!(r.body["createdBy"], admin_id);
    let secret = key.rsplit('_').next().unwrap().to_string();
    assert!(secret.len() >= 22, "at least 128 bits of base62");
    // use
    assert_eq!(
        app.req(M::GET, &app.clusters())
            .key(Some(&key))
            .send()
            .await
            .status,
        StatusCode::OK
    );
    // list: metadata, lastUsedAt, no secret anywhere (nor in the table)
    let list = app.req(M::GET, &keys_path(&app)).send().await;
    assert_eq!(list.status, StatusCode::OK);
    let text = list.body.to_string();
    assert!(!text.contains(&secret) && !text.contains("secretHash") && !text.contains("\"key\""));
    let mine = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(mine["lastUsedAt"].is_string(), "{mine}");
    assert!(!format!("{:?}", app.items().await).contains(&secret));
    // revoke, then the very next request is refused
    let r = app
        .req(M::DELETE, &format!("{}/{id}", keys_path(&app)))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.req(M::GET, &app.clusters())
            .key(Some(&key))
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .req(M::DELETE, &format!("{}/{id}", keys_path(&app)))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "API key not found");
}

#[tokio::test]
async fn key_routes_validate_their_input_and_are_admin_only() {
    let app = TestApp::spawn().await;
    let before = app.items().await;
    for (body, want) in [
        (json!({"role": "admin"}), "displayName is required"),
        (json!({"displayName": "x"}), "role is required"),
        (json!({"displayName": "x", "role": "owner"}), "role must be"),
        (json!({"displayName": "", "role": "admin"}), "displayName"),
        (
            json!({"displayName": "x", "role": "admin", "expiresAt": "2020-01-01T00:00:00Z"}),
            "in the future",
        ),
        (
            json!({"displayName": "x", "role": "admin", "expiresAt": "soon"}),
            "RFC 3339",
        ),
        (
            json!({"displayName": "x", "role": "admin", "scope": "all"}),
            "unknown field scope",
        ),
    ] {
        let r = app
            .req(M::POST, &keys_path(&app))
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.error().contains(want), "{body}: {}", r.error());
    }
    for bad in ["12345678", "ak-XYZ", "ak-1234567"] {
        let r = app
            .req(M::DELETE, &format!("{}/{bad}", keys_path(&app)))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.error(), "Invalid API key ID format");
    }
    let r = app
        .req(M::DELETE, &format!("{}/ak-00000000", keys_path(&app)))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // readonly cannot touch keys, not even list them
    for (m, path) in [
        (M::GET, keys_path(&app)),
        (M::POST, keys_path(&app)),
        (M::DELETE, format!("{}/ak-00000000", keys_path(&app))),
    ] {
        let r = app
            .req(m.clone(), &path)
            .key(Some(&app.readonly))
            .json(json!({"displayName": "x", "role": "admin"}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{m} {path}");
        assert_eq!(r.error(), "Admin access required");
    }
    // another tenant's key id is "not found" here, and stays valid
    let other = app.tenant("pro").await;
    let other_key = app.key(&other, "admin", None).await;
    let other_id = format!("ak-{}", &other_key[5..13]);
    let r = app
        .req(M::DELETE, &format!("{}/{other_id}", keys_path(&app)))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.items().await.len(),
        before.len() + 2,
        "only the other tenant and its key were added"
    );
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let app = TestApp::spawn().await;
    let r = app
        .req(M::POST, &keys_path(&app))
        .json(json!({"displayName": "short", "role": "admin", "expiresAt": kupe_shared::domain::format_rfc3339(time_in(2))}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let key = r.body["key"].as_str().unwrap().to_string();
    assert_eq!(
        app.req(M::GET, &app.clusters())
            .key(Some(&key))
            .send()
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        app.req(M::GET, &app.clusters())
            .key(Some(&key))
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

fn time_in(secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::seconds(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_against_a_quota_of_five_leave_exactly_five() {
    // the pro plan allows 5 clusters
    let app = TestApp::spawn().await;
    let creates = (0..20).map(|i| {
        let app = &app;
        async move {
            app.req(M::POST, &app.clusters())
                .json(json!({"name": format!("c{i:02}"), "displayName": "C", "type": "shared"}))
                .send()
                .await
        }
    });
    let results = join_all(creates).await;
    let created = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let refused: Vec<_> = results
        .iter()
        .filter(|r| r.status == StatusCode::FORBIDDEN)
        .collect();
    assert_eq!(created, 5);
    assert_eq!(refused.len(), 15);
    assert!(
        refused[0].error().contains("quota"),
        "{}",
        refused[0].error()
    );
    let list = app.req(M::GET, &app.clusters()).send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 5);
    // a deleting cluster still holds its slot; once gone, the slot is free again
    let victim = list.body["items"][0]["name"].as_str().unwrap().to_string();
    app.req(M::DELETE, &app.cluster(&victim)).send().await;
    let r = app
        .req(M::POST, &app.clusters())
        .json(json!({"name": "late", "displayName": "L", "type": "shared"}))
        .send()
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "still deleting: the slot is taken"
    );
    let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
    let name = kupe_shared::domain::names::ClusterName::parse(&victim).unwrap();
    assert!(app
        .ctx
        .store
        .clusters()
        .finish_deletion(&tenant, &name, 2)
        .await
        .unwrap());
    let r = app
        .req(M::POST, &app.clusters())
        .json(json!({"name": "late", "displayName": "L", "type": "shared"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .req(M::POST, &app.clusters())
        .json(json!({"name": "later", "displayName": "L", "type": "shared"}))
        .send()
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the count stays right: 5 again"
    );
}

#[tokio::test]
async fn set_plan_changes_the_quota_and_the_dedicated_permission() {
    let app = TestApp::spawn_with_plan("starter").await;
    app.create("a1").await;
    app.create("a2").await;
    let third = json!({"name": "a3", "displayName": "A", "type": "shared"});
    assert_eq!(
        app.req(M::POST, &app.clusters())
            .json(third.clone())
            .send()
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    kupe_shared::admin::set_plan(&app.ctx.store, &app.tenant, "pro")
        .await
        .unwrap();
    assert_eq!(
        app.req(M::POST, &app.clusters())
            .json(third)
            .send()
            .await
            .status,
        StatusCode::CREATED
    );
    let ded = json!({"name": "a4", "displayName": "A", "type": "dedicated"});
    assert_eq!(
        app.req(M::POST, &app.clusters())
            .json(ded)
            .send()
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn repeated_bad_keys_from_one_ip_back_off_exponentially_and_other_ips_are_unaffected() {
    use kupe_shared::domain::apikey::{KeyId, RawKey};
    let app = TestApp::spawn().await;
    let ip = "203.0.113.9";
    let bad = || RawKey::generate(KeyId::random()).expose().to_string();
    let try_bad = |key: String| {
        let app = &app;
        async move {
            app.req(M::GET, &app.clusters())
                .key(Some(&key))
                .from_ip(ip)
                .send()
                .await
        }
    };
    // the first four failures are plain 401s
    for _ in 0..4 {
        assert_eq!(try_bad(bad()).await.status, StatusCode::UNAUTHORIZED);
    }
    // from the fifth on, each failure blocks the IP for 1, 2, 4 ... seconds
    let mut waits = Vec::new();
    for _ in 0..3 {
        assert_eq!(try_bad(bad()).await.status, StatusCode::UNAUTHORIZED);
        let blocked = try_bad(bad()).await;
        assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
        waits.push(wait);
        // even a good key waits while the IP is blocked
        let good = app.req(M::GET, &app.clusters()).from_ip(ip).send().await;
        assert_eq!(good.status, StatusCode::TOO_MANY_REQUESTS);
        tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 1100)).await;
    }
    // A block of b seconds is counted from the next whole second, so Retry-After is b + 1 when
    // the blocked request comes within the failure's second and b when it comes in the next
    // (on a busy machine, either).
    for (wait, block) in waits.iter().zip([1, 2, 4]) {
        assert!(
            (block..=block + 1).contains(wait),
            "blocks of 1, 2, 4 s: {waits:?}"
        );
    }
    // another IP is unaffected
    let r = app
        .req(M::GET, &app.clusters())
        .key(Some(&bad()))
        .from_ip("203.0.113.10")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .req(M::GET, &app.clusters())
        .from_ip("203.0.113.10")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_burst_over_the_request_limit_is_429_with_retry_after_per_ip() {
    let app = TestApp::spawn().await;
    let limiter = kupe_local::ratelimit::RateLimiter::new(5, std::time::Duration::from_secs(60));
    let send = |ip: &str| {
        let mut req = kupe_local::PlainRequest {
            method: M::GET,
            path: app.clusters(),
            source_ip: ip.to_string(),
            ..Default::default()
        };
        req.headers.insert(
            "authorization",
            format!("Bearer {}", app.admin).parse().unwrap(),
        );
        kupe_local::dispatch_limited(&limiter, &app.ctx, req)
    };
    for _ in 0..5 {
        assert_eq!(send("192.0.2.1").await.status(), StatusCode::OK);
    }
    let limited = send("192.0.2.1").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(
        send("192.0.2.2").await.status(),
        StatusCode::OK,
        "other IPs are unaffected"
    );
}
