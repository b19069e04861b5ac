//! What the controller observed about one ProtectionRequest, across the quorum cluster and both
//! workload clusters: the only input of the pure decision ([`crate::decide`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use protect_api::coverage::PvcFacts;
use protect_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use protect_api::{DRBDReplicationPolicy, DRBDVolume, ProtectionRequest};

/// Tunables of the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// A volume whose sync made no progress for this long is reported as stalled.
    pub stall_timeout: Duration,
    /// Activation gives up (and rolls back) when the frontend PVCs are not Bound, or the VM is
    /// not running on them for a reason other than the not-ready taint, after this long.
    pub activation_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            stall_timeout: Duration::from_secs(5 * 60),
            activation_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// What the controller knows about one workload cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Reach<T> {
    /// No policy applies yet, so it is not known which cluster to ask.
    Unknown,
    /// The cluster's API cannot be read right now (no kubeconfig Secret, bad kubeconfig, watch
    /// failing): `reason` says why, in words a user can act on.
    Unreachable {
        /// Why, e.g. "Secret dr-deployment/primary-kubeconfig not found".
        reason: String,
    },
    /// The cluster answered; its caches are synced.
    Reachable(T),
}

impl<T> Reach<T> {
    /// The facts, when the cluster is reachable.
    pub fn reachable(&self) -> Option<&T> {
        match self {
            Reach::Reachable(t) => Some(t),
            _ => None,
        }
    }
}

/// What the primary cluster shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrimaryFacts {
    /// The VM, if it exists.
    pub vm: Option<VirtualMachine>,
    /// Its VMI, if one exists.
    pub vmi: Option<VirtualMachineInstance>,
    /// PVCs in the VM's namespace, by name (the VM's own PVCs and the frontend PVCs).
    pub pvcs: BTreeMap<String, PvcFacts>,
    /// This request's DRBDVolume side copies on the primary cluster, by name.
    pub side_copies: BTreeMap<String, DRBDVolume>,
    /// Nodes carrying the `siterecovery.trilio.io/not-ready:NoSchedule` taint.
    pub not_ready_nodes: BTreeSet<String>,
}

/// What the DR cluster shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DrFacts {
    /// This request's DRBDVolume side copies on the DR cluster, by name.
    pub side_copies: BTreeMap<String, DRBDVolume>,
}

/// The last time a volume's initial sync moved, remembered between reconciles to detect a stall.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Bytes out of sync when last seen moving (or first seen).
    pub out_of_sync_bytes: Option<i64>,
    /// Percent when last seen moving.
    pub sync_percent: Option<f64>,
    /// When it last moved (or was first seen).
    pub since: Timestamp,
}

/// Everything the decision reads.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The time of the observation.
    pub now: Timestamp,
    /// The request as stored (spec, status, metadata).
    pub request: ProtectionRequest,
    /// DRBDReplicationPolicies in the request's namespace.
    pub policies: Vec<DRBDReplicationPolicy>,
    /// DRBD ports already used by other requests of the same namespace.
    pub ports_in_use: BTreeSet<i32>,
    /// This request's quorum DRBDVolumes, by name.
    pub quorum_volumes: BTreeMap<String, DRBDVolume>,
    /// The primary cluster.
    pub primary: Reach<PrimaryFacts>,
    /// The DR cluster.
    pub dr: Reach<DrFacts>,
    /// Sync progress memory, by PVC name.
    pub progress: BTreeMap<String, Progress>,
    /// Tunables.
    pub settings: Settings,
}
