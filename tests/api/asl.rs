//! The state machine's status writes and the Rust store write the same attributes the same way.

use kupe_shared::{
    domain::phase::Phase,
    store::schema,
    workers::provisioner::{TERMINAL_FAILURES, TRANSIENT_FAILURES},
};
use serde_json::Value;

fn states() -> serde_json::Map<String, Value> {
    states_of("cluster-lifecycle")
}

fn states_of(name: &str) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(
        kupe_tests::repo_root().join(format!("infra/statemachine/{name}.asl.json")),
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
        ("MarkMigrating", Phase::Migrating),
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
    {
        let state = "Work";
        assert!(states[state]["HeartbeatSeconds"].is_number(), "{state}");
        // the provider's verdict (a terminal catalog code) goes straight to MarkDegraded;
        // everything else, once its retries are exhausted, through a Pass state that names the
        // catalog code it maps to
        let catch = states[state]["Catch"].as_array().unwrap();
        let last = catch.last().unwrap();
        assert_eq!(last["ErrorEquals"][0], "States.ALL", "{state}");
        assert_eq!(last["Next"], "InternalFailure", "{state}");
        assert_eq!(
            catch[0]["ErrorEquals"],
            serde_json::json!(TERMINAL_FAILURES)
        );
        assert_eq!(catch[0]["Next"], "MarkDegraded", "{state}");
        let next_for = |error: &str| {
            catch
                .iter()
                .find(|c| {
                    c["ErrorEquals"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e == error)
                })
                .map(|c| c["Next"].as_str().unwrap().to_string())
        };
        assert_eq!(next_for("States.Timeout").as_deref(), Some("TimedOut"));
        assert_eq!(
            next_for("ProviderUnavailable").as_deref(),
            Some("Unreachable")
        );
    }
    assert_eq!(states["FailExecution"]["Type"], "Fail");
}

/// Issue 12: every reason MarkDegraded can write is a code of the failure catalog, and each
/// Pass state's message starts with that code's advice.
#[test]
fn every_degraded_reason_is_a_catalog_code_with_its_advice() {
    use kupe_shared::domain::failure::FailureCode;
    let states = states();
    for name in TERMINAL_FAILURES {
        assert!(FailureCode::parse(name).is_some(), "{name}");
    }
    for (pass, code) in [
        ("TimedOut", FailureCode::ProviderTimeout),
        ("Unreachable", FailureCode::ProviderUnavailable),
        ("InternalFailure", FailureCode::InternalError),
    ] {
        let p = &states[pass];
        assert_eq!(p["Type"], "Pass");
        assert_eq!(p["Next"], "MarkDegraded");
        assert_eq!(p["Parameters"]["Error"], code.as_str(), "{pass}");
        let cause = p["Parameters"]["Cause.$"].as_str().unwrap();
        let advice = format!("States.Format('{} Cause: {{}}'", code.advice());
        assert!(cause.starts_with(&advice), "{pass}: {cause}");
    }
    // every other Catch that leads to MarkDegraded goes through InternalFailure
    for (name, state) in &states {
        for c in state["Catch"].as_array().into_iter().flatten() {
            if c["Next"] == "MarkDegraded" {
                assert_eq!(name, "Work", "{name} catches straight into MarkDegraded");
            }
        }
    }
}

