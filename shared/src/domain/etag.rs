//! `resourceVersion`, the `ETag` made from it, and the `If-Match` / `If-None-Match` preconditions.
//!
//! The ETag is strong and quoted: `"<resourceVersion>"`. `If-Match` uses the strong comparison of
//! RFC 9110 §13.1.1 (a `W/` tag never matches); `If-None-Match` uses the weak comparison (§13.1.2).

use std::fmt;

/// An opaque, ever-increasing version of one cluster name. It changes on every write and, because
/// a deleted cluster leaves a tombstone that keeps the counter, never repeats for a name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceVersion(pub u64);

impl ResourceVersion {
    /// The `ETag` header value: the version, quoted.
    pub fn etag(self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for ResourceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A parsed precondition header (`If-Match` or `If-None-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `*`: any current representation.
    Any,
    /// A list of tags.
    Tags(Vec<EntityTagView>),
}

/// A tag as the caller sent it (public view for tests and messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTagView {
    /// Whether the tag was `W/`-prefixed.
    pub weak: bool,
    /// The opaque part, without quotes.
    pub opaque: String,
}

/// A precondition header that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {header} header: expected \"*\" or a comma-separated list of entity tags")]
pub struct PreconditionError {
    header: &'static str,
}

impl Precondition {
    /// Parses a header value. Accepts `*`, quoted tags (`"12"`), weak tags (`W/"12"`) and, since
    /// some clients send them, bare tags (`12`), comma separated.
    ///
    /// # Errors
    /// [`PreconditionError`] for an empty list, an unterminated quote or stray characters.
    pub fn parse(header: &'static str, value: &str) -> Result<Self, PreconditionError> {
        let err = || PreconditionError { header };
        let value = value.trim();
        if value == "*" {
            return Ok(Precondition::Any);
        }
        let mut tags = Vec::new();
        for part in value.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (weak, rest) = match part.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, part),
            };
            let opaque = if let Some(inner) = rest.strip_prefix('"') {
                inner.strip_suffix('"').ok_or_else(err)?
            } else {
                rest
            };
            if opaque.is_empty()
                || opaque.contains('"')
                || opaque.bytes().any(|b| b <= b' ' || b == 0x7f)
            {
                return Err(err());
            }
            tags.push(EntityTagView {
                weak,
                opaque: opaque.to_string(),
            });
        }
        if tags.is_empty() {
            return Err(err());
        }
        Ok(Precondition::Tags(tags))
    }

    /// `If-Match` semantics: strong comparison against the current version.
    pub fn matches_strong(&self, current: ResourceVersion) -> bool {
        let current = current.to_string();
        match self {
            Precondition::Any => true,
            Precondition::Tags(tags) => tags.iter().any(|t| !t.weak && t.opaque == current),
        }
    }

    /// `If-None-Match` semantics: weak comparison against the current version.
    pub fn matches_weak(&self, current: ResourceVersion) -> bool {
        let current = current.to_string();
        match self {
            Precondition::Any => true,
            Precondition::Tags(tags) => tags.iter().any(|t| t.opaque == current),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rv(n: u64) -> ResourceVersion {
        ResourceVersion(n)
    }

    #[test]
    fn the_etag_is_the_quoted_resource_version() {
        assert_eq!(rv(294810).etag(), "\"294810\"");
    }

    #[test]
    fn if_match_accepts_quoted_bare_lists_and_star() {
        let p = |s| Precondition::parse("If-Match", s).unwrap();
        assert!(p("\"7\"").matches_strong(rv(7)));
        assert!(p("7").matches_strong(rv(7)));
        assert!(p("\"1\", \"7\"").matches_strong(rv(7)));
        assert!(p("*").matches_strong(rv(7)));
        assert!(!p("\"8\"").matches_strong(rv(7)));
    }

    #[test]
    fn a_weak_tag_never_matches_if_match_but_does_match_if_none_match() {
        let p = Precondition::parse("If-Match", "W/\"7\"").unwrap();
        assert!(!p.matches_strong(rv(7)));
        assert!(p.matches_weak(rv(7)));
    }

    #[test]
    fn malformed_preconditions_are_refused() {
        for bad in ["", ",", "\"7", "\"7\"\"", "W/", "\"a b\"", "\"\""] {
            assert!(Precondition::parse("If-Match", bad).is_err(), "{bad:?}");
        }
    }
}
