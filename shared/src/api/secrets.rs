//! Managed secrets: create, list, get, replace the targets (PATCH), delete. Any key of the
//! tenant reads; only admin keys write. A secret is a vault path and a list of targets: the
//! server never sees the value, so there is no field that could carry one (bodies refuse unknown
//! fields).
//!
//! Every request reads the session with the addressed secret (one `BatchGetItem`; a create reads
//! its name's item), decides, and makes at most one conditional write (a create and a delete
//! are one transaction with the tenant's secret counter). Targets must name clusters of the
//! tenant: the tenant item read with the session lists them (its cluster slots), so that check
//! costs no read. Each write is a new generation the sync workflow picks up from the stream.

use super::{
    session::{Session, Target},
    UseCase,
};
use crate::{
    config::ApiContext,
    domain::{
        apikey::Role,
        etag::Precondition,
        names::SecretName,
        now_rfc3339,
        page::encode_continue,
        secret::{NewSecret, Secret, SecretPhase, SyncTargets, MAX_SECRETS_PER_TENANT},
        tenant_phase::TenantPhase,
    },
    http::{ApiError, Caller, Code, Parsed, Reply},
    store::{
        secrets::{SecretCreate, SecretDelete, StoredSecret},
        Outcome,
    },
};
use lambda_http::http::StatusCode;
use serde_json::json;

/// Attempts of a write when another write lands in between and the caller named no version.
const MAX_ATTEMPTS: usize = 5;

/// `POST /tenants/{tenant}/secrets`.
#[derive(Debug)]
pub struct CreateSecret {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The validated body.
    pub secret: Parsed<NewSecret>,
}

/// `GET /tenants/{tenant}/secrets`.
#[derive(Debug)]
pub struct ListSecrets {
    /// Who is calling.
    pub caller: Caller,
    /// `limit` (1–1000).
    pub limit: Parsed<Option<usize>>,
    /// `continue`: the name the previous page ended with.
    pub after: Parsed<Option<SecretName>>,
}

/// `GET /tenants/{tenant}/secrets/{name}`.
#[derive(Debug)]
pub struct GetSecret {
    /// Who is calling.
    pub caller: Caller,
    /// The secret.
    pub name: Parsed<SecretName>,
    /// `If-None-Match`.
    pub if_none_match: Parsed<Option<Precondition>>,
}

/// A validated PATCH: the whole new target list, and the fixed fields as sent (allowed only
/// when equal to the current values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPatch {
    /// The new targets.
    pub sync: SyncTargets,
    /// `name`, if sent.
    pub name: Option<String>,
    /// `secretPath`, if sent.
    pub secret_path: Option<String>,
}

/// `PATCH /tenants/{tenant}/secrets/{name}`: replaces the whole `sync` list.
#[derive(Debug)]
pub struct UpdateSecret {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The secret.
    pub name: Parsed<SecretName>,
    /// `If-Match`.
    pub if_match: Parsed<Option<Precondition>>,
    /// The validated body.
    pub patch: Parsed<SecretPatch>,
}

/// `DELETE /tenants/{tenant}/secrets/{name}`: removes the synced copies (the vault value is not
/// ours to touch), then the secret.
#[derive(Debug)]
pub struct DeleteSecret {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The secret.
    pub name: Parsed<SecretName>,
    /// `If-Match`.
    pub if_match: Parsed<Option<Precondition>>,
}

fn again<T>(parsed: &Parsed<T>) -> Result<&T, ApiError> {
    parsed.as_ref().map_err(ApiError::clone)
}

fn names_tags(if_match: Option<&Precondition>) -> bool {
    matches!(if_match, Some(Precondition::Tags(_)))
}

fn not_found() -> ApiError {
    ApiError::not_found("Secret not found")
}

fn kept_changing() -> ApiError {
    ApiError::conflict("The secret kept changing; retry")
}

fn reply(status: StatusCode, s: &Secret) -> Reply {
    Reply::with_status(status, s.to_json()).etag(s.resource_version.etag())
}

