//! The dispatcher: the table's stream is the outbox. Every spec change (a new `generation` of a
//! live cluster) starts exactly one lifecycle execution, named after (cluster, incarnation,
//! generation), so a redelivered record cannot start a second one; status-only changes start
//! nothing. It also ends deleted tenants: a tenant record that is `Terminating` with no cluster
//! holding a slot (its last teardown just gave the slot back, or it had none) calls for the
//! purge of that tenant (its members, its API keys, then its item), which is idempotent, so a
//! redelivered record does no harm. Records that fail are reported for a retry of just them.
//!
//! Managed secrets: a new generation of a secret (create, PATCH of its targets, DELETE) starts
//! one secret-sync execution; and a cluster whose change alters what a sync does there (see
//! [`Placement::on`]: it becomes `Running`, `Degraded`, `Terminating`, or is gone) starts one
//! for each secret of its tenant that targets it, named
//! after that cluster record (its `resourceVersion`), so a redelivery starts nothing new.

use crate::{
    config::{required, sdk_config, ConfigError, Connect},
    domain::{
        operation::OpType,
        phase::Phase,
        pool::{self, Allocation},
        quantity::Quantity,
        resources::ResourceKind,
        secret::Placement,
        tenant_phase::TenantPhase,
    },
    store::item::{from_item, ClusterHead, ClusterItem, SecretItem, TenantItem},
    store::schema::{CLUSTER_SK_PREFIX, SECRET_SK_PREFIX, TENANT_SK},
    store::Store,
    workflow::{action_for, Action, ExecutionInput, ImageFacts, PoolRelease, SecretSyncInput},
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
    secret_sync_arn: Option<String>,
}

/// The secret sync a stream record of a secret calls for: a live secret whose `generation`
/// changed (a create, a PATCH of its targets, a DELETE).
pub fn secret_sync_for(new: &Image, old: &Image) -> Option<SecretSyncInput> {
    let new: SecretItem = from_item(new.clone()).ok()?;
    if !new.sk.starts_with(SECRET_SK_PREFIX) || new.deleted {
        return None;
    }
    let old: Option<SecretItem> = from_item(old.clone()).ok();
    if old.is_some_and(|o| !o.deleted && o.generation == new.generation) {
        return None;
    }
    Some(SecretSyncInput {
        tenant: new.tenant?,
        secret: new.name?,
        incarnation: new.incarnation,
        generation: new.generation,
        trigger: "spec".into(),
    })
}

