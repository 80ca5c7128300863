//! The simulated provider: realistic or fast timings, a deterministic endpoint
//! `https://{name}.{tenant}.{domain}`, a real per-cluster CA certificate, version resolution
//! from the catalog, metrics derived from the resources, and failure injection per
//! (action, cluster) so tests can drive every failure path. Its state (operations and CAs) lives
//! in the table under `SIM#…` keys, written with conditions so duplicates change nothing.

use super::{Operation, Provider, ProviderError, SecretCopies, SecretCopy, StepOutcome};
use crate::{
    config::{optional, ConfigError},
    domain::{
        failure::FailureCode,
        operation::{steps_of, OpStep, StepState},
    },
    store::{
        item::{from_item, key, to_item},
        schema::COND_NEW_ITEM,
        Store,
    },
    workflow::{Action, StepOutput},
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A failure injection rule: `action:cluster`, e.g. `provision:failme` (`*` matches any
/// cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The action it applies to.
    pub action: Action,
    /// The cluster name, or `*`.
    pub cluster: String,
}

impl Rule {
    fn matches(&self, op: &Operation) -> bool {
        self.action == op.action && (self.cluster == "*" || self.cluster == op.name.as_str())
    }

    /// Parses a comma-separated list of `action:cluster`.
    ///
    /// # Errors
    /// A message naming the bad entry.
    pub fn parse_list(s: &str) -> Result<Vec<Rule>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (action, cluster) = e.split_once(':').ok_or(format!("bad rule {e}"))?;
                let action = serde_json::from_value(serde_json::Value::String(action.into()))
                    .map_err(|_| format!("bad action in rule {e}"))?;
                Ok(Rule {
                    action,
                    cluster: cluster.to_string(),
                })
            })
            .collect()
    }
}

/// A failure rule and the code the failure carries.
pub type CodedRule = (Rule, FailureCode);

/// A failure of one step, on the operation's first attempt only (so a retry succeeds):
/// `action:cluster:Code@Step`, e.g. `provision:c1:CapacityUnavailable@NodePools`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// Which action of which cluster.
    pub rule: Rule,
    /// The code it fails with.
    pub code: FailureCode,
    /// The step that fails ([`crate::domain::operation::steps_of`]).
    pub step: String,
}

/// The step failures of a `SIM_FAIL` list (its `…@Step` entries; [`parse_fail_list`] takes the
/// others).
///
/// # Errors
/// A message naming the bad entry.
pub fn parse_step_failures(s: &str) -> Result<Vec<StepFailure>, String> {
    s.split(',')
        .map(str::trim)
        .filter_map(|e| e.split_once('@').map(|(r, step)| (e, r, step)))
        .map(|(entry, rule, step)| {
            let (_, coded) = parse_fail_list(rule)?;
            let [(rule, code)] = <[CodedRule; 1]>::try_from(coded)
                .map_err(|_| format!("a step failure needs action:cluster:Code@Step: {entry}"))?;
            if !crate::domain::operation::steps_of(rule.action).contains(&step) {
                return Err(format!("unknown step in {entry}"));
            }
            Ok(StepFailure {
                rule,
                code,
                step: step.to_string(),
            })
        })
        .collect()
}

/// Splits a `SIM_FAIL` list into plain rules (`action:cluster`) and coded ones
/// (`action:cluster:Code`, the code from the failure catalog).
///
/// # Errors
/// A message naming the bad entry.
pub fn parse_fail_list(s: &str) -> Result<(Vec<Rule>, Vec<CodedRule>), String> {
    let mut plain = Vec::new();
    let mut coded = Vec::new();
    for entry in s
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.contains('@'))
    {
        match entry.rsplit_once(':') {
            Some((rule, code)) if rule.contains(':') => {
                let code =
                    FailureCode::parse(code).ok_or(format!("unknown failure code in {entry}"))?;
                coded.extend(Rule::parse_list(rule)?.into_iter().map(|r| (r, code)));
            }
            _ => plain.extend(Rule::parse_list(entry)?),
        }
    }
    Ok((plain, coded))
}

