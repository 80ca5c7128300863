//! The tenant itself: `GET /tenants/{tenant}` (any member key) and `PATCH /tenants/{tenant}`
//! (admin: the plan and the two enforcement flags). A plan change is refused (409) when the
//! tenant's clusters do not fit the new plan; the write is conditional on the tenant's
//! `resourceVersion` as read, which every cluster create, resize and release bumps, so a change
//! judged against the clusters read cannot land after one of them moved.

use super::{session::Session, session::Target, UseCase};
use crate::{
    config::ApiContext,
    domain::{
        apikey::Role, cluster::Cluster, cluster::ClusterType, etag::Precondition, member::Member,
        names::TenantName, plan::Plan, resources::ResourceKind, tenant_phase::TenantPhase,
    },
    http::{ApiError, Caller, Parsed, Reply},
    store::{tenants::TenantSettings, Outcome, TenantRecord},
};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

/// Attempts of a PATCH when the tenant changes in between and the caller did not name a version.
const MAX_ATTEMPTS: usize = 5;

/// `GET /tenants/{tenant}`.
#[derive(Debug)]
pub struct GetTenant {
    /// Who is calling.
    pub caller: Caller,
    /// `If-None-Match`.
    pub if_none_match: Parsed<Option<Precondition>>,
}

/// `PATCH /tenants/{tenant}`.
#[derive(Debug)]
pub struct UpdateTenant {
    /// Who is calling.
    pub caller: Caller,
    /// `If-Match` (the tenant ETag).
    pub if_match: Parsed<Option<Precondition>>,
    /// The validated patch.
    pub patch: Parsed<TenantPatch>,
}

/// A validated tenant PATCH: at least one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPatch {
    /// A plan of the catalog.
    pub plan: Option<&'static Plan>,
    /// New `enforceLogLimit`.
    pub enforce_log_limit: Option<bool>,
    /// New `enforceMetricsLimit`.
    pub enforce_metrics_limit: Option<bool>,
}

/// The tenant as the API shows it: Kupe's fields (`resourceVersion` a string of digits, as
/// Kupe's Terraform provider reads it), `status` with the pool of its plan and what its
/// clusters hold. `member_items` are the tenant's members (`{email, role}` objects), built by
/// the members family; this view only places them.
pub fn tenant_view(t: &TenantRecord, plan: &Plan, member_items: Vec<Value>) -> Value {
    json!({
        "name": t.name,
        "displayName": t.display_name.as_deref().unwrap_or(&t.name),
        "contactEmail": t.contact_email.as_deref().unwrap_or(""),
        "plan": t.plan,
        "enforceLogLimit": t.enforce_log_limit,
        "enforceMetricsLimit": t.enforce_metrics_limit,
        "members": member_items,
        "resourceVersion": t.resource_version.to_string(),
        "createdAt": t.created_at,
        "status": {
            "phase": t.phase.as_str(),
            "clusterCount": t.members.len(),
            "poolResources": plan.pool_json(),
            "allocatedResources": t.allocated.to_json(),
        },
    })
}

fn not_found() -> ApiError {
    ApiError::not_found("Tenant not found")
}

fn plan_of(t: &TenantRecord) -> Result<&'static Plan, ApiError> {
    Plan::by_name(&t.plan).ok_or_else(|| {
        tracing::error!(plan = %t.plan, "tenant has an unknown plan");
        ApiError::internal()
    })
}

async fn reply(ctx: &ApiContext, status: StatusCode, t: &TenantRecord) -> Result<Reply, ApiError> {
    let name = TenantName::parse(&t.name).map_err(|_| ApiError::internal())?;
    let members = ctx.store.members().list(&name).await?;
    let member_items = members.iter().map(Member::to_json).collect();
    let body = tenant_view(t, plan_of(t)?, member_items);
    Ok(Reply::with_status(status, body).etag(t.resource_version.etag()))
}

