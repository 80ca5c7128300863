//! The tenant's Alertmanager configuration: the assembled configuration (read only), receivers
//! (list, get, create-or-replace, delete), the route list and the global section (get,
//! replace). Any key of the tenant reads (credentials masked, see
//! [`crate::domain::alertmanager`]); only admin keys write.
//!
//! Every request reads the session and then the whole configuration (one `Query`), decides,
//! and makes at most one conditional write (a receiver create or delete is one transaction with
//! the routes item). A write that loses a race re-reads and decides again, unless the caller
//! named a version (`If-Match` with tags): then it is 412. So, of concurrent PUTs with one
//! ETag, exactly one lands; and a receiver delete and a route write that would leave a route
//! naming a missing receiver cannot both land.

use super::{
    session::{Session, Target},
    UseCase,
};
use crate::{
    config::ApiContext,
    domain::{
        alertmanager::{
            assemble, mask, to_yaml, unmask, GlobalSpec, ReceiverName, ReceiverSpec, RoutesSpec,
        },
        apikey::Role,
        etag::{Precondition, ResourceVersion},
        now_rfc3339,
        tenant_phase::TenantPhase,
    },
    http::{ApiError, Caller, Code, Parsed, Reply},
    store::{
        alertmanager::{AlertmanagerState, ReceiverCreate, ReceiverDelete, RoutesWrite},
        Outcome,
    },
};
use lambda_http::http::StatusCode;
use serde_json::{json, Map, Value};

/// Attempts of a write when another write lands in between and the caller named no version.
const MAX_ATTEMPTS: usize = 5;

/// `GET /tenants/{tenant}/alertmanager/config`.
#[derive(Debug)]
pub struct GetAlertmanagerConfig {
    /// Who is calling.
    pub caller: Caller,
    /// `If-None-Match`.
    pub if_none_match: Parsed<Option<Precondition>>,
}

/// `GET /tenants/{tenant}/alertmanager/receivers`.
#[derive(Debug)]
pub struct ListReceivers {
    /// Who is calling.
    pub caller: Caller,
    /// `If-None-Match`.
    pub if_none_match: Parsed<Option<Precondition>>,
}

/// `GET /tenants/{tenant}/alertmanager/receivers/{name}`.
#[derive(Debug)]
pub struct GetReceiver {
    /// Who is calling.
    pub caller: Caller,
    /// The receiver.
    pub name: Parsed<ReceiverName>,
    /// `If-None-Match`.
    pub if_none_match: Parsed<Option<Precondition>>,
}

/// `PUT /tenants/{tenant}/alertmanager/receivers/{name}`: create (201) or replace (200).
#[derive(Debug)]
pub struct PutReceiver {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The receiver.
    pub name: Parsed<ReceiverName>,
    /// `If-Match`: the receiver's ETag (`*`: it must exist).
    pub if_match: Parsed<Option<Precondition>>,
    /// The validated body.
    pub receiver: Parsed<ReceiverSpec>,
}

/// `DELETE /tenants/{tenant}/alertmanager/receivers/{name}`.
#[derive(Debug)]
pub struct DeleteReceiver {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The receiver.
    pub name: Parsed<ReceiverName>,
    /// `If-Match`: the receiver's ETag.
    pub if_match: Parsed<Option<Precondition>>,
}

/// `GET /tenants/{tenant}/alertmanager/routes`.
#[derive(Debug)]
pub struct GetAlertmanagerRoutes {
    /// Who is calling.
    pub caller: Caller,
    /// `If-None-Match`.
    pub if_none_match: Parsed<Option<Precondition>>,
}

/// `PUT /tenants/{tenant}/alertmanager/routes`: the whole list.
#[derive(Debug)]
pub struct PutAlertmanagerRoutes {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// `If-Match`: the route list's ETag.
    pub if_match: Parsed<Option<Precondition>>,
    /// The validated list.
    pub routes: Parsed<RoutesSpec>,
}

/// `GET /tenants/{tenant}/alertmanager/global`.
#[derive(Debug)]
pub struct GetAlertmanagerGlobal {
    /// Who is calling.
    pub caller: Caller,
    /// `If-None-Match`.
    pub if_none_match: Parsed<Option<Precondition>>,
}