/// Timings and behaviour of the simulated provider.
#[derive(Debug, Clone)]
pub struct SimulatedConfig {
    /// How long a first rollout takes.
    pub provision: Duration,
    /// How long a version upgrade takes.
    pub upgrade: Duration,
    /// How long a resources change takes.
    pub update: Duration,
    /// How long a teardown takes.
    pub delete: Duration,
    /// Endpoint domain: `https://{name}.{tenant}.{domain}`.
    pub domain: String,
    /// Steps that fail with a provider error.
    pub fail: Vec<Rule>,
    /// Steps that fail with a classified provider error: the code the rollout ends with.
    pub fail_with: Vec<CodedRule>,
    /// One step of an action that fails on the operation's first attempt only.
    pub fail_step: Vec<StepFailure>,
    /// Steps that never answer (no success, no failure, no heartbeat).
    pub hang: Vec<Rule>,
    /// How long every provider call takes before it answers, like a real provider's API under
    /// load (default none).
    pub latency: Duration,
}

impl SimulatedConfig {
    /// Seconds-scale timings for tests and `make run`.
    pub fn fast(domain: &str) -> Self {
        Self {
            provision: Duration::from_secs(2),
            upgrade: Duration::from_secs(1),
            update: Duration::from_secs(1),
            delete: Duration::from_secs(1),
            domain: domain.to_string(),
            fail: Vec::new(),
            fail_with: Vec::new(),
            fail_step: Vec::new(),
            hang: Vec::new(),
            latency: Duration::ZERO,
        }
    }

    /// Minutes-scale timings, like a real managed control plane, for demos.
    pub fn realistic(domain: &str) -> Self {
        Self {
            provision: Duration::from_secs(180),
            upgrade: Duration::from_secs(120),
            update: Duration::from_secs(45),
            delete: Duration::from_secs(60),
            ..Self::fast(domain)
        }
    }

    /// From `SIM_PROFILE` (`fast` | `realistic`, default `fast`), `CLUSTER_DOMAIN` (default
    /// `clusters.kupe.local`), `SIM_FAIL` and `SIM_HANG` (rule lists). A `SIM_FAIL` entry may
    /// name a failure code: `provision:big:ProviderQuotaExceeded`, and a step that fails on the
    /// first attempt only: `provision:c1:CapacityUnavailable@NodePools`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the bad variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let domain: String = optional("CLUSTER_DOMAIN", "clusters.kupe.local".to_string())?;
        let mut cfg = match optional("SIM_PROFILE", "fast".to_string())?.as_str() {
            "realistic" => Self::realistic(&domain),
            "fast" => Self::fast(&domain),
            other => {
                return Err(ConfigError::new(
                    "SIM_PROFILE",
                    format!("must be fast or realistic, not {other}"),
                ))
            }
        };
        let rules = |name: &'static str| {
            Rule::parse_list(&optional(name, String::new())?).map_err(|e| ConfigError::new(name, e))
        };
        let sim_fail = optional("SIM_FAIL", String::new())?;
        let (fail, fail_with) =
            parse_fail_list(&sim_fail).map_err(|e| ConfigError::new("SIM_FAIL", e))?;
        cfg.fail = fail;
        cfg.fail_with = fail_with;
        cfg.fail_step =
            parse_step_failures(&sim_fail).map_err(|e| ConfigError::new("SIM_FAIL", e))?;
        cfg.hang = rules("SIM_HANG")?;
        Ok(cfg)
    }

    fn duration(&self, action: Action) -> Duration {
        match action {
            Action::Provision => self.provision,
            Action::Upgrade => self.upgrade,
            Action::Update | Action::Migrate => self.update,
            Action::Delete => self.delete,
        }
    }
}

/// The simulated provider.
#[derive(Debug, Clone)]
pub struct Simulated {
    store: Store,
    config: SimulatedConfig,
}

