//! The dispatcher: the table's stream is the outbox. Every spec change (a new `generation` of a
//! live cluster) starts exactly one lifecycle execution, named after (cluster, incarnation,
//! generation), so a redelivered record cannot start a second one; status-only changes start
//! nothing. It also ends deleted tenants: a tenant record that is `Terminating` with no cluster
//! holding a slot (its last teardown just gave the slot back, or it had none) calls for the
//! purge of that tenant (its members, its API keys, then its item), which is idempotent, so a
//! redelivered record does no harm. Records that fail are reported for a retry of just them.

use crate::{
    config::{required, sdk_config, ConfigError, Connect},
    domain::{
        pool::{self, Allocation},
        quantity::Quantity,
        resources::ResourceKind,
        tenant_phase::TenantPhase,
    },
    store::item::{from_item, ClusterHead, ClusterItem, TenantItem},
    store::schema::{CLUSTER_SK_PREFIX, TENANT_SK},
    store::Store,
    workflow::{action_for, execution_name, Action, ExecutionInput, ImageFacts, PoolRelease},
};
use aws_lambda_events::{
    dynamodb::Event as StreamEvent,
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};
use aws_sdk_sfn::{error::SdkError, Client as SfnClient};

/// A stream image.
pub type Image = serde_dynamo::Item;

/// Why an execution could not be started (the record is retried).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The input could not be serialized.
    #[error("execution input: {0}")]
    Input(#[from] serde_json::Error),
    /// `StartExecution` failed with something other than "already exists".
    #[error("StartExecution failed: {0}")]
    Start(String),
    /// A tenant's purge failed (it is run again on the retry).
    #[error("tenant purge failed: {0}")]
    Purge(#[from] crate::store::StoreError),
}

/// The dispatcher and what it needs.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    sfn: SfnClient,
    state_machine_arn: String,
    store: Store,
}

/// The tenant a stream record calls to purge, if any: a tenant item that is `Terminating` with
/// no cluster holding a slot.
pub fn purge_for(new: &Image) -> Option<String> {
    let tenant: TenantItem = from_item(new.clone()).ok()?;
    let done = tenant.sk == TENANT_SK
        && TenantPhase::from_stored(tenant.phase.as_deref()) == TenantPhase::Terminating
        && tenant.members.is_empty();
    done.then_some(tenant.tenant)
}

/// The execution one stream record calls for, if any: a live cluster whose `generation`
/// changed. Tombstones, other items and status-only writes call for none.
pub fn execution_for(new: &Image, old: &Image) -> Option<ExecutionInput> {
    let new: ClusterItem = from_item(new.clone()).ok()?;
    if !new.sk.starts_with(CLUSTER_SK_PREFIX) {
        return None;
    }
    let old: Option<ClusterHead> = from_item(old.clone()).ok();
    if old.as_ref().and_then(|o| o.generation) == Some(new.generation) {
        return None;
    }
    let facts = ImageFacts {
        phase: &new.phase,
        generation: new.generation,
        observed_generation: new.observed_generation,
        version: &new.version,
        kubernetes_version: new.kubernetes_version.as_deref(),
        ha_since_generation: new.ha_since_generation.filter(|_| new.high_availability),
    };
    let action = action_for(&facts);
    let pool_release = (action == Action::Delete).then(|| PoolRelease::of(&held(&new)));
    Some(ExecutionInput {
        action,
        pool_release,
        tenant: new.tenant,
        name: new.name,
        incarnation: new.incarnation,
        generation: new.generation,
        from_phase: old.map(|o| o.phase).unwrap_or_default(),
    })
}

/// What a cluster item holds from its tenant's pool, computed exactly as the create and resize
/// that claimed it did. An unreadable quantity (never written by us) counts as zero, so the
/// teardown still gives the slot back.
fn held(item: &ClusterItem) -> Allocation {
    let units = |kind, text: &str| Quantity::parse(text).map_or(0, |q| pool::units(kind, &q));
    Allocation {
        cpu: units(ResourceKind::Cpu, &item.cpu),
        memory: units(ResourceKind::Memory, &item.memory),
        storage: units(ResourceKind::Storage, &item.storage),
    }
}

impl Dispatcher {
    /// A dispatcher starting executions of `state_machine_arn` and purging deleted tenants
    /// from `store`.
    pub fn new(sfn: SfnClient, state_machine_arn: impl Into<String>, store: Store) -> Self {
        Self {
            sfn,
            state_machine_arn: state_machine_arn.into(),
            store,
        }
    }

