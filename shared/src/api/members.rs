//! The member routes: list (readonly), add, change a role, remove (admin). `If-Match` takes the
//! TENANT's ETag (`"<resourceVersion>"` of the tenant), as Kupe documents; every write bumps it
//! and answers the new one in `ETag`.
//!
//! Each write reads the session (key + tenant) and the tenant's members, decides, and makes one
//! transaction conditioned on the tenant still being at the version it read. That condition is
//! what keeps the last-admin rule under concurrency: two requests demoting the last two admins
//! each count two, but only the first transaction lands; the second fails its condition,
//! re-reads, counts one admin and is refused (400). A caller that named a version gets 412
//! instead of that retry.

use super::{
    session::{Session, Target},
    UseCase,
};
use crate::{
    config::ApiContext,
    domain::{
        apikey::Role,
        etag::{Precondition, ResourceVersion},
        member::{Email, Member},
        now_rfc3339,
        tenant_phase::TenantPhase,
    },
    http::{ApiError, Caller, Code, Parsed, Reply},
    store::{members::MemberWrite, TenantRecord},
};
use lambda_http::http::StatusCode;
use serde_json::json;

/// Attempts of a write when another member write lands in between and the caller did not name
/// a version.
const MAX_ATTEMPTS: usize = 5;

/// A validated new member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    /// Email.
    pub email: Email,
    /// Role.
    pub role: Role,
}

/// `GET /tenants/{tenant}/members`.
#[derive(Debug)]
pub struct ListMembers {
    /// Who is calling.
    pub caller: Caller,
}

/// `POST /tenants/{tenant}/members`.
#[derive(Debug)]
pub struct AddMember {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// `If-Match` (the tenant's ETag).
    pub if_match: Parsed<Option<Precondition>>,
    /// The validated body.
    pub member: Parsed<NewMember>,
}

/// `PATCH /tenants/{tenant}/members/{email}`.
#[derive(Debug)]
pub struct UpdateMember {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The member (the path's email, percent-decoded).
    pub email: Parsed<Email>,
    /// `If-Match` (the tenant's ETag).
    pub if_match: Parsed<Option<Precondition>>,
    /// The new role.
    pub role: Parsed<Role>,
}

/// `DELETE /tenants/{tenant}/members/{email}`.
#[derive(Debug)]
pub struct RemoveMember {
    /// Who is calling.
    pub caller: Caller,
    /// This request's token.
    pub token: String,
    /// The member (the path's email, percent-decoded).
    pub email: Parsed<Email>,
    /// `If-Match` (the tenant's ETag).
    pub if_match: Parsed<Option<Precondition>>,
}

fn again<T>(parsed: &Parsed<T>) -> Result<&T, ApiError> {
    parsed.as_ref().map_err(ApiError::clone)
}

/// The tenant as read; a key whose tenant record is gone belongs to no tenant.
fn tenant(session: &Session) -> Result<&TenantRecord, ApiError> {
    session
        .tenant_record
        .as_ref()
        .ok_or_else(ApiError::not_a_member)
}

fn active(t: &TenantRecord) -> Result<(), ApiError> {
    if t.phase == TenantPhase::Terminating {
        return Err(terminating());
    }
    Ok(())
}

fn terminating() -> ApiError {
    ApiError::conflict("The tenant is being deleted: its members cannot change")
}

fn not_found() -> ApiError {
    ApiError::not_found("Member not found")
}

fn exists() -> ApiError {
    ApiError::new(Code::AlreadyExists, "Member already exists")
}

fn stale() -> ApiError {
    ApiError::new(
        Code::PreconditionFailed,
        "ETag mismatch: the tenant changed since you read it; re-fetch it and retry",
    )
}

fn last_admin(what: &str) -> ApiError {
    ApiError::invalid(format!(
        "Cannot {what} the last admin of the tenant: make another member admin first"
    ))
}

fn kept_changing() -> ApiError {
    ApiError::conflict("The tenant's members kept changing; retry")
}

/// The `If-Match` check against the tenant as read (412 before any write).
fn check_if_match(if_match: Option<&Precondition>, t: &TenantRecord) -> Result<(), ApiError> {
    if if_match.is_some_and(|p| !p.matches_strong(t.resource_version)) {
        return Err(stale());
    }
    Ok(())
}

/// Whether `If-Match` names tags: a lost race is then a 412, not a retry.
fn names_tags(if_match: Option<&Precondition>) -> bool {
    matches!(if_match, Some(Precondition::Tags(_)))
}

/// The answer to a write that landed: the member, and the tenant's new ETag.
fn written(status: StatusCode, body: serde_json::Value, read: ResourceVersion) -> Reply {
    let reply = match status {
        StatusCode::NO_CONTENT => Reply::empty(status),
        _ => Reply::with_status(status, body),
    };
    reply.etag(ResourceVersion(read.0 + 1).etag())
}

/// This attempt's token: each retry is a different transaction, so it gets its own (DynamoDB
/// refuses a reused `ClientRequestToken` with other parameters).
fn attempt_token(token: &str, attempt: usize) -> String {
    format!("{token}-{attempt}")
}

/// The member with `email`'s key among `members`.
fn find<'a>(members: &'a [Member], email: &Email) -> Option<&'a Member> {
    let key = email.key();
    members.iter().find(|m| m.email.to_lowercase() == key)
}

