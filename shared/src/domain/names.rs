//! Names: cluster names and tenant names are RFC 1123 labels of 2–63 characters; display names are
//! 1–128 characters without control characters.

use std::fmt;

/// Why a name was refused. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct NameError {
    field: &'static str,
    problem: String,
}

fn check_label(field: &'static str, s: &str) -> Result<(), NameError> {
    let bad = |problem: &str| NameError {
        field,
        problem: problem.to_string(),
    };
    if s.len() < 2 || s.len() > 63 {
        return Err(bad("must be 2-63 characters"));
    }
    let bytes = s.as_bytes();
    let ok_inner = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !ok_inner || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad(
            "must be a lowercase RFC 1123 label: lowercase letters, digits and '-', \
             starting and ending with a letter or digit",
        ));
    }
    Ok(())
}

macro_rules! label_type {
    ($(#[$doc:meta])* $ty:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// Parses and validates the label.
            ///
            /// # Errors
            /// A [`NameError`] naming the field when the value is not a 2–63 character RFC 1123 label.
            pub fn parse(s: &str) -> Result<Self, NameError> {
                check_label($field, s)?;
                Ok(Self(s.to_string()))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

label_type!(
    /// A cluster name, unique within its tenant.
    ClusterName,
    "name"
);
label_type!(
    /// A tenant name, the `{tenant}` of every path.
    TenantName,
    "tenant"
);
label_type!(
    /// A managed secret's name, unique within its tenant (Kupe: "DNS-safe, 2-63 chars").
    SecretName,
    "name"
);

/// What is wrong with a Kubernetes namespace name, if anything: it must be an RFC 1123 label of
/// 1–63 characters (Kubernetes allows one character, unlike our resource names). The caller
/// names the field (`sync[0].namespace`).
pub fn namespace_problem(s: &str) -> Option<&'static str> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > 63 {
        return Some("must be 1-63 characters");
    }
    let ok = bytes.iter().all(|b| alnum(*b) || *b == b'-')
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1]);
    (!ok).then_some(
        "must be a lowercase RFC 1123 label: lowercase letters, digits and '-', starting and \
         ending with a letter or digit",
    )
}

/// What is wrong with the name of a Kubernetes object such as a `Secret`, if anything: it must
/// be an RFC 1123 subdomain, at most 253 characters of dot-separated labels (each 1–63
/// lowercase letters, digits and '-', starting and ending with a letter or digit).
pub fn object_name_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() || s.len() > 253 {
        return Some("must be 1-253 characters");
    }
    let bad = s.split('.').any(|label| namespace_problem(label).is_some());
    bad.then_some(
        "must be a lowercase RFC 1123 subdomain: labels of lowercase letters, digits and '-', \
         separated by '.', each starting and ending with a letter or digit",
    )
}

/// A human-readable display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses a display name: 1–128 characters (not bytes), no control characters.
    ///
    /// # Errors
    /// A [`NameError`] for `displayName` when empty, too long or containing control characters.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let bad = |problem: &str| NameError {
            field: "displayName",
            problem: problem.to_string(),
        };
        let chars = s.chars().count();
        if chars == 0 || chars > 128 {
            return Err(bad("must be 1-128 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(bad("must not contain control characters"));
        }
        Ok(Self(s.to_string()))
    }

    /// The display name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_label_parses() {
        for ok in ["ab", "prod", "a-b-c", "0a", &"a".repeat(63)] {
            assert!(ClusterName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn labels_outside_rfc1123_are_refused() {
        let long = "a".repeat(64);
        for bad in [
            "a", "", "-ab", "ab-", "Ab", "a_b", "a.b", "abc\n", "ab c", "é1", &long,
        ] {
            assert!(TenantName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_error_names_the_field() {
        let err = ClusterName::parse("A").unwrap_err();
        assert!(err.to_string().starts_with("name "));
        let err = TenantName::parse("A").unwrap_err();
        assert!(err.to_string().starts_with("tenant "));
    }

    #[test]
    fn namespaces_and_object_names_follow_kubernetes() {
        for ok in ["a", "default", "kube-system", &"a".repeat(63)] {
            assert_eq!(namespace_problem(ok), None, "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", &"a".repeat(64)] {
            assert!(namespace_problem(bad).is_some(), "{bad:?}");
        }
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(long.len(), 253);
        for ok in ["a", "db-creds", "tls.example.com", long.as_str()] {
            assert_eq!(object_name_problem(ok), None, "{ok}");
        }
        let too_long = format!("{long}a");
        for bad in [
            "",
            ".a",
            "a..b",
            "a.",
            "A",
            "a_b",
            &"a".repeat(64),
            &too_long,
        ] {
            assert!(object_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn display_names_count_characters_and_refuse_control_characters() {
        assert!(DisplayName::parse(&"é".repeat(128)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(129)).is_err());
        assert!(DisplayName::parse("").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse("Production Cluster").is_ok());
    }
}