/// What keeps the tenant's clusters from fitting `plan`, if anything: too many clusters, more
/// allocated than the pool, a cluster above the per-cluster bounds, a dedicated cluster on a
/// plan without dedicated. Every problem is named.
fn misfits(plan: &Plan, t: &TenantRecord, clusters: &[Cluster]) -> Vec<String> {
    let mut problems = Vec::new();
    if t.members.len() > plan.max_clusters as usize {
        problems.push(format!(
            "the tenant has {} clusters and the {} plan allows {}",
            t.members.len(),
            plan.name,
            plan.max_clusters
        ));
    }
    let pool = plan.pool();
    for kind in ResourceKind::ALL {
        if t.allocated.get(kind) > pool.get(kind) {
            problems.push(format!(
                "the clusters hold {} of {} and the {} plan's pool is {}",
                t.allocated.quantity(kind),
                kind.field(),
                plan.name,
                pool.quantity(kind)
            ));
        }
    }
    for c in clusters {
        if let Err(e) = plan.check(&c.spec.resources) {
            problems.push(format!("cluster {}: {e}", c.name));
        }
        if c.cluster_type == ClusterType::Dedicated && !plan.dedicated {
            problems.push(format!(
                "cluster {} is dedicated, which the {} plan does not include",
                c.name, plan.name
            ));
        }
    }
    problems
}

impl UseCase for GetTenant {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = Session::open(ctx, &self.caller, Role::Readonly, Target::Nothing).await?;
        let if_none_match = self.if_none_match?;
        let tenant = session.tenant_record.as_ref().ok_or_else(not_found)?;
        if if_none_match.is_some_and(|p| p.matches_weak(tenant.resource_version)) {
            let not_modified =
                Reply::empty(StatusCode::NOT_MODIFIED).etag(tenant.resource_version.etag());
            return session.close(ctx, not_modified).await;
        }
        let ok = reply(ctx, StatusCode::OK, tenant).await?;
        session.close(ctx, ok).await
    }
}

impl UseCase for UpdateTenant {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for _ in 0..MAX_ATTEMPTS {
            let session = Session::open(ctx, &self.caller, Role::Admin, Target::Nothing).await?;
            let patch = self.patch.as_ref().map_err(ApiError::clone)?;
            let if_match = self.if_match.as_ref().map_err(ApiError::clone)?.as_ref();
            let current = session.tenant_record.as_ref().ok_or_else(not_found)?;
            if current.phase == TenantPhase::Terminating {
                return Err(ApiError::conflict("The tenant is being deleted"));
            }
            if if_match.is_some_and(|p| !p.matches_strong(current.resource_version)) {
                return Err(tenant_changed());
            }
            let plan = patch.plan.unwrap_or(plan_of(current)?);
            let next = TenantSettings {
                plan: plan.name.to_string(),
                enforce_log_limit: patch.enforce_log_limit.unwrap_or(current.enforce_log_limit),
                enforce_metrics_limit: patch
                    .enforce_metrics_limit
                    .unwrap_or(current.enforce_metrics_limit),
            };
            let unchanged = next.plan == current.plan
                && next.enforce_log_limit == current.enforce_log_limit
                && next.enforce_metrics_limit == current.enforce_metrics_limit;
            if unchanged {
                let ok = reply(ctx, StatusCode::OK, current).await?;
                return session.close(ctx, ok).await;
            }
            if next.plan != current.plan {
                let (clusters, _) = ctx
                    .store
                    .clusters()
                    .list(&session.tenant, None, None)
                    .await?;
                let problems = misfits(plan, current, &clusters);
                if !problems.is_empty() {
                    return Err(ApiError::conflict(format!(
                        "The tenant's clusters do not fit the {} plan: {}",
                        plan.name,
                        problems.join("; ")
                    ))
                    .at("plan"));
                }
            }
            let written = ctx
                .store
                .tenants()
                .update_settings(&session.tenant, &next, current.resource_version)
                .await?;
            match written {
                Outcome::Written(t) | Outcome::AlreadyOurs(t) => {
                    let ok = reply(ctx, StatusCode::OK, &t).await?;
                    return session.close(ctx, ok).await;
                }
                Outcome::Absent => return Err(not_found()),
                Outcome::Conflict(_) if matches!(if_match, Some(Precondition::Tags(_))) => {
                    return Err(tenant_changed())
                }
                Outcome::Conflict(_) => continue,
            }
        }
        Err(ApiError::conflict("The tenant kept changing; retry"))
    }
}

fn tenant_changed() -> ApiError {
    ApiError::new(
        crate::http::Code::PreconditionFailed,
        "ETag mismatch: the tenant changed since you read it; re-fetch and retry",
    )
}
