//! The tenant routes (GET and PATCH /tenants/{tenant}), the public plan catalog, and the
//! tenant's resource pool as creates and resizes use it.

use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

fn tenant_path(app: &TestApp) -> String {
    format!("/api/v1/tenants/{}", app.tenant)
}

async fn create(app: &TestApp, name: &str, resources: Value) -> kupe_tests::TestResponse {
    app.req(M::POST, &app.clusters())
        .json(json!({"name": name, "displayName": name, "type": "shared", "resources": resources}))
        .send()
        .await
}

#[tokio::test]
async fn plans_are_public_listed_smallest_first_and_an_unknown_one_is_404() {
    let app = TestApp::spawn().await;
    // no key, a malformed key and a valid key are all the same to a public route
    for key in [None, Some("nonsense"), Some(app.admin.as_str())] {
        let r = app.req(M::GET, "/api/v1/plans").key(key).send().await;
        assert_eq!(r.status, StatusCode::OK, "{key:?}: {:?}", r.body);
        let names: Vec<&str> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["starter", "pro", "business", "enterprise"]);
    }
    let r = app
        .req(M::GET, "/api/v1/plans/pro")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .key(None)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // the fields and types Kupe's Terraform provider and CLI read
    assert_eq!(r.body["displayName"], "Pro");
    assert_eq!(r.body["platformFee"], "49.00");
    assert_eq!(r.body["maxClusters"], 5);
    assert_eq!(
        r.body["resourcePool"],
        json!({"cpu": "16", "memory": "64Gi", "storage": "500Gi"})
    );
    assert_eq!(
        r.body["observabilityPool"],
        json!({"maxActiveSeries": 50000, "logIngestGB": 50, "retentionDays": 90, "maxReceivers": 10})
    );
    let r = app.req(M::GET, "/api/v1/plans/gold").key(None).send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["code"], "NotFound");
    assert_eq!(app.calls.attempts(), 0, "the catalog costs no AWS call");
}

