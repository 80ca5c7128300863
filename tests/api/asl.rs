//! The state machine's status writes and the Rust store write the same attributes the same way.

use kupe_shared::{domain::phase::Phase, store::schema};
use serde_json::Value;

fn states() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(
        kupe_tests::repo_root().join("infra/statemachine/cluster-lifecycle.asl.json"),
    )
    .unwrap();
    let numbers = text
        .replace("${ExecutionTimeoutSeconds}", "1")
        .replace("${HeartbeatSeconds}", "1")
        .replace("${StepTimeoutSeconds}", "2")
        .replace("${CheckIntervalSeconds}", "1");
    let asl: Value = serde_json::from_str(&numbers).expect("valid JSON once substituted");
    asl["States"].as_object().unwrap().clone()
}

fn update_expression(states: &serde_json::Map<String, Value>, state: &str) -> String {
    states[state]["Parameters"]["UpdateExpression"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn every_status_write_records_its_conditions_like_the_store() {
    let states = states();
    for (state, phase) in [
        ("MarkProvisioning", Phase::Provisioning),
        ("MarkUpgrading", Phase::Upgrading),
        ("MarkUpdating", Phase::Updating),
        ("MarkRunning", Phase::Running),
        ("MarkDegraded", Phase::Degraded),
    ] {
        let expr = update_expression(&states, state);
        let (sets, removes) = schema::condition_clauses(phase);
        assert!(expr.contains(&sets.join(", ")), "{state}: {expr}");
        assert!(
            expr.ends_with(&format!("REMOVE {}", removes.join(", "))),
            "{state}: {expr}"
        );
        assert!(
            expr.contains("#rv = #rv + :one"),
            "{state} bumps resourceVersion"
        );
        let cond = states[state]["Parameters"]["ConditionExpression"]
            .as_str()
            .unwrap();
        assert_eq!(
            cond, "#gen = :gen AND #inc = :inc",
            "{state} is conditional on its generation"
        );
    }
}

#[test]
fn the_retire_state_writes_the_stores_tombstone() {
    let states = states();
    assert_eq!(
        update_expression(&states, "Retire"),
        schema::RETIRE_UPDATE
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
}

#[test]
fn every_work_state_heartbeats_and_every_failure_path_ends_failed() {
    let states = states();
    for state in ["StartWork", "Check"] {
        assert!(states[state]["HeartbeatSeconds"].is_number(), "{state}");
        let catch = &states[state]["Catch"][0];
        assert_eq!(catch["ErrorEquals"][0], "States.ALL");
        assert_eq!(catch["Next"], "MarkDegraded");
    }
    assert_eq!(states["FailExecution"]["Type"], "Fail");
}

#[test]
fn the_release_slot_state_sends_the_stores_update() {
    let states = states();
    assert_eq!(
        update_expression(&states, "ReleaseSlot"),
        schema::RELEASE_SLOT_UPDATE
    );
    assert_eq!(states["Retire"]["Next"], "ReleaseSlot");
}

#[test]
fn every_expression_uses_the_stores_attribute_names_and_conditions() {
    for (name, state) in states() {
        let params = &state["Parameters"];
        if let Some(names) = params["ExpressionAttributeNames"].as_object() {
            for (placeholder, attribute) in names {
                let known = schema::PLACEHOLDERS
                    .iter()
                    .find(|(p, _)| p == placeholder)
                    .map(|(_, a)| *a);
                assert_eq!(known, attribute.as_str(), "{name}: {placeholder}");
            }
        }
        if let Some(cond) = params["ConditionExpression"].as_str() {
            let expected = if name == "Retire" {
                schema::COND_FINISH_DELETION
            } else {
                schema::COND_STATUS_WRITE
            };
            assert_eq!(cond, expected, "{name}");
        }
    }
}