/// A started action, kept under the cluster's `SIM#` partition (`OP#<generation>`, and
/// `OP#<generation>#a<attempt>` for a retry).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimOperation {
    pk: String,
    sk: String,
    action: String,
    ready_at_ms: u64,
    /// When the attempt started.
    #[serde(default)]
    started_at_ms: u64,
    /// The steps this attempt performs (those an earlier attempt finished are left out), each
    /// with the time it is done.
    #[serde(default)]
    steps: Vec<SimStep>,
    /// What this generation applies (a real provider would configure these): the endpoint's
    /// access (JSON text) and the enabled addons, in list order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint_access: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    addons: Vec<String>,
}

/// One step of a started action.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimStep {
    name: String,
    ready_at_ms: u64,
}

/// The record of a step the provider performed (`DONE#<generation>#<step>#a<attempt>`): what
/// tests read to see that a retry did not perform a finished step again.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimPerformed {
    pk: String,
    sk: String,
    step: String,
    attempt: u64,
    generation: u64,
}

/// A step the simulated provider performed: (generation, step, attempt).
pub type Performed = (u64, String, u64);

fn rfc3339_ms(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(crate::domain::format_rfc3339)
        .unwrap_or_else(|_| crate::domain::now_rfc3339())
}

/// The CA of one incarnation (`CA`).
#[derive(Debug, Serialize, Deserialize)]
struct SimCa {
    pk: String,
    sk: String,
    pem: String,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn err(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Transient(format!("simulated backend unavailable: {e}"))
}

/// Generates a self-signed CA certificate for one cluster, as PEM.
///
/// # Errors
/// When key generation or signing fails.
pub fn generate_ca(common_name: &str) -> Result<String, rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Kupe simulated provider");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate()?;
    Ok(params.self_signed(&key)?.pem())
}

impl Simulated {
    /// A simulated provider keeping its state in the store's table.
    pub fn new(store: Store, config: SimulatedConfig) -> Self {
        Self { store, config }
    }

    fn pk(op: &Operation) -> String {
        format!("SIM#{}#{}#{}", op.tenant, op.name, op.incarnation)
    }

    /// The sort key of the started action of `op`'s attempt.
    fn op_sk(op: &Operation) -> String {
        match op.attempt {
            0 | 1 => format!("OP#{}", op.generation),
            a => format!("OP#{}#a{a}", op.generation),
        }
    }

