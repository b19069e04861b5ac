//! The DRBDReplicationPolicy kind: which clusters replicate, which storage classes map to which,
//! and the DRBD ports and protocol to use.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::well_known;

/// How VMs of one primary cluster replicate to one DR cluster.
// Each printcolumn(...) repeats the keys name/type_/json_path; clippy reads that as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "siterecovery.trilio.io",
    version = "v1alpha1",
    kind = "DRBDReplicationPolicy",
    plural = "drbdreplicationpolicies",
    namespaced,
    category = "siterecovery",
    derive = "PartialEq",
    doc = "Pairs a primary cluster with a DR cluster and maps primary storage classes to DR storage classes for DRBD replication.",
    printcolumn(
        name = "Primary",
        type_ = "string",
        json_path = ".spec.primaryCluster",
        description = "Primary cluster"
    ),
    printcolumn(
        name = "DR",
        type_ = "string",
        json_path = ".spec.drCluster",
        description = "DR cluster"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct DRBDReplicationPolicySpec {
    /// Identifier of the primary cluster; a ProtectionRequest's `sourceCluster` matches it.
    pub primary_cluster: String,
    /// Identifier of the DR cluster.
    pub dr_cluster: String,
    /// Storage class mappings, keyed on `primary`. A PVC is covered when its storage class
    /// appears as `primary` here.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["primary"]))]
    pub storage_class_mappings: Vec<StorageClassMapping>,
    /// Secret in this namespace holding the primary cluster's kubeconfig (key `kubeconfig`).
    #[serde(default = "default_primary_kubeconfig_secret")]
    pub primary_kubeconfig_secret: String,
    /// Secret in this namespace holding the DR cluster's kubeconfig (key `kubeconfig`).
    #[serde(default = "default_dr_kubeconfig_secret")]
    pub dr_kubeconfig_secret: String,
    /// TCP ports DRBD may use, one per protected VM (inclusive range).
    #[serde(default)]
    pub port_range: PortRange,
    /// DRBD replication protocol. Only `C` (synchronous, RPO 0) is supported.
    #[serde(default)]
    pub protocol: Protocol,
}

/// Maps one storage class on the primary cluster to one on the DR cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StorageClassMapping {
    /// Storage class on the primary cluster.
    pub primary: String,
    /// Storage class for the backing PVC on the DR cluster.
    pub dr: String,
}

/// An inclusive range of TCP ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PortRange {
    /// First port of the range.
    #[schemars(range(min = 1, max = 65535))]
    pub start: i32,
    /// Last port of the range (inclusive).
    #[schemars(range(min = 1, max = 65535))]
    pub end: i32,
}

impl Default for PortRange {
    fn default() -> Self {
        Self {
            start: well_known::DEFAULT_PORT_RANGE_START,
            end: well_known::DEFAULT_PORT_RANGE_END,
        }
    }
}

/// DRBD replication protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Protocol {
    /// Synchronous: a write completes only when both disks confirmed it.
    #[default]
    C,
}

fn default_primary_kubeconfig_secret() -> String {
    well_known::DEFAULT_PRIMARY_KUBECONFIG_SECRET.to_owned()
}

fn default_dr_kubeconfig_secret() -> String {
    well_known::DEFAULT_DR_KUBECONFIG_SECRET.to_owned()
}

impl DRBDReplicationPolicySpec {
    /// The DR storage class mapped to `primary_class`, if any.
    pub fn dr_storage_class_for(&self, primary_class: &str) -> Option<&str> {
        self.storage_class_mappings
            .iter()
            .find(|m| m.primary == primary_class)
            .map(|m| m.dr.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_fields_take_their_defaults() {
        let spec: DRBDReplicationPolicySpec = serde_json::from_value(serde_json::json!({
            "primaryCluster": "cluster1", "drCluster": "cluster2"
        }))
        .unwrap();
        assert_eq!(spec.primary_kubeconfig_secret, "primary-kubeconfig");
        assert_eq!(spec.dr_kubeconfig_secret, "dr-kubeconfig");
        assert_eq!(
            spec.port_range,
            PortRange {
                start: 7000,
                end: 7999
            }
        );
        assert_eq!(spec.protocol, Protocol::C);
        assert!(spec.storage_class_mappings.is_empty());
    }

    #[test]
    fn only_protocol_c_is_accepted() {
        let err = serde_json::from_value::<DRBDReplicationPolicySpec>(serde_json::json!({
            "primaryCluster": "cluster1", "drCluster": "cluster2", "protocol": "A"
        }));
        assert!(err.is_err());
    }
}
