//! The cluster routes: create, get, list, update (JSON merge patch), delete, and the connection
//! details. Each request arrives as the edge parsed it (`routes::clusters`); each use case makes
//! the one read of its session, decides, makes at most one conditional write, and answers.

use super::{
    session::{Session, Target},
    UseCase,
};
use crate::{
    config::ApiContext,
    domain::{
        apikey::Role,
        cluster::{Cluster, ClusterPatch, ClusterType, NewCluster, Status},
        etag::{Precondition, ResourceVersion},
        labels::Selector,
        names::ClusterName,
        now_rfc3339,
        operation::{action_of, OpRecord, OpType, Operation},
        page::encode_continue,
        phase::Phase,
        plan::Plan,
        pool::Allocation,
        tenant_phase::TenantPhase,
        Invalid,
    },
    http::{ApiError, Caller, Code, Parsed, Reply},
    store::{
        clusters::{DeletionGuard, PoolChange, ResizeOutcome, SlotClaim},
        CreateOutcome, Outcome, StoredCluster, TenantRecord,
    },
};
use lambda_http::http::StatusCode;
use serde_json::json;

/// Attempts of a read-modify-write when someone else writes in between and the caller did not
/// name a version (with `If-Match` such a race is a 412 instead).
const MAX_ATTEMPTS: usize = 5;

/// `POST /tenants/{tenant}/clusters`.
#[derive(Debug)]
pub struct CreateCluster {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The validated body.
    pub cluster: Parsed<NewCluster>,
    /// The type as declared, even when the rest of the body is invalid, so that the plan's 403
    /// comes before the body's 400.
    pub declared_type: Option<ClusterType>,
}

/// `GET /tenants/{tenant}/clusters/{name}`.
#[derive(Debug)]
pub struct GetCluster {
    /// Who is calling.
    pub caller: Caller,
    /// The cluster.
    pub name: Parsed<ClusterName>,
    /// `If-None-Match`.
    pub if_none_match: Parsed<Option<Precondition>>,
}

/// `GET /tenants/{tenant}/clusters`.
#[derive(Debug)]
pub struct ListClusters {
    /// Who is calling.
    pub caller: Caller,
    /// `limit` (1–1000).
    pub limit: Parsed<Option<usize>>,
    /// `continue`: the name the previous page ended with.
    pub after: Parsed<Option<ClusterName>>,
    /// `labelSelector`, when given.
    pub selector: Parsed<Option<Selector>>,
}

/// `PATCH /tenants/{tenant}/clusters/{name}`.
#[derive(Debug)]
pub struct UpdateCluster {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The cluster.
    pub name: Parsed<ClusterName>,
    /// `If-Match`.
    pub if_match: Parsed<Option<Precondition>>,
    /// The validated merge patch.
    pub patch: Parsed<ClusterPatch>,
}

/// `DELETE /tenants/{tenant}/clusters/{name}`.
#[derive(Debug)]
pub struct DeleteCluster {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The cluster.
    pub name: Parsed<ClusterName>,
    /// `If-Match`.
    pub if_match: Parsed<Option<Precondition>>,
}

/// `GET /tenants/{tenant}/clusters/{name}/kubeconfig`.
#[derive(Debug)]
pub struct GetKubeconfig {
    /// Who is calling.
    pub caller: Caller,
    /// The cluster.
    pub name: Parsed<ClusterName>,
}

fn not_found(name: &ClusterName) -> ApiError {
    ApiError::not_found(format!("Cluster {name} not found"))
}

fn over_quota(plan: &Plan) -> ApiError {
    ApiError::new(
        Code::QuotaExceeded,
        format!(
            "Cluster quota exceeded: the {} plan allows {} clusters",
            plan.name, plan.max_clusters
        ),
    )
}

fn ha_not_in_plan(plan: &Plan) -> ApiError {
    ApiError::new(
        Code::NotInPlan,
        format!(
            "High availability is not enabled for this tenant (plan {})",
            plan.name
        ),
    )
    .at("highAvailability")
}

/// 403 when adding `added` to `allocated` would overflow the plan's pool, naming the first
/// resource that does not fit and what is left of it.
fn check_pool(plan: &Plan, allocated: &Allocation, added: &Allocation) -> Result<(), ApiError> {
    let pool = plan.pool();
    let Some(kind) = allocated.plus(added).first_above(&pool) else {
        return Ok(());
    };
    let left = pool.minus(allocated).growth();
    Err(ApiError::new(
        Code::QuotaExceeded,
        format!(
            "Resource pool exceeded: resources.{field} needs {asked} more but only {left} of the \
             {plan} plan's pool of {pool} is left",
            field = kind.field(),
            asked = added.quantity(kind),
            left = left.quantity(kind),
            plan = plan.name,
            pool = pool.quantity(kind),
        ),
    )
    .at(format!("resources.{}", kind.field())))
}