    /// From `STATE_MACHINE_ARN` and `TABLE_NAME` (both required) and the SDK's environment.
    ///
    /// # Errors
    /// [`ConfigError`] when a variable is missing.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::connect_from_env()?(&sdk_config().await))
    }

    /// Reads and checks `STATE_MACHINE_ARN` and `TABLE_NAME` now; builds the clients later (see
    /// [`Connect`]).
    ///
    /// # Errors
    /// [`ConfigError`] when a variable is missing.
    pub fn connect_from_env() -> Result<Connect<Self>, ConfigError> {
        let arn = required("STATE_MACHINE_ARN")?;
        let table = required("TABLE_NAME")?;
        Ok(Box::new(move |sdk| {
            let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), table.clone());
            Self::new(SfnClient::new(sdk), arn.clone(), store)
        }))
    }

    /// Starts one execution; `ExecutionAlreadyExists` means a duplicate delivery and is success.
    ///
    /// # Errors
    /// [`DispatchError`] for any other failure.
    pub async fn start(&self, input: &ExecutionInput) -> Result<(), DispatchError> {
        let name = execution_name(
            &input.tenant,
            &input.name,
            input.incarnation,
            input.generation,
        );
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(&name)
            .input(serde_json::to_string(input)?)
            .send()
            .await;
        match started {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_execution_already_exists() => Ok(()),
            Err(e) => Err(DispatchError::Start(
                aws_sdk_sfn::error::DisplayErrorContext(&e).to_string(),
            )),
        }
    }

    /// Handles one stream batch: starts the execution each record calls for, and reports the
    /// records that failed (with their sequence numbers) for a retry of just them.
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in event.records {
            let change = &record.change;
            if let Some(tenant) = purge_for(&change.new_image) {
                match self.store.tenant_purge().purge(&tenant).await {
                    Ok(done) => tracing::info!(%tenant, outcome = ?done, "tenant purge"),
                    Err(e) => {
                        tracing::error!(error = %e, %tenant, "tenant purge failed");
                        let mut failure = DynamoDbBatchItemFailure::default();
                        failure.item_identifier = change.sequence_number.clone();
                        response.batch_item_failures.push(failure);
                    }
                }
                continue;
            }
            let Some(input) = execution_for(&change.new_image, &change.old_image) else {
                continue;
            };
            match self.start(&input).await {
                Ok(()) => tracing::info!(tenant = %input.tenant, name = %input.name,
                    generation = input.generation, action = ?input.action, "execution started"),
                Err(e) => {
                    tracing::error!(error = %e, tenant = %input.tenant, name = %input.name,
                        "start execution failed");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = change.sequence_number.clone();
                    response.batch_item_failures.push(failure);
                }
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{testing::ClusterBuilder, workflow::Action};
    use aws_sdk_dynamodb::types::AttributeValue;

    fn image(c: &crate::domain::cluster::Cluster) -> Image {
        serde_dynamo::to_item(ClusterItem::from(c)).unwrap()
    }

    #[test]
    fn only_a_terminating_tenant_with_no_slot_left_calls_for_a_purge() {
        let tenant = |phase: Option<&str>, slots: &[&str]| {
            let mut item = crate::store::item::key("TENANT#acme", TENANT_SK);
            item.insert("tenant".into(), AttributeValue::S("acme".into()));
            item.insert("plan".into(), AttributeValue::S("pro".into()));
            item.insert(
                "createdAt".into(),
                AttributeValue::S("2026-01-01T00:00:00Z".into()),
            );
            if let Some(p) = phase {
                item.insert("phase".into(), AttributeValue::S(p.into()));
            }
            if !slots.is_empty() {
                let names = slots.iter().map(|s| (*s).to_string()).collect();
                item.insert("members".into(), AttributeValue::Ss(names));
            }
            Image::from(item)
        };
        assert_eq!(
            purge_for(&tenant(Some("Terminating"), &[])).as_deref(),
            Some("acme")
        );
        assert_eq!(purge_for(&tenant(Some("Terminating"), &["prod"])), None);
        assert_eq!(purge_for(&tenant(None, &[])), None);
        assert_eq!(purge_for(&Image::default()), None, "a removed item");
        let cluster = image(&ClusterBuilder::new("prod").build());
        assert_eq!(purge_for(&cluster), None);
    }

    #[test]
    fn a_new_generation_calls_for_one_execution_and_a_status_write_for_none() {
        let before = ClusterBuilder::new("prod").running().build();
        let resized = ClusterBuilder::new("prod").running().generation(2).build();
        let input = execution_for(&image(&resized), &image(&before)).unwrap();
        assert_eq!((input.generation, input.action), (2, Action::Update));
        assert_eq!(input.from_phase, "Running");
        assert!(execution_for(&image(&before), &image(&before)).is_none());
        let deleting = ClusterBuilder::new("prod")
            .terminating()
            .generation(2)
            .build();
        let input = execution_for(&image(&deleting), &image(&before)).unwrap();
        assert_eq!(input.action, Action::Delete);
        let release = input.pool_release.expect("a teardown gives resources back");
        let held = Allocation::of(&deleting.spec.resources);
        assert_eq!(release.cpu, (-held.cpu).to_string());
        assert_eq!(release.memory, (-held.memory).to_string());
        let created = ClusterBuilder::new("prod").build();
        let input = execution_for(&image(&created), &Image::default()).unwrap();
        assert_eq!(
            (input.action, input.from_phase.as_str()),
            (Action::Provision, "")
        );
    }
}
