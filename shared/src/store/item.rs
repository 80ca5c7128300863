//! Conversions between DynamoDB items and domain records. Reading never panics: a malformed
//! item becomes [`StoreError::Corrupt`].

use super::{schema::*, ApiKeyRecord, StoreError, TenantRecord};
use crate::domain::{
    apikey::{KeyId, Role},
    cluster::{Cluster, ClusterType, Spec, Status},
    etag::ResourceVersion,
    names::{ClusterName, DisplayName, TenantName},
    phase::Phase,
    quantity::Quantity,
    resources::Resources,
    version::MinorVersion,
};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Every `#placeholder` our expressions use and the attribute it stands for.
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("#pk", PK),
    ("#sk", SK),
    ("#tenant", attr::TENANT),
    ("#name", attr::NAME),
    ("#display", attr::DISPLAY_NAME),
    ("#ctype", attr::CLUSTER_TYPE),
    ("#version", attr::VERSION),
    ("#cpu", attr::CPU),
    ("#memory", attr::MEMORY),
    ("#storage", attr::STORAGE),
    ("#alerts", attr::ALERTS),
    ("#gen", attr::GENERATION),
    ("#created", attr::CREATED_AT),
    ("#updated", attr::UPDATED_AT),
    ("#phase", attr::PHASE),
    ("#observed", attr::OBSERVED_GENERATION),
    ("#readyTrueAt", attr::READY_TRUE_AT),
    ("#readyFalseAt", attr::READY_FALSE_AT),
    ("#progressingTrueAt", attr::PROGRESSING_TRUE_AT),
    ("#progressingFalseAt", attr::PROGRESSING_FALSE_AT),
    ("#degradedTrueAt", attr::DEGRADED_TRUE_AT),
    ("#degradedFalseAt", attr::DEGRADED_FALSE_AT),
    ("#ca", attr::CERTIFICATE_AUTHORITY),
    ("#token", attr::WRITE_TOKEN),
    ("#rv", attr::RESOURCE_VERSION),
    ("#inc", attr::INCARNATION),
    ("#endpoint", attr::ENDPOINT),
    ("#k8s", attr::KUBERNETES_VERSION),
    ("#metrics", attr::METRICS),
    ("#reason", attr::REASON),
    ("#message", attr::MESSAGE),
];

fn tokens<'a>(expr: &'a str, sigil: char) -> impl Iterator<Item = &'a str> + 'a {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#' || c == ':'))
        .filter(move |t| t.starts_with(sigil))
}

/// The `ExpressionAttributeNames` an expression uses (DynamoDB refuses unused ones).
pub fn names_used(expr: &str) -> HashMap<String, String> {
    tokens(expr, '#')
        .filter_map(|t| PLACEHOLDERS.iter().find(|(p, _)| *p == t))
        .map(|(p, a)| ((*p).to_string(), (*a).to_string()))
        .collect()
}

/// The subset of `values` an expression uses (DynamoDB refuses unused ones).
pub fn values_used(expr: &str, mut values: Item) -> Item {
    let used: std::collections::HashSet<&str> = tokens(expr, ':').collect();
    values.retain(|k, _| used.contains(k.as_str()));
    values
}

/// A primary key.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(pk.into())),
        (SK.to_string(), AttributeValue::S(sk.into())),
    ])
}

/// The spec attributes of a write (`:version`, `:cpu`, `:memory`, `:storage`, `:alerts`,
/// `:updated`).
pub fn spec_values(c: &Cluster) -> Item {
    let r = &c.spec.resources;
    HashMap::from([
        (
            ":version".into(),
            AttributeValue::S(c.spec.version.to_string()),
        ),
        (":cpu".into(), AttributeValue::S(r.cpu.as_str().into())),
        (
            ":memory".into(),
            AttributeValue::S(r.memory.as_str().into()),
        ),
        (
            ":storage".into(),
            AttributeValue::S(r.storage.as_str().into()),
        ),
        (
            ":alerts".into(),
            AttributeValue::S(serde_json::Value::Object(c.spec.alerts.clone()).to_string()),
        ),
        (":updated".into(), AttributeValue::S(c.updated_at.clone())),
    ])
}