/// Issue 9: a work step is retried on our own transient faults before any `Catch`, and never
/// on the provider's terminal verdict; the provisioner's failure names and the ASL agree.
#[test]
fn work_states_retry_our_transient_faults_and_never_the_providers_verdict() {
    let states = states();
    {
        let state = "Work";
        let retry = states[state]["Retry"].as_array().unwrap();
        // retriers are tried in order: the terminal names must be matched first, with no retry
        assert_eq!(
            retry[0]["ErrorEquals"],
            serde_json::json!(TERMINAL_FAILURES),
            "{state}"
        );
        assert_eq!(retry[0]["MaxAttempts"], 0, "{state}");
        let retried = |name: &str| {
            retry[1..].iter().any(|r| {
                r["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e == name)
                    && r["MaxAttempts"].as_u64().unwrap() >= 2
                    && r["BackoffRate"].as_f64().unwrap() > 1.0
            })
        };
        for name in TRANSIENT_FAILURES.iter().copied().chain([
            "States.Timeout",
            "States.TaskFailed",
            "SQS.AmazonSQSException",
        ]) {
            assert!(retried(name), "{state} retries {name} with backoff");
        }
        assert_eq!(
            states[state]["Parameters"]["MessageBody"]["heartbeatSeconds"], 1,
            "{state} tells the provisioner its heartbeat timeout"
        );
    }
}

/// Issue 13: a provider action is one task, answered when the provider is done; the provisioner
/// re-checks through the queue, so the state machine has no polling loop and a lifecycle's
/// transitions do not grow with provider time.
#[test]
fn one_task_per_action_and_no_polling_loop_in_the_state_machine() {
    let states = states();
    let work = &states["Work"];
    assert_eq!(
        work["Resource"],
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    );
    let body = &work["Parameters"]["MessageBody"];
    assert_eq!(body["step"], "start", "the state machine only ever starts");
    // what the provisioner needs to schedule its own re-checks, from the same substitutions
    assert_eq!(body["queueUrl"], "${QueueUrl}");
    assert_eq!(work["Parameters"]["QueueUrl"], "${QueueUrl}");
    assert_eq!(body["checkIntervalSeconds"], 1);
    // the answer means done: straight on to the final writes
    assert_eq!(work["Next"], "Finish");
    assert_eq!(states["Finish"]["Type"], "Choice");
    for (name, state) in &states {
        assert_ne!(
            state["Type"], "Wait",
            "{name}: no waiting in the state machine"
        );
        if name != "Work" {
            assert_ne!(
                state["Resource"], work["Resource"],
                "{name}: one work task per execution"
            );
        }
    }
    // the provisioner's message type reads it
    let msg: kupe_shared::workflow::TaskMessage = serde_json::from_value(
        serde_json::json!({"taskToken": "t"})
            .as_object()
            .unwrap()
            .clone()
            .into_iter()
            .chain(body.as_object().unwrap().clone())
            .filter(|(k, _)| !k.ends_with(".$"))
            .chain([
                ("tenant".to_string(), "t".into()),
                ("name".to_string(), "n".into()),
                ("incarnation".to_string(), 1.into()),
                ("generation".to_string(), 1.into()),
                ("action".to_string(), "provision".into()),
            ])
            .collect(),
    )
    .expect("the Work message is a TaskMessage");
    assert_eq!(msg.queue_url.as_deref(), Some("${QueueUrl}"));
    assert_eq!(msg.check_interval_seconds, Some(1));
}

#[test]
fn the_release_slot_state_sends_the_stores_update() {
    let states = states();
    assert_eq!(
        update_expression(&states, "ReleaseSlot"),
        schema::RELEASE_SLOT_UPDATE
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(states["Retire"]["Next"], "ReleaseSlot");
}

#[test]
fn the_release_slot_state_gives_the_dispatchers_numbers_back_exactly_once() {
    let states = states();
    let release = &states["ReleaseSlot"];
    let params = &release["Parameters"];
    assert_eq!(params["ConditionExpression"], schema::COND_HOLDS_SLOT);
    // the numbers come from the execution input the dispatcher builds
    let input = kupe_shared::workflow::PoolRelease::of(&kupe_shared::domain::pool::Allocation {
        cpu: 1,
        memory: 2,
        storage: 3,
    });
    let input = serde_json::json!({ "poolRelease": input });
    for (value, field) in [
        (":releaseCpu", "cpu"),
        (":releaseMemory", "memory"),
        (":releaseStorage", "storage"),
    ] {
        assert_eq!(
            params["ExpressionAttributeValues"][value]["N.$"],
            format!("$.poolRelease.{field}")
        );
        assert!(input["poolRelease"][field].is_string(), "{field}");
    }
    // a failed condition is "already released", never retried, never a failed execution
    let catch = &release["Catch"][0];
    assert_eq!(
        catch["ErrorEquals"][0],
        "DynamoDB.ConditionalCheckFailedException"
    );
    assert_eq!(catch["Next"], release["Next"]);
    for retry in release["Retry"].as_array().unwrap() {
        for error in retry["ErrorEquals"].as_array().unwrap() {
            assert!(
                error != "States.ALL" && error != "DynamoDB.ConditionalCheckFailedException",
                "{error} must not be retried"
            );
        }
    }
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
            let expected = match name.as_str() {
                "Retire" => schema::COND_FINISH_DELETION,
                "ReleaseSlot" => schema::COND_HOLDS_SLOT,
                _ => schema::COND_STATUS_WRITE,
            };
            assert_eq!(cond, expected, "{name}");
        }
    }
}

/// The secret-sync state machine: one task that heartbeats and tells the provisioner its
/// heartbeat timeout, retries our transient faults (never the provider's verdict), and ends
/// failed when the retries are spent; it writes nothing to the table itself (the provisioner's
/// status write is the store's, conditioned on the generation and version the sync read).
#[test]
fn the_secret_sync_is_one_retried_task_that_ends_failed_when_retries_are_spent() {
    let states = states_of("secret-sync");
    let sync = &states["Sync"];
    assert_eq!(
        sync["Resource"],
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    );
    assert!(sync["HeartbeatSeconds"].is_number());
    let body = &sync["Parameters"]["MessageBody"];
    assert_eq!(body["kind"], kupe_shared::workflow::SECRET_SYNC_KIND);
    assert_eq!(body["heartbeatSeconds"], 1);
    let retry = sync["Retry"].as_array().unwrap();
    assert_eq!(
        retry[0]["ErrorEquals"],
        serde_json::json!(TERMINAL_FAILURES)
    );
    assert_eq!(retry[0]["MaxAttempts"], 0);
    for name in TRANSIENT_FAILURES.iter().copied().chain(["States.Timeout"]) {
        assert!(
            retry[1..].iter().any(|r| r["ErrorEquals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == name)
                && r["MaxAttempts"].as_u64().unwrap() >= 2),
            "retries {name}"
        );
    }
    let catch = sync["Catch"].as_array().unwrap();
    assert_eq!(catch[0]["ErrorEquals"][0], "States.ALL");
    assert_eq!(states[catch[0]["Next"].as_str().unwrap()]["Type"], "Fail");
    for (name, state) in &states {
        assert!(
            state["Parameters"]["TableName"].is_null(),
            "{name}: no direct table writes"
        );
    }
}
