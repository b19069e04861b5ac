//! What admission needs to know about the world, behind one trait: the policies and requests
//! of the quorum cluster, and the VM and PVCs on a primary cluster. The rules never do I/O;
//! they receive what this trait returned. [`crate::cache::ClusterFacts`] answers from
//! watch-fed caches; [`StaticFacts`] answers from fixed data, for tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use protect_api::coverage::PvcFacts;
use protect_api::kubevirt::VirtualMachine;
use protect_api::{DRBDReplicationPolicy, ProtectionRequest};

/// The VM a request names, on its primary cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VmRef {
    /// Namespace on the primary cluster.
    pub namespace: String,
    /// VM name.
    pub name: String,
}

impl VmRef {
    /// Whether `request`'s spec names this VM.
    pub fn is_named_by(&self, request: &ProtectionRequest) -> bool {
        request.spec.vm_name == self.name && request.spec.vm_namespace == self.namespace
    }
}

impl std::fmt::Display for VmRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What the primary cluster says about a VM: the VM (if it exists) and the PVCs its volumes
/// name that exist, by PVC name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrimaryView {
    /// The VM, `None` when the primary cluster says it does not exist; shared with the cache.
    pub vm: Option<Arc<VirtualMachine>>,
    /// The VM's PVCs that exist, by name; a missing PVC is simply absent.
    pub pvcs: BTreeMap<String, PvcFacts>,
}

/// Why the primary cluster could not be asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The cluster did not answer within the deadline, or refused the connection.
    #[error("{detail}")]
    Unreachable {
        /// The cluster.
        cluster: String,
        /// What happened (timeout after …, connection refused, …).
        detail: String,
    },
    /// The kubeconfig Secret the policy names is missing or unusable.
    #[error("{detail}")]
    Kubeconfig {
        /// The cluster.
        cluster: String,
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        secret: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl LookupError {
    /// Stable name for metric labels.
    pub fn label(&self) -> &'static str {
        match self {
            LookupError::Unreachable { .. } => "Unreachable",
            LookupError::Kubeconfig { .. } => "Kubeconfig",
        }
    }
}

/// Whether one cache has synced, for `/metrics` and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheState {
    /// e.g. `quorum/policies`, `cluster1/virtualmachines`.
    pub cache: String,
    /// True once the initial list has been applied.
    pub synced: bool,
}

/// The facts admission decides on.
///
/// # Guarantees expected of an implementation
/// `policies` and `requests` answer from memory; `primary` answers within the configured
/// deadline (it may make one remote round trip on a cache miss) and never hangs.
pub trait Facts: Send + Sync {
    /// DRBDReplicationPolicies in a namespace of the quorum cluster, by name, shared with the
    /// cache.
    fn policies(&self, namespace: &str) -> Vec<Arc<DRBDReplicationPolicy>>;
    /// The ProtectionRequests in a namespace of the quorum cluster whose spec names VM `vm`, in
    /// no particular order, shared with the cache. (A namespace can hold many requests; a
    /// review looks only at those for its VM, usually none.)
    fn requests_for(&self, namespace: &str, vm: &VmRef) -> Vec<Arc<ProtectionRequest>>;
    /// The VM and the PVCs its volumes name, on the policy's primary cluster. `namespace` is
    /// where the policy (and its kubeconfig Secret) lives.
    fn primary<'a>(
        &'a self,
        namespace: &'a str,
        policy: &'a DRBDReplicationPolicy,
        vm: &'a VmRef,
    ) -> BoxFuture<'a, Result<PrimaryView, LookupError>>;
    /// True once every cache `/readyz` depends on has synced.
    fn synced(&self) -> bool;
    /// The state of every cache, for `/metrics`.
    fn cache_states(&self) -> Vec<CacheState>;
}