/// Why the tenant refused a create's claim, from the tenant as it was when it refused.
fn claim_refused(
    tenant: &TenantRecord,
    plan: &Plan,
    name: &ClusterName,
    asked: &Allocation,
) -> ApiError {
    if tenant.phase == TenantPhase::Terminating {
        return tenant_terminating();
    }
    if tenant.plan != plan.name {
        return ApiError::conflict(
            "The tenant's plan changed while the cluster was being created; retry",
        );
    }
    if tenant.members.iter().any(|m| m == name.as_str()) {
        return ApiError::conflict(format!(
            "Cluster {name} is still being deleted; create it again once it is gone"
        ));
    }
    if tenant.members.len() >= plan.max_clusters as usize {
        return over_quota(plan);
    }
    match check_pool(plan, &tenant.allocated, asked) {
        Err(e) => e,
        Ok(()) => ApiError::conflict("The tenant kept changing; retry"),
    }
}

fn exists(c: &Cluster) -> ApiError {
    if c.status.phase == Phase::Terminating {
        return ApiError::conflict(format!(
            "Cluster {} is still being deleted; create it again once it is gone",
            c.name
        ));
    }
    ApiError::new(Code::AlreadyExists, "Cluster name already exists")
}

fn tenant_terminating() -> ApiError {
    ApiError::conflict("The tenant is being deleted: it takes no new clusters")
}

/// `current` with its deletion requested: `Terminating`, a new generation (which starts the
/// teardown) and the next version. `DELETE` of a cluster and a tenant's cascade both write
/// this, with [`crate::store::clusters::Clusters::mark_deleting`] at `current`'s version.
pub fn deletion_of(current: &Cluster) -> Cluster {
    let now = now_rfc3339();
    Cluster {
        generation: current.generation + 1,
        resource_version: ResourceVersion(current.resource_version.0 + 1),
        updated_at: now.clone(),
        status: Status {
            phase: Phase::Terminating,
            reason: Some("DeleteRequested".into()),
            message: Some("Waiting for the teardown workflow".into()),
            ..current.status.clone()
        },
        op: OpRecord::accepted(OpType::Delete, &now),
        ..current.clone()
    }
}

fn protected(name: &ClusterName) -> ApiError {
    ApiError::new(
        Code::DeletionProtected,
        format!(
            "Cluster {name} has deletion protection on; turn it off with PATCH \
             {{\"deletionProtection\": false}} and delete it again"
        ),
    )
}

fn kept_changing() -> ApiError {
    ApiError::conflict("The cluster kept changing; retry")
}

fn reply(status: StatusCode, c: &Cluster) -> Reply {
    Reply::with_status(status, c.to_json()).etag(c.resource_version.etag())
}

/// The `Operation-Id` of `c`'s current operation.
fn operation_id(c: &Cluster) -> String {
    Operation::current(c).id
}

fn live(stored: Option<StoredCluster>) -> Option<Cluster> {
    stored.and_then(StoredCluster::live)
}

/// A parsed value the use case needs again on a retry.
fn again<T>(parsed: &Parsed<T>) -> Result<&T, ApiError> {
    parsed.as_ref().map_err(ApiError::clone)
}

/// Whether `If-Match` names tags: a lost race is then a 412, not a retry.
fn names_tags(if_match: Option<&Precondition>) -> bool {
    matches!(if_match, Some(Precondition::Tags(_)))
}

