//! Cluster addons from a fixed catalog, as Alibaba ACK's `addons[{name, config, disabled}]`:
//! each entry names a catalog addon, carries an optional configuration object (at most
//! [`MAX_ADDON_CONFIG_BYTES`] serialized) and may be `disabled` (listed, not installed). A name
//! appears at most once. The list is replaced whole by a PATCH (JSON merge patch replaces
//! arrays); a change is a rollout.

use serde_json::{Map, Value};

/// The addons a cluster may list: name and what it installs.
pub const CATALOG: [(&str, &str); 6] = [
    (
        "metrics-server",
        "resource metrics for `kubectl top` and autoscalers",
    ),
    ("cert-manager", "certificates from ACME or an internal CA"),
    ("ingress-nginx", "an NGINX ingress controller"),
    ("external-dns", "DNS records for services and ingresses"),
    ("cluster-autoscaler", "node count follows pending pods"),
    ("csi-snapshotter", "volume snapshots for the CSI driver"),
];

/// Largest serialized `config` of one addon.
pub const MAX_ADDON_CONFIG_BYTES: usize = 8 * 1024;

/// One addon entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Addon {
    /// A catalog name.
    pub name: String,
    /// Its configuration (an object; empty when none was given).
    pub config: Map<String, Value>,
    /// Listed but not installed.
    pub disabled: bool,
}

/// An addon entry as the request gave it, before the catalog check.
#[derive(Debug, Clone, PartialEq)]
pub struct AddonInput {
    /// Name.
    pub name: String,
    /// Configuration object.
    pub config: Option<Map<String, Value>>,
    /// Disabled.
    pub disabled: Option<bool>,
}

/// Checks a list against the catalog.
///
/// # Errors
/// `(field, message)` naming `addons[i].name` (unknown or repeated) or `addons[i].config`.
pub fn check(inputs: Vec<AddonInput>) -> Result<Vec<Addon>, (String, String)> {
    let mut out: Vec<Addon> = Vec::with_capacity(inputs.len());
    for (i, a) in inputs.into_iter().enumerate() {
        let field = format!("addons[{i}].name");
        if !CATALOG.iter().any(|(n, _)| *n == a.name) {
            let names: Vec<&str> = CATALOG.iter().map(|(n, _)| *n).collect();
            return Err((
                field.clone(),
                format!(
                    "{field}: unknown addon {:?}; the catalog has: {}",
                    a.name,
                    names.join(", ")
                ),
            ));
        }
        if out.iter().any(|o| o.name == a.name) {
            return Err((
                field.clone(),
                format!("{field}: {} is listed twice", a.name),
            ));
        }
        let config = a.config.unwrap_or_default();
        if Value::Object(config.clone()).to_string().len() > MAX_ADDON_CONFIG_BYTES {
            let field = format!("addons[{i}].config");
            return Err((
                field.clone(),
                format!("{field} exceeds {MAX_ADDON_CONFIG_BYTES} bytes"),
            ));
        }
        out.push(Addon {
            name: a.name,
            config,
            disabled: a.disabled.unwrap_or(false),
        });
    }
    Ok(out)
}

/// The list as JSON (the response and the stored text).
pub fn to_json(addons: &[Addon]) -> Value {
    Value::Array(
        addons
            .iter()
            .map(|a| {
                serde_json::json!({
                    "name": a.name,
                    "config": Value::Object(a.config.clone()),
                    "disabled": a.disabled,
                })
            })
            .collect(),
    )
}

/// The list from its stored JSON text.
///
/// # Errors
/// A message when the text is not a list we wrote.
pub fn from_json(text: &str) -> Result<Vec<Addon>, String> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return Err("not a JSON array".into());
    };
    items
        .into_iter()
        .map(|item| {
            let name = item["name"].as_str().ok_or("an addon without a name")?;
            let config = match &item["config"] {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            Ok(Addon {
                name: name.to_string(),
                config,
                disabled: item["disabled"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(name: &str) -> AddonInput {
        AddonInput {
            name: name.into(),
            config: None,
            disabled: None,
        }
    }

    #[test]
    fn names_come_from_the_catalog_once_each_and_configs_are_capped() {
        let ok = check(vec![input("metrics-server"), input("cert-manager")]).unwrap();
        assert_eq!(ok.len(), 2);
        assert!(!ok[0].disabled);
        let (f, m) = check(vec![input("metrics-server"), input("nope")]).unwrap_err();
        assert_eq!(f, "addons[1].name");
        assert!(m.contains("unknown addon"), "{m}");
        let (f, _) = check(vec![input("cert-manager"), input("cert-manager")]).unwrap_err();
        assert_eq!(f, "addons[1].name");
        let mut big = input("external-dns");
        big.config = Some(
            [("x".to_string(), json!("y".repeat(MAX_ADDON_CONFIG_BYTES)))]
                .into_iter()
                .collect(),
        );
        assert_eq!(check(vec![big]).unwrap_err().0, "addons[0].config");
    }

    #[test]
    fn the_stored_text_round_trips() {
        let list = check(vec![AddonInput {
            name: "ingress-nginx".into(),
            config: Some([("replicas".to_string(), json!(2))].into_iter().collect()),
            disabled: Some(true),
        }])
        .unwrap();
        let text = to_json(&list).to_string();
        assert_eq!(from_json(&text).unwrap(), list);
    }
}