#[tokio::test]
async fn public_routes_are_rate_limited_like_the_rest() {
    let app = TestApp::spawn().await;
    let limiter = kupe_local::ratelimit::RateLimiter::new(2, std::time::Duration::from_secs(60));
    let send = || {
        let req = kupe_local::PlainRequest {
            method: M::GET,
            path: "/api/v1/plans".into(),
            source_ip: "192.0.2.77".into(),
            ..Default::default()
        };
        kupe_local::dispatch_limited(&limiter, &app.ctx, req)
    };
    assert_eq!(send().await.status(), StatusCode::OK);
    assert_eq!(send().await.status(), StatusCode::OK);
    assert_eq!(send().await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_tenant_shows_its_settings_its_pool_and_what_its_clusters_hold() {
    let app = TestApp::spawn().await;
    let r = app
        .req(M::GET, &tenant_path(&app))
        .key(Some(&app.readonly))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let t = &r.body;
    assert_eq!(t["name"], app.tenant.as_str());
    assert_eq!(t["displayName"], app.tenant.as_str());
    assert_eq!(t["contactEmail"], "");
    assert_eq!(t["plan"], "pro");
    assert_eq!(t["enforceLogLimit"], false);
    assert_eq!(t["members"], json!([]));
    let rv = t["resourceVersion"]
        .as_str()
        .expect("a string, as Kupe's clients read it");
    assert_eq!(r.etag(), format!("\"{rv}\""));
    assert_eq!(t["status"]["phase"], "Active");
    assert_eq!(t["status"]["clusterCount"], 0);
    assert_eq!(
        t["status"]["poolResources"],
        json!({"cpu": "16", "memory": "64Gi", "storage": "500Gi"})
    );
    assert_eq!(
        t["status"]["allocatedResources"],
        json!({"cpu": "0", "memory": "0", "storage": "0"})
    );
    assert!(t["status"].get("currentUsage").is_none());
    // If-None-Match: 304 while unchanged
    let etag = r.etag();
    let r = app
        .req(M::GET, &tenant_path(&app))
        .header("If-None-Match", &etag)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    // a create changes what the tenant holds, and its ETag
    assert_eq!(
        create(&app, "aa", json!({"cpu": "1500m", "memory": "1536Mi"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let r = app
        .req(M::GET, &tenant_path(&app))
        .header("If-None-Match", &etag)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(r.etag(), etag);
    assert_eq!(r.body["status"]["clusterCount"], 1);
    assert_eq!(
        r.body["status"]["allocatedResources"],
        json!({"cpu": "1500m", "memory": "1536Mi", "storage": "50Gi"})
    );
}

#[tokio::test]
async fn a_tenant_patch_changes_the_plan_and_flags_and_honours_if_match() {
    let app = TestApp::spawn().await;
    let etag = app.req(M::GET, &tenant_path(&app)).send().await.etag();
    let before = app.items().await;
    // refusals write nothing
    for (key, if_match, body, status, field) in [
        (
            Some(&app.readonly),
            None,
            json!({"enforceLogLimit": true}),
            StatusCode::FORBIDDEN,
            None,
        ),
        (None, None, json!({}), StatusCode::BAD_REQUEST, None),
        (
            None,
            None,
            json!({"plan": "gold"}),
            StatusCode::BAD_REQUEST,
            Some("plan"),
        ),
        (
            None,
            None,
            json!({"displayName": "x"}),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            None,
            None,
            json!({"enforceLogLimit": "yes"}),
            StatusCode::BAD_REQUEST,
            Some("enforceLogLimit"),
        ),
        (
            None,
            Some("\"999\""),
            json!({"enforceLogLimit": true}),
            StatusCode::PRECONDITION_FAILED,
            None,
        ),
        (
            None,
            Some("W/\"1\""),
            json!({"enforceLogLimit": true}),
            StatusCode::PRECONDITION_FAILED,
            None,
        ),
    ] {
        let mut req = app.req(M::PATCH, &tenant_path(&app)).json(body.clone());
        if let Some(k) = key {
            req = req.key(Some(k));
        }
        if let Some(m) = if_match {
            req = req.header("If-Match", m);
        }
        let r = req.send().await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        if let Some(f) = field {
            assert_eq!(r.body["field"], f, "{body}");
        }
    }
    assert_eq!(app.items().await, before, "no refused PATCH wrote anything");
    // a PATCH with the current ETag lands and answers the new tenant and ETag
    let r = app
        .req(M::PATCH, &tenant_path(&app))
        .header("If-Match", &etag)
        .raw(
            "application/merge-patch+json",
            br#"{"enforceLogLimit":true,"plan":"business"}"#,
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["enforceLogLimit"], true);
    assert_eq!(r.body["enforceMetricsLimit"], false);
    assert_eq!(r.body["plan"], "business");
    assert_eq!(r.body["status"]["poolResources"]["cpu"], "64");
    assert_ne!(r.etag(), etag);
    assert_eq!(
        r.etag(),
        format!("\"{}\"", r.body["resourceVersion"].as_str().unwrap())
    );
    // the old ETag is now stale; a PATCH without If-Match still works
    let r = app
        .req(M::PATCH, &tenant_path(&app))
        .header("If-Match", &etag)
        .json(json!({"enforceMetricsLimit": true}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = app
        .req(M::PATCH, &tenant_path(&app))
        .json(json!({"enforceMetricsLimit": true}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let got = app.req(M::GET, &tenant_path(&app)).send().await;
    assert_eq!(got.body, r.body);
    assert_eq!(got.etag(), r.etag());
}

#[tokio::test]
async fn a_downgrade_the_clusters_do_not_fit_is_409_naming_every_misfit() {
    let app = TestApp::spawn_with_plan("business").await;
    assert_eq!(
        create(&app, "big", json!({"cpu": "20"})).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        create(&app, "bb", json!({})).await.status,
        StatusCode::CREATED
    );
    let r = app
        .req(M::POST, &app.clusters())
        .json(json!({"name": "ded", "displayName": "D", "type": "dedicated"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let before = app.items().await;
    let r = app
        .req(M::PATCH, &tenant_path(&app))
        .json(json!({"plan": "starter"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["code"], "Conflict");
    let msg = r.error();
    for want in [
        "3 clusters",
        "allows 2",
        "cpu",
        "cluster big: resources.cpu 20 exceeds",
        "cluster ded is dedicated",
    ] {
        assert!(msg.contains(want), "{want}: {msg}");
    }
    // pro: the count and dedicated fit, the pool and one cluster's cpu do not
    let r = app
        .req(M::PATCH, &tenant_path(&app))
        .json(json!({"plan": "pro"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let msg = r.error();
    assert!(
        msg.contains("hold 24 of cpu") && msg.contains("pool is 16"),
        "{msg}"
    );
    assert!(
        msg.contains("cluster big") && !msg.contains("dedicated"),
        "{msg}"
    );
    assert_eq!(
        app.items().await,
        before,
        "a refused downgrade writes nothing"
    );
    // shrink the big one and delete nothing: pro fits now
    let r = app
        .req(M::PATCH, &app.cluster("big"))
        .json(json!({"resources": {"cpu": "4"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .req(M::PATCH, &tenant_path(&app))
        .json(json!({"plan": "pro"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"]["allocatedResources"]["cpu"], "8");
}

#[tokio::test]
async fn creates_and_resizes_beyond_the_pool_are_403_naming_the_resource_and_the_headroom() {
    let app = TestApp::spawn().await; // pro: 16 cpu, 64Gi, 500Gi
    assert_eq!(
        create(&app, "aa", json!({"cpu": "10"})).await.status,
        StatusCode::CREATED
    );
    let before = app.items().await;
    let r = create(&app, "bb", json!({"cpu": "8"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.body["code"], "QuotaExceeded");
    assert_eq!(r.body["field"], "resources.cpu");
    assert!(r.error().contains("only 6 of"), "{}", r.error());
    let r = create(&app, "bb", json!({"memory": "60Gi"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["field"], "resources.memory");
    assert!(r.error().contains("only 56Gi"), "{}", r.error());
    let r = app
        .req(M::PATCH, &app.cluster("aa"))
        .json(json!({"resources": {"cpu": "16001m"}}))
        .send()
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "above the per-cluster max: 400 first"
    );
    assert_eq!(app.items().await, before, "refusals write nothing");
    // growing to exactly the pool fits; then nothing more does
    let r = app
        .req(M::PATCH, &app.cluster("aa"))
        .json(json!({"resources": {"cpu": "16"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = create(&app, "bb", json!({"cpu": "1m"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.error().contains("only 0 of"), "{}", r.error());
    // shrinking gives back exactly the difference
    let r = app
        .req(M::PATCH, &app.cluster("aa"))
        .json(json!({"resources": {"cpu": "11500m"}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        create(&app, "bb", json!({"cpu": "4500m"})).await.status,
        StatusCode::CREATED
    );
    let t = app.req(M::GET, &tenant_path(&app)).send().await;
    assert_eq!(t.body["status"]["allocatedResources"]["cpu"], "16");
    assert_eq!(t.body["status"]["allocatedResources"]["memory"], "16Gi");
}