    /// The steps this provider performed for cluster `name` (incarnation `incarnation`) of
    /// `tenant`, in key order.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] when the table fails.
    pub async fn performed(
        &self,
        tenant: &str,
        name: &str,
        incarnation: u64,
    ) -> Result<Vec<Performed>, ProviderError> {
        let page = self
            .store
            .client()
            .query()
            .table_name(self.store.table())
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :done)")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!(
                    "SIM#{tenant}#{name}#{incarnation}"
                )),
            )
            .expression_attribute_values(
                ":done",
                aws_sdk_dynamodb::types::AttributeValue::S("DONE#".into()),
            )
            .send()
            .await
            .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
        page.items
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                let p: SimPerformed = from_item(i).map_err(err)?;
                Ok((p.generation, p.step, p.attempt))
            })
            .collect()
    }

    /// The step failure injected for the step `step` of `op`, on its first attempt only.
    fn failing_step(&self, op: &Operation, step: &str) -> Option<ProviderError> {
        if op.attempt > 1 {
            return None;
        }
        let f = self
            .config
            .fail_step
            .iter()
            .find(|f| f.rule.matches(op) && f.step == step)?;
        Some(ProviderError::Classified(
            f.code,
            format!(
                "injected {} failure at step {step}: {:?} of cluster {}",
                f.code.as_str(),
                op.action,
                op.name
            ),
        ))
    }

    /// The steps of `op` as they stand at `now_ms`: those an earlier attempt finished, then
    /// this attempt's, each done once its time passed (recorded as performed, once). The first
    /// not done is running; an injected failure of it fails the step.
    async fn progress(
        &self,
        op: &Operation,
        started: &SimOperation,
        now: u64,
    ) -> Result<(Vec<OpStep>, bool), ProviderError> {
        // Steps finished before this attempt: those it was not started with.
        let mut steps: Vec<OpStep> = op
            .finished
            .iter()
            .filter(|n| !started.steps.iter().any(|s| &s.name == *n))
            .map(|n| OpStep {
                state: StepState::Succeeded,
                ..OpStep::pending(n)
            })
            .collect();
        let mut begun = started.started_at_ms;
        let mut all_done = true;
        for s in &started.steps {
            let mut step = OpStep::pending(&s.name);
            if all_done {
                step.started_at = Some(rfc3339_ms(begun));
                if let Some(failure) = self.failing_step(op, &s.name) {
                    // The step fails once it was reported running (so the steps before it are
                    // seen finished): the first report of it says running, the next fails.
                    let first_report = self
                        .put_once(&SimPerformed {
                            pk: Self::pk(op),
                            sk: format!("FAILING#{}#{}#a{}", op.generation, s.name, op.attempt),
                            step: s.name.clone(),
                            attempt: op.attempt.max(1),
                            generation: op.generation,
                        })
                        .await?;
                    if !first_report {
                        return Err(failure);
                    }
                    step.state = StepState::Running;
                    all_done = false;
                } else if now >= s.ready_at_ms {
                    self.put_once(&SimPerformed {
                        pk: Self::pk(op),
                        sk: format!("DONE#{}#{}#a{}", op.generation, s.name, op.attempt.max(1)),
                        step: s.name.clone(),
                        attempt: op.attempt.max(1),
                        generation: op.generation,
                    })
                    .await?;
                    step.state = StepState::Succeeded;
                    step.finished_at = Some(rfc3339_ms(s.ready_at_ms));
                    begun = s.ready_at_ms;
                } else {
                    step.state = StepState::Running;
                    all_done = false;
                }
            }
            steps.push(step);
        }
        Ok((steps, all_done))
    }

    /// Puts `record` unless its key exists; `Ok(false)` when it did (a duplicate delivery).
    async fn put_once<T: Serialize>(&self, record: &T) -> Result<bool, ProviderError> {
        let put = self.store.put(
            to_item(record).map_err(err)?,
            COND_NEW_ITEM,
            Default::default(),
        );
        let outcome = self.store.write(put, None).await.map_err(err)?;
        Ok(outcome.landed())
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, ProviderError> {
        let item = self.store.get(key(pk, sk)).await.map_err(err)?;
        item.map(|i| from_item(i).map_err(err)).transpose()
    }

    fn injected(&self, op: &Operation) -> Option<Result<StepOutcome, ProviderError>> {
        if self.config.hang.iter().any(|r| r.matches(op)) {
            return Some(Ok(StepOutcome::NoReply));
        }
        if let Some((_, code)) = self.config.fail_with.iter().find(|(r, _)| r.matches(op)) {
            return Some(Err(ProviderError::Classified(
                *code,
                format!(
                    "injected {} failure: {:?} of cluster {}",
                    code.as_str(),
                    op.action,
                    op.name
                ),
            )));
        }
        if self.config.fail.iter().any(|r| r.matches(op)) {
            return Some(Err(ProviderError::Terminal(format!(
                "injected failure: {:?} of cluster {}",
                op.action, op.name
            ))));
        }
        None
    }

    fn observed(&self, op: &Operation, ca_pem: &str) -> StepOutput {
        let (version, metrics) = match &op.cluster {
            Some(c) => {
                let r = &c.spec.resources;
                let cores = r.cpu.nanos() as f64 / 1e9;
                let gib = |q: &crate::domain::quantity::Quantity| {
                    q.nanos() as f64 / 1e9 / (1u64 << 30) as f64
                };
                let nodes = (cores / 4.0).ceil().max(1.0);
                let metrics = serde_json::json!({
                    "nodes": nodes as u64,
                    "cpuCores": cores,
                    "memoryGiB": gib(&r.memory),
                    "storageGiB": gib(&r.storage),
                    "podCapacity": nodes as u64 * 110,
                });
                (
                    c.spec.version.patch_release().to_string(),
                    metrics.to_string(),
                )
            }
            // The cluster is gone (a newer incarnation or a delete won): the final status write
            // will be superseded, so these values are never stored.
            None => (String::new(), "{}".to_string()),
        };
        StepOutput {
            done: true,
            endpoint: Some(format!(
                "https://{}.{}.{}",
                op.name, op.tenant, self.config.domain
            )),
            kubernetes_version: Some(version),
            certificate_authority: Some(STANDARD.encode(ca_pem)),
            metrics: Some(metrics),
        }
    }
}

