//! The DRBDVolume kind: one protected PVC, the contract with the DRBD Operator. The same object
//! exists as the quorum copy (merged view) and as one side copy on each workload cluster.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::drbd_state::{ConnectionState, DiskState, ReplicationState, Role};
use crate::replication_policy::Protocol;

/// One protected PVC: the DRBD resource and volume that replicate it, and both sides' PVCs.
// Each printcolumn(...) repeats the keys name/type_/json_path; clippy reads that as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "siterecovery.trilio.io",
    version = "v1alpha1",
    kind = "DRBDVolume",
    plural = "drbdvolumes",
    namespaced,
    category = "siterecovery",
    status = "DRBDVolumeStatus",
    derive = "PartialEq",
    doc = "One PVC replicated by DRBD from the primary cluster to the DR cluster; the contract between the Protection Controller and the DRBD Operator.",
    printcolumn(
        name = "Resource",
        type_ = "string",
        json_path = ".spec.resource",
        description = "DRBD resource (one per VM)"
    ),
    printcolumn(name = "Port", type_ = "integer", json_path = ".spec.port"),
    printcolumn(
        name = "Primary PVC",
        type_ = "string",
        json_path = ".spec.primary.pvcName"
    ),
    printcolumn(
        name = "Connection",
        type_ = "string",
        json_path = ".status.connectionState"
    ),
    printcolumn(name = "Disk", type_ = "string", json_path = ".status.diskState"),
    printcolumn(
        name = "Peer Disk",
        type_ = "string",
        json_path = ".status.peerDiskState"
    ),
    printcolumn(
        name = "Sync",
        type_ = "number",
        json_path = ".status.syncPercent",
        description = "Sync progress in percent"
    ),
    printcolumn(
        name = "Replication",
        type_ = "string",
        json_path = ".status.replicationState",
        priority = 1
    ),
    printcolumn(
        name = "Role",
        type_ = "string",
        json_path = ".status.role",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct DRBDVolumeSpec {
    /// DRBD resource name. All PVCs of one VM share one resource, so their writes stay ordered
    /// together (a consistency group).
    pub resource: String,
    /// Volume number of this PVC inside the resource (0-65534).
    #[schemars(range(min = 0, max = 65534))]
    pub volume_number: i32,
    /// TCP port of the resource's connection; shared by all volumes of the resource, unique per
    /// policy within its port range.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// DRBD replication protocol. Only `C` is supported.
    #[serde(default)]
    pub protocol: Protocol,
    /// The primary side: where the VM and its original PVC live.
    pub primary: PrimarySide,
    /// The DR side: where the backing PVC is created.
    pub dr: DrSide,
    /// On a side copy: the other side's `address:port`, relayed by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_endpoint: Option<String>,
}

/// The primary side of a DRBDVolume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrimarySide {
    /// Primary cluster identifier.
    pub cluster: String,
    /// Namespace of the VM's PVC.
    pub pvc_namespace: String,
    /// Name of the VM's PVC.
    pub pvc_name: String,
    /// Storage class of the VM's PVC.
    pub storage_class: String,
    /// Size of the VM's PVC; the DR backing PVC gets the same.
    pub capacity: Quantity,
}

/// The DR side of a DRBDVolume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrSide {
    /// DR cluster identifier.
    pub cluster: String,
    /// Namespace of the backing PVC on the DR cluster.
    pub pvc_namespace: String,
    /// Name of the backing PVC the DRBD Operator creates on the DR cluster.
    pub pvc_name: String,
    /// Storage class of the backing PVC (the policy's mapping of the primary class).
    pub storage_class: String,
}

/// What DRBD reports. On a side copy it is written by that cluster's DRBD Operator; on the
/// quorum copy it is the controller's merged view of both sides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DRBDVolumeStatus {
    /// DRBD role of this side: Primary, Secondary or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// This side's replication address, `address:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// DRBD connection state to the peer, e.g. Connecting, Connected, StandAlone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<ConnectionState>,
    /// This side's disk state, e.g. Inconsistent, UpToDate. UpToDate on a disconnected side
    /// proves nothing about freshness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_state: Option<DiskState>,
    /// The peer's disk state as this side sees it, e.g. UpToDate, Inconsistent, DUnknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_disk_state: Option<DiskState>,
    /// DRBD replication state, e.g. Established, SyncSource, SyncTarget, Ahead, Behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_state: Option<ReplicationState>,
    /// Sync progress in percent (0-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_percent: Option<f64>,
    /// Bytes not yet replicated to the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_sync_bytes: Option<i64>,
    /// Current resync rate in bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_rate_bytes_per_sec: Option<i64>,
    /// True when DRBD detected split brain. Never resolved automatically: choosing which side's
    /// writes to discard is a human decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_brain: Option<bool>,
    /// Primary side only: name of the DRBD-backed PVC the VM switches to on activation.
    #[serde(
        rename = "frontendPVC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub frontend_pvc: Option<String>,
    /// Detailed observations, keyed on `type`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl DRBDVolumeStatus {
    /// True when this status, read on the primary side, proves RPO 0: the peer is Connected,
    /// Established and UpToDate, and no split brain. (Protocol C comes from the spec.)
    pub fn replicating(&self) -> bool {
        self.connection_state == Some(ConnectionState::Connected)
            && self.replication_state == Some(ReplicationState::Established)
            && self.peer_disk_state == Some(DiskState::UpToDate)
            && self.split_brain != Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_copy_status_with_unknown_words_deserializes() {
        let status: DRBDVolumeStatus = serde_json::from_value(serde_json::json!({
            "role": "Primary", "endpoint": "10.0.0.5:7000",
            "connectionState": "Connected", "diskState": "UpToDate",
            "peerDiskState": "TieBreaker", "replicationState": "Established",
            "syncPercent": 100.0, "outOfSyncBytes": 0, "frontendPVC": "web-server-data-drbd"
        }))
        .unwrap();
        assert_eq!(
            status.peer_disk_state,
            Some(DiskState::Other("TieBreaker".into()))
        );
        assert!(!status.replicating());
        assert_eq!(status.frontend_pvc.as_deref(), Some("web-server-data-drbd"));
    }

    #[test]
    fn only_connected_established_peer_up_to_date_is_replicating() {
        let mut status = DRBDVolumeStatus {
            connection_state: Some(ConnectionState::Connected),
            replication_state: Some(ReplicationState::Established),
            peer_disk_state: Some(DiskState::UpToDate),
            ..Default::default()
        };
        assert!(status.replicating());
        status.replication_state = Some(ReplicationState::Ahead);
        assert!(!status.replicating());
        status.replication_state = Some(ReplicationState::Established);
        status.connection_state = Some(ConnectionState::Connecting);
        assert!(!status.replicating());
    }
}
