//! The emulated AWS side of the service: the table (with its stream), the work queue and its
//! DLQ, the event bus and the lifecycle state machine from the ASL file, plus the event-source
//! mappings Lambda would run (stream → dispatcher, queue → provisioner, dead executions →
//! reconciler), played by polling the emulator and calling the same handlers.

use aws_config::SdkConfig;
use aws_lambda_events::{
    dynamodb::{Event as StreamEvent, EventRecord, StreamRecord},
    eventbridge::EventBridgeEvent,
    sqs::{SqsEvent, SqsMessage},
};
use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamAv, ShardIteratorType};
use kupe_shared::{
    lifecycle::DEAD_STATUSES, provider::simulated::Simulated, store::schema::create_table,
    WorkflowCtx,
};
use std::{collections::HashMap, collections::HashSet, path::Path, time::Duration};

/// Workflow timings substituted into the ASL.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Wait between provider checks.
    pub check_interval_secs: u64,
    /// A task without a heartbeat for this long fails.
    pub heartbeat_secs: u64,
    /// A single step's limit.
    pub step_timeout_secs: u64,
    /// A whole execution's limit.
    pub execution_timeout_secs: u64,
}

impl Timings {
    /// Seconds-scale timings, for tests and `make run`.
    pub const FAST: Timings = Timings {
        check_interval_secs: 1,
        // A step must be picked up and answered within this; generous enough for a loaded
        // two-core CI machine, where the queue is polled once a second.
        heartbeat_secs: 30,
        step_timeout_secs: 60,
        execution_timeout_secs: 600,
    };
}

/// The resources of one emulated stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Table name.
    pub table: String,
    /// The table's stream.
    pub stream_arn: String,
    /// Work queue.
    pub queue_url: String,
    /// Event bus name.
    pub bus: String,
    /// Queue receiving every event on the bus (to observe them).
    pub events_queue_url: String,
    /// State machine.
    pub state_machine_arn: String,
}

/// The ASL with its `${Substitutions}` filled in.
///
/// # Errors
/// When the file cannot be read.
pub fn asl(
    root: &Path,
    table: &str,
    queue_url: &str,
    bus: &str,
    t: Timings,
) -> std::io::Result<String> {
    let text = std::fs::read_to_string(root.join("infra/statemachine/cluster-lifecycle.asl.json"))?;
    Ok(text
        .replace("${TableName}", table)
        .replace("${QueueUrl}", queue_url)
        .replace("${EventBusName}", bus)
        .replace(
            "${CheckIntervalSeconds}",
            &t.check_interval_secs.to_string(),
        )
        .replace("${HeartbeatSeconds}", &t.heartbeat_secs.to_string())
        .replace("${StepTimeoutSeconds}", &t.step_timeout_secs.to_string())
        .replace(
            "${ExecutionTimeoutSeconds}",
            &t.execution_timeout_secs.to_string(),
        ))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Creates a queue with default attributes; returns its URL and ARN.
async fn plain_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String), BoxError> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let attr = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(attr.clone())
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&attr).cloned())
        .ok_or("queue has no ARN")?;
    Ok((url, arn))
}