impl Provider for Simulated {
    async fn start(&self, op: &Operation) -> Result<StepOutcome, ProviderError> {
        tokio::time::sleep(self.config.latency).await;
        if let Some(injected) = self.injected(op) {
            return injected;
        }
        if op.action == Action::Provision {
            // One CA per incarnation: a duplicate or a re-provision keeps the first one.
            let pem = generate_ca(&format!("{}.{}", op.name, op.tenant)).map_err(err)?;
            let ca = SimCa {
                pk: Self::pk(op),
                sk: "CA".into(),
                pem,
            };
            self.put_once(&ca).await?;
        }
        // The action's time is spread evenly over its steps; a retry performs only the steps
        // an earlier attempt did not finish.
        let now = now_ms();
        let all = steps_of(op.action);
        let per_step = u64::try_from(self.config.duration(op.action).as_millis()).unwrap_or(0)
            / all.len() as u64;
        let steps: Vec<SimStep> = all
            .iter()
            .filter(|s| !op.finished.iter().any(|f| f == *s))
            .enumerate()
            .map(|(i, s)| SimStep {
                name: s.to_string(),
                ready_at_ms: now + per_step * (i as u64 + 1),
            })
            .collect();
        let ready_at_ms = steps.last().map_or(now, |s| s.ready_at_ms);
        let spec = op.cluster.as_ref().map(|c| &c.spec);
        let started = SimOperation {
            pk: Self::pk(op),
            sk: Self::op_sk(op),
            action: format!("{:?}", op.action),
            ready_at_ms,
            started_at_ms: now,
            steps,
            endpoint_access: spec
                .map(|s| crate::store::item::endpoint_access_text(&s.endpoint_access)),
            addons: spec.map_or_else(Vec::new, |s| {
                s.addons
                    .iter()
                    .filter(|a| !a.disabled)
                    .map(|a| a.name.clone())
                    .collect()
            }),
        };
        if !self.put_once(&started).await? {
            // A duplicate start: report the attempt as it was started.
            if let Some(first) = self
                .get::<SimOperation>(Self::pk(op), Self::op_sk(op))
                .await?
            {
                let (steps, _) = self.progress(op, &first, now_ms()).await?;
                return Ok(StepOutcome::Reply(StepOutput::default(), steps));
            }
        }
        let (steps, _) = self.progress(op, &started, now).await?;
        Ok(StepOutcome::Reply(StepOutput::default(), steps))
    }

    async fn check(&self, op: &Operation) -> Result<StepOutcome, ProviderError> {
        tokio::time::sleep(self.config.latency).await;
        if let Some(injected) = self.injected(op) {
            return injected;
        }
        let started: SimOperation =
            self.get(Self::pk(op), Self::op_sk(op))
                .await?
                .ok_or_else(|| {
                    ProviderError::Terminal(format!(
                        "no {:?} operation was started for generation {}",
                        op.action, op.generation
                    ))
                })?;
        let now = now_ms();
        let (steps, all_done) = self.progress(op, &started, now).await?;
        if !all_done || now < started.ready_at_ms {
            return Ok(StepOutcome::Reply(StepOutput::default(), steps));
        }
        if op.action == Action::Delete {
            let done = StepOutput {
                done: true,
                ..Default::default()
            };
            return Ok(StepOutcome::Reply(done, steps));
        }
        let ca: SimCa = self.get(Self::pk(op), "CA".into()).await?.ok_or_else(|| {
            ProviderError::Terminal("the cluster has no CA: it was never provisioned".into())
        })?;
        Ok(StepOutcome::Reply(self.observed(op, &ca.pem), steps))
    }
}

/// A placed secret copy, kept under the tenant's `SIM#SECRETS#<tenant>` partition with the sort
/// key `<cluster>#<namespace>#<secretName>`: what the tenant's clusters hold, so tests can check
/// what the sync placed and removed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimSecretCopy {
    pk: String,
    sk: String,
    cluster: String,
    namespace: String,
    secret_name: String,
    owner: String,
    secret_path: String,
}

