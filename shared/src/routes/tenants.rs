//! The edge of the tenant routes: the PATCH body (`deny_unknown_fields`), converted to a
//! [`TenantPatch`] naming a plan of the catalog.

use super::{FromIncoming, Route};
use crate::{
    api::tenants::{GetTenant, TenantPatch, UpdateTenant},
    domain::{plan::Plan, Invalid},
    http::{Incoming, Media},
};
use serde::Deserialize;

/// The body of a tenant PATCH.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TenantPatchBody {
    plan: Option<String>,
    enforce_log_limit: Option<bool>,
    enforce_metrics_limit: Option<bool>,
}

impl TryFrom<TenantPatchBody> for TenantPatch {
    type Error = Invalid;

    fn try_from(b: TenantPatchBody) -> Result<Self, Invalid> {
        if b.plan.is_none() && b.enforce_log_limit.is_none() && b.enforce_metrics_limit.is_none() {
            return Err(Invalid {
                field: None,
                message: "PATCH body must change at least one of: plan, enforceLogLimit, \
                          enforceMetricsLimit"
                    .into(),
            });
        }
        let plan = match b.plan {
            None => None,
            Some(p) => Some(Plan::by_name(&p).ok_or_else(|| {
                Invalid::at("plan", format!("plan must be one of: {}", Plan::names()))
            })?),
        };
        Ok(TenantPatch {
            plan,
            enforce_log_limit: b.enforce_log_limit,
            enforce_metrics_limit: b.enforce_metrics_limit,
        })
    }
}

impl FromIncoming for GetTenant {
    const ROUTE: Route = Route::GetTenant;

    fn from_incoming(incoming: Incoming) -> Self {
        GetTenant {
            caller: incoming.caller(),
            if_none_match: incoming.if_none_match(),
        }
    }
}

impl FromIncoming for UpdateTenant {
    const ROUTE: Route = Route::UpdateTenant;

    fn from_incoming(incoming: Incoming) -> Self {
        let patch = incoming
            .json::<TenantPatchBody>(Media::MergePatch)
            .and_then(|b| Ok(TenantPatch::try_from(b)?));
        UpdateTenant {
            caller: incoming.caller(),
            if_match: incoming.if_match(),
            patch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::edge::decode;
    use serde_json::{json, Value};

    fn patch(v: Value) -> Result<TenantPatch, String> {
        decode::<TenantPatchBody>(v)
            .map_err(|e| e.to_string())
            .and_then(|b| TenantPatch::try_from(b).map_err(|e| e.to_string()))
    }

    #[test]
    fn a_tenant_patch_names_a_known_plan_or_flags_and_nothing_else() {
        let p = patch(json!({"plan": "business", "enforceLogLimit": true})).unwrap();
        assert_eq!(p.plan.map(|p| p.name), Some("business"));
        assert_eq!(p.enforce_log_limit, Some(true));
        for (body, want) in [
            (json!({}), "at least one"),
            (json!({"plan": "gold"}), "plan must be one of"),
            (json!({"name": "x"}), "unknown field name"),
            (json!({"enforceLogLimit": "yes"}), "enforceLogLimit must be"),
        ] {
            let err = patch(body.clone()).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }
}
