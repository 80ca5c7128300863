//! `make bench`: the lifecycle on the emulator, measured. One cluster goes create → Running →
//! resize → Running → delete → gone, with the simulated provider's work taking `P` seconds per
//! action; the figures are the phase transitions, the wall time per leg, the workflow's own
//! overhead (wall time minus provider time), and the Step Functions state transitions of the
//! lifecycle's three executions, counted from their histories as AWS bills them (every state
//! entered, retries included; see `kupe_tests::transitions`). Run with P = 0, 2 and 10.

use kupe_tests::{LifecycleApp, M};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn done(c: &Value) -> bool {
    c["status"]["phase"] == "Running" && c["status"]["observedGeneration"] == c["generation"]
}

async fn run(provider_secs: u64) -> u64 {
    let d = Duration::from_secs(provider_secs);
    let lc = LifecycleApp::spawn(|c| {
        c.provision = d;
        c.update = d;
        c.delete = d;
    })
    .await;
    let app = &lc.app;
    let mut legs = Vec::new();
    let t = Instant::now();
    app.create("bench").await;
    lc.wait_for("bench", 120, done).await;
    legs.push(("create -> Running", t.elapsed()));
    let t = Instant::now();
    app.req(M::PATCH, &app.cluster("bench"))
        .json(json!({"resources": {"cpu": "3"}}))
        .send()
        .await;
    lc.wait_for("bench", 120, done).await;
    legs.push(("resize -> Running", t.elapsed()));
    let t = Instant::now();
    app.req(M::DELETE, &app.cluster("bench")).send().await;
    lc.wait_for("bench", 120, Value::is_null).await;
    legs.push(("delete -> 404", t.elapsed()));
    let transitions = lc.transitions_when_settled(60).await;
    let events = lc.events().await;
    println!("provider time per action: {provider_secs} s; check interval 1 s; poll every 250 ms");
    println!("phase transitions driven by the workflow: {}", events.len());
    for e in &events {
        println!(
            "  {} -> {}",
            e["oldPhase"].as_str().unwrap_or("?"),
            e["newPhase"].as_str().unwrap_or("?")
        );
    }
    println!("| leg | wall time | provider time | workflow overhead |");
    println!("|---|---:|---:|---:|");
    for (leg, took) in legs {
        let overhead = took.as_secs_f64() - provider_secs as f64;
        println!(
            "| {leg} | {:.2} s | {provider_secs} s | {overhead:.2} s |",
            took.as_secs_f64()
        );
    }
    let total: u64 = transitions.iter().map(|(_, n)| n).sum();
    let each: Vec<String> = transitions
        .iter()
        .map(|(name, n)| {
            format!(
                "{}: {n}",
                name.split('-').take(2).collect::<Vec<_>>().join("-")
            )
        })
        .collect();
    println!(
        "state transitions (create + resize + delete): {total} ({})",
        each.join(", ")
    );
    println!();
    total
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let mut totals = Vec::new();
    for p in [0, 2, 10] {
        totals.push((p, run(p).await));
    }
    let line: Vec<String> = totals
        .iter()
        .map(|(p, n)| format!("{p} s provider: {n}"))
        .collect();
    println!("state transitions per lifecycle: {}", line.join("; "));
}