impl Simulated {
    fn copies_pk(tenant: &str) -> String {
        format!("SIM#SECRETS#{tenant}")
    }

    fn copy_sk(copy: &SecretCopy) -> String {
        format!("{}#{}#{}", copy.cluster, copy.namespace, copy.secret_name)
    }

    /// Every secret copy the tenant's clusters hold (of any managed secret), sorted.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] when the table fails.
    pub async fn copies(&self, tenant: &str) -> Result<Vec<SecretCopy>, ProviderError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .store
                .client()
                .query()
                .table_name(self.store.table())
                .consistent_read(true)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(Self::copies_pk(tenant)),
                )
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
            for item in page.items.unwrap_or_default() {
                let c: SimSecretCopy = from_item(item).map_err(err)?;
                out.push(SecretCopy {
                    tenant: tenant.to_string(),
                    cluster: c.cluster,
                    namespace: c.namespace,
                    secret_name: c.secret_name,
                    owner: c.owner,
                    secret_path: c.secret_path,
                });
            }
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        out.sort();
        Ok(out)
    }
}

impl SecretCopies for Simulated {
    async fn place(&self, copy: &SecretCopy) -> Result<(), ProviderError> {
        tokio::time::sleep(self.config.latency).await;
        let record = SimSecretCopy {
            pk: Self::copies_pk(&copy.tenant),
            sk: Self::copy_sk(copy),
            cluster: copy.cluster.clone(),
            namespace: copy.namespace.clone(),
            secret_name: copy.secret_name.clone(),
            owner: copy.owner.clone(),
            secret_path: copy.secret_path.clone(),
        };
        // A cluster's API server takes the latest write of an object: an unconditional put.
        self.store
            .client()
            .put_item()
            .table_name(self.store.table())
            .set_item(Some(to_item(&record).map_err(err)?))
            .send()
            .await
            .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
        Ok(())
    }

    async fn remove(&self, copy: &SecretCopy) -> Result<(), ProviderError> {
        tokio::time::sleep(self.config.latency).await;
        self.store
            .client()
            .delete_item()
            .table_name(self.store.table())
            .set_key(Some(key(
                Self::copies_pk(&copy.tenant),
                Self::copy_sk(copy),
            )))
            .send()
            .await
            .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
        Ok(())
    }

    async fn placed(&self, tenant: &str, owner: &str) -> Result<Vec<SecretCopy>, ProviderError> {
        let mut all = self.copies(tenant).await?;
        all.retain(|c| c.owner == owner);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_refuse_garbage() {
        let rules = Rule::parse_list("provision:a, delete:*").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].cluster, "*");
        assert!(Rule::parse_list("explode:a").is_err());
        assert!(Rule::parse_list("provision").is_err());
        assert!(Rule::parse_list("").unwrap().is_empty());
        let (plain, coded) =
            parse_fail_list("provision:a, update:b:InvalidSpec,delete:*:ProviderTimeout").unwrap();
        assert_eq!(plain.len(), 1);
        assert_eq!(coded[0].1, FailureCode::InvalidSpec);
        assert_eq!(
            (coded[1].0.cluster.as_str(), coded[1].1),
            ("*", FailureCode::ProviderTimeout)
        );
        assert!(parse_fail_list("provision:a:Nope").is_err());
        let list = "provision:a, provision:c1:CapacityUnavailable@NodePools";
        assert_eq!(
            parse_fail_list(list).unwrap().0.len(),
            1,
            "the step rule is apart"
        );
        let steps = parse_step_failures(list).unwrap();
        assert_eq!(
            (steps[0].step.as_str(), steps[0].code),
            ("NodePools", FailureCode::CapacityUnavailable)
        );
        assert!(parse_step_failures("provision:c1:CapacityUnavailable@Nope").is_err());
        assert!(parse_step_failures("provision:c1@NodePools").is_err());
    }

    #[test]
    fn a_generated_ca_is_pem() {
        let pem = generate_ca("prod.acme").unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
