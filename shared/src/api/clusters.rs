//! The five cluster routes: create, get, list, update (merge-patch PATCH) and delete.

use super::{begin, succeed, Target};
use crate::{
    domain::{
        apikey::Role,
        cluster::{Cluster, ClusterType, Spec, Status},
        etag::{Precondition, ResourceVersion},
        names::{ClusterName, DisplayName},
        now_rfc3339,
        phase::Phase,
        plan::Plan,
        quantity::Quantity,
        resources::{ResourceKind, ResourcesInput},
        version::MinorVersion,
    },
    http::{header_str, json_object, query_param, ApiError, Reply},
    store::{CreateOutcome, TenantRecord, WriteOutcome},
    Ctx,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use lambda_http::{http::StatusCode, Request};
use serde_json::{json, Map, Value};

/// Largest serialized `alerts` object.
pub const MAX_ALERTS_BYTES: usize = 16 * 1024;
/// Attempts of a read-modify-write when someone else writes in between and the caller did not
/// name a version (with `If-Match` such a race is a 412 instead).
const MAX_ATTEMPTS: usize = 5;

fn plan_of(tenant: Option<&TenantRecord>) -> Result<&'static Plan, ApiError> {
    // A key whose tenant record is gone belongs to no tenant any more.
    let tenant = tenant.ok_or(ApiError::NotMember)?;
    Plan::by_name(&tenant.plan).ok_or_else(|| {
        tracing::error!(plan = %tenant.plan, "tenant has an unknown plan");
        ApiError::Internal
    })
}

fn not_found(name: &ClusterName) -> ApiError {
    ApiError::NotFound(format!("Cluster {name} not found"))
}

fn precondition(req: &Request, header: &'static str) -> Result<Option<Precondition>, ApiError> {
    header_str(req, header)?
        .map(|v| Precondition::parse(header, v).map_err(|e| ApiError::bad(e.to_string())))
        .transpose()
}

fn cluster_reply(status: StatusCode, c: &Cluster) -> Reply {
    Reply::with_status(status, c.to_json()).etag(c.resource_version.etag())
}

fn field_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad(format!("{field} must be a string"))),
    }
}

fn parse_quantity(field: &str, v: &Value) -> Result<Quantity, ApiError> {
    match v {
        Value::String(s) => {
            Quantity::parse(s).map_err(|e| ApiError::bad(format!("resources.{field}: {e}")))
        }
        _ => Err(ApiError::bad(format!(
            "resources.{field} must be a string quantity such as \"4\" or \"16Gi\""
        ))),
    }
}

fn parse_resources(v: &Value) -> Result<ResourcesInput, ApiError> {
    let Value::Object(map) = v else {
        return Err(ApiError::bad("resources must be an object"));
    };
    let mut input = ResourcesInput::default();
    for (k, v) in map {
        let q = parse_quantity(k, v);
        match k.as_str() {
            "cpu" => input.cpu = Some(q?),
            "memory" => input.memory = Some(q?),
            "storage" => input.storage = Some(q?),
            other => return Err(ApiError::bad(format!("unknown field resources.{other}"))),
        }
    }
    Ok(input)
}

fn check_alerts(alerts: &Map<String, Value>) -> Result<(), ApiError> {
    if Value::Object(alerts.clone()).to_string().len() > MAX_ALERTS_BYTES {
        return Err(ApiError::bad(format!(
            "alerts exceeds {MAX_ALERTS_BYTES} bytes"
        )));
    }
    Ok(())
}

fn parse_version(v: &str) -> Result<MinorVersion, ApiError> {
    MinorVersion::parse(v).map_err(|e| ApiError::bad(e.to_string()))
}