/// The live secret of the session, if any.
fn live(stored: Option<StoredSecret>) -> Option<Secret> {
    stored.and_then(StoredSecret::live)
}

/// A write also needs the tenant active (409 while it is being deleted).
fn writable(session: &Session) -> Result<(), ApiError> {
    let tenant = session
        .tenant_record
        .as_ref()
        .ok_or_else(ApiError::not_a_member)?;
    if tenant.phase == TenantPhase::Terminating {
        return Err(ApiError::conflict(
            "The tenant is being deleted: its secrets cannot change",
        ));
    }
    Ok(())
}

/// Every target names a cluster of the tenant (one holding a slot: live, or still tearing down).
fn check_clusters(session: &Session, sync: &SyncTargets) -> Result<(), ApiError> {
    let clusters = session
        .tenant_record
        .as_ref()
        .map(|t| t.members.as_slice())
        .unwrap_or_default();
    for (i, t) in sync.0.iter().enumerate() {
        if !clusters.contains(&t.cluster) {
            return Err(ApiError::invalid(format!(
                "sync[{i}].cluster: cluster {} does not exist in this tenant",
                t.cluster
            ))
            .at(format!("sync[{i}].cluster")));
        }
    }
    Ok(())
}

fn full() -> ApiError {
    ApiError::new(
        Code::QuotaExceeded,
        format!("Secret limit reached: a tenant may have {MAX_SECRETS_PER_TENANT} secrets"),
    )
}

impl UseCase for CreateSecret {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for _ in 0..MAX_ATTEMPTS {
            let target = Target::Secret(self.secret.as_ref().ok().map(|s| &s.name));
            let mut session = Session::open(ctx, &self.caller, Role::Admin, target).await?;
            let new = again(&self.secret)?;
            check_clusters(&session, &new.sync)?;
            writable(&session)?;
            let tombstone = match session.take_secret()? {
                Some(StoredSecret::Live(_)) => {
                    return Err(
                        ApiError::new(Code::AlreadyExists, "Secret name already exists").at("name"),
                    )
                }
                Some(StoredSecret::Tombstone(v)) => Some(v),
                None => None,
            };
            let version = crate::domain::etag::ResourceVersion(tombstone.map_or(0, |v| v.0) + 1);
            let secret = Secret::new(new.clone(), version, &now_rfc3339());
            let created = ctx
                .store
                .secrets()
                .create(
                    &session.tenant,
                    &secret,
                    tombstone,
                    MAX_SECRETS_PER_TENANT,
                    &self.token,
                )
                .await?;
            match created {
                SecretCreate::Written => {
                    return session
                        .close(ctx, reply(StatusCode::CREATED, &secret))
                        .await
                }
                SecretCreate::Exists => {
                    return Err(
                        ApiError::new(Code::AlreadyExists, "Secret name already exists").at("name"),
                    )
                }
                SecretCreate::Full => return Err(full()),
                SecretCreate::Moved => continue,
            }
        }
        Err(kept_changing())
    }
}

impl UseCase for ListSecrets {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = Session::open(ctx, &self.caller, Role::Readonly, Target::Nothing).await?;
        let limit = self.limit?;
        let after = self.after?;
        let (secrets, more) = ctx
            .store
            .secrets()
            .list(
                session.tenant.as_str(),
                limit,
                after.as_ref().map(SecretName::as_str),
            )
            .await?;
        let mut body = json!({ "items": secrets.iter().map(Secret::to_json).collect::<Vec<_>>() });
        if let (true, Some(last)) = (more, secrets.last()) {
            body["continue"] = json!(encode_continue(&last.name));
        }
        session.close(ctx, Reply::ok(body)).await
    }
}

