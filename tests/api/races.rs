//! Concurrency: the ETag rules must hold under real concurrent requests, not by luck. The
//! emulator serializes DynamoDB calls (moto alone is not atomic); these tests would catch a
//! regression in either that wrapper or our conditions. Rounds: `KUPE_RACE_ROUNDS` (default 200).

use futures::future::join_all;
use kupe_tests::{TestApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

fn rounds() -> usize {
    std::env::var("KUPE_RACE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_patches_with_one_etag_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    app.create("hot").await;
    for round in 0..rounds() {
        let etag = app.req(M::GET, &app.cluster("hot")).send().await.etag();
        let patches = (0..16).map(|i| {
            let cpu = format!("{}m", 1000 + round * 16 + i);
            let etag = etag.clone();
            let app = &app;
            async move {
                app.req(M::PATCH, &app.cluster("hot"))
                    .header("If-Match", &etag)
                    .json(json!({"resources": {"cpu": cpu}}))
                    .send()
                    .await
            }
        });
        let results = join_all(patches).await;
        let ok: Vec<_> = results
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .collect();
        let stale = results
            .iter()
            .filter(|r| r.status == StatusCode::PRECONDITION_FAILED)
            .count();
        assert_eq!(ok.len(), 1, "round {round}: exactly one winner");
        assert_eq!(stale, 15, "round {round}: fifteen 412s");
        let now = app.req(M::GET, &app.cluster("hot")).send().await;
        assert_eq!(
            now.body["resources"]["cpu"], ok[0].body["resources"]["cpu"],
            "round {round}: the winner's write is what is stored"
        );
        assert_eq!(
            now.body["generation"],
            (round + 2) as u64,
            "round {round}: one generation per round"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_name_make_exactly_one_cluster() {
    let app = TestApp::spawn_with_plan("enterprise").await;
    for round in 0..rounds() {
        let name = format!("race-{round}");
        let creates = (0..8).map(|i| {
            let app = &app;
            let name = name.clone();
            async move {
                app.req(M::POST, &app.clusters())
                    .json(json!({"name": name, "displayName": format!("attempt {i}"), "type": "shared"}))
                    .send()
                    .await
            }
        });
        let results = join_all(creates).await;
        let created: Vec<_> = results
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .collect();
        let conflicts = results
            .iter()
            .filter(|r| r.status == StatusCode::CONFLICT)
            .count();
        assert_eq!(created.len(), 1, "round {round}: exactly one 201");
        assert_eq!(conflicts, 7, "round {round}: seven 409s");
        let now = app.req(M::GET, &app.cluster(&name)).send().await;
        assert_eq!(
            now.body["displayName"], created[0].body["displayName"],
            "round {round}"
        );
        // free the slot (the enterprise plan allows 50 clusters): delete and finish the teardown
        let d = app.req(M::DELETE, &app.cluster(&name)).send().await;
        assert_eq!(d.status, StatusCode::NO_CONTENT);
        let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
        let cluster = kupe_shared::domain::names::ClusterName::parse(&name).unwrap();
        assert!(app
            .ctx
            .store
            .clusters()
            .finish_deletion(&tenant, &cluster, 2)
            .await
            .unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_conditional_writes_on_one_version_let_exactly_one_land() {
    // The store-level half of the PATCH race, without the read that spreads requests out: every
    // writer names the same version at the same moment.
    use kupe_shared::{
        domain::{etag::ResourceVersion, quantity::Quantity},
        store::Outcome,
    };
    let app = TestApp::spawn().await;
    app.create("hot").await;
    let tenant = kupe_shared::domain::names::TenantName::parse(&app.tenant).unwrap();
    let name = kupe_shared::domain::names::ClusterName::parse("hot").unwrap();
    for round in 0..rounds() {
        let current = app
            .ctx
            .store
            .clusters()
            .get(&tenant, &name)
            .await
            .unwrap()
            .unwrap();
        let writes = (0..16).map(|i| {
            let mut next = current.clone();
            next.spec.resources.cpu =
                Quantity::parse(&format!("{}m", 1000 + round * 16 + i)).unwrap();
            next.generation += 1;
            next.resource_version = ResourceVersion(current.resource_version.0 + 1);
            let app = &app;
            let current = &current;
            async move {
                app.ctx
                    .store
                    .clusters()
                    .update_spec(&next, current, &format!("w{round}-{i}"))
                    .await
                    .unwrap()
            }
        });
        let outcomes = join_all(writes).await;
        let landed = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Written(_)))
            .count();
        assert_eq!(
            landed, 1,
            "round {round}: exactly one conditional write lands"
        );
    }
}

// --- tenancy: the resource pool under concurrency -------------------------------------------

/// What the tenant's clusters hold, summed from the clusters that exist, next to what the tenant
/// item says they hold.
async fn pool_books(
    app: &TestApp,
    tenant: &str,
) -> (
    kupe_shared::domain::pool::Allocation,
    kupe_shared::domain::pool::Allocation,
    usize,
) {
    use kupe_shared::domain::{names::TenantName, pool::Allocation};
    let record = app.ctx.store.tenants().get(tenant).await.unwrap().unwrap();
    let name = TenantName::parse(tenant).unwrap();
    let (clusters, _) = app
        .ctx
        .store
        .clusters()
        .list(&name, None, None)
        .await
        .unwrap();
    let summed = clusters.iter().fold(Allocation::default(), |sum, c| {
        sum.plus(&Allocation::of(&c.spec.resources))
    });
    assert_eq!(record.members.len(), clusters.len(), "one slot per cluster");
    (record.allocated, summed, clusters.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_and_resizes_never_overshoot_the_pool() {
    let app = TestApp::spawn().await;
    let pool = kupe_shared::domain::plan::Plan::by_name("pro")
        .unwrap()
        .pool();
    for round in 0..(rounds() / 10).max(3) {
        // GIVEN a pro tenant (16 cpu, 64Gi) with two clusters holding 8 cpu and 32Gi
        let tenant = app.tenant("pro").await;
        let key = app.key(&tenant, "admin", None).await;
        let clusters = format!("/api/v1/tenants/{tenant}/clusters");
        for name in ["base-a", "base-b"] {
            let r = app
                .req(M::POST, &clusters)
                .key(Some(&key))
                .json(json!({"name": name, "displayName": name, "type": "shared",
                    "resources": {"cpu": "4", "memory": "16Gi"}}))
                .send()
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        }
        // WHEN ten creates and ten resizes race for what is left
        let requests = (0..20).map(|i| {
            let (app, key, clusters) = (&app, &key, &clusters);
            async move {
                if i % 2 == 0 {
                    app.req(M::POST, clusters)
                        .key(Some(key))
                        .json(json!({"name": format!("new-{i}"), "displayName": "N",
                            "type": "shared", "resources": {"cpu": "3", "memory": "12Gi"}}))
                        .send()
                        .await
                } else {
                    let target = if i % 4 == 1 { "base-a" } else { "base-b" };
                    app.req(M::PATCH, &format!("{clusters}/{target}"))
                        .key(Some(key))
                        .json(json!({"resources": {"cpu": format!("{}", 2 + i % 9),
                            "memory": format!("{}Gi", 8 + 4 * (i % 6))}}))
                        .send()
                        .await
                }
            }
        });
        let results = join_all(requests).await;
        for r in &results {
            assert!(
                matches!(r.status.as_u16(), 200 | 201 | 403 | 409),
                "round {round}: {} {:?}",
                r.status,
                r.body
            );
        }
        assert!(
            results.iter().any(|r| r.status == StatusCode::FORBIDDEN),
            "round {round}: the pool was contended"
        );
        // THEN the tenant's books equal its clusters, within the pool
        let (allocated, summed, count) = pool_books(&app, &tenant).await;
        assert_eq!(allocated, summed, "round {round}");
        assert!(
            allocated.first_above(&pool).is_none(),
            "round {round}: {allocated:?} over {pool:?}"
        );
        assert!(count <= 5, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_change_racing_creates_never_leaves_more_than_the_new_plan_allows() {
    let app = TestApp::spawn().await;
    for round in 0..(rounds() / 10).max(3) {
        // GIVEN a pro tenant with two clusters (starter allows two)
        let tenant = app.tenant("pro").await;
        let key = app.key(&tenant, "admin", None).await;
        let clusters = format!("/api/v1/tenants/{tenant}/clusters");
        for name in ["base-a", "base-b"] {
            let r = app
                .req(M::POST, &clusters)
                .key(Some(&key))
                .json(json!({"name": name, "displayName": name, "type": "shared",
                    "resources": {"cpu": "1", "memory": "2Gi", "storage": "20Gi"}}))
                .send()
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        }
        // WHEN a downgrade to starter races three more creates
        let downgrade = app
            .req(M::PATCH, &format!("/api/v1/tenants/{tenant}"))
            .key(Some(&key))
            .json(json!({"plan": "starter"}))
            .send();
        let creates = (0..3).map(|i| {
            app.req(M::POST, &clusters)
                .key(Some(&key))
                .json(
                    json!({"name": format!("new-{i}"), "displayName": "N", "type": "shared",
                    "resources": {"cpu": "1", "memory": "2Gi", "storage": "20Gi"}}),
                )
                .send()
        });
        let (patched, created) = tokio::join!(downgrade, join_all(creates));
        // THEN either the downgrade lost (409) or no create got past it
        let (allocated, summed, count) = pool_books(&app, &tenant).await;
        assert_eq!(allocated, summed, "round {round}");
        let plan = app
            .ctx
            .store
            .tenants()
            .get(&tenant)
            .await
            .unwrap()
            .unwrap()
            .plan;
        match patched.status {
            StatusCode::OK => {
                assert_eq!(plan, "starter");
                assert_eq!(
                    count, 2,
                    "round {round}: no create landed after the downgrade"
                );
            }
            StatusCode::CONFLICT => {
                assert_eq!(plan, "pro");
                assert!(created.iter().any(|r| r.status == StatusCode::CREATED));
            }
            other => panic!("round {round}: {other} {:?}", patched.body),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_route_puts_with_one_etag_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let routes = format!("/api/v1/tenants/{}/alertmanager/routes", app.tenant);
    let slack = format!(
        "/api/v1/tenants/{}/alertmanager/receivers/slack",
        app.tenant
    );
    let r = app
        .req(M::PUT, &slack)
        .json(json!({"slack_configs": [{"api_url": "https://hooks.slack.com/x"}]}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for round in 0..rounds() {
        let etag = app.req(M::GET, &routes).send().await.etag();
        let puts = (0..16).map(|i| {
            let etag = etag.clone();
            let (app, routes) = (&app, &routes);
            async move {
                let body = json!({"items": [{"receiver": "slack",
                    "matchers": [format!("attempt=\"{round}-{i}\"")]}]});
                app.req(M::PUT, routes)
                    .header("If-Match", &etag)
                    .json(body)
                    .send()
                    .await
            }
        });
        let results = join_all(puts).await;
        let ok: Vec<_> = results
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .collect();
        let stale = results
            .iter()
            .filter(|r| r.status == StatusCode::PRECONDITION_FAILED)
            .count();
        assert_eq!(ok.len(), 1, "round {round}: exactly one winner");
        assert_eq!(stale, 15, "round {round}: fifteen 412s");
        let now = app.req(M::GET, &routes).send().await;
        assert_eq!(
            now.body, ok[0].body,
            "round {round}: the winner's list is stored"
        );
        assert_eq!(now.etag(), format!("\"{}\"", round + 1), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_delete_racing_a_route_put_never_leaves_a_route_naming_a_missing_receiver() {
    let app = TestApp::spawn_with_plan("enterprise").await;
    let base = format!("/api/v1/tenants/{}/alertmanager", app.tenant);
    let routes = format!("{base}/routes");
    let (mut deleted, mut routed) = (0, 0);
    for round in 0..rounds() {
        // GIVEN a receiver no route names yet (one name, re-created over its tombstone each
        // round, so the configuration stays small)
        let name = "racer";
        let receiver = format!("{base}/receivers/{name}");
        let r = app
            .req(M::PUT, &receiver)
            .json(json!({"webhook_configs": [{"url": "https://hooks.acme.com/x"}]}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "round {round}");
        // WHEN its delete races a route list that names it
        let put = app
            .req(M::PUT, &routes)
            .json(json!({"items": [{"receiver": name}]}))
            .send();
        let delete = app.req(M::DELETE, &receiver).send();
        let (put, delete) = tokio::join!(put, delete);
        // THEN exactly one of them lands, and the other says why
        match (put.status, delete.status) {
            (StatusCode::OK, StatusCode::CONFLICT) => routed += 1,
            (StatusCode::BAD_REQUEST, StatusCode::NO_CONTENT) => deleted += 1,
            other => panic!("round {round}: {other:?} {:?} {:?}", put.body, delete.body),
        }
        let stored = app.req(M::GET, &routes).send().await.body;
        let exists = app.req(M::GET, &receiver).send().await.status == StatusCode::OK;
        let named = stored["items"][0]["receiver"] == json!(name);
        assert!(
            !named || exists,
            "round {round}: a route names a missing receiver"
        );
        // reset: no route names anything
        let r = app
            .req(M::PUT, &routes)
            .json(json!({"items": []}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK);
        if exists {
            let r = app.req(M::DELETE, &receiver).send().await;
            assert_eq!(r.status, StatusCode::NO_CONTENT);
        }
    }
    println!("route put first: {routed}, delete first: {deleted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_secret_patches_with_one_etag_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    app.create("prod").await;
    let secrets = format!("/api/v1/tenants/{}/secrets", app.tenant);
    let hot = format!("{secrets}/hot");
    let r = app
        .req(M::POST, &secrets)
        .json(json!({"name": "hot", "secretPath": "a"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for round in 0..rounds() / 4 {
        let etag = app.req(M::GET, &hot).send().await.etag();
        let patches = (0..8).map(|i| {
            let namespace = format!("ns-{round}-{i}");
            let (etag, app, hot) = (etag.clone(), &app, &hot);
            async move {
                app.req(M::PATCH, hot)
                    .header("If-Match", &etag)
                    .json(json!({"sync": [{"cluster": "prod", "namespace": namespace}]}))
                    .send()
                    .await
            }
        });
        let results = join_all(patches).await;
        let ok: Vec<_> = results
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .collect();
        let stale = results
            .iter()
            .filter(|r| r.status == StatusCode::PRECONDITION_FAILED)
            .count();
        assert_eq!(
            (ok.len(), stale),
            (1, 7),
            "round {round}: one winner, seven 412s"
        );
        let now = app.req(M::GET, &hot).send().await;
        assert_eq!(now.body["sync"], ok[0].body["sync"], "round {round}");
        assert_eq!(now.body["generation"], (round + 2) as u64, "round {round}");
    }
}
