//! Plans: what a tenant may run. The one place that says how many clusters a plan allows,
//! whether `dedicated` is enabled, and each resource's default and upper bound.

use super::{
    quantity::Quantity,
    resources::{ResourceKind, Resources, ResourcesInput},
};

/// One plan's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Plan name, as stored on the tenant.
    pub name: &'static str,
    /// Most clusters a tenant on this plan may have at once.
    pub max_clusters: u32,
    /// Whether `type: dedicated` is enabled.
    pub dedicated: bool,
    /// Defaults for omitted resources: cpu, memory, storage.
    pub defaults: [&'static str; 3],
    /// Upper bounds (inclusive): cpu, memory, storage.
    pub max: [&'static str; 3],
}

/// Every plan. The first is the default for new tenants that name none.
pub const PLANS: &[Plan] = &[
    Plan {
        name: "pro",
        max_clusters: 5,
        dedicated: true,
        defaults: ["2", "8Gi", "50Gi"],
        max: ["16", "64Gi", "500Gi"],
    },
    Plan {
        name: "starter",
        max_clusters: 2,
        dedicated: false,
        defaults: ["1", "2Gi", "20Gi"],
        max: ["4", "16Gi", "100Gi"],
    },
    Plan {
        name: "enterprise",
        max_clusters: 50,
        dedicated: true,
        defaults: ["4", "16Gi", "100Gi"],
        max: ["64", "256Gi", "2Ti"],
    },
];

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
    /// The default plan.
    pub fn default_plan() -> &'static Plan {
        &PLANS[0]
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
            for s in plan.defaults.iter().chain(plan.max.iter()) {
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