/// Fixed facts: a test double, and a model of what the caches hold.
#[derive(Clone, Debug, Default)]
pub struct StaticFacts {
    /// Policies by quorum namespace.
    pub policies: BTreeMap<String, Vec<DRBDReplicationPolicy>>,
    /// Requests by quorum namespace.
    pub requests: BTreeMap<String, Vec<ProtectionRequest>>,
    /// VMs by primary cluster.
    pub vms: BTreeMap<String, Vec<VirtualMachine>>,
    /// PVCs by (primary cluster, namespace, name).
    pub pvcs: BTreeMap<(String, String, String), PvcFacts>,
    /// Clusters that do not answer.
    pub unreachable: BTreeSet<String>,
    /// `synced()` answer.
    pub not_synced: bool,
}

impl StaticFacts {
    /// Add a policy in `namespace`.
    #[must_use]
    pub fn with_policy(mut self, namespace: &str, policy: DRBDReplicationPolicy) -> Self {
        self.policies
            .entry(namespace.to_owned())
            .or_default()
            .push(policy);
        self
    }

    /// Add a request in `namespace`.
    #[must_use]
    pub fn with_request(mut self, namespace: &str, request: ProtectionRequest) -> Self {
        self.requests
            .entry(namespace.to_owned())
            .or_default()
            .push(request);
        self
    }

    /// Add a VM on `cluster`.
    #[must_use]
    pub fn with_vm(mut self, cluster: &str, vm: VirtualMachine) -> Self {
        self.vms.entry(cluster.to_owned()).or_default().push(vm);
        self
    }

    /// Add a PVC on `cluster`.
    #[must_use]
    pub fn with_pvc(mut self, cluster: &str, namespace: &str, name: &str, pvc: PvcFacts) -> Self {
        self.pvcs.insert(
            (cluster.to_owned(), namespace.to_owned(), name.to_owned()),
            pvc,
        );
        self
    }

    /// Make `cluster` unreachable.
    #[must_use]
    pub fn with_unreachable(mut self, cluster: &str) -> Self {
        self.unreachable.insert(cluster.to_owned());
        self
    }

    /// The answer `primary` gives, synchronously.
    pub fn primary_view(
        &self,
        policy: &DRBDReplicationPolicy,
        vm: &VmRef,
    ) -> Result<PrimaryView, LookupError> {
        let cluster = &policy.spec.primary_cluster;
        if self.unreachable.contains(cluster) {
            return Err(LookupError::Unreachable {
                cluster: cluster.clone(),
                detail: "no answer within 2s".to_owned(),
            });
        }
        let found = self.vms.get(cluster).and_then(|vms| {
            vms.iter().find(|v| {
                v.metadata.namespace.as_deref() == Some(vm.namespace.as_str())
                    && v.metadata.name.as_deref() == Some(vm.name.as_str())
            })
        });
        let pvcs = found
            .map(|v| {
                v.claims()
                    .filter_map(|(_, claim)| {
                        let name = claim.pvc_name();
                        self.pvcs
                            .get(&(cluster.clone(), vm.namespace.clone(), name.to_owned()))
                            .map(|f| (name.to_owned(), f.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(PrimaryView {
            vm: found.cloned().map(Arc::new),
            pvcs,
        })
    }
}

impl Facts for StaticFacts {
    fn policies(&self, namespace: &str) -> Vec<Arc<DRBDReplicationPolicy>> {
        let mut found: Vec<_> = self
            .policies
            .get(namespace)
            .into_iter()
            .flatten()
            .cloned()
            .map(Arc::new)
            .collect();
        found.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        found
    }

    fn requests_for(&self, namespace: &str, vm: &VmRef) -> Vec<Arc<ProtectionRequest>> {
        self.requests
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|r| vm.is_named_by(r))
            .cloned()
            .map(Arc::new)
            .collect()
    }

    fn primary<'a>(
        &'a self,
        _namespace: &'a str,
        policy: &'a DRBDReplicationPolicy,
        vm: &'a VmRef,
    ) -> BoxFuture<'a, Result<PrimaryView, LookupError>> {
        let answer = self.primary_view(policy, vm);
        Box::pin(std::future::ready(answer))
    }

    fn synced(&self) -> bool {
        !self.not_synced
    }

    fn cache_states(&self) -> Vec<CacheState> {
        vec![CacheState {
            cache: "static".to_owned(),
            synced: !self.not_synced,
        }]
    }
}

/// Shared facts, as the router holds them.
pub type SharedFacts = Arc<dyn Facts>;