/// `PUT /tenants/{tenant}/alertmanager/global`: the whole section (`{}` clears it).
#[derive(Debug)]
pub struct PutAlertmanagerGlobal {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// `If-Match`: the global section's ETag.
    pub if_match: Parsed<Option<Precondition>>,
    /// The validated section.
    pub global: Parsed<GlobalSpec>,
}

fn again<T>(parsed: &Parsed<T>) -> Result<&T, ApiError> {
    parsed.as_ref().map_err(ApiError::clone)
}

fn stale(what: &str) -> ApiError {
    ApiError::new(
        Code::PreconditionFailed,
        format!("ETag mismatch: the {what} changed since you read it; re-fetch it and retry"),
    )
}

fn kept_changing() -> ApiError {
    ApiError::conflict("The Alertmanager configuration kept changing; retry")
}

fn receiver_not_found() -> ApiError {
    ApiError::not_found("Receiver not found")
}

/// Whether `If-Match` names tags: a lost race is then a 412, not a retry.
fn names_tags(if_match: Option<&Precondition>) -> bool {
    matches!(if_match, Some(Precondition::Tags(_)))
}

fn check_if_match(
    if_match: Option<&Precondition>,
    current: ResourceVersion,
    what: &str,
) -> Result<(), ApiError> {
    if if_match.is_some_and(|p| !p.matches_strong(current)) {
        return Err(stale(what));
    }
    Ok(())
}

/// Opens the session; a write also needs the tenant active (409 while it is being deleted).
async fn open(ctx: &ApiContext, caller: &Caller, need: Role) -> Result<Session, ApiError> {
    let session = Session::open(ctx, caller, need, Target::Nothing).await?;
    let tenant = session
        .tenant_record
        .as_ref()
        .ok_or_else(ApiError::not_a_member)?;
    if need == Role::Admin && tenant.phase == TenantPhase::Terminating {
        return Err(ApiError::conflict(
            "The tenant is being deleted: its Alertmanager configuration cannot change",
        ));
    }
    Ok(session)
}

async fn load(ctx: &ApiContext, session: &Session) -> Result<AlertmanagerState, ApiError> {
    Ok(ctx.store.alertmanager().load(&session.tenant).await?)
}

/// A GET's answer: 304 when `If-None-Match` matches, else 200 with the ETag.
async fn read_reply(
    ctx: &ApiContext,
    session: &Session,
    if_none_match: Option<&Precondition>,
    version: ResourceVersion,
    body: impl FnOnce() -> Value,
) -> Result<Reply, ApiError> {
    let reply = if if_none_match.is_some_and(|p| p.matches_weak(version)) {
        Reply::empty(StatusCode::NOT_MODIFIED).etag(version.etag())
    } else {
        Reply::ok(body()).etag(version.etag())
    };
    session.close(ctx, reply).await
}

/// A receiver as answered: its name first, then its body with credentials masked.
fn receiver_json(name: &str, body: &Value) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), Value::String(name.to_string()));
    if let Value::Object(fields) = mask(body) {
        out.extend(fields);
    }
    Value::Object(out)
}

/// This attempt's token: each retry is a different write (a transaction refuses a reused
/// `ClientRequestToken` with other parameters).
fn attempt_token(token: &str, attempt: usize) -> String {
    format!("{token}-{attempt}")
}

impl UseCase for GetAlertmanagerConfig {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = open(ctx, &self.caller, Role::Readonly).await?;
        let if_none_match = self.if_none_match?;
        let state = load(ctx, &session).await?;
        let receivers: Vec<(String, Value)> = state
            .live()
            .map(|(name, _, body)| (name.clone(), mask(body)))
            .collect();
        let config = assemble(&mask(&state.global), &receivers, &state.routes);
        read_reply(
            ctx,
            &session,
            if_none_match.as_ref(),
            state.config_version(),
            || {
                let mut body = config.clone();
                if let Value::Object(map) = &mut body {
                    map.insert("yaml".into(), Value::String(to_yaml(&config)));
                }
                body
            },
        )
        .await
    }
}

impl UseCase for ListReceivers {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = open(ctx, &self.caller, Role::Readonly).await?;
        let if_none_match = self.if_none_match?;
        let state = load(ctx, &session).await?;
        let items: Vec<Value> = state
            .live()
            .map(|(name, _, body)| receiver_json(name, body))
            .collect();
        read_reply(
            ctx,
            &session,
            if_none_match.as_ref(),
            state.receivers_version(),
            || json!({ "items": items }),
        )
        .await
    }
}