impl UseCase for CreateCluster {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let name = self.cluster.as_ref().ok().map(|c| &c.name);
        let mut session =
            Session::open(ctx, &self.caller, Role::Admin, Target::Cluster(name)).await?;
        let plan = session.plan()?;
        if self.declared_type == Some(ClusterType::Dedicated) && !plan.dedicated {
            return Err(ApiError::new(
                Code::NotInPlan,
                format!(
                    "Cluster type dedicated is not enabled for this tenant (plan {})",
                    plan.name
                ),
            ));
        }
        let stored = session.take_cluster()?;
        let held = session
            .tenant_record
            .as_ref()
            .map_or(0, |t| t.members.len());
        let live_now = matches!(stored, Some(StoredCluster::Live(_)));
        if held >= plan.max_clusters as usize && !live_now {
            return Err(over_quota(plan));
        }
        let new = self.cluster?;
        if new.high_availability && !plan.high_availability {
            return Err(ha_not_in_plan(plan));
        }
        let resources = plan.resolve(&new.resources).map_err(Invalid::from)?;
        let previous = match stored {
            Some(StoredCluster::Live(c)) => return Err(exists(&c)),
            Some(StoredCluster::Tombstone(v)) => Some(v),
            None => None,
        };
        if session
            .tenant_record
            .as_ref()
            .is_some_and(|t| t.phase == TenantPhase::Terminating)
        {
            return Err(tenant_terminating());
        }
        let asked = Allocation::of(&resources);
        let allocated = session
            .tenant_record
            .as_ref()
            .map_or_else(Allocation::default, |t| t.allocated);
        check_pool(plan, &allocated, &asked)?;
        let version = ResourceVersion(previous.map_or(0, |v| v.0) + 1);
        let cluster = new.into_cluster(
            session.tenant.clone(),
            resources,
            version,
            &now_rfc3339(),
            &self.token,
        );
        let claim = SlotClaim {
            plan: plan.name,
            max_clusters: plan.max_clusters,
            pool: plan.pool(),
        };
        let created = ctx
            .store
            .clusters()
            .create(&cluster, previous, &claim, &self.token)
            .await?;
        match created {
            CreateOutcome::Created => {
                let created =
                    reply(StatusCode::CREATED, &cluster).operation(operation_id(&cluster));
                session.close(ctx, created).await
            }
            CreateOutcome::SlotRefused(None) => Err(ApiError::not_a_member()),
            CreateOutcome::SlotRefused(Some(t)) => {
                Err(claim_refused(&t, plan, &cluster.name, &asked))
            }
            CreateOutcome::Exists(Some(c)) => Err(exists(&c)),
            CreateOutcome::Exists(None) => Err(ApiError::new(
                Code::AlreadyExists,
                "Cluster name already exists",
            )),
        }
    }
}

impl UseCase for GetCluster {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let target = Target::Cluster(self.name.as_ref().ok());
        let mut session = Session::open(ctx, &self.caller, Role::Readonly, target).await?;
        let name = self.name?;
        let if_none_match = self.if_none_match?;
        let cluster = live(session.take_cluster()?).ok_or_else(|| not_found(&name))?;
        if if_none_match.is_some_and(|p| p.matches_weak(cluster.resource_version)) {
            let not_modified =
                Reply::empty(StatusCode::NOT_MODIFIED).etag(cluster.resource_version.etag());
            return session.close(ctx, not_modified).await;
        }
        session.close(ctx, reply(StatusCode::OK, &cluster)).await
    }
}

impl UseCase for GetKubeconfig {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let target = Target::Cluster(self.name.as_ref().ok());
        let mut session = Session::open(ctx, &self.caller, Role::Readonly, target).await?;
        let name = self.name?;
        let cluster = live(session.take_cluster()?).ok_or_else(|| not_found(&name))?;
        let serving = cluster.status.phase.is_serving();
        let st = &cluster.status;
        match (serving, &st.endpoint, &st.certificate_authority) {
            (true, Some(endpoint), Some(ca)) => {
                let body = json!({ "endpoint": endpoint, "certificateAuthority": ca });
                session.close(ctx, Reply::ok(body)).await
            }
            _ => Err(ApiError::new(
                Code::NotReady,
                format!(
                    "Cluster {name} is not ready yet (phase {}); retry once it is Running",
                    st.phase.as_str()
                ),
            )),
        }
    }
}

impl UseCase for ListClusters {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = Session::open(ctx, &self.caller, Role::Readonly, Target::Nothing).await?;
        let limit = self.limit?;
        let after = self.after?;
        let selector = self.selector?;
        let clusters = ctx.store.clusters();
        let (clusters, more) = match &selector {
            None => {
                clusters
                    .list(&session.tenant, limit, after.as_ref())
                    .await?
            }
            Some(sel) => {
                clusters
                    .list_matching(&session.tenant, limit, after.as_ref(), |c| {
                        sel.matches(&c.meta.labels)
                    })
                    .await?
            }
        };
        let mut body =
            json!({ "items": clusters.iter().map(Cluster::to_json).collect::<Vec<_>>() });
        if let (true, Some(last)) = (more, clusters.last()) {
            body["continue"] = json!(encode_continue(last.name.as_str()));
        }
        session.close(ctx, Reply::ok(body)).await
    }
}

