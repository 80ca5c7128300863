//! The Kubernetes version catalog: which minors we offer, which patch each resolves to, which is
//! the default, and the one-minor-at-a-time upgrade rule. This is the only list of versions.

use std::fmt;

/// One offered minor and the patch release clusters on it run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// Minor version number (the `32` in `1.32`).
    pub minor: u32,
    /// The patch release a cluster of this minor runs, `v1.32.6` form.
    pub patch: &'static str,
    /// Whether this minor is stable (the default is the newest stable minor).
    pub stable: bool,
}

/// Every supported minor of Kubernetes 1.x, oldest first.
pub const CATALOG: &[Release] = &[
    Release {
        minor: 30,
        patch: "v1.30.14",
        stable: true,
    },
    Release {
        minor: 31,
        patch: "v1.31.10",
        stable: true,
    },
    Release {
        minor: 32,
        patch: "v1.32.6",
        stable: true,
    },
    Release {
        minor: 33,
        patch: "v1.33.2",
        stable: true,
    },
];

/// A supported minor version such as `1.32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MinorVersion(u32);

/// Why a version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not of the form `1.32`, `v1.32` or `1.32.3`.
    #[error("version {0:?} is malformed: expected a minor version such as \"1.32\"")]
    Malformed(String),
    /// Well-formed but not in the catalog.
    #[error("version {given} is not supported (supported: {supported})")]
    Unsupported {
        /// What the caller sent.
        given: String,
        /// The supported minors, comma separated.
        supported: String,
    },
    /// An attempt to go back a minor.
    #[error("version cannot be downgraded from {from} to {to}")]
    Downgrade {
        /// Current version.
        from: MinorVersion,
        /// Requested version.
        to: MinorVersion,
    },
    /// An attempt to skip one or more minors.
    #[error("version can only be upgraded one minor at a time: from {from} the next is {next}, not {to}")]
    SkippedMinor {
        /// Current version.
        from: MinorVersion,
        /// The only allowed upgrade target.
        next: MinorVersion,
        /// Requested version.
        to: MinorVersion,
    },
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl MinorVersion {
    /// Parses `1.32`, `v1.32`, `1.32.3` or `v1.32.3` and checks the minor is in the catalog.
    /// A patch, when given, is accepted and dropped: the catalog decides the patch a cluster runs.
    ///
    /// # Errors
    /// [`VersionError::Malformed`] or [`VersionError::Unsupported`].
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let malformed = || VersionError::Malformed(s.to_string());
        let body = s.strip_prefix('v').unwrap_or(s);
        let parts: Vec<&str> = body.split('.').collect();
        if parts.len() != 2 && parts.len() != 3 {
            return Err(malformed());
        }
        let nums: Option<Vec<u32>> = parts.iter().map(|p| digits(p)).collect();
        let nums = nums.ok_or_else(malformed)?;
        let (major, minor) = (nums[0], nums[1]);
        if major != 1 || !CATALOG.iter().any(|r| r.minor == minor) {
            return Err(VersionError::Unsupported {
                given: s.to_string(),
                supported: CATALOG
                    .iter()
                    .map(|r| format!("1.{}", r.minor))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(Self(minor))
    }

    /// The newest stable minor: what a create without `version` gets.
    pub fn latest_stable() -> Self {
        let newest = CATALOG
            .iter()
            .rev()
            .find(|r| r.stable)
            .unwrap_or(&CATALOG[0]);
        Self(newest.minor)
    }

    /// The patch release this minor resolves to, e.g. `v1.32.6`.
    pub fn patch_release(self) -> &'static str {
        CATALOG
            .iter()
            .find(|r| r.minor == self.0)
            .map_or("", |r| r.patch)
    }

    /// Checks a change from `self` to `to`: the same minor or exactly the next one.
    ///
    /// # Errors
    /// [`VersionError::Downgrade`] or [`VersionError::SkippedMinor`].
    pub fn check_upgrade_to(self, to: MinorVersion) -> Result<(), VersionError> {
        if to.0 < self.0 {
            return Err(VersionError::Downgrade { from: self, to });
        }
        if to.0 > self.0 + 1 {
            return Err(VersionError::SkippedMinor {
                from: self,
                next: MinorVersion(self.0 + 1),
                to,
            });
        }
        Ok(())
    }
}

impl fmt::Display for MinorVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_supported_minor_parses_to_that_minor() {
        for s in ["1.32", "v1.32", "1.32.3", "v1.32.3", "1.32.99"] {
            assert_eq!(MinorVersion::parse(s).unwrap().to_string(), "1.32", "{s}");
        }
    }

    #[test]
    fn malformed_and_unsupported_versions_are_refused() {
        for s in [
            "", "1", "1.", "v", "1.x", "1.32.", "1.32.3.4", " 1.32", "+1.32", "V1.32",
        ] {
            assert!(
                matches!(MinorVersion::parse(s), Err(VersionError::Malformed(_))),
                "{s:?}"
            );
        }
        for s in ["1.29", "2.32", "1.99"] {
            assert!(
                matches!(
                    MinorVersion::parse(s),
                    Err(VersionError::Unsupported { .. })
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn the_default_is_the_newest_stable_minor_and_resolves_to_a_patch() {
        let v = MinorVersion::latest_stable();
        assert_eq!(v.to_string(), "1.33");
        assert!(v.patch_release().starts_with("v1.33."));
    }

    #[test]
    fn upgrades_go_forward_one_minor_at_a_time() {
        let v31 = MinorVersion::parse("1.31").unwrap();
        let v32 = MinorVersion::parse("1.32").unwrap();
        let v33 = MinorVersion::parse("1.33").unwrap();
        assert!(v31.check_upgrade_to(v31).is_ok());
        assert!(v31.check_upgrade_to(v32).is_ok());
        assert!(matches!(
            v31.check_upgrade_to(v33),
            Err(VersionError::SkippedMinor { .. })
        ));
        assert!(matches!(
            v32.check_upgrade_to(v31),
            Err(VersionError::Downgrade { .. })
        ));
    }
}
