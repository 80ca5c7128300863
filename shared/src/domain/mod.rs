//! Domain types and rules. Every value that arrives from a request is parsed into one of these
//! types once, at the edge; nothing downstream sees a raw string.

pub mod addons;
pub mod alertmanager;
pub mod apikey;
pub mod cluster;
pub mod etag;
pub mod failure;
pub mod labels;
pub mod member;
pub mod names;
pub mod network;
pub mod operation;
pub mod page;
pub mod phase;
pub mod plan;
pub mod pool;
pub mod quantity;
pub mod resources;
pub mod secret;
pub mod tenant_phase;
pub mod version;

/// A value that breaks a rule: the message says which, and names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The field at fault, as a JSON path (`resources.cpu`), when one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    /// A rule broken by `field`.
    pub fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// Turns any error about `field` into an [`Invalid`] with that error's message.
    pub fn of<E: std::fmt::Display>(field: &str) -> impl Fn(E) -> Invalid + '_ {
        move |e| Invalid::at(field, e.to_string())
    }
}

/// Current UTC time formatted as RFC 3339 with second precision (`2026-02-01T14:00:00Z`).
pub fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

/// Formats a timestamp as RFC 3339 in UTC with second precision.
pub fn format_rfc3339(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}