impl UseCase for UpdateCluster {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for _ in 0..MAX_ATTEMPTS {
            let target = Target::Cluster(self.name.as_ref().ok());
            let mut session = Session::open(ctx, &self.caller, Role::Admin, target).await?;
            let name = again(&self.name)?;
            let plan = session.plan()?;
            let patch = again(&self.patch)?;
            let if_match = again(&self.if_match)?.as_ref();
            let current = live(session.take_cluster()?).ok_or_else(|| not_found(name))?;
            let spec = current.patched_spec(patch, plan)?;
            let meta = current.patched_meta(patch)?;
            if current.status.phase == Phase::Terminating {
                return Err(ApiError::conflict(format!(
                    "Cluster {name} is being deleted"
                )));
            }
            if if_match.is_some_and(|p| !p.matches_strong(current.resource_version)) {
                return Err(ApiError::precondition_failed());
            }
            if spec == current.spec && meta == current.meta {
                return session.close(ctx, reply(StatusCode::OK, &current)).await;
            }
            if spec.high_availability && !current.spec.high_availability && !plan.high_availability
            {
                return Err(ha_not_in_plan(plan));
            }
            // Labels, annotations and deletion protection are metadata: a change of only those
            // writes a new resourceVersion but no new generation, so no rollout starts.
            let generation = if spec == current.spec {
                current.generation
            } else {
                current.generation + 1
            };
            let now = now_rfc3339();
            let mut next = Cluster {
                ha_since_generation: current.ha_since_after(&spec, generation),
                spec,
                meta,
                generation,
                resource_version: ResourceVersion(current.resource_version.0 + 1),
                updated_at: now.clone(),
                ..current.clone()
            };
            if generation != current.generation {
                // A new generation is a new operation, of the type its rollout will be.
                next.op = OpRecord::accepted(OpType::of(action_of(&next)), &now);
            }
            let delta = Allocation::of(&next.spec.resources)
                .minus(&Allocation::of(&current.spec.resources));
            let clusters = ctx.store.clusters();
            let written = if delta.is_zero() {
                clusters.update_spec(&next, &current, &self.token).await?
            } else {
                let allocated = session
                    .tenant_record
                    .as_ref()
                    .map_or_else(Allocation::default, |t| t.allocated);
                check_pool(plan, &allocated, &delta.growth())?;
                let change = PoolChange {
                    plan: plan.name,
                    pool: plan.pool(),
                    delta,
                };
                match clusters
                    .resize(&next, &current, &change, &self.token)
                    .await?
                {
                    ResizeOutcome::Cluster(outcome) => *outcome,
                    ResizeOutcome::PoolRefused(None) => return Err(ApiError::not_a_member()),
                    ResizeOutcome::PoolRefused(Some(t)) => {
                        // Another plan since the read: judge the patch again under it.
                        if t.plan == plan.name {
                            check_pool(plan, &t.allocated, &delta.growth())?;
                        }
                        continue;
                    }
                }
            };
            match written {
                Outcome::Written(c) | Outcome::AlreadyOurs(c) => {
                    let mut updated = reply(StatusCode::OK, &c);
                    if c.generation != current.generation {
                        updated = updated.operation(operation_id(&c));
                    }
                    return session.close(ctx, updated).await;
                }
                Outcome::Absent => return Err(not_found(name)),
                Outcome::Conflict(_) if names_tags(if_match) => {
                    return Err(ApiError::precondition_failed())
                }
                Outcome::Conflict(_) => continue,
            }
        }
        Err(kept_changing())
    }
}

impl UseCase for DeleteCluster {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let deleted = |c: &Cluster| Reply::empty(StatusCode::NO_CONTENT).operation(operation_id(c));
        for _ in 0..MAX_ATTEMPTS {
            let target = Target::Cluster(self.name.as_ref().ok());
            let mut session = Session::open(ctx, &self.caller, Role::Admin, target).await?;
            let name = again(&self.name)?;
            let if_match = again(&self.if_match)?.as_ref();
            let current = live(session.take_cluster()?).ok_or_else(|| not_found(name))?;
            // Already terminating: the DELETE is in effect. Answering 204 even to a stale
            // If-Match keeps a client's retry of a DELETE whose reply was lost from seeing 412.
            if current.status.phase == Phase::Terminating {
                return session.close(ctx, deleted(&current)).await;
            }
            // 409 before 412, as everywhere: protection refuses whatever version was named.
            if current.meta.deletion_protection {
                return Err(protected(name));
            }
            if if_match.is_some_and(|p| !p.matches_strong(current.resource_version)) {
                return Err(ApiError::precondition_failed());
            }
            let next = deletion_of(&current);
            let written = ctx
                .store
                .clusters()
                .mark_deleting(&next, &current, DeletionGuard::Honoured, &self.token)
                .await?;
            match written {
                Outcome::Written(_) | Outcome::AlreadyOurs(_) => {
                    return session.close(ctx, deleted(&next)).await
                }
                Outcome::Absent => return Err(not_found(name)),
                Outcome::Conflict(c) if c.status.phase == Phase::Terminating => {
                    return session.close(ctx, deleted(&c)).await
                }
                // Protected since the read (a concurrent PATCH): whatever If-Match said, the
                // cluster as it is now refuses deletion.
                Outcome::Conflict(c) if c.meta.deletion_protection => return Err(protected(name)),
                Outcome::Conflict(_) if names_tags(if_match) => {
                    return Err(ApiError::precondition_failed())
                }
                Outcome::Conflict(_) => continue,
            }
        }
        Err(kept_changing())
    }
}
