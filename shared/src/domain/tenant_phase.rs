//! The phase of a tenant: `Active`, or `Terminating` once `DELETE /tenants/{tenant}` was
//! accepted (stored as `phase`; absent reads as `Active`). A terminating tenant takes no new
//! clusters and no member changes; it is purged once its last cluster's teardown finished.

/// A tenant's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TenantPhase {
    /// Serving (also an item without `phase`).
    #[default]
    Active,
    /// Being deleted.
    Terminating,
}

impl TenantPhase {
    /// Reads the stored value; absent or unknown reads as `Active`, except `Terminating`.
    pub fn from_stored(s: Option<&str>) -> TenantPhase {
        match s {
            Some("Terminating") => TenantPhase::Terminating,
            _ => TenantPhase::Active,
        }
    }

    /// The phase as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantPhase::Active => "Active",
            TenantPhase::Terminating => "Terminating",
        }
    }
}
