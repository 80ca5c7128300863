//! `DELETE /tenants/{tenant}` (admin), with the body Kupe's CLI sends: `{"confirm": "<tenant>",
//! "cascade": bool}`. `confirm` must equal the tenant's name (400 naming `confirm`).
//!
//! Without `cascade`, a tenant whose clusters still hold slots (a deleting one included) is
//! refused with 409 `clusters_exist`, the code the CLI matches to suggest `--cascade`. Otherwise
//! the tenant becomes `Terminating` (one conditional write; it then takes no new cluster and no
//! member change), every cluster is marked for deletion exactly as `DELETE
//! /tenants/{tenant}/clusters/{name}` marks it (each write conditional, so a repeat is safe), and
//! the answer is 202 with the tenant, `status.phase = Terminating`. When the last teardown gives
//! its slot back (or at once, with no cluster), the dispatcher sees the tenant's stream record
//! and purges the tenant, its members and its API keys: its keys get 401 from then on.
//!
//! A DELETE of a tenant already terminating is 409 `already_terminating` (the CLI's code), and
//! resumes the work first: any cluster not yet marked is marked, and the tenant's version is
//! bumped so its stream record comes again and a purge that failed is retried.

use super::{
    clusters::deletion_of,
    session::{Session, Target},
    UseCase,
};
use crate::{
    config::ApiContext,
    domain::{apikey::Role, names::TenantName, phase::Phase, tenant_phase::TenantPhase},
    http::{ApiError, Caller, Code, Parsed, Reply},
    store::{clusters::DeletionGuard, tenant_purge::DeletionStart, Outcome, TenantRecord},
};
use lambda_http::http::StatusCode;
use serde_json::json;

/// Attempts to mark one cluster when its own workflow writes in between.
const MAX_ATTEMPTS: usize = 5;

/// The validated body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDeletion {
    /// The name typed out to confirm.
    pub confirm: String,
    /// Delete the clusters too.
    pub cascade: bool,
}

/// `DELETE /tenants/{tenant}`.
#[derive(Debug)]
pub struct DeleteTenant {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The body.
    pub deletion: Parsed<TenantDeletion>,
}

fn clusters_exist(tenant: &TenantName, count: usize) -> ApiError {
    ApiError::new(
        Code::ClustersExist,
        format!(
            "Tenant {tenant} still has {count} cluster(s); delete them first or send \
             \"cascade\": true"
        ),
    )
}

fn already_terminating(tenant: &TenantName) -> ApiError {
    ApiError::new(
        Code::AlreadyTerminating,
        format!("Tenant {tenant} is already being deleted"),
    )
}

/// The tenant as the 202 shows it (Kupe's tenant fields this service keeps).
fn view(t: &TenantRecord, clusters: usize) -> serde_json::Value {
    json!({
        "name": t.name,
        "plan": t.plan,
        "resourceVersion": t.resource_version.0.to_string(),
        "createdAt": t.created_at,
        "status": { "phase": t.phase.as_str(), "clusterCount": clusters },
    })
}

/// Marks every live cluster of the tenant for deletion (those already terminating are left as
/// they are). Returns how many clusters the tenant still has.
async fn delete_clusters(
    ctx: &ApiContext,
    tenant: &TenantName,
    token: &str,
) -> Result<usize, ApiError> {
    let (clusters, _) = ctx.store.clusters().list(tenant, None, None).await?;
    for listed in &clusters {
        let mut current = Some(listed.clone());
        for _ in 0..MAX_ATTEMPTS {
            let Some(c) = current.take() else { break };
            if c.status.phase == Phase::Terminating {
                break;
            }
            let next = deletion_of(&c);
            let written = ctx
                .store
                .clusters()
                .mark_deleting(&next, &c, DeletionGuard::Overridden, token)
                .await?;
            match written {
                Outcome::Written(_) | Outcome::AlreadyOurs(_) | Outcome::Absent => break,
                // Its workflow wrote in between: read it again and retry.
                Outcome::Conflict(_) => current = ctx.store.clusters().get(tenant, &c.name).await?,
            }
        }
    }
    Ok(clusters.len())
}

impl UseCase for DeleteTenant {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = Session::open(ctx, &self.caller, Role::Admin, Target::Nothing).await?;
        let deletion = self.deletion?;
        let tenant = session.tenant.clone();
        if deletion.confirm != tenant.as_str() {
            return Err(ApiError::invalid(format!(
                "confirm must equal the tenant name ({tenant})"
            ))
            .at("confirm"));
        }
        let Some(read) = session.tenant_record.as_ref() else {
            return Err(ApiError::not_found("Tenant not found"));
        };
        if read.phase == TenantPhase::Terminating {
            return resume(ctx, &tenant, &self.token).await;
        }
        if !deletion.cascade && !read.members.is_empty() {
            return Err(clusters_exist(&tenant, read.members.len()));
        }
        if !read.members.is_empty() {
            refuse_protected(ctx, &tenant).await?;
        }
        let started = ctx
            .store
            .tenant_purge()
            .start(&tenant, deletion.cascade, &self.token)
            .await?;
        let record = match started {
            DeletionStart::Started(r) => r,
            DeletionStart::AlreadyTerminating => return resume(ctx, &tenant, &self.token).await,
            DeletionStart::ClustersExist(n) => return Err(clusters_exist(&tenant, n)),
            DeletionStart::Gone => return Err(ApiError::not_found("Tenant not found")),
        };
        let clusters = if record.members.is_empty() {
            0
        } else {
            delete_clusters(ctx, &tenant, &self.token).await?
        };
        let reply = Reply::with_status(StatusCode::ACCEPTED, view(&record, clusters))
            .etag(record.resource_version.etag());
        session.close(ctx, reply).await
    }
}

/// A DELETE of a tenant already terminating: finish what an earlier one may have left (mark
/// the clusters, bump the tenant so the purge is retried), then say it is already under way.
/// 409 `DeletionProtected` naming the tenant's protected clusters, before anything is written:
/// a cascade does not override a protection it can see. (One turned on after this read is
/// overridden: the tenant is then already `Terminating`, and leaving a cluster behind would
/// leave the tenant half-deleted.)
async fn refuse_protected(ctx: &ApiContext, tenant: &TenantName) -> Result<(), ApiError> {
    let (clusters, _) = ctx.store.clusters().list(tenant, None, None).await?;
    let protected: Vec<&str> = clusters
        .iter()
        .filter(|c| c.meta.deletion_protection && c.status.phase != Phase::Terminating)
        .map(|c| c.name.as_str())
        .collect();
    if protected.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        Code::DeletionProtected,
        format!(
            "Tenant {tenant} has clusters with deletion protection on ({}); turn it off with \
             PATCH {{\"deletionProtection\": false}} first",
            protected.join(", ")
        ),
    ))
}

async fn resume(ctx: &ApiContext, tenant: &TenantName, token: &str) -> Result<Reply, ApiError> {
    delete_clusters(ctx, tenant, token).await?;
    ctx.store.tenant_purge().touch(tenant, token).await?;
    Err(already_terminating(tenant))
}
