//! Plans: what a tenant may run. The one catalog (served as `GET /plans`) that says, per plan,
//! its display name and platform fee, how many clusters it allows, whether `dedicated` and high
//! availability are enabled, each resource's per-cluster default and upper bound, the resource
//! pool all of a tenant's clusters share, and the observability allowance.

use super::{
    pool::Allocation,
    quantity::Quantity,
    resources::{ResourceKind, Resources, ResourcesInput},
};
use serde_json::{json, Value};

/// A plan's observability allowance (metrics and logs are not served by this control plane yet;
/// the numbers are the plan's published terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservabilityPool {
    /// Active metric series (`maxActiveSeries`).
    pub max_active_series: u64,
    /// Log ingest per month, GB (`logIngestGB`).
    pub log_ingest_gb: u64,
    /// Retention of metrics and logs, days.
    pub retention_days: u32,
    /// Alertmanager receivers.
    pub max_receivers: u32,
}

/// One plan's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Plan name, as stored on the tenant.
    pub name: &'static str,
    /// Human-readable name.
    pub display_name: &'static str,
    /// Monthly platform fee, a decimal string (`"49.00"`), as Kupe's clients read it.
    pub platform_fee: &'static str,
    /// Most clusters a tenant on this plan may have at once.
    pub max_clusters: u32,
    /// Whether `type: dedicated` is enabled.
    pub dedicated: bool,
    /// Whether clusters may run highly available.
    pub high_availability: bool,
    /// Defaults for omitted resources: cpu, memory, storage.
    pub defaults: [&'static str; 3],
    /// Per-cluster upper bounds (inclusive): cpu, memory, storage.
    pub max: [&'static str; 3],
    /// The pool all of a tenant's clusters share (inclusive): cpu, memory, storage.
    pub pool: [&'static str; 3],
    /// Metrics and logs allowance.
    pub observability: ObservabilityPool,
}

/// Every plan, smallest first (the order `GET /plans` lists them in).
pub const PLANS: &[Plan] = &[
    Plan {
        name: "starter",
        display_name: "Starter",
        platform_fee: "0.00",
        max_clusters: 2,
        dedicated: false,
        high_availability: false,
        defaults: ["1", "2Gi", "20Gi"],
        max: ["4", "16Gi", "100Gi"],
        pool: ["4", "16Gi", "100Gi"],
        observability: ObservabilityPool {
            max_active_series: 10_000,
            log_ingest_gb: 10,
            retention_days: 30,
            max_receivers: 3,
        },
    },
    Plan {
        name: "pro",
        display_name: "Pro",
        platform_fee: "49.00",
        max_clusters: 5,
        dedicated: true,
        high_availability: false,
        defaults: ["2", "8Gi", "50Gi"],
        max: ["16", "64Gi", "500Gi"],
        pool: ["16", "64Gi", "500Gi"],
        observability: ObservabilityPool {
            max_active_series: 50_000,
            log_ingest_gb: 50,
            retention_days: 90,
            max_receivers: 10,
        },
    },
    Plan {
        name: "business",
        display_name: "Business",
        platform_fee: "199.00",
        max_clusters: 20,
        dedicated: true,
        high_availability: true,
        defaults: ["2", "8Gi", "50Gi"],
        max: ["32", "128Gi", "1Ti"],
        pool: ["64", "256Gi", "2Ti"],
        observability: ObservabilityPool {
            max_active_series: 250_000,
            log_ingest_gb: 250,
            retention_days: 180,
            max_receivers: 25,
        },
    },
    Plan {
        name: "enterprise",
        display_name: "Enterprise",
        platform_fee: "999.00",
        max_clusters: 50,
        dedicated: true,
        high_availability: true,
        defaults: ["4", "16Gi", "100Gi"],
        max: ["64", "256Gi", "2Ti"],
        pool: ["256", "1Ti", "10Ti"],
        observability: ObservabilityPool {
            max_active_series: 1_000_000,
            log_ingest_gb: 1_000,
            retention_days: 395,
            max_receivers: 100,
        },
    },
];

/// The plan of a tenant created without one.
pub const DEFAULT_PLAN: &str = "pro";

/// Why resources or a type were refused by a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A quantity was zero or negative.
    #[error("resources.{0} must be greater than 0")]
    NotPositive(&'static str),
    /// A quantity exceeded the plan's per-cluster bound.
    #[error("resources.{field} {value} exceeds the {plan} plan's limit of {max} per cluster")]
    AboveLimit {
        /// Which resource.
        field: &'static str,
        /// What was asked for.
        value: String,
        /// The plan.
        plan: &'static str,
        /// The bound.
        max: &'static str,
    },
}

impl PlanError {
    /// The JSON path of the offending field (`resources.cpu`).
    pub fn field(&self) -> String {
        match self {
            PlanError::NotPositive(f) | PlanError::AboveLimit { field: f, .. } => {
                format!("resources.{f}")
            }
        }
    }
}

impl From<PlanError> for super::Invalid {
    fn from(e: PlanError) -> Self {
        super::Invalid::at(e.field(), e.to_string())
    }
}

fn q(s: &'static str) -> Quantity {
    // The table above holds only valid quantities; a unit test parses every one.
    Quantity::parse(s).unwrap_or_else(|_| unreachable!("invalid quantity {s} in PLANS"))
}

impl Plan {
    /// The default plan ([`DEFAULT_PLAN`]).
    pub fn default_plan() -> &'static Plan {
        Self::by_name(DEFAULT_PLAN).unwrap_or(&PLANS[0])
    }

    /// Looks a plan up by name.
    pub fn by_name(name: &str) -> Option<&'static Plan> {
        PLANS.iter().find(|p| p.name == name)
    }

    /// Names of all plans, comma separated (for messages).
    pub fn names() -> String {
        PLANS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
    }

    fn index(kind: ResourceKind) -> usize {
        match kind {
            ResourceKind::Cpu => 0,
            ResourceKind::Memory => 1,
            ResourceKind::Storage => 2,
        }
    }

    /// The default quantity of one kind.
    pub fn default_for(&self, kind: ResourceKind) -> Quantity {
        q(self.defaults[Self::index(kind)])
    }

    /// The resource pool, in exact units (millicores, bytes).
    pub fn pool(&self) -> Allocation {
        Allocation::of(&Resources {
            cpu: q(self.pool[0]),
            memory: q(self.pool[1]),
            storage: q(self.pool[2]),
        })
    }

    /// The pool as written in the catalog (`"16"`, `"64Gi"`), for display.
    pub fn pool_json(&self) -> Value {
        json!({"cpu": self.pool[0], "memory": self.pool[1], "storage": self.pool[2]})
    }

    /// The plan as `GET /plans/{name}` shows it: Kupe's fields (`name`, `displayName`,
    /// `platformFee` as a string, `maxClusters`, `resourcePool`, `observabilityPool`) plus what
    /// it enables and its per-cluster defaults and bounds.
    pub fn to_json(&self) -> Value {
        let o = &self.observability;
        let triple = |v: &[&str; 3]| json!({"cpu": v[0], "memory": v[1], "storage": v[2]});
        json!({
            "name": self.name,
            "displayName": self.display_name,
            "platformFee": self.platform_fee,
            "maxClusters": self.max_clusters,
            "resourcePool": self.pool_json(),
            "observabilityPool": {
                "maxActiveSeries": o.max_active_series,
                "logIngestGB": o.log_ingest_gb,
                "retentionDays": o.retention_days,
                "maxReceivers": o.max_receivers,
            },
            "dedicated": self.dedicated,
            "highAvailability": self.high_availability,
            "clusterDefaults": triple(&self.defaults),
            "clusterMax": triple(&self.max),
        })
    }

    /// Fills omitted resources with this plan's defaults and checks every value is positive and
    /// within bounds.
    ///
    /// # Errors
    /// [`PlanError`] naming the first offending field.
    pub fn resolve(&self, input: &ResourcesInput) -> Result<Resources, PlanError> {
        let pick = |kind| {
            input
                .get(kind)
                .cloned()
                .unwrap_or_else(|| self.default_for(kind))
        };
        let resources = Resources {
            cpu: pick(ResourceKind::Cpu),
            memory: pick(ResourceKind::Memory),
            storage: pick(ResourceKind::Storage),
        };
        self.check(&resources)?;
        Ok(resources)
    }

    /// Checks every value is positive and within this plan's bounds.
    ///
    /// # Errors
    /// [`PlanError`] naming the first offending field.
    pub fn check(&self, resources: &Resources) -> Result<(), PlanError> {
        for kind in ResourceKind::ALL {
            let value = resources.get(kind);
            if !value.is_positive() {
                return Err(PlanError::NotPositive(kind.field()));
            }
            let max = self.max[Self::index(kind)];
            if value.cmp_value(&q(max)) == std::cmp::Ordering::Greater {
                return Err(PlanError::AboveLimit {
                    field: kind.field(),
                    value: value.to_string(),
                    plan: self.name,
                    max,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quantity_in_the_plan_table_parses_and_defaults_fit_their_bounds() {
        for plan in PLANS {
            for s in plan.defaults.iter().chain(&plan.max).chain(&plan.pool) {
                assert!(Quantity::parse(s).is_ok(), "{} {s}", plan.name);
            }
            assert!(
                plan.resolve(&ResourcesInput::default()).is_ok(),
                "{}",
                plan.name
            );
        }
    }

    #[test]
    fn plans_grow_in_every_limit_and_each_pool_holds_its_largest_cluster() {
        for pair in PLANS.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(a.max_clusters < b.max_clusters, "{} < {}", a.name, b.name);
            for kind in ResourceKind::ALL {
                assert!(
                    a.pool().get(kind) < b.pool().get(kind),
                    "{} {kind:?}",
                    b.name
                );
            }
            assert!(a.observability.max_active_series < b.observability.max_active_series);
        }
        for plan in PLANS {
            let max = Allocation::of(&Resources {
                cpu: q(plan.max[0]),
                memory: q(plan.max[1]),
                storage: q(plan.max[2]),
            });
            for kind in ResourceKind::ALL {
                assert!(
                    max.get(kind) <= plan.pool().get(kind),
                    "{} {kind:?}",
                    plan.name
                );
            }
            assert_eq!(plan.dedicated, plan.name != "starter");
            assert_eq!(
                plan.high_availability,
                matches!(plan.name, "business" | "enterprise")
            );
        }
        assert_eq!(Plan::default_plan().name, "pro");
        let pro = Plan::by_name("pro").unwrap().to_json();
        assert_eq!(pro["platformFee"], "49.00");
        assert_eq!(pro["maxClusters"], 5);
        assert_eq!(pro["observabilityPool"]["maxActiveSeries"], 50_000);
    }

    #[test]
    fn omitted_resources_take_the_plan_default() {
        let plan = Plan::by_name("pro").unwrap();
        let input = ResourcesInput {
            cpu: Some(Quantity::parse("500m").unwrap()),
            ..Default::default()
        };
        let r = plan.resolve(&input).unwrap();
        assert_eq!(r.cpu.as_str(), "500m");
        assert_eq!(r.memory.as_str(), "8Gi");
        assert_eq!(r.storage.as_str(), "50Gi");
    }

    #[test]
    fn zero_negative_and_oversized_resources_are_refused() {
        let plan = Plan::by_name("starter").unwrap();
        for (cpu, want) in [
            ("0", "greater than 0"),
            ("-1", "greater than 0"),
            ("5", "limit of 4"),
        ] {
            let input = ResourcesInput {
                cpu: Some(Quantity::parse(cpu).unwrap()),
                ..Default::default()
            };
            let err = plan.resolve(&input).unwrap_err().to_string();
            assert!(
                err.contains(want) && err.contains("resources.cpu"),
                "{cpu}: {err}"
            );
        }
    }
}
