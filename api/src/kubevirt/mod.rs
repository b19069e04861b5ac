//! Minimal views of KubeVirt's VirtualMachine and VirtualMachineInstance (kubevirt.io/v1): what
//! the controller reads, with every other field kept verbatim so a write never drops it, and the
//! RFC 6902 patches for the few paths the controller changes.

mod patch;
mod run_state;
mod virtual_machine;
mod virtual_machine_instance;

pub use patch::{
    VolumePatchError, remove_original_volumes_annotation, replace_volume_claim, restore_volume,
    set_original_volumes_annotation, set_run_strategy, set_running,
};
pub use run_state::{
    RunState, remove_original_run_state_annotation, set_original_run_state_annotation,
};
pub use virtual_machine::{
    ClaimSource, DataVolumeSource, PersistentVolumeClaimSource, RunStrategy, RunStrategyError,
    VirtualMachine, VirtualMachineInstanceTemplateSpec, VirtualMachineSpec, VirtualMachineStatus,
    Volume,
};
pub use virtual_machine_instance::{
    VirtualMachineInstance, VirtualMachineInstanceCondition, VirtualMachineInstanceSpec,
    VirtualMachineInstanceStatus,
};

/// KubeVirt's API group.
pub const GROUP: &str = "kubevirt.io";
/// KubeVirt's API version.
pub const VERSION: &str = "v1";
/// `apiVersion` of KubeVirt's core kinds.
pub const API_VERSION: &str = "kubevirt.io/v1";

/// Fields of an object that this crate does not model, kept verbatim (and in order).
pub type Unmodeled = serde_json::Map<String, serde_json::Value>;