/// `POST /tenants/{tenant}/clusters`.
///
/// # Errors
/// 401, 403 (role, plan), 400 (validation), 409 (name taken or still deleting).
pub async fn create(ctx: &Ctx, req: &Request, token: &str) -> Result<Reply, ApiError> {
    // The name comes from the body; reading it first lets the one read include the cluster (or
    // its tombstone). Any problem with the body is reported later, in its turn.
    let peeked = json_object(req, false)
        .ok()
        .and_then(|b| b.get("name").and_then(Value::as_str).map(str::to_string))
        .and_then(|n| ClusterName::parse(&n).ok());
    let mut begun = begin(ctx, req, Role::Admin, Target::Named(peeked)).await?;
    let plan = plan_of(begun.snap.tenant.as_ref())?;
    let body = json_object(req, false)?;
    const FIELDS: [&str; 6] = [
        "name",
        "displayName",
        "type",
        "version",
        "resources",
        "alerts",
    ];
    if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad(format!("unknown field {unknown}")));
    }
    let type_raw = field_str(&body, "type")?;
    if type_raw == Some("dedicated") && !plan.dedicated {
        return Err(ApiError::PlanForbids(format!(
            "Cluster type dedicated is not enabled for this tenant (plan {})",
            plan.name
        )));
    }
    let over_quota = || {
        ApiError::PlanForbids(format!(
            "Cluster quota exceeded: the {} plan allows {} clusters",
            plan.name, plan.max_clusters
        ))
    };
    let members = begun.snap.tenant.as_ref().map_or(0, |t| t.members.len());
    if members >= plan.max_clusters as usize && begun.snap.cluster.is_none() {
        return Err(over_quota());
    }
    let required = |field: &str| -> Result<&str, ApiError> {
        field_str(&body, field)?.ok_or_else(|| ApiError::bad(format!("{field} is required")))
    };
    let name = ClusterName::parse(required("name")?).map_err(|e| ApiError::bad(e.to_string()))?;
    let display_name =
        DisplayName::parse(required("displayName")?).map_err(|e| ApiError::bad(e.to_string()))?;
    let cluster_type = ClusterType::parse(required("type")?)
        .ok_or_else(|| ApiError::bad("type must be one of: shared, dedicated"))?;
    let version = match field_str(&body, "version")? {
        Some(v) => parse_version(v)?,
        None => MinorVersion::latest_stable(),
    };
    let resources = match body.get("resources") {
        Some(v) => parse_resources(v)?,
        None => ResourcesInput::default(),
    };
    let resources = plan
        .resolve(&resources)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let alerts = match body.get("alerts") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(ApiError::bad("alerts must be an object")),
    };
    check_alerts(&alerts)?;
    let exists = |c: &Cluster| {
        if c.status.phase == Phase::Deleting {
            ApiError::Conflict(format!(
                "Cluster {} is still being deleted; create it again once it is gone",
                c.name
            ))
        } else {
            ApiError::Conflict("Cluster name already exists".into())
        }
    };
    if let Some(live) = begun.snap.cluster.take() {
        return Err(exists(&live));
    }

    let now = now_rfc3339();
    let previous = begun.snap.cluster_version;
    let version_now = ResourceVersion(previous.map_or(0, |v| v.0) + 1);
    let cluster = Cluster {
        tenant: begun.tenant.clone(),
        name,
        display_name,
        cluster_type,
        spec: Spec {
            version,
            resources,
            alerts,
        },
        generation: 1,
        resource_version: version_now,
        incarnation: version_now.0,
        created_at: now.clone(),
        updated_at: now.clone(),
        status: Status::pending(&now),
        write_token: Some(token.to_string()),
    };
    match ctx
        .store
        .create_cluster(&cluster, previous, plan.max_clusters, token)
        .await?
    {
        CreateOutcome::Created => {
            succeed(ctx, &begun, cluster_reply(StatusCode::CREATED, &cluster)).await
        }
        CreateOutcome::OverQuota => Err(over_quota()),
        CreateOutcome::Exists(Some(c)) => Err(exists(&c)),
        CreateOutcome::Exists(None) => {
            Err(ApiError::Conflict("Cluster name already exists".into()))
        }
    }
}

