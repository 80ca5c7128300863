//! Cluster resources: CPU, memory and storage as Kubernetes quantities.

use super::quantity::Quantity;
use serde::{Deserialize, Serialize};

/// The resources a cluster runs with; all three always set (the plan fills in defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// CPU cores, e.g. `4` or `500m`.
    pub cpu: Quantity,
    /// Memory, e.g. `16Gi`.
    pub memory: Quantity,
    /// Storage, e.g. `100Gi`.
    pub storage: Quantity,
}

/// Resources as a request gives them: any field may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub struct ResourcesInput {
    /// Requested CPU.
    pub cpu: Option<Quantity>,
    /// Requested memory.
    pub memory: Option<Quantity>,
    /// Requested storage.
    pub storage: Option<Quantity>,
}

/// The three resource kinds, for messages and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `resources.cpu`
    Cpu,
    /// `resources.memory`
    Memory,
    /// `resources.storage`
    Storage,
}

impl ResourceKind {
    /// All kinds in display order.
    pub const ALL: [ResourceKind; 3] = [
        ResourceKind::Cpu,
        ResourceKind::Memory,
        ResourceKind::Storage,
    ];

    /// The JSON field name.
    pub fn field(self) -> &'static str {
        match self {
            ResourceKind::Cpu => "cpu",
            ResourceKind::Memory => "memory",
            ResourceKind::Storage => "storage",
        }
    }
}

impl Resources {
    /// The quantity of one kind.
    pub fn get(&self, kind: ResourceKind) -> &Quantity {
        match kind {
            ResourceKind::Cpu => &self.cpu,
            ResourceKind::Memory => &self.memory,
            ResourceKind::Storage => &self.storage,
        }
    }
}

impl Resources {
    /// The quantity of one kind, to change it.
    pub fn get_mut(&mut self, kind: ResourceKind) -> &mut Quantity {
        match kind {
            ResourceKind::Cpu => &mut self.cpu,
            ResourceKind::Memory => &mut self.memory,
            ResourceKind::Storage => &mut self.storage,
        }
    }
}

impl ResourcesInput {
    /// The requested quantity of one kind, if given.
    pub fn get(&self, kind: ResourceKind) -> Option<&Quantity> {
        match kind {
            ResourceKind::Cpu => self.cpu.as_ref(),
            ResourceKind::Memory => self.memory.as_ref(),
            ResourceKind::Storage => self.storage.as_ref(),
        }
    }
}
