//! protect-api: the ProtectionRequest, DRBDReplicationPolicy and DRBDVolume kinds, minimal
//! KubeVirt views, and the pure rules shared by webhook, controller and plugin (coverage,
//! naming, port allocation). No I/O.

#![deny(missing_docs)]

pub mod conditions;
pub mod coverage;
pub mod crds;
pub mod drbd_state;
pub mod drbd_volume;
pub mod kubevirt;
pub mod naming;
mod open_enum;
pub mod phase;
pub mod ports;
pub mod protection_request;
pub mod replication_policy;
pub mod well_known;

pub use conditions::{Condition, ConditionStatus, condition_type, find_condition, set_condition};
pub use drbd_state::{ConnectionState, DiskState, ReplicationState, Role};
pub use drbd_volume::{DRBDVolume, DRBDVolumeSpec, DRBDVolumeStatus, DrSide, PrimarySide};
pub use phase::Phase;
pub use protection_request::{
    PhaseTransition, ProtectionRequest, ProtectionRequestSpec, ProtectionRequestStatus,
    VolumeStatus,
};
pub use replication_policy::{
    DRBDReplicationPolicy, DRBDReplicationPolicySpec, PortRange, Protocol, StorageClassMapping,
};
