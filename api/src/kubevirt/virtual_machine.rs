//! KubeVirt's VirtualMachine, as far as protection needs it: run strategy, volumes and status.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

use super::virtual_machine_instance::VirtualMachineInstanceSpec;
use super::{API_VERSION, GROUP, Unmodeled, VERSION};
use crate::open_enum::open_string_enum;

/// A KubeVirt VirtualMachine. Fields not modeled here are kept in `unmodeled` at every level,
/// so serializing it back loses nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachine {
    /// `kubevirt.io/v1`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// `VirtualMachine`.
    #[serde(default = "kind")]
    pub kind: String,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default)]
    pub spec: VirtualMachineSpec,
    /// Observed state, written by KubeVirt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VirtualMachineStatus>,
    /// Top-level fields not modeled here.
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

fn api_version() -> String {
    API_VERSION.to_owned()
}

fn kind() -> String {
    "VirtualMachine".to_owned()
}

open_string_enum! {
    /// KubeVirt run strategy of a VirtualMachine.
    RunStrategy {
        /// Keep one VMI running; recreate it after any termination. Same as `running: true`.
        Always => "Always",
        /// Recreate the VMI only if it failed.
        RerunOnFailure => "RerunOnFailure",
        /// Run once; never restart.
        Once => "Once",
        /// Only the start/stop/restart subresources change the VMI.
        Manual => "Manual",
        /// No VMI exists; a running one is stopped. Same as `running: false`.
        Halted => "Halted",
        /// Wait for an incoming cross-cluster live migration.
        WaitAsReceiver => "WaitAsReceiver",
    }
}

/// The VM sets both `runStrategy` and the deprecated `running`, which KubeVirt rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "VirtualMachine sets both spec.running and spec.runStrategy, which KubeVirt treats as mutually exclusive"
)]
pub struct RunStrategyError;

/// VirtualMachine spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSpec {
    /// The run strategy, when the VM uses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_strategy: Option<RunStrategy>,
    /// Deprecated boolean form of the run strategy, used by older VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    /// Template of the VMI this VM creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<VirtualMachineInstanceTemplateSpec>,
    /// Spec fields not modeled here (dataVolumeTemplates, instancetype, …).
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

/// The VMI template inside a VirtualMachine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualMachineInstanceTemplateSpec {
    /// The VMI spec.
    #[serde(default)]
    pub spec: VirtualMachineInstanceSpec,
    /// Template fields not modeled here (metadata is kept verbatim this way).
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

/// One volume of a VMI spec. Only the PVC-backed sources are modeled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Volume name; matches a disk in `domain.devices.disks`.
    pub name: String,
    /// A PVC source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PersistentVolumeClaimSource>,
    /// A DataVolume source; its PVC has the DataVolume's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_volume: Option<DataVolumeSource>,
    /// Other sources (containerDisk, cloudInitNoCloud, …) and fields, kept verbatim.
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

/// `persistentVolumeClaim` volume source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimSource {
    /// Name of the PVC in the VM's namespace.
    pub claim_name: String,
    /// Other fields (readOnly, hotpluggable), kept verbatim.
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

/// `dataVolume` volume source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataVolumeSource {
    /// Name of the DataVolume; CDI names its PVC the same.
    pub name: String,
    /// Other fields (hotpluggable), kept verbatim.
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

/// Which PVC a volume mounts, and through which kind of source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimSource<'a> {
    /// `persistentVolumeClaim.claimName`.
    PersistentVolumeClaim(&'a str),
    /// `dataVolume.name` (the DataVolume's PVC has the same name).
    DataVolume(&'a str),
}

impl<'a> ClaimSource<'a> {
    /// Name of the PVC behind the source.
    pub fn pvc_name(self) -> &'a str {
        match self {
            ClaimSource::PersistentVolumeClaim(name) | ClaimSource::DataVolume(name) => name,
        }
    }
}

impl Volume {
    /// The PVC this volume mounts, or `None` for non-PVC sources (containerDisk, cloud-init, …).
    pub fn claim(&self) -> Option<ClaimSource<'_>> {
        if let Some(pvc) = &self.persistent_volume_claim {
            Some(ClaimSource::PersistentVolumeClaim(&pvc.claim_name))
        } else {
            self.data_volume
                .as_ref()
                .map(|dv| ClaimSource::DataVolume(&dv.name))
        }
    }
}

/// VirtualMachine status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineStatus {
    /// Human-readable state, e.g. Running, Stopped, ErrorUnschedulable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printable_status: Option<String>,
    /// The VMI is running and Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// A VMI exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// Status fields not modeled here.
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

impl VirtualMachine {
    /// The template's volumes (empty when there is no template).
    pub fn volumes(&self) -> &[Volume] {
        self.spec
            .template
            .as_ref()
            .map(|t| t.spec.volumes.as_slice())
            .unwrap_or(&[])
    }

    /// The PVCs this VM mounts, as (volume name, source), in volume order.
    pub fn claims(&self) -> impl Iterator<Item = (&str, ClaimSource<'_>)> {
        self.volumes()
            .iter()
            .filter_map(|v| v.claim().map(|c| (v.name.as_str(), c)))
    }

    /// The run strategy KubeVirt applies: `runStrategy`, else `running` (true → Always,
    /// false → Halted), else Halted.
    ///
    /// # Errors
    /// When both `running` and `runStrategy` are set.
    pub fn effective_run_strategy(&self) -> Result<RunStrategy, RunStrategyError> {
        match (&self.spec.run_strategy, self.spec.running) {
            (Some(_), Some(_)) => Err(RunStrategyError),
            (Some(strategy), None) => Ok(strategy.clone()),
            (None, Some(true)) => Ok(RunStrategy::Always),
            (None, Some(false) | None) => Ok(RunStrategy::Halted),
        }
    }

    /// True when the VM uses the deprecated `spec.running` instead of `runStrategy`, so stopping
    /// and starting it must patch `running`.
    pub fn uses_running_field(&self) -> bool {
        self.spec.running.is_some() && self.spec.run_strategy.is_none()
    }
}

impl Resource for VirtualMachine {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "VirtualMachine".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        GROUP.into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        VERSION.into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "virtualmachines".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