/// `GET /tenants/{tenant}/clusters/{name}`: one consistent read; 304 on a matching
/// `If-None-Match`.
///
/// # Errors
/// 401, 403, 400, 404.
pub async fn get(ctx: &Ctx, req: &Request) -> Result<Reply, ApiError> {
    let mut begun = begin(ctx, req, Role::Readonly, Target::Path).await?;
    let name = begun.name.as_ref().ok_or(ApiError::Internal)?;
    let inm = precondition(req, "If-None-Match")?;
    let cluster = begun.snap.cluster.take().ok_or_else(|| not_found(name))?;
    if inm.is_some_and(|p| p.matches_weak(cluster.resource_version)) {
        let reply = Reply::empty(StatusCode::NOT_MODIFIED).etag(cluster.resource_version.etag());
        return succeed(ctx, &begun, reply).await;
    }
    succeed(ctx, &begun, cluster_reply(StatusCode::OK, &cluster)).await
}

/// `GET /tenants/{tenant}/clusters/{name}/kubeconfig`: `{endpoint, certificateAuthority}` once
/// the cluster serves (Running, or rolling out a change while it keeps serving).
///
/// # Errors
/// 401, 403, 400, 404, 503 (not running yet).
pub async fn kubeconfig(ctx: &Ctx, req: &Request) -> Result<Reply, ApiError> {
    let mut begun = begin(ctx, req, Role::Readonly, Target::Path).await?;
    let name = begun.name.as_ref().ok_or(ApiError::Internal)?;
    let cluster = begun.snap.cluster.take().ok_or_else(|| not_found(name))?;
    let serving = matches!(
        cluster.status.phase,
        Phase::Running | Phase::Upgrading | Phase::Updating
    );
    match (
        serving,
        &cluster.status.endpoint,
        &cluster.status.certificate_authority,
    ) {
        (true, Some(endpoint), Some(ca)) => {
            let body = json!({ "endpoint": endpoint, "certificateAuthority": ca });
            succeed(ctx, &begun, Reply::ok(body)).await
        }
        _ => Err(ApiError::Unavailable(format!(
            "Cluster {name} is not ready yet (phase {}); retry once it is Running",
            cluster.status.phase.as_str()
        ))),
    }
}

const CONTINUE_PREFIX: &str = "v1:";

fn encode_continue(after: &ClusterName) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CONTINUE_PREFIX}{after}"))
}

fn decode_continue(token: &str) -> Result<ClusterName, ApiError> {
    let bad = || ApiError::bad("continue is not a token from a previous page");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let name = text.strip_prefix(CONTINUE_PREFIX).ok_or_else(bad)?;
    ClusterName::parse(name).map_err(|_| bad())
}

/// `GET /tenants/{tenant}/clusters`: `{"items": [...]}` in name order, optionally paged with
/// `limit` (1–1000) and `continue`.
///
/// # Errors
/// 401, 403, 400 (bad `limit` or `continue`).
pub async fn list(ctx: &Ctx, req: &Request) -> Result<Reply, ApiError> {
    let begun = begin(ctx, req, Role::Readonly, Target::None).await?;
    let limit = match query_param(req, "limit") {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Some(n),
            _ => return Err(ApiError::bad("limit must be an integer from 1 to 1000")),
        },
    };
    let after = query_param(req, "continue")
        .map(|t| decode_continue(&t))
        .transpose()?;
    let (clusters, more) = ctx
        .store
        .list_clusters(&begun.tenant, limit, after.as_ref())
        .await?;
    let mut body = json!({ "items": clusters.iter().map(Cluster::to_json).collect::<Vec<_>>() });
    if let (true, Some(last)) = (more, clusters.last()) {
        body["continue"] = json!(encode_continue(&last.name));
    }
    succeed(ctx, &begun, Reply::ok(body)).await
}

