//! Use cases behind the routes. Each takes the context and the request, does its one read and
//! at most one conditional write, and returns a [`Reply`](crate::http::Reply) or an
//! [`ApiError`](crate::http::ApiError). Failing requests are judged in the order 401, 403, 400,
//! 404, 409, 412, and a rejected request writes nothing.

pub mod apikeys;
pub mod auth;
pub mod clusters;

use crate::{
    domain::{
        apikey::Role,
        names::{ClusterName, TenantName},
    },
    http::{path_param, render, request_id, ApiError, Reply},
    store::{ApiKeyRecord, Snapshot},
    Ctx,
};
use auth::{authorize, bearer};
use lambda_http::{Body, Request, Response};
use std::future::Future;

/// Which cluster a request's one read should include.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// None.
    None,
    /// The `{name}` of the path (a malformed one is a 400 once the caller is authorized).
    Path,
    /// A name taken from the body (create), if it parsed.
    Named(Option<ClusterName>),
}

/// The authenticated start of every route: the caller's key, the tenant and (when asked) a
/// cluster, read together in one `BatchGetItem`; then 401/403; then the path parsed (400).
pub(crate) struct Begun {
    pub(crate) snap: Snapshot,
    pub(crate) caller: ApiKeyRecord,
    pub(crate) tenant: TenantName,
    pub(crate) name: Option<ClusterName>,
}

pub(crate) async fn begin(
    ctx: &Ctx,
    req: &Request,
    need: Role,
    target: Target,
) -> Result<Begun, ApiError> {
    let key = bearer(req)?;
    let tenant_raw = path_param(req, "tenant").unwrap_or_default();
    let name_raw = match &target {
        Target::Path => path_param(req, "name"),
        _ => None,
    };
    let tenant = TenantName::parse(&tenant_raw).ok();
    let read_name = match &target {
        Target::Path => name_raw.as_deref().and_then(|n| ClusterName::parse(n).ok()),
        Target::Named(n) => n.clone(),
        Target::None => None,
    };
    let ip = client_ip(req);
    let snap = ctx
        .store
        .snapshot(key.id(), tenant.as_ref(), read_name.as_ref(), Some(&ip))
        .await?;
    let now = time::OffsetDateTime::now_utc();
    let epoch = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    if let Some(wait) = snap.auth_failures.and_then(|f| f.wait(epoch)) {
        return Err(ApiError::TooManyRequests(wait));
    }
    let caller = match authorize(&key, snap.key.as_ref(), &tenant_raw, need, now) {
        Err(e @ ApiError::Unauthorized(_)) => {
            // Best effort: a failure to count must not turn a 401 into a 500.
            if let Err(err) = ctx
                .store
                .record_auth_failure(&ip, snap.auth_failures.as_ref(), &ctx.auth_backoff, epoch)
                .await
            {
                tracing::warn!(error = %err, "authentication failure not counted");
            }
            return Err(e);
        }
        other => other?,
    };
    let tenant = TenantName::parse(&tenant_raw).map_err(|e| ApiError::bad(e.to_string()))?;
    let name = match target {
        Target::Path => Some(
            ClusterName::parse(name_raw.as_deref().unwrap_or_default())
                .map_err(|e| ApiError::bad(e.to_string()))?,
        ),
        Target::Named(n) => n,
        Target::None => None,
    };
    Ok(Begun {
        snap,
        caller,
        tenant,
        name,
    })
}

/// The client's IP as API Gateway saw it (`unknown` when absent).
pub fn client_ip(req: &Request) -> String {
    use lambda_http::{request::RequestContext, RequestExt};
    let ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.identity.source_ip.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
        _ => None,
    };
    ip.filter(|ip| !ip.is_empty() && ip.len() <= 64)
        .unwrap_or_else(|| "unknown".into())
}

/// How stale `lastUsedAt` may get before a successful request refreshes it: at most one extra
/// write per key per this many seconds, never one per request.
pub const LAST_USED_GRANULARITY_SECS: i64 = 300;

/// Ends a successful request: refreshes the caller's `lastUsedAt` when it is older than
/// [`LAST_USED_GRANULARITY_SECS`]. Only successes count as use, so a rejected request still
/// writes nothing.
pub(crate) async fn succeed(ctx: &Ctx, begun: &Begun, reply: Reply) -> Result<Reply, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let stale = begun.caller.last_used_at.as_deref().is_none_or(|at| {
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .map_or(true, |at| {
                (now - at).whole_seconds() >= LAST_USED_GRANULARITY_SECS
            })
    });
    if stale {
        // Best effort: a lost race or a failure only delays the next refresh.
        if let Err(e) = ctx
            .store
            .touch_api_key(&begun.caller, &crate::domain::format_rfc3339(now))
            .await
        {
            tracing::warn!(error = %e, "lastUsedAt not refreshed");
        }
    }
    Ok(reply)
}

/// Runs a use case and renders its outcome with the request's `X-Request-Id`. Every HTTP
/// function's handler is this call around its use case.
pub async fn serve<'a, F, Fut>(req: &'a Request, use_case: F) -> Response<Body>
where
    F: FnOnce(&'a Request, String) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>> + 'a,
{
    let id = request_id(req);
    let outcome = use_case(req, id.clone()).await;
    if let Err(e) = &outcome {
        tracing::info!(request_id = %id, status = e.status().as_u16(), error = %e, "request refused");
    }
    render(outcome, &id)
}
