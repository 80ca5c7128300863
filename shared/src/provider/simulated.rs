//! The simulated provider: realistic or fast timings, a deterministic endpoint
//! `https://{name}.{tenant}.{domain}`, a real per-cluster CA certificate, version resolution
//! from the catalog, metrics derived from the resources, and failure injection per
//! (action, cluster) so tests can drive every failure path. Its state (operations and CAs) lives
//! in the table under `SIM#…` keys, written with conditions so duplicates change nothing.

use super::{Operation, Provider, ProviderError, StepOutcome};
use crate::{
    store::schema::PK,
    workflow::{Action, StepOutput},
};
use aws_sdk_dynamodb::{error::SdkError, types::AttributeValue, Client};
use base64::{engine::general_purpose::STANDARD, Engine};
use std::{collections::HashMap, time::Duration};

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
    /// Steps that never answer (no success, no failure, no heartbeat).
    pub hang: Vec<Rule>,
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
            hang: Vec::new(),
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
    /// `clusters.kupe.local`), `SIM_FAIL` and `SIM_HANG` (rule lists).
    ///
    /// # Errors
    /// A message naming the bad variable.
    pub fn from_env() -> Result<Self, String> {
        let domain =
            std::env::var("CLUSTER_DOMAIN").unwrap_or_else(|_| "clusters.kupe.local".into());
        let mut cfg = match std::env::var("SIM_PROFILE").as_deref() {
            Ok("realistic") => Self::realistic(&domain),
            Ok("fast") | Err(_) => Self::fast(&domain),
            Ok(other) => {
                return Err(format!(
                    "SIM_PROFILE must be fast or realistic, not {other}"
                ))
            }
        };
        cfg.fail = Rule::parse_list(&std::env::var("SIM_FAIL").unwrap_or_default())?;
        cfg.hang = Rule::parse_list(&std::env::var("SIM_HANG").unwrap_or_default())?;
        Ok(cfg)
    }

    fn duration(&self, action: Action) -> Duration {
        match action {
            Action::Provision => self.provision,
            Action::Upgrade => self.upgrade,
            Action::Update => self.update,
            Action::Delete => self.delete,
        }
    }
}

/// The simulated provider.
#[derive(Debug, Clone)]
pub struct Simulated {
    client: Client,
    table: String,
    config: SimulatedConfig,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn err(e: impl std::fmt::Display) -> ProviderError {
    ProviderError(format!("simulated backend unavailable: {e}"))
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
    /// A simulated provider keeping its state in `table`.
    pub fn new(client: Client, table: String, config: SimulatedConfig) -> Self {
        Self {
            client,
            table,
            config,
        }
    }

    fn pk(op: &Operation) -> String {
        format!("SIM#{}#{}#{}", op.tenant, op.name, op.incarnation)
    }

    fn key(pk: String, sk: String) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_string(), AttributeValue::S(pk)),
            ("sk".to_string(), AttributeValue::S(sk)),
        ])
    }

    /// Puts `item` unless it exists; `Ok(false)` when it did (a duplicate delivery).
    async fn put_once(&self, item: HashMap<String, AttributeValue>) -> Result<bool, ProviderError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(se)) if se.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(err(aws_sdk_dynamodb::error::DisplayErrorContext(&e))),
        }
    }

    async fn get(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, ProviderError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map(|o| o.item)
            .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(&e)))
    }

    fn injected(&self, op: &Operation) -> Option<Result<StepOutcome, ProviderError>> {
        if self.config.hang.iter().any(|r| r.matches(op)) {
            return Some(Ok(StepOutcome::NoReply));
        }
        if self.config.fail.iter().any(|r| r.matches(op)) {
            return Some(Err(ProviderError(format!(
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
        if let Some(injected) = self.injected(op) {
            return injected;
        }
        if op.action == Action::Provision {
            // One CA per incarnation: a duplicate or a re-provision keeps the first one.
            let ca = generate_ca(&format!("{}.{}", op.name, op.tenant)).map_err(err)?;
            let mut item = Self::key(Self::pk(op), "CA".into());
            item.insert("pem".into(), AttributeValue::S(ca));
            self.put_once(item).await?;
        }
        let mut item = Self::key(Self::pk(op), format!("OP#{}", op.generation));
        let ready =
            now_ms() + u64::try_from(self.config.duration(op.action).as_millis()).unwrap_or(0);
        item.insert(
            "action".into(),
            AttributeValue::S(format!("{:?}", op.action)),
        );
        item.insert("readyAtMs".into(), AttributeValue::N(ready.to_string()));
        self.put_once(item).await?;
        Ok(StepOutcome::Reply(StepOutput::default()))
    }

    async fn check(&self, op: &Operation) -> Result<StepOutcome, ProviderError> {
        if let Some(injected) = self.injected(op) {
            return injected;
        }
        let item = self
            .get(Self::pk(op), format!("OP#{}", op.generation))
            .await?
            .ok_or_else(|| {
                ProviderError(format!(
                    "no {:?} operation was started for generation {}",
                    op.action, op.generation
                ))
            })?;
        let ready_at: u64 = item
            .get("readyAtMs")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if now_ms() < ready_at {
            return Ok(StepOutcome::Reply(StepOutput::default()));
        }
        if op.action == Action::Delete {
            return Ok(StepOutcome::Reply(StepOutput {
                done: true,
                ..Default::default()
            }));
        }
        let ca = self
            .get(Self::pk(op), "CA".into())
            .await?
            .and_then(|i| i.get("pem").and_then(|v| v.as_s().ok()).cloned())
            .ok_or_else(|| {
                ProviderError("the cluster has no CA: it was never provisioned".into())
            })?;
        Ok(StepOutcome::Reply(self.observed(op, &ca)))
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
    }

    #[test]
    fn a_generated_ca_is_pem() {
        let pem = generate_ca("prod.acme").unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