/// A parsed PATCH body: what can be checked without the current cluster.
#[derive(Debug, Default)]
struct Patch {
    version: Option<MinorVersion>,
    /// `Some(None)` resets the field to the plan default.
    resources: [Option<Option<Quantity>>; 3],
    /// RFC 7396 merge patch for `alerts`; `Some(Value::Null)` removes all.
    alerts: Option<Value>,
    immutable: Vec<(&'static str, Value)>,
}

fn parse_patch(body: &Map<String, Value>) -> Result<Patch, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad(
            "PATCH body must change at least one of: version, resources, alerts",
        ));
    }
    let mut patch = Patch::default();
    for (k, v) in body {
        match k.as_str() {
            "version" => match v {
                Value::String(s) => patch.version = Some(parse_version(s)?),
                Value::Null => return Err(ApiError::bad("version cannot be removed")),
                _ => return Err(ApiError::bad("version must be a string")),
            },
            "resources" => {
                let Value::Object(map) = v else {
                    return Err(ApiError::bad("resources must be an object"));
                };
                for (rk, rv) in map {
                    let at = ResourceKind::ALL
                        .iter()
                        .position(|kind| kind.field() == rk)
                        .ok_or_else(|| ApiError::bad(format!("unknown field resources.{rk}")))?;
                    patch.resources[at] = Some(match rv {
                        Value::Null => None,
                        other => Some(parse_quantity(rk, other)?),
                    });
                }
            }
            "alerts" => match v {
                Value::Object(_) | Value::Null => patch.alerts = Some(v.clone()),
                _ => return Err(ApiError::bad("alerts must be an object or null")),
            },
            "name" => patch.immutable.push(("name", v.clone())),
            "displayName" => patch.immutable.push(("displayName", v.clone())),
            "type" => patch.immutable.push(("type", v.clone())),
            other => return Err(ApiError::bad(format!("unknown field {other}"))),
        }
    }
    Ok(patch)
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn apply_patch(current: &Cluster, patch: &Patch, plan: &Plan) -> Result<Spec, ApiError> {
    for (field, value) in &patch.immutable {
        let same = match *field {
            "name" => value.as_str() == Some(current.name.as_str()),
            "displayName" => value.as_str() == Some(current.display_name.as_str()),
            _ => value.as_str() == Some(current.cluster_type.as_str()),
        };
        if !same {
            return Err(ApiError::bad(format!(
                "{field} is immutable and cannot be changed"
            )));
        }
    }
    let mut spec = current.spec.clone();
    if let Some(v) = patch.version {
        current
            .spec
            .version
            .check_upgrade_to(v)
            .map_err(|e| ApiError::bad(e.to_string()))?;
        spec.version = v;
    }
    for (i, kind) in ResourceKind::ALL.iter().enumerate() {
        if let Some(change) = &patch.resources[i] {
            let q = change.clone().unwrap_or_else(|| plan.default_for(*kind));
            match kind {
                ResourceKind::Cpu => spec.resources.cpu = q,
                ResourceKind::Memory => spec.resources.memory = q,
                ResourceKind::Storage => spec.resources.storage = q,
            }
        }
    }
    plan.check(&spec.resources)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    if let Some(p) = &patch.alerts {
        let mut alerts = Value::Object(spec.alerts.clone());
        merge_patch(&mut alerts, p);
        spec.alerts = match alerts {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        check_alerts(&spec.alerts)?;
    }
    Ok(spec)
}

/// `PATCH /tenants/{tenant}/clusters/{name}`: JSON merge patch of `version`, `resources`,
/// `alerts`. One read (with the key) and one conditional write; a PATCH that changes nothing
/// writes nothing.
///
/// # Errors
/// 401, 403, 400, 404, 409 (deleting), 412 (`If-Match`).
pub async fn update(ctx: &Ctx, req: &Request, token: &str) -> Result<Reply, ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let mut begun = begin(ctx, req, Role::Admin, Target::Path).await?;
        let name = begun.name.as_ref().ok_or(ApiError::Internal)?;
        let plan = plan_of(begun.snap.tenant.as_ref())?;
        let patch = parse_patch(&json_object(req, true)?)?;
        let if_match = precondition(req, "If-Match")?;
        let current = begun.snap.cluster.take().ok_or_else(|| not_found(name))?;
        let spec = apply_patch(&current, &patch, plan)?;
        if current.status.phase == Phase::Deleting {
            return Err(ApiError::Conflict(format!(
                "Cluster {name} is being deleted"
            )));
        }
        if if_match
            .as_ref()
            .is_some_and(|p| !p.matches_strong(current.resource_version))
        {
            return Err(ApiError::PreconditionFailed);
        }
        if spec == current.spec {
            return succeed(ctx, &begun, cluster_reply(StatusCode::OK, &current)).await;
        }
        let next = Cluster {
            spec,
            generation: current.generation + 1,
            resource_version: ResourceVersion(current.resource_version.0 + 1),
            updated_at: now_rfc3339(),
            ..current.clone()
        };
        match ctx
            .store
            .update_spec(&next, current.resource_version, token)
            .await?
        {
            WriteOutcome::Written(c) => {
                return succeed(ctx, &begun, cluster_reply(StatusCode::OK, &c)).await
            }
            WriteOutcome::Conflict(None) => return Err(not_found(name)),
            WriteOutcome::Conflict(Some(_)) if matches!(if_match, Some(Precondition::Tags(_))) => {
                return Err(ApiError::PreconditionFailed)
            }
            WriteOutcome::Conflict(Some(_)) => continue,
        }
    }
    Err(ApiError::Conflict(
        "The cluster kept changing; retry".into(),
    ))
}