impl UseCase for GetSecret {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let target = Target::Secret(self.name.as_ref().ok());
        let mut session = Session::open(ctx, &self.caller, Role::Readonly, target).await?;
        self.name?;
        let if_none_match = self.if_none_match?;
        let secret = live(session.take_secret()?).ok_or_else(not_found)?;
        if if_none_match.is_some_and(|p| p.matches_weak(secret.resource_version)) {
            let not_modified =
                Reply::empty(StatusCode::NOT_MODIFIED).etag(secret.resource_version.etag());
            return session.close(ctx, not_modified).await;
        }
        session.close(ctx, reply(StatusCode::OK, &secret)).await
    }
}

impl UseCase for UpdateSecret {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for _ in 0..MAX_ATTEMPTS {
            let target = Target::Secret(self.name.as_ref().ok());
            let mut session = Session::open(ctx, &self.caller, Role::Admin, target).await?;
            again(&self.name)?;
            let patch = again(&self.patch)?;
            let if_match = again(&self.if_match)?.as_ref();
            check_clusters(&session, &patch.sync)?;
            let current = live(session.take_secret()?).ok_or_else(not_found)?;
            if patch.name.as_ref().is_some_and(|n| *n != current.name) {
                return Err(ApiError::invalid("name cannot be changed").at("name"));
            }
            if patch
                .secret_path
                .as_ref()
                .is_some_and(|p| *p != current.secret_path)
            {
                return Err(ApiError::invalid(
                    "secretPath cannot be changed: create another secret",
                )
                .at("secretPath"));
            }
            writable(&session)?;
            if current.phase == SecretPhase::Deleting {
                return Err(ApiError::conflict(format!(
                    "Secret {} is being deleted",
                    current.name
                )));
            }
            if if_match.is_some_and(|p| !p.matches_strong(current.resource_version)) {
                return Err(ApiError::precondition_failed());
            }
            if patch.sync.0 == current.sync {
                return session.close(ctx, reply(StatusCode::OK, &current)).await;
            }
            let next = current.with_sync(patch.sync.clone(), &now_rfc3339());
            let written = ctx
                .store
                .secrets()
                .replace_sync(
                    &session.tenant,
                    &next,
                    current.resource_version,
                    &self.token,
                )
                .await?;
            match written {
                Outcome::Written(s) | Outcome::AlreadyOurs(s) => {
                    return session.close(ctx, reply(StatusCode::OK, &s)).await
                }
                Outcome::Absent => return Err(not_found()),
                Outcome::Conflict(_) if names_tags(if_match) => {
                    return Err(ApiError::precondition_failed())
                }
                Outcome::Conflict(_) => continue,
            }
        }
        Err(kept_changing())
    }
}

impl UseCase for DeleteSecret {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let deleted = || Reply::empty(StatusCode::NO_CONTENT);
        for _ in 0..MAX_ATTEMPTS {
            let target = Target::Secret(self.name.as_ref().ok());
            let mut session = Session::open(ctx, &self.caller, Role::Admin, target).await?;
            again(&self.name)?;
            let if_match = again(&self.if_match)?.as_ref();
            let current = live(session.take_secret()?).ok_or_else(not_found)?;
            // Already deleting: the DELETE is in effect (a retry whose reply was lost must not
            // see 412).
            if current.phase == SecretPhase::Deleting {
                return session.close(ctx, deleted()).await;
            }
            writable(&session)?;
            if if_match.is_some_and(|p| !p.matches_strong(current.resource_version)) {
                return Err(ApiError::precondition_failed());
            }
            let next = current.deleting(&now_rfc3339());
            let written = ctx
                .store
                .secrets()
                .mark_deleting(
                    &session.tenant,
                    &next,
                    current.resource_version,
                    &self.token,
                )
                .await?;
            match written {
                SecretDelete::Written => return session.close(ctx, deleted()).await,
                SecretDelete::Changed(Some(s)) if s.phase == SecretPhase::Deleting => {
                    return session.close(ctx, deleted()).await
                }
                SecretDelete::Changed(None) => return Err(not_found()),
                SecretDelete::Changed(_) if names_tags(if_match) => {
                    return Err(ApiError::precondition_failed())
                }
                SecretDelete::Changed(_) => continue,
            }
        }
        Err(kept_changing())
    }
}