/// Typed, non-panicking attribute access.
pub trait ItemExt {
    /// A required string attribute.
    fn str_attr(&self, name: &str) -> Result<&str, StoreError>;
    /// An optional string attribute.
    fn opt_str(&self, name: &str) -> Option<&str>;
    /// A required number attribute.
    fn num_attr(&self, name: &str) -> Result<u64, StoreError>;
}

impl ItemExt for Item {
    fn str_attr(&self, name: &str) -> Result<&str, StoreError> {
        self.opt_str(name)
            .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
    }

    fn opt_str(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    fn num_attr(&self, name: &str) -> Result<u64, StoreError> {
        self.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("missing number attribute {name}")))
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// When a condition last flipped: whichever of its two attributes exists.
fn since(it: &Item, true_at: &str, false_at: &str) -> Result<String, StoreError> {
    it.opt_str(true_at)
        .or_else(|| it.opt_str(false_at))
        .map(str::to_string)
        .ok_or_else(|| corrupt("conditions", format!("neither {true_at} nor {false_at}")))
}

/// A cluster from its item; `None` for a tombstone.
///
/// # Errors
/// [`StoreError::Corrupt`] when an attribute is missing or malformed.
pub fn cluster_from(it: &Item) -> Result<Option<Cluster>, StoreError> {
    let phase = it.str_attr(attr::PHASE)?;
    let phase = Phase::parse(phase).ok_or_else(|| corrupt("phase", phase))?;
    if phase == Phase::Deleted {
        return Ok(None);
    }
    let q = |name: &str| -> Result<Quantity, StoreError> {
        Quantity::parse(it.str_attr(name)?).map_err(|e| corrupt(name, e))
    };
    let alerts = match serde_json::from_str(it.str_attr(attr::ALERTS)?) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err(corrupt("alerts", "not a JSON object")),
    };
    let metrics = match it.opt_str(attr::METRICS).map(serde_json::from_str) {
        None => None,
        Some(Ok(serde_json::Value::Object(m))) => Some(m),
        Some(_) => return Err(corrupt("metrics", "not a JSON object")),
    };
    let ctype = it.str_attr(attr::CLUSTER_TYPE)?;
    Ok(Some(Cluster {
        tenant: TenantName::parse(it.str_attr(attr::TENANT)?).map_err(|e| corrupt("tenant", e))?,
        name: ClusterName::parse(it.str_attr(attr::NAME)?).map_err(|e| corrupt("name", e))?,
        display_name: DisplayName::parse(it.str_attr(attr::DISPLAY_NAME)?)
            .map_err(|e| corrupt("displayName", e))?,
        cluster_type: ClusterType::parse(ctype).ok_or_else(|| corrupt("clusterType", ctype))?,
        spec: Spec {
            version: MinorVersion::parse(it.str_attr(attr::VERSION)?)
                .map_err(|e| corrupt("version", e))?,
            resources: Resources {
                cpu: q(attr::CPU)?,
                memory: q(attr::MEMORY)?,
                storage: q(attr::STORAGE)?,
            },
            alerts,
        },
        generation: it.num_attr(attr::GENERATION)?,
        resource_version: ResourceVersion(it.num_attr(attr::RESOURCE_VERSION)?),
        incarnation: it.num_attr(attr::INCARNATION)?,
        created_at: it.str_attr(attr::CREATED_AT)?.to_string(),
        updated_at: it.str_attr(attr::UPDATED_AT)?.to_string(),
        status: Status {
            phase,
            endpoint: it.opt_str(attr::ENDPOINT).map(str::to_string),
            kubernetes_version: it.opt_str(attr::KUBERNETES_VERSION).map(str::to_string),
            observed_generation: it.num_attr(attr::OBSERVED_GENERATION)?,
            reason: it
                .opt_str(attr::REASON)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            message: it
                .opt_str(attr::MESSAGE)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            ready_changed_at: since(it, attr::READY_TRUE_AT, attr::READY_FALSE_AT)?,
            progressing_changed_at: since(
                it,
                attr::PROGRESSING_TRUE_AT,
                attr::PROGRESSING_FALSE_AT,
            )?,
            degraded_changed_at: since(it, attr::DEGRADED_TRUE_AT, attr::DEGRADED_FALSE_AT)?,
            metrics,
            certificate_authority: it.opt_str(attr::CERTIFICATE_AUTHORITY).map(str::to_string),
        },
        write_token: it.opt_str(attr::WRITE_TOKEN).map(str::to_string),
    }))
}

