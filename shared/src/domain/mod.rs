//! Domain types and rules. Every value that arrives from a request is parsed into one of these
//! types once, at the edge; nothing downstream sees a raw string.

pub mod apikey;
pub mod cluster;
pub mod etag;
pub mod names;
pub mod phase;
pub mod plan;
pub mod quantity;
pub mod resources;
pub mod version;

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
