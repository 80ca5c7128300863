//! At-least-once delivery: stream records and task messages arrive more than once, in any order,
//! concurrently. Each generation must still start exactly one execution, and each task one
//! side effect.

use futures::future::join_all;
use kupe_tests::{LifecycleApp, M};
use lambda_http::http::StatusCode;
use serde_json::json;

async fn stream_records(lc: &LifecycleApp) -> Vec<aws_sdk_dynamodbstreams::types::Record> {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    let streams = aws_sdk_dynamodbstreams::Client::new(&kupe_tests::sdk_config());
    let desc = streams
        .describe_stream()
        .stream_arn(&lc.stack.stream_arn)
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    for shard in desc.stream_description.unwrap().shards.unwrap_or_default() {
        let mut it = streams
            .get_shard_iterator()
            .stream_arn(&lc.stack.stream_arn)
            .shard_id(shard.shard_id.unwrap())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(i) = it {
            let out = streams
                .get_records()
                .shard_iterator(i)
                .send()
                .await
                .unwrap();
            let page = out.records.unwrap_or_default();
            if page.is_empty() {
                break;
            }
            records.extend(page);
            it = out.next_shard_iterator;
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_record_delivered_one_two_or_five_times_starts_exactly_one_execution_per_generation()
{
    // GIVEN a cluster with three generations and a status-only write, as stream records
    let lc = LifecycleApp::spawn_idle().await;
    let app = &lc.app;
    app.create("prod").await;
    for cpu in ["3", "4"] {
        let r = app
            .req(M::PATCH, &app.cluster("prod"))
            .json(json!({"resources": {"cpu": cpu}}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let input = kupe_shared::workflow::ExecutionInput {
        tenant: app.tenant.clone(),
        name: "prod".into(),
        incarnation: 1,
        generation: 3,
        action: kupe_shared::workflow::Action::Update,
        from_phase: String::new(),
        pool_release: None,
        attempt: None,
    };
    assert!(app
        .ctx
        .store
        .clusters()
        .mark_degraded_if_progressing(&input, "Test", "a status-only write")
        .await
        .unwrap());
    let records = stream_records(&lc).await;
    let cluster_records = records.iter().filter(|r| {
        r.dynamodb
            .as_ref()
            .and_then(|d| d.keys.as_ref())
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .is_some_and(|s| s.starts_with("CLUSTER#"))
    });
    assert!(
        cluster_records.count() >= 4,
        "at least the insert, two patches and one status write"
    );
    // WHEN record i is delivered 1, 2 or 5 times, shuffled, in concurrent batches of three
    let mut deliveries = Vec::new();
    for (i, r) in records.iter().enumerate() {
        for _ in 0..[1, 2, 5][i % 3] {
            deliveries.push(r.clone());
        }
    }
    let n = deliveries.len();
    deliveries.sort_by_key(|r| {
        let seq = r
            .dynamodb
            .as_ref()
            .and_then(|d| d.sequence_number.clone())
            .unwrap_or_default();
        (seq.bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
            ^ n as u64)
            % 97
    });
    let batches: Vec<_> = deliveries
        .chunks(3)
        .map(kupe_local::players::stream_event)
        .collect();
    let results = join_all(
        batches
            .into_iter()
            .map(|ev| lc.workers.dispatcher.handle(ev)),
    )
    .await;
    for r in results {
        assert!(r.batch_item_failures.is_empty());
    }
    // THEN exactly one execution per generation, and none for the status-only change
    let ex = lc.executions().await;
    let mut gens: Vec<u64> = ex
        .iter()
        .map(|(_, _, i)| i["generation"].as_u64().unwrap())
        .collect();
    gens.sort_unstable();
    assert_eq!(gens, [1, 2, 3], "{ex:?}");
    let names: std::collections::HashSet<_> = ex.iter().map(|(n, _, _)| n.clone()).collect();
    assert_eq!(names.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_message_delivered_twice_has_one_side_effect() {
    let lc = LifecycleApp::spawn_idle().await;
    lc.app.create("prod").await;
    let records = stream_records(&lc).await;
    lc.workers
        .dispatcher
        .handle(kupe_local::players::stream_event(&records))
        .await;
    // the execution asks for the first step
    let sqs = aws_sdk_sqs::Client::new(&kupe_tests::sdk_config());
    let msg = loop {
        let out = sqs
            .receive_message()
            .queue_url(&lc.stack.queue_url)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages.and_then(|m| m.into_iter().next()) {
            break m;
        }
    };
    let event = || {
        let mut m = aws_lambda_events::sqs::SqsMessage::default();
        m.message_id = msg.message_id.clone();
        m.body = msg.body.clone();
        let mut e = aws_lambda_events::sqs::SqsEvent::default();
        e.records.push(m);
        e
    };
    let (a, b) = tokio::join!(
        lc.workers.provisioner.handle(event()),
        lc.workers.provisioner.handle(event())
    );
    assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());
    let sim: Vec<String> = lc
        .app
        .items()
        .await
        .iter()
        .filter_map(|i| {
            i.get("pk")
                .and_then(|v| v.as_s().ok())
                .filter(|p| p.starts_with("SIM#"))
                .map(|_| i["sk"].as_s().unwrap().clone())
        })
        .collect();
    assert_eq!(sim.len(), 2, "one operation and one CA: {sim:?}");
}

/// Issue 13: the provisioner answers a task only when the provider is done, re-checking through
/// delayed `check` messages that carry the same token. A `start` delivered twice makes two chains
/// of checks; both end, the task is answered once (the later answer is refused by Step Functions
/// or lands on a closed task, and is dropped without an error), and the provider's side effects
/// happen once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_delivered_twice_makes_two_check_chains_and_one_answer() {
    use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
    use kupe_shared::workflow::{Step, TaskMessage};
    let lc = LifecycleApp::spawn_idle().await;
    lc.app.create("prod").await;
    let records = stream_records(&lc).await;
    lc.workers
        .dispatcher
        .handle(kupe_local::players::stream_event(&records))
        .await;
    let sqs = aws_sdk_sqs::Client::new(&kupe_tests::sdk_config());
    let receive = || async {
        let out = sqs
            .receive_message()
            .queue_url(&lc.stack.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let msgs = out.messages.unwrap_or_default();
        for m in &msgs {
            sqs.delete_message()
                .queue_url(&lc.stack.queue_url)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
        msgs
    };
    let event = |m: &aws_sdk_sqs::types::Message| {
        let mut msg = SqsMessage::default();
        msg.message_id = m.message_id.clone();
        msg.body = m.body.clone();
        let mut e = SqsEvent::default();
        e.records.push(msg);
        e
    };
    // GIVEN the execution's start message, delivered twice at once
    let start = loop {
        if let Some(m) = receive().await.into_iter().next() {
            break m;
        }
    };
    let first: TaskMessage = serde_json::from_str(start.body.as_deref().unwrap()).unwrap();
    assert_eq!(first.step, Step::Start);
    assert_eq!(
        first.queue_url.as_deref(),
        Some(lc.stack.queue_url.as_str())
    );
    let (a, b) = tokio::join!(
        lc.workers.provisioner.handle(event(&start)),
        lc.workers.provisioner.handle(event(&start))
    );
    assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());
    // THEN each queued a delayed check: two chains
    let delayed = aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&lc.stack.queue_url)
        .attribute_names(delayed.clone())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    assert_eq!(
        attrs.get(&delayed).map(String::as_str),
        Some("2"),
        "{attrs:?}"
    );
    // WHEN every check message is delivered as it comes due, until none comes for 4 s
    let mut checks = 0;
    let mut quiet_since = std::time::Instant::now();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while quiet_since.elapsed() < std::time::Duration::from_secs(4) {
        assert!(std::time::Instant::now() < deadline, "the chains never end");
        let msgs = receive().await;
        if msgs.is_empty() {
            continue;
        }
        quiet_since = std::time::Instant::now();
        for m in &msgs {
            let check: TaskMessage = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
            assert_eq!(check.step, Step::Check);
            assert_eq!(check.task_token, first.task_token, "the same task");
            checks += 1;
        }
        let results =
            futures::future::join_all(msgs.iter().map(|m| lc.workers.provisioner.handle(event(m))))
                .await;
        for r in results {
            assert!(
                r.batch_item_failures.is_empty(),
                "a second answer is a no-op"
            );
        }
    }
    // THEN both chains checked and ended, …
    assert!(checks >= 2, "{checks} checks");
    // … the task was answered once and the execution went on to Running
    let c = lc
        .app
        .req(M::GET, &lc.app.cluster("prod"))
        .send()
        .await
        .body;
    assert_eq!(c["status"]["phase"], "Running", "{c}");
    assert_eq!(c["status"]["observedGeneration"], 1, "{c}");
    let arn = lc
        .sfn
        .list_executions()
        .state_machine_arn(&lc.stack.state_machine_arn)
        .send()
        .await
        .unwrap()
        .executions[0]
        .execution_arn
        .clone();
    let history = lc
        .sfn
        .get_execution_history()
        .execution_arn(arn)
        .send()
        .await
        .unwrap()
        .events;
    let work = |e: &&aws_sdk_sfn::types::HistoryEvent| {
        e.task_succeeded_event_details
            .as_ref()
            .is_some_and(|d| d.resource_type == "sqs")
    };
    assert_eq!(history.iter().filter(work).count(), 1, "one answer");
    let kinds: Vec<&str> = history.iter().map(|e| e.r#type.as_str()).collect();
    assert!(
        !kinds.contains(&"TaskFailed") && !kinds.contains(&"TaskTimedOut"),
        "{kinds:?}"
    );
    // … and the provider's state was written once, each step performed once
    let items = lc.app.items().await;
    let sim: Vec<&str> = items
        .iter()
        .filter(|i| {
            i.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|p| p.starts_with("SIM#"))
        })
        .filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str))
        .collect();
    let performed = sim.iter().filter(|sk| sk.starts_with("DONE#")).count();
    assert_eq!(
        sim.len() - performed,
        2,
        "one operation and one CA: {sim:?}"
    );
    assert_eq!(performed, 3, "each of the three steps once: {sim:?}");
}

/// Issue 13: a lost re-check message means no more heartbeats: the task times out, the state
/// machine's `States.Timeout` retry sends `start` again, which finds the work already started
/// (one side effect), and the new chain of checks answers. The cluster ends `Running`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_check_message_times_the_task_out_and_the_retried_start_finishes_the_work() {
    use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
    use kupe_shared::workflow::{Step, TaskMessage};
    let lc = LifecycleApp::spawn_idle_with(kupe_local::stack::Timings {
        heartbeat_secs: 3,
        ..kupe_local::stack::Timings::FAST
    })
    .await;
    lc.app.create("prod").await;
    let records = stream_records(&lc).await;
    lc.workers
        .dispatcher
        .handle(kupe_local::players::stream_event(&records))
        .await;
    let sqs = aws_sdk_sqs::Client::new(&kupe_tests::sdk_config());
    let mut lost = None;
    let mut starts = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // WHEN the queue is played, except that the first check message is lost
    loop {
        let c = lc
            .app
            .req(M::GET, &lc.app.cluster("prod"))
            .send()
            .await
            .body;
        if c["status"]["phase"] == "Running" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never Running: {c}");
        let out = sqs
            .receive_message()
            .queue_url(&lc.stack.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            sqs.delete_message()
                .queue_url(&lc.stack.queue_url)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
            let task: TaskMessage = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
            if task.step == Step::Start {
                starts += 1;
            }
            if task.step == Step::Check && lost.is_none() {
                lost = Some(task.task_token);
                continue;
            }
            let mut msg = SqsMessage::default();
            msg.message_id = m.message_id.clone();
            msg.body = m.body.clone();
            let mut e = SqsEvent::default();
            e.records.push(msg);
            let r = lc.workers.provisioner.handle(e).await;
            assert!(r.batch_item_failures.is_empty());
        }
    }
    // THEN the work was started twice (the second a retry after the timeout), answered once, …
    assert!(lost.is_some());
    assert_eq!(starts, 2, "the timed-out task was retried with a new start");
    let arn = lc
        .sfn
        .list_executions()
        .state_machine_arn(&lc.stack.state_machine_arn)
        .send()
        .await
        .unwrap()
        .executions[0]
        .execution_arn
        .clone();
    let history = lc
        .sfn
        .get_execution_history()
        .execution_arn(arn)
        .send()
        .await
        .unwrap()
        .events;
    let kinds: Vec<&str> = history.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "TaskTimedOut").count(),
        1,
        "{kinds:?}"
    );
    let answers = history
        .iter()
        .filter(|e| {
            e.task_succeeded_event_details
                .as_ref()
                .is_some_and(|d| d.resource_type == "sqs")
        })
        .count();
    assert_eq!(answers, 1);
    // … and the provider's state was written once, each step performed once
    let items = lc.app.items().await;
    let sim: Vec<&str> = items
        .iter()
        .filter(|i| {
            i.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|p| p.starts_with("SIM#"))
        })
        .filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str))
        .collect();
    let performed = sim.iter().filter(|sk| sk.starts_with("DONE#")).count();
    assert_eq!(
        sim.len() - performed,
        2,
        "one operation and one CA: {sim:?}"
    );
    assert_eq!(performed, 3, "each of the three steps once: {sim:?}");
}