/// `DELETE /tenants/{tenant}/clusters/{name}`: 204 and phase `Deleting`; a repeat while
/// deleting is 204 again and starts nothing.
///
/// # Errors
/// 401, 403, 400, 404, 412.
pub async fn delete(ctx: &Ctx, req: &Request, token: &str) -> Result<Reply, ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let mut begun = begin(ctx, req, Role::Admin, Target::Path).await?;
        let name = begun.name.as_ref().ok_or(ApiError::Internal)?;
        let if_match = precondition(req, "If-Match")?;
        let current = begun.snap.cluster.take().ok_or_else(|| not_found(name))?;
        // Already deleting: the DELETE is in effect. Answering 204 even to a stale If-Match keeps
        // a client's retry of a DELETE whose reply was lost from seeing 412.
        if current.status.phase == Phase::Deleting {
            return succeed(ctx, &begun, Reply::empty(StatusCode::NO_CONTENT)).await;
        }
        if if_match
            .as_ref()
            .is_some_and(|p| !p.matches_strong(current.resource_version))
        {
            return Err(ApiError::PreconditionFailed);
        }
        let now = now_rfc3339();
        let next = Cluster {
            generation: current.generation + 1,
            resource_version: ResourceVersion(current.resource_version.0 + 1),
            updated_at: now.clone(),
            status: Status {
                phase: Phase::Deleting,
                reason: Some("DeleteRequested".into()),
                message: Some("Waiting for the teardown workflow".into()),
                ..current.status.clone()
            },
            ..current.clone()
        };
        match ctx
            .store
            .mark_deleting(&next, current.resource_version, token)
            .await?
        {
            WriteOutcome::Written(_) => {
                return succeed(ctx, &begun, Reply::empty(StatusCode::NO_CONTENT)).await
            }
            WriteOutcome::Conflict(None) => return Err(not_found(name)),
            WriteOutcome::Conflict(Some(c)) if c.status.phase == Phase::Deleting => {
                return succeed(ctx, &begun, Reply::empty(StatusCode::NO_CONTENT)).await
            }
            WriteOutcome::Conflict(Some(_)) if matches!(if_match, Some(Precondition::Tags(_))) => {
                return Err(ApiError::PreconditionFailed)
            }
            WriteOutcome::Conflict(Some(_)) => continue,
        }
    }
    Err(ApiError::Conflict(
        "The cluster kept changing; retry".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1, 2]});
        merge_patch(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));
    }

    #[test]
    fn continue_tokens_round_trip_and_garbage_is_refused() {
        let name = ClusterName::parse("prod-2").unwrap();
        assert_eq!(decode_continue(&encode_continue(&name)).unwrap(), name);
        for bad in [
            "",
            "!!",
            "djE6",
            "eHl6",
            &URL_SAFE_NO_PAD.encode("v1:UPPER"),
        ] {
            assert!(decode_continue(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_patch_and_unknown_fields_are_refused() {
        assert!(parse_patch(&Map::new()).is_err());
        let body = json!({"foo": 1});
        assert!(parse_patch(body.as_object().unwrap()).is_err());
        let body = json!({"resources": {"gpu": "1"}});
        assert!(parse_patch(body.as_object().unwrap()).is_err());
        let body = json!({"version": null});
        assert!(parse_patch(body.as_object().unwrap()).is_err());
    }
}
