//! The edge of the cluster routes: the wire bodies (`deny_unknown_fields`; a merge patch tells
//! an absent field from a `null` with `Option<Option<_>>`), converted to the domain's validated
//! types by `TryFrom`, and one parser per route from the event to its request type.

use super::{page_limit, FromIncoming, Route};
use crate::{
    api::clusters::{
        CreateCluster, DeleteCluster, GetCluster, GetKubeconfig, ListClusters, UpdateCluster,
    },
    domain::{
        addons::{self, AddonInput},
        cluster::{
            check_alerts, check_meta, ClusterPatch, ClusterType, EndpointAccessPatch, Metadata,
            NewCluster,
        },
        labels::Selector,
        names::{ClusterName, DisplayName},
        network::{EndpointAccess, Network},
        page::decode_continue,
        quantity::Quantity,
        resources::ResourcesInput,
        version::MinorVersion,
        Invalid,
    },
    http::{
        edge::{present, JsonObject},
        ApiError, Incoming, Media, Parsed,
    },
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The body of a create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewClusterBody {
    name: Option<String>,
    display_name: Option<String>,
    #[serde(rename = "type")]
    cluster_type: Option<String>,
    version: Option<String>,
    resources: Option<ResourcesInput>,
    alerts: Option<JsonObject>,
    high_availability: Option<bool>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    deletion_protection: Option<bool>,
    network: Option<NetworkBody>,
    endpoint_access: Option<EndpointAccessBody>,
    addons: Option<Vec<AddonBody>>,
}

/// `network` in a create (and echoed in a PATCH).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
struct NetworkBody {
    pod_cidr: Option<String>,
    service_cidr: Option<String>,
}

/// `endpointAccess` in a create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
struct EndpointAccessBody {
    public: Option<bool>,
    allowed_cidrs: Option<Vec<String>>,
}

/// `endpointAccess` in a PATCH: a merge patch of its two fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
struct EndpointAccessPatchBody {
    #[serde(default, deserialize_with = "present")]
    public: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    allowed_cidrs: Option<Option<Vec<String>>>,
}

/// One entry of `addons`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct AddonBody {
    name: String,
    config: Option<JsonObject>,
    disabled: Option<bool>,
}

impl From<AddonBody> for AddonInput {
    fn from(b: AddonBody) -> Self {
        AddonInput {
            name: b.name,
            config: b.config.map(|c| c.0),
            disabled: b.disabled,
        }
    }
}

fn at((field, message): (String, String)) -> Invalid {
    Invalid::at(field, message)
}

/// The body of a PATCH: a JSON merge patch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClusterPatchBody {
    #[serde(default, deserialize_with = "present")]
    version: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    resources: Option<Option<ResourcesPatchBody>>,
    #[serde(default, deserialize_with = "present")]
    alerts: Option<Option<JsonObject>>,
    #[serde(default, deserialize_with = "present")]
    name: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Value>,
    #[serde(default, deserialize_with = "present", rename = "type")]
    cluster_type: Option<Value>,
    high_availability: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    labels: Option<Option<BTreeMap<String, Option<String>>>>,
    #[serde(default, deserialize_with = "present")]
    annotations: Option<Option<BTreeMap<String, Option<String>>>>,
    #[serde(default, deserialize_with = "present")]
    deletion_protection: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    network: Option<Option<NetworkBody>>,
    #[serde(default, deserialize_with = "present")]
    endpoint_access: Option<Option<EndpointAccessPatchBody>>,
    #[serde(default, deserialize_with = "present")]
    addons: Option<Option<Vec<AddonBody>>>,
}

/// `resources` in a PATCH: `null` returns a resource to the plan's default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct ResourcesPatchBody {
    #[serde(default, deserialize_with = "present")]
    cpu: Option<Option<Quantity>>,
    #[serde(default, deserialize_with = "present")]
    memory: Option<Option<Quantity>>,
    #[serde(default, deserialize_with = "present")]
    storage: Option<Option<Quantity>>,
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, Invalid> {
    value.ok_or_else(|| Invalid::at(field, format!("{field} is required")))
}

fn version(v: &str) -> Result<MinorVersion, Invalid> {
    MinorVersion::parse(v).map_err(Invalid::of("version"))
}

impl TryFrom<NewClusterBody> for NewCluster {
    type Error = Invalid;

