//! `make bench-emulator`: how the local stack (the router and workers on the emulator) holds up
//! under load. PATCH/s and GET/s with a few concurrent clients, create latency with 5 clusters
//! in the table and with 5,000 more (seeded straight into the table), and the emulator's RSS.
//! Figures and their history: bench/emulator.md.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use kupe_shared::store::schema::{cluster_sk, tenant_pk, CLUSTER_SK_PREFIX, PK, SK};
use kupe_tests::{LifecycleApp, TestApp, M};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;
const SECONDS: u64 = 10;
const SEEDED: usize = 5_000;

fn done(c: &Value) -> bool {
    c["status"]["phase"] == "Running" && c["status"]["observedGeneration"] == c["generation"]
}

/// The emulator's resident set, in MiB.
fn rss_mib() -> f64 {
    let pid = std::env::var("KUPE_EMULATOR_PID").unwrap_or_default();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Requests per second and failures of `CLIENTS` clients sending `one(client, i)` for
/// `SECONDS`.
async fn rate<F, Fut>(one: F) -> (f64, usize)
where
    F: Fn(usize, usize) -> Fut + Sync,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(SECONDS);
    let one = &one;
    let counts = futures::future::join_all((0..CLIENTS).map(|c| async move {
        let (mut ok, mut bad) = (0usize, 0usize);
        while Instant::now() < until {
            if one(c, ok + bad).await {
                ok += 1;
            } else {
                bad += 1;
            }
        }
        (ok, bad)
    }))
    .await;
    let ok: usize = counts.iter().map(|c| c.0).sum();
    let bad: usize = counts.iter().map(|c| c.1).sum();
    (ok as f64 / SECONDS as f64, bad)
}

/// Median and worst latency of 5 creates named `{prefix}0..4`.
async fn creates(app: &TestApp, prefix: &str) -> (f64, f64) {
    let mut took = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        app.create(&format!("{prefix}{i}")).await;
        took.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    (took[2], took[4])
}

/// Writes `SEEDED` copies of `template` (a Running cluster) under other tenants, 25 a call.
async fn seed(app: &TestApp, template: &std::collections::HashMap<String, AttributeValue>) {
    let client = app.ctx.store.client();
    let mut batch = Vec::new();
    for i in 0..SEEDED {
        let mut item = template.clone();
        item.insert(
            PK.into(),
            AttributeValue::S(tenant_pk(&format!("seed{}", i / 50))),
        );
        item.insert(SK.into(), AttributeValue::S(cluster_sk(&format!("s{i}"))));
        batch.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build(),
        );
        if batch.len() == 25 || i + 1 == SEEDED {
            let mut pending = Some(std::mem::take(&mut batch));
            while let Some(requests) = pending.take().filter(|r| !r.is_empty()) {
                let out = client
                    .batch_write_item()
                    .request_items(&app.table, requests)
                    .send()
                    .await
                    .expect("seed");
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&app.table));
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let lc = LifecycleApp::spawn(|c| {
        c.provision = Duration::ZERO;
        c.update = Duration::ZERO;
        c.delete = Duration::ZERO;
    })
    .await;
    let app = &lc.app;
    println!("emulator RSS at start: {:.0} MiB", rss_mib());
    for i in 0..5 {
        app.create(&format!("c{i}")).await;
    }
    for i in 0..5 {
        lc.wait_for(&format!("c{i}"), 120, done).await;
    }
    let (small_median, small_worst) = creates(app, "a").await;

    eprintln!("phase patch {:?}", std::time::SystemTime::now());
    let (patch_rate, patch_bad) = rate(|c, i| async move {
        let cpu = if i % 2 == 0 { "2" } else { "3" };
        let r = app
            .req(M::PATCH, &app.cluster(&format!("c{c}")))
            .json(json!({"resources": {"cpu": cpu}}))
            .send()
            .await;
        r.status.is_success()
    })
    .await;
    // The PATCH run left a rollout per accepted PATCH running in the emulator: let them settle
    // so the GET run measures reads, not reads competing with that backlog.
    for i in 0..5 {
        lc.wait_for(&format!("c{i}"), 600, done).await;
    }
    eprintln!("phase get {:?}", std::time::SystemTime::now());
    let (get_rate, get_bad) = rate(|c, _| async move {
        let r = app.req(M::GET, &app.cluster(&format!("c{c}"))).send().await;
        r.status.is_success()
    })
    .await;
    eprintln!("phase end {:?}", std::time::SystemTime::now());
    println!(
        "emulator RSS after the PATCH and GET runs: {:.0} MiB",
        rss_mib()
    );

    let template = app
        .items()
        .await
        .into_iter()
        .find(|i| {
            i.get(SK)
                .and_then(|v| v.as_s().ok())
                .is_some_and(|s| s == &cluster_sk("c0"))
        })
        .expect("c0");
    assert!(cluster_sk("c0").starts_with(CLUSTER_SK_PREFIX));
    let t = Instant::now();
    seed(app, &template).await;
    let seeded_in = t.elapsed().as_secs_f64();
    // The seeded clusters are 5,000 INSERTs on the table's stream, which the dispatcher reads
    // like any other: time the creates once it has caught up, so that they measure the table's
    // size, not that backlog. The stream is one ordered shard, so a cluster created now becomes
    // Running only after the dispatcher has read every seeded record.
    let t = Instant::now();
    app.create("marker").await;
    lc.wait_for("marker", 900, done).await;
    let drained_in = t.elapsed().as_secs_f64();
    let (big_median, big_worst) = creates(app, "b").await;
    let rss = rss_mib();

    println!("{CLIENTS} concurrent clients, {SECONDS} s per run; provider time 0 s");
    println!("| measure | figure |");
    println!("|---|---:|");
    println!("| PATCH/s ({patch_bad} failed) | {patch_rate:.0} |");
    println!("| GET/s ({get_bad} failed) | {get_rate:.0} |");
    println!("| create, 5 clusters in the table (median / worst of 5) | {small_median:.0} / {small_worst:.0} ms |");
    println!("| create, {SEEDED} more seeded (median / worst of 5) | {big_median:.0} / {big_worst:.0} ms |");
    println!("| seeding {SEEDED} clusters (BatchWriteItem) | {seeded_in:.1} s |");
    println!("| the dispatcher through the seeded clusters' stream records | {drained_in:.1} s |");
    println!("| emulator RSS at the end | {rss:.0} MiB |");
}
