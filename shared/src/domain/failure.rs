//! The failure catalog: why a rollout ended `Degraded`. The `Degraded` condition's `reason` is
//! one of these codes, its `retryable` says whether trying the same spec again can succeed (a
//! PATCH, or re-sending the same change, retries a rollout), and its message starts with what the
//! user can do about it. The codes are a contract with the provisioner's `SendTaskFailure` names
//! and with the state machine (`infra/statemachine/cluster-lifecycle.asl.json`; a test checks
//! both lists against it).
//!
//! | code | retryable | when |
//! |---|---|---|
//! | `ProviderQuotaExceeded` | no | the provider's account quota has no room for the cluster |
//! | `InvalidSpec` | no | the provider refused the spec as given |
//! | `CapacityUnavailable` | yes | the provider has no capacity for it right now |
//! | `ProviderError` | no | the provider failed the work without classifying why |
//! | `ProviderTimeout` | yes | the provider did not finish in time (its own verdict, or our heartbeats and retries ran out) |
//! | `ProviderUnavailable` | yes | the provider could not be reached, and our retries ran out |
//! | `InternalError` | yes | the control plane (or the provider's own internals) failed while rolling out |
//! | `ExecutionTimedOut` | yes | the workflow ran past its own time limit (the reconciler saw it) |
//! | `ExecutionAborted` | yes | the workflow was stopped from outside (the reconciler saw it) |
//! | `ExecutionFailed` | yes | the workflow failed where its own error handling could not see |

/// A catalog code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// The provider's quota has no room.
    ProviderQuotaExceeded,
    /// The provider refused the spec.
    InvalidSpec,
    /// No capacity right now.
    CapacityUnavailable,
    /// An unclassified provider failure.
    ProviderError,
    /// The provider did not finish in time.
    ProviderTimeout,
    /// The provider could not be reached.
    ProviderUnavailable,
    /// Our own failure.
    InternalError,
    /// The workflow ran out of time.
    ExecutionTimedOut,
    /// The workflow was stopped from outside.
    ExecutionAborted,
    /// The workflow failed unseen.
    ExecutionFailed,
}

impl FailureCode {
    /// Every code, in the catalog's order.
    pub const ALL: [FailureCode; 10] = [
        FailureCode::ProviderQuotaExceeded,
        FailureCode::InvalidSpec,
        FailureCode::CapacityUnavailable,
        FailureCode::ProviderError,
        FailureCode::ProviderTimeout,
        FailureCode::ProviderUnavailable,
        FailureCode::InternalError,
        FailureCode::ExecutionTimedOut,
        FailureCode::ExecutionAborted,
        FailureCode::ExecutionFailed,
    ];

    /// The code as the `reason` shows it.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureCode::ProviderQuotaExceeded => "ProviderQuotaExceeded",
            FailureCode::InvalidSpec => "InvalidSpec",
            FailureCode::CapacityUnavailable => "CapacityUnavailable",
            FailureCode::ProviderError => "ProviderError",
            FailureCode::ProviderTimeout => "ProviderTimeout",
            FailureCode::ProviderUnavailable => "ProviderUnavailable",
            FailureCode::InternalError => "InternalError",
            FailureCode::ExecutionTimedOut => "ExecutionTimedOut",
            FailureCode::ExecutionAborted => "ExecutionAborted",
            FailureCode::ExecutionFailed => "ExecutionFailed",
        }
    }

    /// The code named `s`.
    pub fn parse(s: &str) -> Option<FailureCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the same spec, tried again, can succeed.
    pub fn retryable(self) -> bool {
        !matches!(
            self,
            FailureCode::ProviderQuotaExceeded
                | FailureCode::InvalidSpec
                | FailureCode::ProviderError
        )
    }

    /// What the user can do, first in the condition's message.
    pub fn advice(self) -> &'static str {
        match self {
            FailureCode::ProviderQuotaExceeded => {
                "The provider's quota has no room for this cluster: free capacity (delete or \
                 shrink clusters) or raise the quota, then PATCH the cluster to retry."
            }
            FailureCode::InvalidSpec => {
                "The provider refused this spec: change the setting it names with a PATCH."
            }
            FailureCode::CapacityUnavailable => {
                "The provider has no capacity for this cluster right now: retry later with a \
                 PATCH, or ask for smaller resources."
            }
            FailureCode::ProviderError => {
                "The provider failed the rollout: read its message below; a PATCH retries once \
                 the cause is fixed."
            }
            FailureCode::ProviderTimeout => {
                "The provider did not finish in time: a retry usually succeeds (PATCH the \
                 cluster)."
            }
            FailureCode::ProviderUnavailable => {
                "The provider could not be reached and the retries ran out: retry later with a \
                 PATCH."
            }
            FailureCode::InternalError => {
                "The control plane failed while rolling out: retry with a PATCH; report the \
                 cluster name and this message if it fails again."
            }
            FailureCode::ExecutionTimedOut => {
                "The rollout ran past its time limit: retry with a PATCH."
            }
            FailureCode::ExecutionAborted => {
                "The rollout was stopped from outside: retry with a PATCH."
            }
            FailureCode::ExecutionFailed => {
                "The rollout failed unexpectedly: retry with a PATCH; if it fails again, report \
                 the cluster name."
            }
        }
    }

    /// The codes the provisioner sends that the workflow never retries: the rollout goes
    /// `Degraded` at once with this reason.
    pub const TERMINAL: [FailureCode; 6] = [
        FailureCode::ProviderError,
        FailureCode::ProviderQuotaExceeded,
        FailureCode::InvalidSpec,
        FailureCode::CapacityUnavailable,
        FailureCode::ProviderTimeout,
        FailureCode::InternalError,
    ];
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a stored `Degraded` reason is retryable: the catalog's answer, and `true` for a
/// reason written before the catalog (`RetriesExhausted`, a status-write error name), which
/// were all transient faults.
pub fn reason_retryable(reason: &str) -> bool {
    FailureCode::parse(reason).is_none_or(FailureCode::retryable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_and_has_advice() {
        for c in FailureCode::ALL {
            assert_eq!(FailureCode::parse(c.as_str()), Some(c));
            assert!(c.advice().ends_with('.'), "{c:?}");
        }
        assert!(!reason_retryable("InvalidSpec"));
        assert!(reason_retryable("ProviderTimeout"));
        assert!(reason_retryable("RetriesExhausted"));
    }
}