    fn try_from(b: NewClusterBody) -> Result<Self, Invalid> {
        let name = ClusterName::parse(&required("name", b.name)?).map_err(Invalid::of("name"))?;
        let display_name = DisplayName::parse(&required("displayName", b.display_name)?)
            .map_err(Invalid::of("displayName"))?;
        let cluster_type = ClusterType::parse(&required("type", b.cluster_type)?)
            .ok_or_else(|| Invalid::at("type", "type must be one of: shared, dedicated"))?;
        let version = match b.version {
            Some(v) => version(&v)?,
            None => MinorVersion::latest_stable(),
        };
        let alerts = b.alerts.map(|a| a.0).unwrap_or_default();
        check_alerts(&alerts)?;
        let meta = Metadata {
            labels: b.labels.unwrap_or_default(),
            annotations: b.annotations.unwrap_or_default(),
            deletion_protection: b.deletion_protection.unwrap_or(false),
        };
        check_meta(&meta)?;
        let network = match &b.network {
            None => Network::parse(None, None),
            Some(n) => Network::parse(n.pod_cidr.as_deref(), n.service_cidr.as_deref()),
        }
        .map_err(at)?;
        let endpoint_access = match b.endpoint_access {
            None => EndpointAccess::default(),
            Some(e) => EndpointAccess::parse(
                e.public.unwrap_or(true),
                &e.allowed_cidrs.unwrap_or_default(),
            )
            .map_err(at)?,
        };
        let addons = addons::check(
            b.addons
                .unwrap_or_default()
                .into_iter()
                .map(AddonInput::from)
                .collect(),
        )
        .map_err(at)?;
        Ok(NewCluster {
            name,
            display_name,
            cluster_type,
            version,
            resources: b.resources.unwrap_or_default(),
            alerts,
            high_availability: b.high_availability.unwrap_or(false),
            meta,
            network,
            endpoint_access,
            addons,
        })
    }
}

impl TryFrom<ClusterPatchBody> for ClusterPatch {
    type Error = Invalid;

    fn try_from(b: ClusterPatchBody) -> Result<Self, Invalid> {
        let changes_nothing = b.version.is_none()
            && b.resources.is_none()
            && b.alerts.is_none()
            && b.name.is_none()
            && b.display_name.is_none()
            && b.cluster_type.is_none()
            && b.high_availability.is_none()
            && b.labels.is_none()
            && b.annotations.is_none()
            && b.deletion_protection.is_none()
            && b.network.is_none()
            && b.endpoint_access.is_none()
            && b.addons.is_none();
        if changes_nothing {
            return Err(Invalid {
                field: None,
                message: "PATCH body must change at least one of: version, resources, alerts, \
                          highAvailability, labels, annotations, deletionProtection, \
                          endpointAccess, addons"
                    .into(),
            });
        }
        let network = match b.network {
            None => None,
            Some(None) => {
                return Err(Invalid::at(
                    "network",
                    "network is immutable and cannot be changed",
                ))
            }
            Some(Some(n)) => Some((n.pod_cidr, n.service_cidr)),
        };
        let version = match b.version {
            None => None,
            Some(None) => return Err(Invalid::at("version", "version cannot be removed")),
            // Kupe's Terraform provider sends `"version": ""` when the version is left to the
            // server: no change.
            Some(Some(v)) if v.is_empty() => None,
            Some(Some(v)) => Some(version(&v)?),
        };
        let resources = match b.resources {
            None => [None, None, None],
            Some(None) => return Err(Invalid::at("resources", "resources must be an object")),
            Some(Some(r)) => [r.cpu, r.memory, r.storage],
        };
        let echoed = [
            ("name", b.name),
            ("displayName", b.display_name),
            ("type", b.cluster_type),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.map(|v| (field, v)))
        .collect();
        Ok(ClusterPatch {
            version,
            resources,
            alerts: b
                .alerts
                .map(|a| a.map_or(Value::Null, |o| Value::Object(o.0))),
            echoed,
            high_availability: b.high_availability,
            labels: b.labels,
            annotations: b.annotations,
            deletion_protection: b.deletion_protection,
            network,
            endpoint_access: b.endpoint_access.map(|e| {
                e.map(|e| EndpointAccessPatch {
                    public: e.public,
                    allowed_cidrs: e.allowed_cidrs,
                })
            }),
            addons: b
                .addons
                .map(|a| a.map(|list| list.into_iter().map(AddonInput::from).collect())),
        })
    }
}

fn name(incoming: &Incoming) -> Parsed<ClusterName> {
    ClusterName::parse(incoming.param("name"))
        .map_err(|e| ApiError::invalid(e.to_string()).at("name"))
}

impl FromIncoming for CreateCluster {
    const ROUTE: Route = Route::CreateCluster;

