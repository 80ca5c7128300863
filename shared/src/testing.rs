//! Test fixtures: builders for domain values, so a test reads in a few lines
//! (`ClusterBuilder::new("prod").running().generation(3).build()`). Compiled for unit tests and,
//! with the `test-support` feature, for the integration suite.

use crate::domain::{
    cluster::{Cluster, ClusterType, Spec, Status},
    etag::ResourceVersion,
    names::{ClusterName, DisplayName, TenantName},
    phase::Phase,
    quantity::Quantity,
    resources::Resources,
    version::MinorVersion,
};
use serde_json::Value;

/// Builds a [`Cluster`]: by default `Pending` at generation 1 in tenant `acme`, shared, on the
/// latest stable version with 2 CPU / 8Gi / 50Gi.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    cluster: Cluster,
}

fn q(s: &str) -> Quantity {
    Quantity::parse(s).unwrap_or_else(|e| panic!("fixture quantity {s}: {e}"))
}

impl ClusterBuilder {
    /// A new cluster named `name`.
    pub fn new(name: &str) -> Self {
        let now = "2026-01-01T00:00:00Z";
        let cluster = Cluster {
            tenant: TenantName::parse("acme").expect("fixture tenant"),
            name: ClusterName::parse(name).expect("fixture name"),
            display_name: DisplayName::parse(&format!("Cluster {name}")).expect("display"),
            cluster_type: ClusterType::Shared,
            spec: Spec {
                version: MinorVersion::latest_stable(),
                resources: Resources {
                    cpu: q("2"),
                    memory: q("8Gi"),
                    storage: q("50Gi"),
                },
                alerts: serde_json::Map::new(),
                high_availability: false,
                network: Default::default(),
                endpoint_access: Default::default(),
                addons: Vec::new(),
            },
            meta: Default::default(),
            generation: 1,
            resource_version: ResourceVersion(1),
            incarnation: 1,
            created_at: now.into(),
            updated_at: now.into(),
            status: Status::pending(now),
            write_token: Some("fixture".into()),
            ha_since_generation: None,
            op: crate::domain::operation::OpRecord {
                op_type: Some(crate::domain::operation::OpType::Create),
                started_at: Some(now.into()),
                attempt: 1,
                steps: Vec::new(),
            },
        };
        Self { cluster }
    }

    /// With a highly available control plane, wanted since `generation`.
    pub fn high_availability(mut self, since_generation: u64) -> Self {
        self.cluster.spec.high_availability = true;
        self.cluster.ha_since_generation = Some(since_generation);
        self
    }

    /// In another tenant.
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.cluster.tenant = TenantName::parse(tenant).expect("fixture tenant");
        self
    }

    /// At this generation (and a `resourceVersion` at least as high).
    pub fn generation(mut self, generation: u64) -> Self {
        self.cluster.generation = generation;
        self.cluster.resource_version =
            ResourceVersion(self.cluster.resource_version.0.max(generation));
        self
    }

    /// With this CPU.
    pub fn cpu(mut self, cpu: &str) -> Self {
        self.cluster.spec.resources.cpu = q(cpu);
        self
    }

    /// With these alerts (a JSON object).
    pub fn alerts(mut self, alerts: Value) -> Self {
        self.cluster.spec.alerts = match alerts {
            Value::Object(m) => m,
            other => panic!("fixture alerts must be an object, not {other}"),
        };
        self
    }

    /// Provisioned and `Running` the generation it has.
    pub fn running(mut self) -> Self {
        let st = &mut self.cluster.status;
        st.phase = Phase::Running;
        st.observed_generation = self.cluster.generation;
        st.endpoint = Some(format!(
            "https://{}.{}.clusters.test",
            self.cluster.name, self.cluster.tenant
        ));
        st.kubernetes_version = Some(self.cluster.spec.version.patch_release().into());
        st.reason = Some("Ready".into());
        st.message = Some("The cluster is running the requested generation".into());
        self
    }

    /// Being torn down.
    pub fn terminating(mut self) -> Self {
        self.cluster.status.phase = Phase::Terminating;
        self.cluster.status.reason = Some("DeleteRequested".into());
        self
    }

    /// Degraded: the workflow gave up with `reason`.
    pub fn degraded(mut self, reason: &str) -> Self {
        self.cluster.status.phase = Phase::Degraded;
        self.cluster.status.reason = Some(reason.into());
        self.cluster.status.message = Some(format!("failed: {reason}"));
        self
    }

    /// The cluster.
    pub fn build(self) -> Cluster {
        self.cluster
    }
}

impl Cluster {
    /// A fixture builder (see [`ClusterBuilder`]).
    pub fn test(name: &str) -> ClusterBuilder {
        ClusterBuilder::new(name)
    }
}
