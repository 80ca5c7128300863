//! Tenant members: an email address and a role. A member is keyed by its email lowercased, so
//! `Dev@Acme.com` and `dev@acme.com` are one member (Kupe's Terraform provider lowercases the
//! email it puts in a path); the email is shown as first given, trimmed.
//!
//! The email rule is deliberately simple (no attempt at RFC 5322): after trimming, at most 254
//! characters; exactly one `@`; a non-empty local part; a domain with a dot that neither starts
//! nor ends the domain; no whitespace, no control characters, and no `%` (so an email in a path,
//! percent-decoded once, can never be read two ways).

use super::apikey::Role;
use std::fmt;

/// Longest email accepted (the SMTP path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// A member's email, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Why an email was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadEmail(&'static str);

impl Email {
    /// Parses an email by the rule above.
    ///
    /// # Errors
    /// [`BadEmail`] saying which part of the rule fails.
    pub fn parse(raw: &str) -> Result<Email, BadEmail> {
        let email = raw.trim();
        if email.is_empty() {
            return Err(BadEmail("email is required"));
        }
        if email.chars().count() > MAX_EMAIL_LEN {
            return Err(BadEmail("email must be at most 254 characters"));
        }
        if email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '%')
        {
            return Err(BadEmail(
                "email must not contain whitespace, control characters or %",
            ));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(BadEmail("email must contain one @"));
        };
        if domain.contains('@') {
            return Err(BadEmail("email must contain one @"));
        }
        if local.is_empty() {
            return Err(BadEmail("email must have a name before the @"));
        }
        let dotted = domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.');
        if !dotted {
            return Err(BadEmail("email must have a domain with a dot after the @"));
        }
        Ok(Email(email.to_string()))
    }

    /// The email as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key a member is stored under: the email lowercased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A member of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The email, as first given.
    pub email: String,
    /// `admin` or `readonly`.
    pub role: Role,
    /// RFC 3339.
    pub created_at: String,
}

impl Member {
    /// The member as the API shows it: `{email, role}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "email": self.email, "role": self.role.as_str() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_follow_the_documented_rule() {
        for ok in [
            "dev@acme.com",
            "  Dev.Ops+ci@Acme.co.uk ",
            "a@b.c",
            "o'brien@example.org",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "   ",
            "dev",
            "@acme.com",
            "dev@",
            "dev@acme",
            "dev@.com",
            "dev@acme.",
            "dev@@acme.com",
            "a@b@acme.com",
            "dev ops@acme.com",
            "dev\u{7}@acme.com",
            "dev%40@acme.com",
            long.as_str(),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let e = Email::parse(" Dev@Acme.COM ").unwrap();
        assert_eq!(
            (e.as_str(), e.key().as_str()),
            ("Dev@Acme.COM", "dev@acme.com")
        );
    }
}