    fn from_incoming(incoming: Incoming) -> Self {
        let body = incoming.json::<NewClusterBody>(Media::Json);
        let declared_type = body
            .as_ref()
            .ok()
            .and_then(|b| b.cluster_type.as_deref())
            .and_then(ClusterType::parse);
        CreateCluster {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            cluster: body.and_then(|b| Ok(NewCluster::try_from(b)?)),
            declared_type,
        }
    }
}

impl FromIncoming for GetCluster {
    const ROUTE: Route = Route::GetCluster;

    fn from_incoming(incoming: Incoming) -> Self {
        GetCluster {
            caller: incoming.caller(),
            name: name(&incoming),
            if_none_match: incoming.if_none_match(),
        }
    }
}

impl FromIncoming for GetKubeconfig {
    const ROUTE: Route = Route::GetKubeconfig;

    fn from_incoming(incoming: Incoming) -> Self {
        GetKubeconfig {
            caller: incoming.caller(),
            name: name(&incoming),
        }
    }
}

impl FromIncoming for ListClusters {
    const ROUTE: Route = Route::ListClusters;

    fn from_incoming(incoming: Incoming) -> Self {
        let limit = page_limit(&incoming);
        let after = match incoming.query("continue") {
            None => Ok(None),
            Some(token) => decode_continue(token)
                .and_then(|n| ClusterName::parse(&n).ok())
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid("continue is not a token from a previous page").at("continue")
                }),
        };
        let selector = incoming
            .query("labelSelector")
            .map(|s| {
                Selector::parse(s).map_err(|e| {
                    ApiError::invalid(format!("labelSelector is invalid: {e}")).at("labelSelector")
                })
            })
            .transpose();
        ListClusters {
            caller: incoming.caller(),
            limit,
            after,
            selector,
        }
    }
}

impl FromIncoming for UpdateCluster {
    const ROUTE: Route = Route::UpdateCluster;

    fn from_incoming(incoming: Incoming) -> Self {
        let patch = incoming
            .json::<ClusterPatchBody>(Media::MergePatch)
            .and_then(|b| Ok(ClusterPatch::try_from(b)?));
        UpdateCluster {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            name: name(&incoming),
            if_match: incoming.if_match(),
            patch,
        }
    }
}

impl FromIncoming for DeleteCluster {
    const ROUTE: Route = Route::DeleteCluster;

    fn from_incoming(incoming: Incoming) -> Self {
        DeleteCluster {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            name: name(&incoming),
            if_match: incoming.if_match(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::edge::decode;
    use serde_json::json;

    fn patch(v: Value) -> Result<ClusterPatch, String> {
        decode::<ClusterPatchBody>(v)
            .map_err(|e| e.to_string())
            .and_then(|b| ClusterPatch::try_from(b).map_err(|e| e.to_string()))
    }

    #[test]
    fn a_patch_tells_absent_from_null() {
        let p =
            patch(json!({"resources": {"cpu": null, "memory": "4Gi"}, "alerts": null})).unwrap();
        assert_eq!(p.resources[0], Some(None));
        assert_eq!(
            p.resources[1]
                .as_ref()
                .and_then(|q| q.as_ref())
                .map(|q| q.as_str()),
            Some("4Gi")
        );
        assert_eq!(p.resources[2], None);
        assert_eq!(p.alerts, Some(Value::Null));
    }

    #[test]
    fn an_empty_patch_unknown_fields_and_a_removed_version_are_refused() {
        for (body, want) in [
            (json!({}), "at least one"),
            (json!({"foo": 1}), "unknown field foo"),
            (
                json!({"resources": {"gpu": "1"}}),
                "unknown field resources.gpu",
            ),
            (json!({"version": null}), "version cannot be removed"),
            (json!({"resources": null}), "resources must be an object"),
            (json!({"alerts": "loud"}), "alerts must be an object"),
        ] {
            let err = patch(body.clone()).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn a_create_body_reports_its_first_problem_in_field_order() {
        let create = |v: Value| {
            decode::<NewClusterBody>(v)
                .map_err(|e| e.to_string())
                .and_then(|b| NewCluster::try_from(b).map_err(|e| e.to_string()))
        };
        assert_eq!(
            create(json!({"type": "shared"})).unwrap_err(),
            "name is required"
        );
        let err = create(json!({"name": "ok", "displayName": "D", "type": 1})).unwrap_err();
        assert_eq!(err, "type must be a string");
        let ok = create(json!({"name": "ok", "displayName": "D", "type": "shared"})).unwrap();
        assert_eq!(ok.version, MinorVersion::latest_stable());
    }
}