/// Creates the stack's resources, every name prefixed with `prefix`.
///
/// # Errors
/// Any emulator failure.
pub async fn create(
    sdk: &SdkConfig,
    root: &Path,
    prefix: &str,
    t: Timings,
) -> Result<Stack, BoxError> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sfn = aws_sdk_sfn::Client::new(sdk);
    let table = format!("{prefix}-clusters");
    create_table(&ddb, &table).await?;
    let stream_arn = ddb
        .describe_table()
        .table_name(&table)
        .send()
        .await?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or("table has no stream")?;
    let (_, dlq_arn) = plain_queue(&sqs, &format!("{prefix}-work-dlq")).await?;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{prefix}-work"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "5",
        )
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"5"}}"#),
        )
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let bus = format!("{prefix}-bus");
    events.create_event_bus().name(&bus).send().await?;
    let (events_queue_url, events_arn) = plain_queue(&sqs, &format!("{prefix}-events")).await?;
    events
        .put_rule()
        .name(format!("{prefix}-phase-changes"))
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["kupe.clusters"]}"#)
        .send()
        .await?;
    events
        .put_targets()
        .rule(format!("{prefix}-phase-changes"))
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("events-queue")
                .arn(events_arn)
                .build()?,
        )
        .send()
        .await?;
    let definition = asl(root, &table, &queue_url, &bus, t)?;
    let state_machine_arn = sfn
        .create_state_machine()
        .name(format!("{prefix}-lifecycle"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/kupe-lifecycle")
        .send()
        .await?
        .state_machine_arn;
    Ok(Stack {
        table,
        stream_arn,
        queue_url,
        bus,
        events_queue_url,
        state_machine_arn,
    })
}

fn to_dynamo(av: &StreamAv) -> serde_dynamo::AttributeValue {
    use serde_dynamo::AttributeValue as D;
    match av {
        StreamAv::S(s) => D::S(s.clone()),
        StreamAv::N(n) => D::N(n.clone()),
        StreamAv::Bool(b) => D::Bool(*b),
        StreamAv::Null(_) => D::Null(true),
        StreamAv::Ss(v) => D::Ss(v.clone()),
        StreamAv::Ns(v) => D::Ns(v.clone()),
        StreamAv::L(v) => D::L(v.iter().map(to_dynamo).collect()),
        StreamAv::M(m) => D::M(m.iter().map(|(k, v)| (k.clone(), to_dynamo(v))).collect()),
        _ => D::Null(true),
    }
}

fn image(m: Option<&HashMap<String, StreamAv>>) -> serde_dynamo::Item {
    m.map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), to_dynamo(v)))
            .collect::<HashMap<_, _>>()
    })
    .unwrap_or_default()
    .into()
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
/// the dispatcher, and re-delivers from the first failed record (up to 3 times, then skips it,
/// as `MaximumRetryAttempts` with an on-failure destination would).
pub async fn pump_stream(sdk: SdkConfig, ctx: &'static WorkflowCtx, stream_arn: String) {
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
            let response = dispatcher::handler(ctx, stream_event(&records))
                .await
                .unwrap_or_default();
            if let Some(failed) = response
                .batch_item_failures
                .first()
                .and_then(|f| f.item_identifier.clone())
            {
                let tries = retries.entry(failed.clone()).or_insert(0);
                *tries += 1;
                let kind = if *tries > 3 {
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

/// Plays the queue → provisioner mapping: long-polls, hands each batch to the provisioner, and
/// deletes every message it did not report as failed (failed ones come back after the
/// visibility timeout, and reach the DLQ after 5 receives).
pub async fn pump_queue(
    sdk: SdkConfig,
    ctx: &'static WorkflowCtx,
    provider: &'static Simulated,
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
        let response = provisioner::handle(ctx, provider, event).await;
        let failed: HashSet<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        for m in messages {
            if m.message_id.as_ref().is_some_and(|id| failed.contains(id)) {
                continue;
            }
            if let Some(handle) = m.receipt_handle {
                let _ = sqs
                    .delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
    }
}

/// Plays the EventBridge rule on execution status changes: every execution that ends FAILED,
/// TIMED_OUT or ABORTED is handed to the reconciler once.
pub async fn watch_executions(sdk: SdkConfig, ctx: &'static WorkflowCtx) {
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let mut seen = HashSet::new();
    loop {
        for status in DEAD_STATUSES {
            let filter = aws_sdk_sfn::types::ExecutionStatus::from(status);
            let Ok(out) = sfn
                .list_executions()
                .state_machine_arn(&ctx.state_machine_arn)
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
                    "stateMachineArn": ctx.state_machine_arn,
                    "status": desc.status.as_str(),
                    "input": desc.input,
                });
                if let Err(e) = reconciler::handler(ctx, event).await {
                    tracing::error!(error = %e, "reconciler failed");
                    seen.remove(&ex.execution_arn);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Starts the three players in the background (the queue's only when a provider is given:
/// tests that deliver task messages themselves leave it out).
pub fn spawn_players(
    sdk: &SdkConfig,
    ctx: &'static WorkflowCtx,
    provider: Option<&'static Simulated>,
    stack: &Stack,
) {
    tokio::spawn(pump_stream(sdk.clone(), ctx, stack.stream_arn.clone()));
    if let Some(provider) = provider {
        tokio::spawn(pump_queue(
            sdk.clone(),
            ctx,
            provider,
            stack.queue_url.clone(),
        ));
    }
    tokio::spawn(watch_executions(sdk.clone(), ctx));
}
