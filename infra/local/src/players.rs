//! The event-source mappings Lambda would run, played by polling the emulator and handing each
//! batch to the same worker the Lambda runs: stream → dispatcher, queue → provisioner, dead
//! executions → reconciler.

use crate::stack::{Stack, Workers};
use aws_config::SdkConfig;
use aws_lambda_events::{
    dynamodb::{Event as StreamEvent, EventRecord, StreamRecord},
    eventbridge::EventBridgeEvent,
    sqs::{SqsEvent, SqsMessage},
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use kupe_shared::{
    provider::simulated::Simulated,
    workers::{reconciler::DEAD_STATUSES, Dispatcher, Provisioner, Reconciler},
};
use std::{collections::HashMap, collections::HashSet, time::Duration};

fn image(
    m: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
) -> serde_dynamo::Item {
    m.cloned().map(serde_dynamo::Item::from).unwrap_or_default()
}

/// Converts the emulator's stream records into the event Lambda would deliver.
pub fn stream_event(records: &[aws_sdk_dynamodbstreams::types::Record]) -> StreamEvent {
    let mut event = StreamEvent::default();
    for r in records {
        let Some(d) = &r.dynamodb else { continue };
        let mut change = StreamRecord::default();
        change.keys = image(d.keys.as_ref());
        change.new_image = image(d.new_image.as_ref());
        change.old_image = image(d.old_image.as_ref());
        change.sequence_number = d.sequence_number.clone();
        let mut rec = EventRecord::default();
        rec.event_id = r.event_id.clone().unwrap_or_default();
        rec.event_name = r
            .event_name
            .as_ref()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        rec.event_source = Some("aws:dynamodb".into());
        rec.aws_region = "us-east-1".into();
        rec.change = change;
        event.records.push(rec);
    }
    event
}

/// Plays the stream → dispatcher mapping: polls every shard from its start, hands each batch to
/// the dispatcher, and re-delivers from the first failed record (up to 5 times, then skips it,
/// as `MaximumRetryAttempts` with an on-failure destination would).
pub async fn pump_stream(sdk: SdkConfig, dispatcher: &'static Dispatcher, stream_arn: String) {
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let mut iterators: HashMap<String, Option<String>> = HashMap::new();
    let mut retries: HashMap<String, u32> = HashMap::new();
    loop {
        if let Ok(desc) = streams
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await
        {
            for shard in desc
                .stream_description
                .and_then(|d| d.shards)
                .unwrap_or_default()
            {
                let Some(id) = shard.shard_id else { continue };
                if let std::collections::hash_map::Entry::Vacant(slot) = iterators.entry(id) {
                    let it = streams
                        .get_shard_iterator()
                        .stream_arn(&stream_arn)
                        .shard_id(slot.key())
                        .shard_iterator_type(ShardIteratorType::TrimHorizon)
                        .send()
                        .await
                        .ok()
                        .and_then(|o| o.shard_iterator);
                    slot.insert(it);
                }
            }
        }
        for (shard, iterator) in iterators.iter_mut() {
            let Some(it) = iterator.clone() else { continue };
            let Ok(out) = streams
                .get_records()
                .shard_iterator(it)
                .limit(100)
                .send()
                .await
            else {
                continue;
            };
            let records = out.records.unwrap_or_default();
            *iterator = out.next_shard_iterator;
            if records.is_empty() {
                continue;
            }
            let response = dispatcher.handle(stream_event(&records)).await;
            if let Some(failed) = response
                .batch_item_failures
                .first()
                .and_then(|f| f.item_identifier.clone())
            {
                let tries = retries.entry(failed.clone()).or_insert(0);
                *tries += 1;
                let kind = if *tries > 5 {
                    ShardIteratorType::AfterSequenceNumber
                } else {
                    ShardIteratorType::AtSequenceNumber
                };
                *iterator = streams
                    .get_shard_iterator()
                    .stream_arn(&stream_arn)
                    .shard_id(shard)
                    .shard_iterator_type(kind)
                    .sequence_number(failed)
                    .send()
                    .await
                    .ok()
                    .and_then(|o| o.shard_iterator);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many batches the queue mapping works on at once: Lambda's SQS event source starts with
/// five concurrent pollers (and scales up from there), so one slow batch never holds up the
/// queue until the tasks behind it miss their heartbeats.
pub const QUEUE_POLLERS: usize = 5;

/// One poller of the queue → provisioner mapping: long-polls, hands each batch to the
/// provisioner (which works its records concurrently, within
/// [`DEFAULT_BUDGET`](kupe_shared::workers::provisioner::DEFAULT_BUDGET), as Lambda
/// would within its function timeout), and deletes every message it did not report as failed
/// (failed ones come back after the visibility timeout, and reach the DLQ after 5 receives).
/// [`spawn_players`] runs [`QUEUE_POLLERS`] of these.
pub async fn pump_queue(
    sdk: SdkConfig,
    provisioner: &'static Provisioner<Simulated>,
    queue_url: String,
) {
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    loop {
        let Ok(out) = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        for m in &messages {
            let mut msg = SqsMessage::default();
            msg.message_id = m.message_id.clone();
            msg.receipt_handle = m.receipt_handle.clone();
            msg.body = m.body.clone();
            event.records.push(msg);
        }
        let response = provisioner.handle(event).await;
        let failed: HashSet<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        let done: Vec<_> = messages
            .into_iter()
            .enumerate()
            .filter(|(_, m)| !m.message_id.as_ref().is_some_and(|id| failed.contains(id)))
            .filter_map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle)
                    .build()
                    .ok()
            })
            .collect();
        if !done.is_empty() {
            let _ = sqs
                .delete_message_batch()
                .queue_url(&queue_url)
                .set_entries(Some(done))
                .send()
                .await;
        }
    }
}

/// Plays the EventBridge rule on execution status changes: every execution that ends FAILED,
/// TIMED_OUT or ABORTED is handed to the reconciler once.
pub async fn watch_executions(
    sdk: SdkConfig,
    reconciler: &'static Reconciler,
    state_machine_arn: String,
) {
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let mut seen = HashSet::new();
    loop {
        for status in DEAD_STATUSES {
            let filter = aws_sdk_sfn::types::ExecutionStatus::from(status);
            let Ok(out) = sfn
                .list_executions()
                .state_machine_arn(&state_machine_arn)
                .status_filter(filter)
                .send()
                .await
            else {
                continue;
            };
            for ex in out.executions {
                // (the emulator may ignore the filter: judge by the status it reports)
                if !DEAD_STATUSES.contains(&ex.status.as_str())
                    || !seen.insert(ex.execution_arn.clone())
                {
                    continue;
                }
                let Ok(desc) = sfn
                    .describe_execution()
                    .execution_arn(&ex.execution_arn)
                    .send()
                    .await
                else {
                    continue;
                };
                let mut event: EventBridgeEvent<serde_json::Value> = EventBridgeEvent::default();
                event.detail_type = "Step Functions Execution Status Change".into();
                event.source = "aws.states".into();
                event.detail = serde_json::json!({
                    "executionArn": ex.execution_arn,
                    "stateMachineArn": state_machine_arn,
                    "status": desc.status.as_str(),
                    "input": desc.input,
                });
                if let Err(e) = reconciler.handle(event).await {
                    tracing::error!(error = %e, "reconciler failed");
                    seen.remove(&ex.execution_arn);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Starts the three players in the background (the queue's only when asked: tests that deliver
/// task messages themselves leave it out).
pub fn spawn_players(sdk: &SdkConfig, workers: &'static Workers, stack: &Stack, queue: bool) {
    tokio::spawn(pump_stream(
        sdk.clone(),
        &workers.dispatcher,
        stack.stream_arn.clone(),
    ));
    if queue {
        for _ in 0..QUEUE_POLLERS {
            tokio::spawn(pump_queue(
                sdk.clone(),
                &workers.provisioner,
                stack.queue_url.clone(),
            ));
        }
    }
    tokio::spawn(watch_executions(
        sdk.clone(),
        &workers.reconciler,
        stack.state_machine_arn.clone(),
    ));
}
