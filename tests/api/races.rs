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
            let expected = current.resource_version;
            async move {
                app.ctx
                    .store
                    .clusters()
                    .update_spec(&next, expected, &format!("w{round}-{i}"))
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
