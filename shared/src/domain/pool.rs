//! A tenant's resource pool in exact integer units: CPU in millicores, memory and storage in
//! bytes. Every cluster's resources are converted once, the same way, when they are claimed
//! (create), changed (resize) and given back (teardown), so the tenant's `allocated*` counters
//! always equal the sum over its clusters.
//!
//! A quantity finer than the unit rounds up (`1n` of CPU is 1 millicore), as Kubernetes rounds
//! requests up; magnitudes saturate at `i64::MAX` units (far beyond any plan's bounds).

use super::{
    quantity::Quantity,
    resources::{ResourceKind, Resources},
};

/// Amounts of the three resources, in exact units (millicores, bytes, bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocation {
    /// Millicores.
    pub cpu: i64,
    /// Bytes.
    pub memory: i64,
    /// Bytes.
    pub storage: i64,
}

/// Nano-units per unit of each kind: 10^6 per millicore, 10^9 per byte.
fn nanos_per_unit(kind: ResourceKind) -> i128 {
    match kind {
        ResourceKind::Cpu => 1_000_000,
        ResourceKind::Memory | ResourceKind::Storage => 1_000_000_000,
    }
}

/// One quantity in the units of `kind`, rounded up.
pub fn units(kind: ResourceKind, q: &Quantity) -> i64 {
    let per = nanos_per_unit(kind);
    let n = q.nanos();
    let whole = n.div_euclid(per) + i128::from(n.rem_euclid(per) != 0);
    i64::try_from(whole).unwrap_or(if whole > 0 { i64::MAX } else { i64::MIN })
}

impl Allocation {
    /// What a cluster with these resources takes from the pool.
    pub fn of(r: &Resources) -> Allocation {
        Allocation {
            cpu: units(ResourceKind::Cpu, &r.cpu),
            memory: units(ResourceKind::Memory, &r.memory),
            storage: units(ResourceKind::Storage, &r.storage),
        }
    }

    /// The amount of one kind.
    pub fn get(&self, kind: ResourceKind) -> i64 {
        match kind {
            ResourceKind::Cpu => self.cpu,
            ResourceKind::Memory => self.memory,
            ResourceKind::Storage => self.storage,
        }
    }

    /// Per kind `self - other` (saturating).
    pub fn minus(&self, other: &Allocation) -> Allocation {
        Allocation {
            cpu: self.cpu.saturating_sub(other.cpu),
            memory: self.memory.saturating_sub(other.memory),
            storage: self.storage.saturating_sub(other.storage),
        }
    }

    /// Per kind `self + other` (saturating).
    pub fn plus(&self, other: &Allocation) -> Allocation {
        Allocation {
            cpu: self.cpu.saturating_add(other.cpu),
            memory: self.memory.saturating_add(other.memory),
            storage: self.storage.saturating_add(other.storage),
        }
    }

    /// Per kind `-self`.
    pub fn negated(&self) -> Allocation {
        Allocation::default().minus(self)
    }

    /// Per kind the growth only: negative amounts count as zero.
    pub fn growth(&self) -> Allocation {
        Allocation {
            cpu: self.cpu.max(0),
            memory: self.memory.max(0),
            storage: self.storage.max(0),
        }
    }

    /// Whether every kind is zero.
    pub fn is_zero(&self) -> bool {
        *self == Allocation::default()
    }

    /// The first kind where `self` exceeds `limit`.
    pub fn first_above(&self, limit: &Allocation) -> Option<ResourceKind> {
        ResourceKind::ALL
            .into_iter()
            .find(|k| self.get(*k) > limit.get(*k))
    }

    /// One kind as a Kubernetes quantity string: whole cores or `m` for CPU, the largest binary
    /// suffix that divides exactly for bytes (`16Gi`, `1536Mi`, `100`).
    pub fn quantity(&self, kind: ResourceKind) -> String {
        let v = self.get(kind);
        match kind {
            ResourceKind::Cpu if v % 1000 == 0 => (v / 1000).to_string(),
            ResourceKind::Cpu => format!("{v}m"),
            ResourceKind::Memory | ResourceKind::Storage => {
                for (shift, suffix) in [
                    (60, "Ei"),
                    (50, "Pi"),
                    (40, "Ti"),
                    (30, "Gi"),
                    (20, "Mi"),
                    (10, "Ki"),
                ] {
                    let unit = 1i64 << shift;
                    if v != 0 && v % unit == 0 {
                        return format!("{}{suffix}", v / unit);
                    }
                }
                v.to_string()
            }
        }
    }

    /// `{cpu, memory, storage}` as quantity strings.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "cpu": self.quantity(ResourceKind::Cpu),
            "memory": self.quantity(ResourceKind::Memory),
            "storage": self.quantity(ResourceKind::Storage),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn quantities_convert_to_exact_units_rounding_up() {
        assert_eq!(units(ResourceKind::Cpu, &q("4")), 4000);
        assert_eq!(units(ResourceKind::Cpu, &q("500m")), 500);
        assert_eq!(units(ResourceKind::Cpu, &q("1n")), 1);
        assert_eq!(units(ResourceKind::Cpu, &q("0.0015")), 2);
        assert_eq!(units(ResourceKind::Memory, &q("16Gi")), 16 << 30);
        assert_eq!(units(ResourceKind::Memory, &q("1G")), 1_000_000_000);
        assert_eq!(units(ResourceKind::Storage, &q("1500m")), 2);
        assert_eq!(units(ResourceKind::Storage, &q("1e30")), i64::MAX);
    }

    #[test]
    fn allocations_render_as_quantities() {
        let a = Allocation {
            cpu: 2500,
            memory: 1536 << 20,
            storage: 100,
        };
        assert_eq!(
            a.to_json(),
            serde_json::json!({"cpu": "2500m", "memory": "1536Mi", "storage": "100"})
        );
        let b = Allocation {
            cpu: 16000,
            memory: 64 << 30,
            storage: 0,
        };
        assert_eq!(
            b.to_json(),
            serde_json::json!({"cpu": "16", "memory": "64Gi", "storage": "0"})
        );
        assert_eq!(a.plus(&b).minus(&b), a);
        assert_eq!(b.first_above(&a), Some(ResourceKind::Cpu));
        assert_eq!(a.negated().plus(&a), Allocation::default());
    }
}
