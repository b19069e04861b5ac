//! The ProtectionRequest kind: one KubeVirt VM put under DRBD disaster-recovery protection.

use k8s_openapi::apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::phase::Phase;

/// Desired protection: which VM, on which primary cluster. Immutable after creation (the
/// validating webhook enforces it).
// Each printcolumn(...) repeats the keys name/type_/json_path; clippy reads that as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "siterecovery.trilio.io",
    version = "v1alpha1",
    kind = "ProtectionRequest",
    namespaced,
    shortname = "pr",
    shortname = "protect",
    category = "siterecovery",
    status = "ProtectionRequestStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "Requests DRBD disaster-recovery protection for one KubeVirt VM on the primary cluster.",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Where the request is in the protection workflow"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "VM",
        type_ = "string",
        json_path = ".spec.vmName",
        description = "Protected VM",
        priority = 1
    ),
    printcolumn(
        name = "Source",
        type_ = "string",
        json_path = ".spec.sourceCluster",
        description = "Primary cluster",
        priority = 1
    ),
    printcolumn(
        name = "DR",
        type_ = "string",
        json_path = ".status.drCluster",
        description = "DR cluster",
        priority = 1
    ),
    printcolumn(
        name = "Sync",
        type_ = "string",
        json_path = ".status.syncProgress",
        description = "Initial sync progress over all volumes",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ProtectionRequestSpec {
    /// Name of the VirtualMachine on the primary cluster.
    pub vm_name: String,
    /// Namespace of the VirtualMachine on the primary cluster.
    pub vm_namespace: String,
    /// Identifier of the primary cluster; matches `primaryCluster` of a DRBDReplicationPolicy in
    /// this namespace. May be omitted when exactly one policy exists: the webhook fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_cluster: Option<String>,
}

/// Observed state, written only by the Protection Controller. Reads as `phase: Pending` until
/// the controller first writes it.
// The `default: {}` makes the apiserver default `status` (and so `phase`) whenever the object
// is read: `kubectl get pr` prints Pending before any controller has seen the request, as the
// guide's "controller not running" case shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {}))]
pub struct ProtectionRequestStatus {
    /// Where the request is in the protection workflow. Phases only move forward; Failed is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::phase::drop_null_from_enum, extend("default" = "Pending"))]
    pub phase: Option<Phase>,
    /// One human sentence about the current state, e.g. "DRBD initial sync in progress for 2 volumes".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Detailed observations, keyed on `type`: Validated, VolumesCreated, Synced, Activated,
    /// Ready, PrimaryReachable, DRReachable, Replicating.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Name of the DRBDReplicationPolicy that covers this VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The DR cluster, taken from the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_cluster: Option<String>,
    /// `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When each phase was entered, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["phase"]))]
    pub phase_transitions: Vec<PhaseTransition>,
    /// Initial sync progress over all volumes, e.g. "63%" (the SYNC column of `-o wide`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_progress: Option<String>,
    /// Per-PVC replication state, keyed on `pvc`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["pvc"]))]
    pub volumes: Vec<VolumeStatus>,
}

/// When a phase was entered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhaseTransition {
    /// The phase entered.
    pub phase: Phase,
    /// When it was entered.
    pub time: Time,
}

/// Replication state of one protected PVC.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeStatus {
    /// Name of the VM's PVC on the primary cluster.
    pub pvc: String,
    /// Storage class of the PVC on the primary cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Storage class of the backing PVC on the DR cluster, from the policy's mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_storage_class: Option<String>,
    /// Size of the PVC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Quantity>,
    /// Name of the DRBDVolume replicating this PVC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drbd_volume: Option<String>,
    /// DRBD port of the VM's resource (shared by all its volumes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// Initial sync progress in percent (0-100). Never goes backwards in what is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_percent: Option<f64>,
    /// Bytes still to be replicated to the DR side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_sync_bytes: Option<i64>,
    /// Current sync rate in bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_rate: Option<i64>,
    /// Estimated seconds until the initial sync completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<i64>,
    /// Short summary of the replication state, e.g. "SyncSource", "Established", "StandAlone".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl ProtectionRequest {
    /// The current phase; a request without status is `Pending`.
    pub fn phase(&self) -> Phase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or_default()
    }
}