impl UseCase for GetReceiver {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = open(ctx, &self.caller, Role::Readonly).await?;
        let name = self.name?;
        let if_none_match = self.if_none_match?;
        let state = load(ctx, &session).await?;
        let (version, body) = state
            .live()
            .find(|(n, _, _)| n.as_str() == name.as_str())
            .map(|(_, v, b)| (v, b.clone()))
            .ok_or_else(receiver_not_found)?;
        read_reply(ctx, &session, if_none_match.as_ref(), version, || {
            receiver_json(name.as_str(), &body)
        })
        .await
    }
}

impl UseCase for PutReceiver {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for attempt in 0..MAX_ATTEMPTS {
            let session = open(ctx, &self.caller, Role::Admin).await?;
            let name = again(&self.name)?;
            let spec = again(&self.receiver)?;
            let if_match = again(&self.if_match)?.as_ref();
            let state = load(ctx, &session).await?;
            let stored = state.receivers.get(name.as_str());
            let live = stored.and_then(|r| r.body.as_ref().map(|b| (r.resource_version, b)));
            let mut body = spec.0.clone();
            let token = attempt_token(&self.token, attempt);
            let now = now_rfc3339();
            let Some((version, current)) = live else {
                // A create: If-Match (even `*`) names a receiver that is not there.
                if if_match.is_some() {
                    return Err(stale("receiver"));
                }
                unmask(&mut body, None, "")?;
                let plan = session.plan()?;
                let max = plan.observability.max_receivers;
                if state.live().count() >= max as usize {
                    return Err(full(plan.name, max));
                }
                let tombstone = stored.map(|r| r.resource_version);
                let (outcome, version) = ctx
                    .store
                    .alertmanager()
                    .create_receiver(
                        &session.tenant,
                        name.as_str(),
                        &body,
                        tombstone,
                        max,
                        &now,
                        &token,
                    )
                    .await?;
                match outcome {
                    ReceiverCreate::Written => {
                        let reply = Reply::with_status(
                            StatusCode::CREATED,
                            receiver_json(name.as_str(), &body),
                        )
                        .etag(version.etag());
                        return session.close(ctx, reply).await;
                    }
                    ReceiverCreate::Full => return Err(full(plan.name, max)),
                    ReceiverCreate::Taken => continue,
                }
            };
            check_if_match(if_match, version, "receiver")?;
            unmask(&mut body, Some(current), "")?;
            if &body == current {
                let reply = Reply::ok(receiver_json(name.as_str(), &body)).etag(version.etag());
                return session.close(ctx, reply).await;
            }
            let outcome = ctx
                .store
                .alertmanager()
                .replace_receiver(&session.tenant, name.as_str(), &body, version, &now, &token)
                .await?;
            match outcome {
                Outcome::Written(v) | Outcome::AlreadyOurs(v) => {
                    let reply = Reply::ok(receiver_json(name.as_str(), &body)).etag(v.etag());
                    return session.close(ctx, reply).await;
                }
                Outcome::Conflict(_) | Outcome::Absent if names_tags(if_match) => {
                    return Err(stale("receiver"))
                }
                Outcome::Conflict(_) | Outcome::Absent => continue,
            }
        }
        Err(kept_changing())
    }
}

fn full(plan: &str, max: u32) -> ApiError {
    ApiError::new(
        Code::QuotaExceeded,
        format!("Receiver limit reached: the {plan} plan allows {max} receivers"),
    )
    .at("receivers")
}

impl UseCase for DeleteReceiver {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for attempt in 0..MAX_ATTEMPTS {
            let session = open(ctx, &self.caller, Role::Admin).await?;
            let name = again(&self.name)?;
            let if_match = again(&self.if_match)?.as_ref();
            let state = load(ctx, &session).await?;
            let version = state
                .live()
                .find(|(n, _, _)| n.as_str() == name.as_str())
                .map(|(_, v, _)| v)
                .ok_or_else(receiver_not_found)?;
            if RoutesSpec::receivers_of(&state.routes).contains(name.as_str()) {
                return Err(ApiError::conflict(format!(
                    "Receiver {} is used by a route: change the routes first",
                    name.as_str()
                ))
                .at("name"));
            }
            check_if_match(if_match, version, "receiver")?;
            let outcome = ctx
                .store
                .alertmanager()
                .delete_receiver(
                    &session.tenant,
                    name.as_str(),
                    version,
                    state.routes_version,
                    &now_rfc3339(),
                    &attempt_token(&self.token, attempt),
                )
                .await?;
            match outcome {
                ReceiverDelete::Written => {
                    return session
                        .close(ctx, Reply::empty(StatusCode::NO_CONTENT))
                        .await
                }
                ReceiverDelete::ReceiverChanged if names_tags(if_match) => {
                    return Err(stale("receiver"))
                }
                ReceiverDelete::ReceiverChanged | ReceiverDelete::RoutesChanged => continue,
            }
        }
        Err(kept_changing())
    }
}