/// A tenant record from its item.
///
/// # Errors
/// [`StoreError::Corrupt`] when an attribute is missing.
pub fn tenant_from(it: &Item) -> Result<TenantRecord, StoreError> {
    Ok(TenantRecord {
        name: it.str_attr(attr::TENANT)?.to_string(),
        plan: it.str_attr(attr::PLAN)?.to_string(),
        created_at: it.str_attr(attr::CREATED_AT)?.to_string(),
        members: it
            .get(attr::MEMBERS)
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default(),
    })
}

/// An API key record from its item.
///
/// # Errors
/// [`StoreError::Corrupt`] when an attribute is missing or malformed.
pub fn api_key_from(it: &Item) -> Result<ApiKeyRecord, StoreError> {
    let pk = it.str_attr(PK)?;
    let id = pk
        .strip_prefix("APIKEY#")
        .and_then(|h| KeyId::parse(&format!("ak-{h}")))
        .ok_or_else(|| corrupt("api key id", pk))?;
    let role = it.str_attr(attr::ROLE)?;
    Ok(ApiKeyRecord {
        id,
        tenant: it.str_attr(attr::TENANT)?.to_string(),
        role: Role::parse(role).ok_or_else(|| corrupt("role", role))?,
        secret_hash: it.str_attr(attr::SECRET_HASH)?.to_string(),
        display_name: it
            .opt_str(attr::DISPLAY_NAME)
            .unwrap_or_default()
            .to_string(),
        created_at: it.str_attr(attr::CREATED_AT)?.to_string(),
        created_by: it.opt_str(attr::CREATED_BY).unwrap_or_default().to_string(),
        expires_at: it.opt_str(attr::EXPIRES_AT).map(str::to_string),
        last_used_at: it.opt_str(attr::LAST_USED_AT).map(str::to_string),
    })
}

/// The item of an API key record.
pub fn api_key_item(k: &ApiKeyRecord) -> Item {
    let mut it = key(apikey_pk(k.id.hex()), APIKEY_SK);
    let mut put = |name: &str, v: &str| {
        it.insert(name.to_string(), AttributeValue::S(v.to_string()));
    };
    put(attr::TENANT, &k.tenant);
    put(attr::ROLE, k.role.as_str());
    put(attr::SECRET_HASH, &k.secret_hash);
    put(attr::DISPLAY_NAME, &k.display_name);
    put(attr::CREATED_AT, &k.created_at);
    put(attr::CREATED_BY, &k.created_by);
    put(GSI1_PK, &apikeys_gsi_pk(&k.tenant));
    put(GSI1_SK, &format!("{}#{}", k.created_at, k.id.hex()));
    if let Some(e) = &k.expires_at {
        put(attr::EXPIRES_AT, e);
    }
    it
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_placeholders_an_expression_uses_are_sent() {
        let names = names_used("SET #phase = :p, #rv = #rv + :one REMOVE #endpoint");
        assert_eq!(names.len(), 3);
        assert_eq!(names["#phase"], "phase");
        let values = values_used(
            "SET #a = :p, #b = :one",
            HashMap::from([
                (":p".into(), AttributeValue::S("x".into())),
                (":unused".into(), AttributeValue::S("y".into())),
                (":one".into(), AttributeValue::N("1".into())),
            ]),
        );
        assert_eq!(values.len(), 2);
        assert!(!values.contains_key(":unused"));
    }

    #[test]
    fn a_malformed_item_is_an_error_not_a_panic() {
        let mut it = key("TENANT#a", "CLUSTER#b");
        assert!(cluster_from(&it).is_err());
        it.insert(attr::PHASE.into(), AttributeValue::S("Nope".into()));
        assert!(cluster_from(&it).is_err());
        it.insert(attr::PHASE.into(), AttributeValue::S("Deleted".into()));
        assert!(cluster_from(&it).unwrap().is_none());
        it.insert(attr::PHASE.into(), AttributeValue::N("1".into()));
        assert!(cluster_from(&it).is_err());
    }
}