fn admins(members: &[Member]) -> usize {
    members.iter().filter(|m| m.role == Role::Admin).count()
}

/// Maps a write that did not land; `Ok(())` means retry.
fn refused(outcome: MemberWrite, if_match: Option<&Precondition>) -> Result<(), ApiError> {
    match outcome {
        MemberWrite::Written => Ok(()),
        MemberWrite::Exists => Err(exists()),
        MemberWrite::NotFound => Err(not_found()),
        MemberWrite::TenantTerminating => Err(terminating()),
        MemberWrite::TenantGone => Err(ApiError::not_a_member()),
        MemberWrite::TenantChanged if names_tags(if_match) => Err(stale()),
        MemberWrite::TenantChanged => Ok(()),
    }
}

impl UseCase for ListMembers {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        let session = Session::open(ctx, &self.caller, Role::Readonly, Target::Nothing).await?;
        let version = tenant(&session)?.resource_version;
        let members = ctx.store.members().list(&session.tenant).await?;
        let items: Vec<_> = members.iter().map(Member::to_json).collect();
        let reply = Reply::ok(json!({ "items": items })).etag(version.etag());
        session.close(ctx, reply).await
    }
}

impl UseCase for AddMember {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for attempt in 0..MAX_ATTEMPTS {
            let session = Session::open(ctx, &self.caller, Role::Admin, Target::Nothing).await?;
            let new = again(&self.member)?;
            let if_match = again(&self.if_match)?.as_ref();
            let t = tenant(&session)?;
            active(t)?;
            let members = ctx.store.members().list(&session.tenant).await?;
            if find(&members, &new.email).is_some() {
                return Err(exists());
            }
            check_if_match(if_match, t)?;
            let outcome = ctx
                .store
                .members()
                .add(
                    &session.tenant,
                    &new.email,
                    new.role,
                    &now_rfc3339(),
                    Some(t.resource_version),
                    &attempt_token(&self.token, attempt),
                )
                .await?;
            if outcome == MemberWrite::Written {
                let body = json!({ "email": new.email.as_str(), "role": new.role.as_str() });
                let reply = written(StatusCode::CREATED, body, t.resource_version);
                return session.close(ctx, reply).await;
            }
            refused(outcome, if_match)?;
        }
        Err(kept_changing())
    }
}

impl UseCase for UpdateMember {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for attempt in 0..MAX_ATTEMPTS {
            let session = Session::open(ctx, &self.caller, Role::Admin, Target::Nothing).await?;
            let email = again(&self.email)?;
            let role = *again(&self.role)?;
            let if_match = again(&self.if_match)?.as_ref();
            let t = tenant(&session)?;
            active(t)?;
            let members = ctx.store.members().list(&session.tenant).await?;
            let current = find(&members, email).ok_or_else(not_found)?;
            check_if_match(if_match, t)?;
            let body = json!({ "email": current.email, "role": role.as_str() });
            if current.role == role {
                let reply = Reply::ok(body).etag(t.resource_version.etag());
                return session.close(ctx, reply).await;
            }
            if current.role == Role::Admin && admins(&members) <= 1 {
                return Err(last_admin("demote"));
            }
            let outcome = ctx
                .store
                .members()
                .set_role(
                    &session.tenant,
                    &email.key(),
                    role,
                    Some(t.resource_version),
                    &attempt_token(&self.token, attempt),
                )
                .await?;
            if outcome == MemberWrite::Written {
                let reply = written(StatusCode::OK, body, t.resource_version);
                return session.close(ctx, reply).await;
            }
            refused(outcome, if_match)?;
        }
        Err(kept_changing())
    }
}

impl UseCase for RemoveMember {
    async fn run(self, ctx: &ApiContext) -> Result<Reply, ApiError> {
        for attempt in 0..MAX_ATTEMPTS {
            let session = Session::open(ctx, &self.caller, Role::Admin, Target::Nothing).await?;
            let email = again(&self.email)?;
            let if_match = again(&self.if_match)?.as_ref();
            let t = tenant(&session)?;
            active(t)?;
            let members = ctx.store.members().list(&session.tenant).await?;
            let current = find(&members, email).ok_or_else(not_found)?;
            check_if_match(if_match, t)?;
            if current.role == Role::Admin && admins(&members) <= 1 {
                return Err(last_admin("remove"));
            }
            let outcome = ctx
                .store
                .members()
                .remove(
                    &session.tenant,
                    &email.key(),
                    Some(t.resource_version),
                    &attempt_token(&self.token, attempt),
                )
                .await?;
            if outcome == MemberWrite::Written {
                let reply = written(StatusCode::NO_CONTENT, json!(null), t.resource_version);
                return session.close(ctx, reply).await;
            }
            refused(outcome, if_match)?;
        }
        Err(kept_changing())
    }
}