impl UseCase for GetAlertmanagerRoutes {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = open(ctx, &self.caller, Role::Readonly).await?;
        let if_none_match = self.if_none_match?;
        let state = load(ctx, &session).await?;
        read_reply(
            ctx,
            &session,
            if_none_match.as_ref(),
            state.routes_version,
            || json!({ "items": state.routes }),
        )
        .await
    }
}

impl UseCase for PutAlertmanagerRoutes {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for attempt in 0..MAX_ATTEMPTS {
            let session = open(ctx, &self.caller, Role::Admin).await?;
            let spec = again(&self.routes)?;
            let if_match = again(&self.if_match)?.as_ref();
            let state = load(ctx, &session).await?;
            let missing: Vec<&str> = spec
                .receivers
                .iter()
                .filter(|r| !state.live().any(|(n, _, _)| n == *r))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(ApiError::invalid(format!(
                    "routes name receivers that do not exist: {}",
                    missing.join(", ")
                ))
                .at("items"));
            }
            check_if_match(if_match, state.routes_version, "route list")?;
            if spec.items == state.routes && state.routes_version.0 > 0 {
                let reply =
                    Reply::ok(json!({ "items": spec.items })).etag(state.routes_version.etag());
                return session.close(ctx, reply).await;
            }
            let outcome = ctx
                .store
                .alertmanager()
                .put_routes(
                    &session.tenant,
                    &spec.items,
                    state.routes_version,
                    state.receiver_deletions,
                    &now_rfc3339(),
                    &attempt_token(&self.token, attempt),
                )
                .await?;
            match outcome {
                RoutesWrite::Written(v) => {
                    let reply = Reply::ok(json!({ "items": spec.items })).etag(v.etag());
                    return session.close(ctx, reply).await;
                }
                RoutesWrite::RoutesChanged if names_tags(if_match) => {
                    return Err(stale("route list"))
                }
                RoutesWrite::RoutesChanged | RoutesWrite::ReceiverDeleted => continue,
            }
        }
        Err(kept_changing())
    }
}

impl UseCase for GetAlertmanagerGlobal {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = open(ctx, &self.caller, Role::Readonly).await?;
        let if_none_match = self.if_none_match?;
        let state = load(ctx, &session).await?;
        read_reply(
            ctx,
            &session,
            if_none_match.as_ref(),
            state.global_version,
            || mask(&state.global),
        )
        .await
    }
}

impl UseCase for PutAlertmanagerGlobal {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for attempt in 0..MAX_ATTEMPTS {
            let session = open(ctx, &self.caller, Role::Admin).await?;
            let spec = again(&self.global)?;
            let if_match = again(&self.if_match)?.as_ref();
            let state = load(ctx, &session).await?;
            check_if_match(if_match, state.global_version, "global section")?;
            let mut body = spec.0.clone();
            unmask(&mut body, Some(&state.global), "")?;
            if body == state.global && state.global_version.0 > 0 {
                let reply = Reply::ok(mask(&body)).etag(state.global_version.etag());
                return session.close(ctx, reply).await;
            }
            let outcome = ctx
                .store
                .alertmanager()
                .put_global(
                    &session.tenant,
                    &body,
                    state.global_version,
                    &now_rfc3339(),
                    &attempt_token(&self.token, attempt),
                )
                .await?;
            match outcome {
                Outcome::Written(v) | Outcome::AlreadyOurs(v) => {
                    let reply = Reply::ok(mask(&body)).etag(v.etag());
                    return session.close(ctx, reply).await;
                }
                Outcome::Conflict(_) | Outcome::Absent if names_tags(if_match) => {
                    return Err(stale("global section"))
                }
                Outcome::Conflict(_) | Outcome::Absent => continue,
            }
        }
        Err(kept_changing())
    }
}