/// A cluster change that calls for a re-sync of the secrets targeting it: (tenant, cluster,
/// trigger), when what a sync would do on the cluster ([`Placement::on`], whose message names the
/// phase) differs between the old and new images (an absent image or a tombstone is a missing
/// cluster): it becomes `Running`, leaves it for `Degraded` or `Terminating`, or is gone.
pub fn cluster_trigger(new: &Image, old: &Image, keys: &Image) -> Option<(String, String, String)> {
    let sk = keys.get("sk").and_then(|v| match v {
        serde_dynamo::AttributeValue::S(s) => Some(s.as_str()),
        _ => None,
    })?;
    let pk = keys.get("pk").and_then(|v| match v {
        serde_dynamo::AttributeValue::S(s) => Some(s.as_str()),
        _ => None,
    })?;
    let name = sk.strip_prefix(CLUSTER_SK_PREFIX)?;
    let tenant = pk.strip_prefix("TENANT#")?;
    let phase = |image: &Image| {
        from_item::<_, ClusterHead>(image.clone())
            .ok()
            .map(|h| (Phase::parse(&h.phase), h.resource_version))
    };
    let (new_phase, new_rv) = phase(new).map_or((None, 0), |(p, rv)| (p, rv));
    let old_phase = phase(old).and_then(|(p, _)| p);
    if Placement::on(name, new_phase) == Placement::on(name, old_phase) {
        return None;
    }
    Some((
        tenant.to_string(),
        name.to_string(),
        format!("cluster/{name}/{new_rv}"),
    ))
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
    let attempt = new.attempt.unwrap_or(1);
    let retried = old
        .as_ref()
        .is_some_and(|o| o.generation == Some(new.generation) && attempt > o.attempt.unwrap_or(1));
    if old.as_ref().and_then(|o| o.generation) == Some(new.generation) && !retried {
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
    // A retry performs the operation the API recorded; a new generation what it calls for.
    let action = match new.op_type.as_deref().and_then(OpType::parse) {
        Some(t) if retried => t.action(),
        _ => action_for(&facts),
    };
    let pool_release = (action == Action::Delete).then(|| PoolRelease::of(&held(&new)));
    Some(ExecutionInput {
        action,
        pool_release,
        tenant: new.tenant,
        name: new.name,
        incarnation: new.incarnation,
        generation: new.generation,
        from_phase: old.map(|o| o.phase).unwrap_or_default(),
        attempt: (attempt > 1).then_some(attempt),
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
            secret_sync_arn: None,
        }
    }

    /// Also starts secret syncs, as executions of `arn` (the secret-sync state machine).
    pub fn with_secret_sync(mut self, arn: impl Into<String>) -> Self {
        self.secret_sync_arn = Some(arn.into());
        self
    }

    /// From `STATE_MACHINE_ARN`, `SECRET_SYNC_STATE_MACHINE_ARN` and `TABLE_NAME` (all
    /// required) and the SDK's environment.
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
        let secret_sync = required("SECRET_SYNC_STATE_MACHINE_ARN")?;
        let table = required("TABLE_NAME")?;
        Ok(Box::new(move |sdk| {
            let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), table.clone());
            Self::new(SfnClient::new(sdk), arn.clone(), store).with_secret_sync(secret_sync.clone())
        }))
    }

    /// Starts one execution; `ExecutionAlreadyExists` means a duplicate delivery and is success.
    ///
    /// # Errors
    /// [`DispatchError`] for any other failure.
    pub async fn start(&self, input: &ExecutionInput) -> Result<(), DispatchError> {
        let name = input.execution_name();
        self.start_once(
            &self.state_machine_arn,
            &name,
            serde_json::to_string(input)?,
        )
        .await
    }

    /// Starts one secret sync; `ExecutionAlreadyExists` (a duplicate delivery) is success. Without
    /// a secret-sync state machine, nothing is started.
    ///
    /// # Errors
    /// [`DispatchError`] for any other failure.
    pub async fn start_secret_sync(&self, input: &SecretSyncInput) -> Result<(), DispatchError> {
        let Some(arn) = &self.secret_sync_arn else {
            return Ok(());
        };
        self.start_once(arn, &input.execution_name(), serde_json::to_string(input)?)
            .await
    }

    /// Starts the execution `name` of `arn`; an existing one of that name (a duplicate
    /// delivery: names are unique per generation or per triggering record) is success.
    async fn start_once(&self, arn: &str, name: &str, input: String) -> Result<(), DispatchError> {
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(arn)
            .name(name)
            .input(input)
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

    /// The secret syncs one record calls for, started.
    async fn secret_work(
        &self,
        change: &aws_lambda_events::dynamodb::StreamRecord,
    ) -> Result<(), DispatchError> {
        if self.secret_sync_arn.is_none() {
            return Ok(());
        }
        if let Some(input) = secret_sync_for(&change.new_image, &change.old_image) {
            self.start_secret_sync(&input).await?;
            tracing::info!(tenant = %input.tenant, secret = %input.secret,
                generation = input.generation, "secret sync started");
        }
        if let Some((tenant, cluster, trigger)) =
            cluster_trigger(&change.new_image, &change.old_image, &change.keys)
        {
            for secret in self.store.secrets().targeting(&tenant, &cluster).await? {
                let input = SecretSyncInput {
                    tenant: tenant.clone(),
                    secret: secret.name,
                    incarnation: secret.incarnation,
                    generation: secret.generation,
                    trigger: trigger.clone(),
                };
                self.start_secret_sync(&input).await?;
                tracing::info!(%tenant, secret = %input.secret, %trigger, "secret re-sync started");
            }
        }
        Ok(())
    }

    /// Handles one stream batch: starts the execution each record calls for, and reports the
    /// records that failed (with their sequence numbers) for a retry of just them.
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in event.records {
            let change = &record.change;
            if let Err(e) = self.secret_work(change).await {
                tracing::error!(error = %e, "secret sync not started");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = change.sequence_number.clone();
                response.batch_item_failures.push(failure);
                continue;
            }
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

    fn secret_image(generation: u64, rv: u64, deleted: bool) -> Image {
        let item = SecretItem {
            pk: "TENANT#acme".into(),
            sk: "SECRET#db".into(),
            resource_version: rv,
            deleted,
            tenant: (!deleted).then(|| "acme".into()),
            name: (!deleted).then(|| "db".into()),
            generation: if deleted { 0 } else { generation },
            incarnation: 1,
            phase: (!deleted).then(|| "Pending".into()),
            ..SecretItem::default()
        };
        serde_dynamo::to_item(item).unwrap()
    }

    #[test]
    fn a_new_secret_generation_calls_for_one_sync_and_a_status_write_for_none() {
        let input = secret_sync_for(&secret_image(1, 1, false), &Image::default()).unwrap();
        assert_eq!(
            (
                input.tenant.as_str(),
                input.secret.as_str(),
                input.generation
            ),
            ("acme", "db", 1)
        );
        assert_eq!(input.trigger, "spec");
        let patched = secret_sync_for(&secret_image(2, 3, false), &secret_image(1, 2, false));
        assert_eq!(patched.map(|i| i.generation), Some(2));
        assert!(secret_sync_for(&secret_image(1, 2, false), &secret_image(1, 1, false)).is_none());
        assert!(secret_sync_for(&secret_image(0, 9, true), &secret_image(3, 8, false)).is_none());
        let cluster = image(&ClusterBuilder::new("prod").build());
        assert!(secret_sync_for(&cluster, &Image::default()).is_none());
    }

    #[test]
    fn a_cluster_calls_for_a_resync_when_what_a_sync_does_there_changes() {
        let keys = |name: &str| {
            Image::from(crate::store::item::key(
                "TENANT#acme",
                format!("CLUSTER#{name}"),
            ))
        };
        let pending = image(&ClusterBuilder::new("prod").build());
        let running = image(&ClusterBuilder::new("prod").running().build());
        let terminating = image(&ClusterBuilder::new("prod").terminating().build());
        let mut tombstone = crate::store::item::key("TENANT#acme", "CLUSTER#prod");
        tombstone.insert("phase".into(), AttributeValue::S("Deleted".into()));
        tombstone.insert("resourceVersion".into(), AttributeValue::N("9".into()));
        let tombstone = Image::from(tombstone);
        let (tenant, cluster, trigger) =
            cluster_trigger(&running, &pending, &keys("prod")).unwrap();
        assert_eq!((tenant.as_str(), cluster.as_str()), ("acme", "prod"));
        assert!(trigger.starts_with("cluster/prod/"), "{trigger}");
        assert!(cluster_trigger(&terminating, &running, &keys("prod")).is_some());
        let gone = cluster_trigger(&tombstone, &terminating, &keys("prod")).unwrap();
        assert_eq!(gone.2, "cluster/prod/9", "named after the record");
        assert!(
            cluster_trigger(&running, &running, &keys("prod")).is_none(),
            "a status write"
        );
        let secret_keys = Image::from(crate::store::item::key("TENANT#acme", "SECRET#db"));
        assert!(cluster_trigger(&running, &pending, &secret_keys).is_none());
    }

    #[test]
    fn a_retry_of_the_same_generation_calls_for_its_own_execution_of_the_recorded_type() {
        use crate::domain::{operation::OpRecord, operation::OpType, phase::Phase};
        // an upgrade that failed, then retried: the same generation, one more attempt
        let mut failed = ClusterBuilder::new("prod")
            .running()
            .generation(2)
            .degraded("CapacityUnavailable")
            .build();
        failed.op = OpRecord::accepted(OpType::Upgrade, "2026-01-01T00:00:00Z");
        let mut retried = failed.clone();
        retried.status.phase = Phase::Pending;
        retried.op.attempt = 2;
        let input = execution_for(&image(&retried), &image(&failed)).unwrap();
        assert_eq!(
            (input.generation, input.action, input.attempt),
            (2, Action::Upgrade, Some(2))
        );
        assert!(input.execution_name().ends_with("-a2"));
        // later status writes of the retry call for nothing
        assert!(execution_for(&image(&retried), &image(&retried)).is_none());
        // nor does a status write of the failed attempt
        assert!(execution_for(&image(&failed), &image(&failed)).is_none());
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
