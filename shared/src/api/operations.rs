//! A cluster's operations: list (newest first, paginated like the cluster list), get one, and
//! retry a failed one. Each request reads the session with the addressed cluster (one
//! `BatchGetItem`): the current operation is derived from that item; an older one is one more
//! read of its archived copy (a page of them, one `Query`). A retry is one conditional write on
//! the cluster item ([`crate::store::schema::COND_RETRY_FAILED`]); the dispatcher sees the new
//! `attempt` in the stream and starts the new execution, which skips the steps that finished.

use super::{
    session::{Session, Target},
    UseCase,
};
use crate::{
    config::ApiContext,
    domain::{
        apikey::Role,
        cluster::Cluster,
        names::ClusterName,
        operation::{generation_of_id, OpState, Operation, OperationId},
        page::encode_continue,
    },
    http::{ApiError, Caller, Code, Parsed, Reply},
    store::{operations::RetryOutcome, StoredCluster},
};
use lambda_http::http::StatusCode;
use serde_json::json;

/// A page without `limit`: everything (a cluster's history is bounded by its generations).
const ALL: usize = 100_000;

/// Attempts of a retry's write when the cluster changes in between.
const MAX_ATTEMPTS: usize = 5;

/// The most executions one operation may have (the first and its retries): the execution name
/// `<id>-a<attempt>` stays within Step Functions' 80 characters.
pub const MAX_OPERATION_ATTEMPTS: u64 = 100;

/// `GET /tenants/{tenant}/clusters/{name}/operations`.
#[derive(Debug)]
pub struct ListOperations {
    /// Who is calling.
    pub caller: Caller,
    /// The cluster.
    pub name: Parsed<ClusterName>,
    /// `limit` (1–1000).
    pub limit: Parsed<Option<usize>>,
    /// `continue`: the generation the previous page ended with.
    pub before: Parsed<Option<u64>>,
}

/// `GET /tenants/{tenant}/clusters/{name}/operations/{id}`.
#[derive(Debug)]
pub struct GetOperation {
    /// Who is calling.
    pub caller: Caller,
    /// The cluster.
    pub name: Parsed<ClusterName>,
    /// The operation.
    pub id: Parsed<OperationId>,
}

/// `POST /tenants/{tenant}/clusters/{name}/operations/{id}/retry`.
#[derive(Debug)]
pub struct RetryOperation {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The cluster.
    pub name: Parsed<ClusterName>,
    /// The operation.
    pub id: Parsed<OperationId>,
}

fn cluster_not_found(name: &ClusterName) -> ApiError {
    ApiError::not_found(format!("Cluster {name} not found"))
}

fn op_not_found(id: &OperationId) -> ApiError {
    ApiError::not_found(format!("Operation {} not found", id.as_str()))
}

fn live(stored: Option<StoredCluster>) -> Option<Cluster> {
    stored.and_then(StoredCluster::live)
}

/// The operation `id` of `cluster`'s current incarnation: the current one, or an archived one.
async fn find(
    ctx: &ApiContext,
    cluster: &Cluster,
    id: &OperationId,
) -> Result<Option<Operation>, ApiError> {
    let current = Operation::current(cluster);
    if current.id == id.as_str() {
        return Ok(Some(current));
    }
    let Some(generation) = generation_of_id(id.as_str()).filter(|g| *g < cluster.generation) else {
        return Ok(None);
    };
    let archived = ctx
        .store
        .operations()
        .get_archived(cluster, generation)
        .await?;
    Ok(archived.filter(|op| op.id == id.as_str()))
}

impl UseCase for ListOperations {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let target = Target::Cluster(self.name.as_ref().ok());
        let mut session = Session::open(ctx, &self.caller, Role::Readonly, target).await?;
        let name = self.name?;
        let limit = self.limit?.unwrap_or(ALL);
        let before = self.before?;
        let cluster = live(session.take_cluster()?).ok_or_else(|| cluster_not_found(&name))?;
        let current = Operation::current(&cluster);
        let mut items = Vec::new();
        if before.is_none_or(|b| current.generation < b) {
            items.push(current);
        }
        let older_than = before.map_or(cluster.generation, |b| b.min(cluster.generation));
        let (archived, more) = ctx
            .store
            .operations()
            .archived(&cluster, Some(older_than), limit - items.len())
            .await?;
        items.extend(archived);
        let mut body = json!({ "items": items.iter().map(Operation::to_json).collect::<Vec<_>>() });
        if let (true, Some(last)) = (more, items.last()) {
            body["continue"] = json!(encode_continue(&last.generation.to_string()));
        }
        session.close(ctx, Reply::ok(body)).await
    }
}

impl UseCase for GetOperation {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let target = Target::Cluster(self.name.as_ref().ok());
        let mut session = Session::open(ctx, &self.caller, Role::Readonly, target).await?;
        let name = self.name?;
        let id = self.id?;
        let cluster = live(session.take_cluster()?).ok_or_else(|| cluster_not_found(&name))?;
        let op = find(ctx, &cluster, &id)
            .await?
            .ok_or_else(|| op_not_found(&id))?;
        session.close(ctx, Reply::ok(op.to_json())).await
    }
}

impl UseCase for RetryOperation {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for _ in 0..MAX_ATTEMPTS {
            let target = Target::Cluster(self.name.as_ref().ok());
            let mut session = Session::open(ctx, &self.caller, Role::Admin, target).await?;
            let name = self.name.as_ref().map_err(ApiError::clone)?;
            let id = self.id.as_ref().map_err(ApiError::clone)?;
            let cluster = live(session.take_cluster()?).ok_or_else(|| cluster_not_found(name))?;
            let op = find(ctx, &cluster, id)
                .await?
                .ok_or_else(|| op_not_found(id))?;
            if op.generation != cluster.generation {
                return Err(ApiError::new(
                    Code::OperationNotRetryable,
                    format!(
                        "Operation {} was replaced by generation {}: only the current \
                         generation's operation can be retried",
                        op.id, cluster.generation
                    ),
                ));
            }
            if op.state != OpState::Failed {
                return Err(ApiError::new(
                    Code::OperationNotRetryable,
                    format!(
                        "Operation {} is {}: only a Failed operation can be retried",
                        op.id,
                        op.state.as_str()
                    ),
                ));
            }
            if op.attempt >= MAX_OPERATION_ATTEMPTS {
                return Err(ApiError::new(
                    Code::OperationNotRetryable,
                    format!(
                        "Operation {} ran {} times; change the spec with a PATCH instead",
                        op.id, op.attempt
                    ),
                ));
            }
            match ctx.store.operations().retry(&cluster, &self.token).await? {
                RetryOutcome::Retried(c) => {
                    let op = Operation::current(&c);
                    let reply = Reply::with_status(StatusCode::ACCEPTED, op.to_json())
                        .operation(op.id.clone());
                    return session.close(ctx, reply).await;
                }
                // Changed since the read (a status write, another retry, a PATCH): judge again.
                RetryOutcome::Changed(Some(_)) => continue,
                RetryOutcome::Changed(None) => return Err(cluster_not_found(name)),
            }
        }
        Err(ApiError::conflict("The cluster kept changing; retry"))
    }
}
