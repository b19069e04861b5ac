//! KubeVirt's VirtualMachineInstance, as far as protection needs it: phase, conditions, node.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

use super::virtual_machine::Volume;
use super::{API_VERSION, GROUP, Unmodeled, VERSION};

/// A running instance of a VirtualMachine. Fields not modeled here are kept in `unmodeled`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstance {
    /// `kubevirt.io/v1`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// `VirtualMachineInstance`.
    #[serde(default = "kind")]
    pub kind: String,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default)]
    pub spec: VirtualMachineInstanceSpec,
    /// Observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VirtualMachineInstanceStatus>,
    /// Top-level fields not modeled here.
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

fn api_version() -> String {
    API_VERSION.to_owned()
}

fn kind() -> String {
    "VirtualMachineInstance".to_owned()
}

/// VMI spec (also the spec of a VirtualMachine's template).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualMachineInstanceSpec {
    /// Volumes, each with one source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Spec fields not modeled here (domain, networks, …).
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

/// VMI status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceStatus {
    /// Lifecycle phase: Pending, Scheduling, Scheduled, Running, Succeeded, Failed, Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Node the VMI runs on, once scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Conditions (Ready, PodScheduled, Synchronized, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<VirtualMachineInstanceCondition>,
    /// Status fields not modeled here.
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

/// One VMI condition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualMachineInstanceCondition {
    /// Condition type, e.g. Ready or PodScheduled.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    /// Machine-readable reason, e.g. Unschedulable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message, e.g. the scheduler's taint explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields not modeled here (lastProbeTime, lastTransitionTime).
    #[serde(flatten)]
    pub unmodeled: Unmodeled,
}

impl VirtualMachineInstance {
    /// The phase, if reported.
    pub fn phase(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| s.phase.as_deref())
    }

    /// The condition of `type_`, if present.
    pub fn condition(&self, type_: &str) -> Option<&VirtualMachineInstanceCondition> {
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
    }

    /// True when the VMI is Running with condition Ready=True.
    pub fn is_running_and_ready(&self) -> bool {
        self.phase() == Some("Running")
            && self.condition("Ready").is_some_and(|c| c.status == "True")
    }

    /// When the VMI cannot be scheduled (PodScheduled=False, reason Unschedulable), the
    /// scheduler's message, e.g. naming an untolerated taint.
    pub fn unschedulable_message(&self) -> Option<&str> {
        self.condition("PodScheduled")
            .filter(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
            .map(|c| c.message.as_deref().unwrap_or("unschedulable"))
    }
}

impl Resource for VirtualMachineInstance {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "VirtualMachineInstance".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        GROUP.into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        VERSION.into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "virtualmachineinstances".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
