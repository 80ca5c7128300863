//! A test world with the whole lifecycle running on the emulator.

use crate::{
    app::{unique, TestApp},
    emulator::{repo_root, sdk_config},
    M,
};
use kupe_local::stack::{self, Stack, Timings, Workers};
use kupe_shared::provider::simulated::SimulatedConfig;
use lambda_http::http::StatusCode;
use serde_json::Value;

/// A test world with the whole lifecycle running: its own table (with stream), queue, bus and
/// state machine on the emulator, and the event-source mappings played in the background.
pub struct LifecycleApp {
    /// The API side (table = the stack's).
    pub app: TestApp,
    /// The stack.
    pub stack: Stack,
    /// Step Functions, to look at the executions.
    pub sfn: aws_sdk_sfn::Client,
    /// The workers the players feed (or, idle, the test itself).
    pub workers: &'static Workers,
}

impl LifecycleApp {
    /// A fresh stack with fast timings, the simulated provider configured by `tweak`.
    pub async fn spawn(tweak: impl FnOnce(&mut SimulatedConfig)) -> LifecycleApp {
        Self::spawn_with(Timings::FAST, tweak).await
    }

    /// A fresh stack whose event-source mappings do not run: the test delivers stream records
    /// and task messages itself.
    pub async fn spawn_idle() -> LifecycleApp {
        Self::build(Timings::FAST, |_| {}, false).await
    }

    /// [`Self::spawn_idle`] with the given timings.
    pub async fn spawn_idle_with(timings: Timings) -> LifecycleApp {
        Self::build(timings, |_| {}, false).await
    }

    /// A fresh stack with the given timings.
    pub async fn spawn_with(
        timings: Timings,
        tweak: impl FnOnce(&mut SimulatedConfig),
    ) -> LifecycleApp {
        Self::build(timings, tweak, true).await
    }

    async fn build(
        timings: Timings,
        tweak: impl FnOnce(&mut SimulatedConfig),
        players: bool,
    ) -> LifecycleApp {
        let sdk = sdk_config();
        let stack = stack::create(&sdk, &repo_root(), &unique("lc"), timings)
            .await
            .expect("stack");
        let app = TestApp::on_table(stack.table.clone(), "enterprise").await;
        let mut config = SimulatedConfig::fast("clusters.test");
        tweak(&mut config);
        let workers: &'static Workers = Box::leak(Box::new(Workers::new(&sdk, &stack, config)));
        if players {
            kupe_local::players::spawn_players(&sdk, workers, &stack, true);
        }
        LifecycleApp {
            app,
            stack,
            sfn: aws_sdk_sfn::Client::new(&sdk),
            workers,
        }
    }

    /// Polls GET until `done` holds for the body (or the cluster is gone, when `done` accepts
    /// `Null`), failing after `secs` seconds with the last body.
    pub async fn wait_for(&self, name: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let r = self.app.req(M::GET, &self.app.cluster(name)).send().await;
            let body = if r.status == StatusCode::NOT_FOUND {
                Value::Null
            } else {
                r.body
            };
            if done(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting; last: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Every execution of the stack's state machine: (name, status, input).
    pub async fn executions(&self) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        let list = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.stack.state_machine_arn)
            .send()
            .await
            .expect("list");
        for e in list.executions {
            let d = self
                .sfn
                .describe_execution()
                .execution_arn(&e.execution_arn)
                .send()
                .await
                .expect("describe");
            let input = d
                .input
                .as_deref()
                .and_then(|i| serde_json::from_str(i).ok())
                .unwrap_or(Value::Null);
            out.push((e.name, e.status.as_str().to_string(), input));
        }
        out
    }

    /// The state transitions of every execution of the stack's state machine, once none is
    /// running any more (failing after `secs` seconds): (execution name, transitions), in the
    /// order [`transitions`] counts them.
    pub async fn transitions_when_settled(&self, secs: u64) -> Vec<(String, u64)> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let list = loop {
            let list = self
                .sfn
                .list_executions()
                .state_machine_arn(&self.stack.state_machine_arn)
                .send()
                .await
                .expect("list");
            if list
                .executions
                .iter()
                .all(|e| e.status != aws_sdk_sfn::types::ExecutionStatus::Running)
            {
                break list;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "executions still running: {:?}",
                list.executions
            );
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        let mut out = Vec::new();
        for e in list.executions {
            out.push((e.name, transitions(&self.sfn, &e.execution_arn).await));
        }
        out
    }

    /// Phase-change events delivered to the bus so far, in order of arrival.
    pub async fn events(&self) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config());
        let mut events = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.stack.events_queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let msgs = out.messages.unwrap_or_default();
            if msgs.is_empty() {
                return events;
            }
            for m in msgs {
                let body: Value =
                    serde_json::from_str(m.body.as_deref().unwrap_or("{}")).unwrap_or(Value::Null);
                events.push(body["detail"].clone());
                if let Some(h) = m.receipt_handle {
                    sqs.delete_message()
                        .queue_url(&self.stack.events_queue_url)
                        .receipt_handle(h)
                        .send()
                        .await
                        .expect("delete");
                }
            }
        }
    }
}

/// The state transitions of one execution, counted from its history (`GetExecutionHistory`) the
/// way AWS bills a Standard workflow: one per step executed, retries included. That is one per
/// `…StateEntered` event (every state the execution entered, the final `Succeed`/`Fail` too),
/// plus one per retried task attempt (each `TaskScheduled` beyond the first of its state
/// entry). Waiting on a task token, and heartbeats, cost none.
pub async fn transitions(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> u64 {
    let mut entered = 0u64;
    let mut task_entries = 0u64;
    let mut scheduled = 0u64;
    let mut token = None;
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .expect("history");
        for event in &page.events {
            let kind = event.r#type.as_str();
            if kind.ends_with("StateEntered") {
                entered += 1;
            }
            if kind == "TaskStateEntered" {
                task_entries += 1;
            }
            if kind == "TaskScheduled" {
                scheduled += 1;
            }
        }
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert!(
        entered > 0,
        "{execution_arn} has no history (trimmed by the emulator?)"
    );
    entered + scheduled.saturating_sub(task_entries)
}
