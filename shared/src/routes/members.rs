//! The edge of the member routes: the bodies (`{email, role}` to add, `{role}` to change), and
//! the `{email}` of the path (URL-encoded as `dev%40acme.com`, or with a raw `@`; an email never
//! contains `%`, so it cannot be read two ways).

use super::{FromIncoming, Route};
use crate::{
    api::members::{AddMember, ListMembers, NewMember, RemoveMember, UpdateMember},
    domain::{apikey::Role, member::Email, Invalid},
    http::{ApiError, Incoming, Media, Parsed},
};
use serde::Deserialize;

/// The body of a new member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMemberBody {
    email: Option<String>,
    role: Option<String>,
}

/// The body of a role change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberPatchBody {
    role: Option<String>,
}

fn role(raw: Option<String>) -> Result<Role, Invalid> {
    let raw = raw.ok_or_else(|| Invalid::at("role", "role is required"))?;
    Role::parse(&raw).ok_or_else(|| Invalid::at("role", "role must be one of: admin, readonly"))
}

impl TryFrom<NewMemberBody> for NewMember {
    type Error = Invalid;

    fn try_from(b: NewMemberBody) -> Result<Self, Invalid> {
        let email = b
            .email
            .ok_or_else(|| Invalid::at("email", "email is required"))?;
        Ok(NewMember {
            email: Email::parse(&email).map_err(Invalid::of("email"))?,
            role: role(b.role)?,
        })
    }
}

/// The `{email}` of the path. Path parameters arrive percent-decoded (API Gateway decodes them;
/// the edge does for events without `pathParameters`), so `dev%40acme.com` arrives as
/// `dev@acme.com`; a `%` left after that decoding makes the email invalid.
fn path_email(incoming: &Incoming) -> Parsed<Email> {
    Email::parse(incoming.param("email")).map_err(|e| ApiError::invalid(e.to_string()).at("email"))
}

impl FromIncoming for ListMembers {
    const ROUTE: Route = Route::ListMembers;

    fn from_incoming(incoming: Incoming) -> Self {
        ListMembers {
            caller: incoming.caller(),
        }
    }
}

impl FromIncoming for AddMember {
    const ROUTE: Route = Route::AddMember;

    fn from_incoming(incoming: Incoming) -> Self {
        AddMember {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            if_match: incoming.if_match(),
            member: incoming
                .json::<NewMemberBody>(Media::Json)
                .and_then(|b| Ok(NewMember::try_from(b)?)),
        }
    }
}

impl FromIncoming for UpdateMember {
    const ROUTE: Route = Route::UpdateMember;

    fn from_incoming(incoming: Incoming) -> Self {
        UpdateMember {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            email: path_email(&incoming),
            if_match: incoming.if_match(),
            role: incoming
                .json::<MemberPatchBody>(Media::MergePatch)
                .and_then(|b| Ok(role(b.role)?)),
        }
    }
}

impl FromIncoming for RemoveMember {
    const ROUTE: Route = Route::RemoveMember;

    fn from_incoming(incoming: Incoming) -> Self {
        RemoveMember {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            email: path_email(&incoming),
            if_match: incoming.if_match(),
        }
    }
}
