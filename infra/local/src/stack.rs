//! The emulated AWS side of the service, created as `template.yaml` declares it: the table
//! (with its stream), the work queue and its DLQ, the event bus, the lifecycle and secret-sync
//! state machines from their ASL files; and the workers the event sources feed (played by [`crate::players`]).

use aws_config::SdkConfig;
use kupe_shared::{
    provider::simulated::{Simulated, SimulatedConfig},
    store::{schema::create_table, Store},
    workers::{Dispatcher, Provisioner, Reconciler},
};
use std::path::Path;

/// The workers the event sources feed, built once and shared by the players.
#[derive(Debug)]
pub struct Workers {
    /// Stream → executions.
    pub dispatcher: Dispatcher,
    /// Queue → provider steps.
    pub provisioner: Provisioner<Simulated>,
    /// Dead executions → `Degraded`.
    pub reconciler: Reconciler,
}

impl Workers {
    /// The workers of `stack`, with the simulated provider configured by `provider`.
    pub fn new(sdk: &SdkConfig, stack: &Stack, provider: SimulatedConfig) -> Self {
        let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), stack.table.clone());
        let sfn = aws_sdk_sfn::Client::new(sdk);
        Workers {
            dispatcher: Dispatcher::new(sfn.clone(), &stack.state_machine_arn, store.clone())
                .with_secret_sync(&stack.secret_sync_arn),
            provisioner: Provisioner::new(
                store.clone(),
                sfn,
                aws_sdk_sqs::Client::new(sdk),
                Simulated::new(store.clone(), provider),
            ),
            reconciler: Reconciler::new(store),
        }
    }
}

/// Workflow timings substituted into the ASL.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Pause between provider checks (the provisioner's delayed check messages).
    pub check_interval_secs: u64,
    /// A task without a heartbeat for this long fails.
    pub heartbeat_secs: u64,
    /// The limit of one provider action, from its start to its answer.
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
    /// The secret-sync state machine.
    pub secret_sync_arn: String,
}

/// The lifecycle ASL with its `${Substitutions}` filled in.
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
    asl_of(root, "cluster-lifecycle", table, queue_url, bus, t)
}

/// The ASL of `infra/statemachine/<name>.asl.json` with its `${Substitutions}` filled in.
///
/// # Errors
/// When the file cannot be read.
pub fn asl_of(
    root: &Path,
    name: &str,
    table: &str,
    queue_url: &str,
    bus: &str,
    t: Timings,
) -> std::io::Result<String> {
    let text = std::fs::read_to_string(root.join(format!("infra/statemachine/{name}.asl.json")))?;
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

/// The work queue's visibility timeout: six times the time the provisioner may spend on one
/// batch ([`DEFAULT_BUDGET`](kupe_shared::workers::provisioner::DEFAULT_BUDGET), its function
/// timeout on AWS), as AWS advises for a queue feeding Lambda; `template.yaml` applies the same
/// rule (180 s = 6 × the provisioner's 30 s function timeout).
/// A message is never redelivered while its batch is still being worked on.
pub const WORK_VISIBILITY_TIMEOUT_SECS: u64 = 150;

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
            WORK_VISIBILITY_TIMEOUT_SECS.to_string(),
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
    let definition = asl_of(root, "secret-sync", &table, &queue_url, &bus, t)?;
    let secret_sync_arn = sfn
        .create_state_machine()
        .name(format!("{prefix}-secret-sync"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/kupe-secret-sync")
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
        secret_sync_arn,
    })
}
