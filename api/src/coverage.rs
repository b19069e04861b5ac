//! Coverage: the one rule, shared by webhook, controller and plugin, that decides which
//! DRBDReplicationPolicy applies to a VM and which of its PVCs that policy can replicate.
//!
//! Every verdict carries a message a user can act on; webhook and controller print them
//! verbatim, so the wording is tested.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::kubevirt::{ClaimSource, VirtualMachine};
use crate::replication_policy::{DRBDReplicationPolicy, StorageClassMapping};

/// What the primary cluster says about one PVC in the VM's namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PvcFacts {
    /// `spec.storageClassName`; `None` (or empty) when the PVC has none.
    pub storage_class: Option<String>,
    /// `status.capacity.storage`, else `spec.resources.requests.storage`.
    pub capacity: Option<Quantity>,
    /// `status.phase`: Pending, Bound or Lost.
    pub phase: Option<String>,
}

impl PvcFacts {
    /// The facts coverage needs, read from a PVC object.
    pub fn from_pvc(pvc: &PersistentVolumeClaim) -> Self {
        let spec = pvc.spec.as_ref();
        let status = pvc.status.as_ref();
        let capacity = status
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .or_else(|| {
                spec.and_then(|s| s.resources.as_ref())
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("storage"))
            })
            .cloned();
        Self {
            storage_class: spec.and_then(|s| s.storage_class_name.clone()),
            capacity,
            phase: status.and_then(|s| s.phase.clone()),
        }
    }

    /// True when the PVC is Bound.
    pub fn is_bound(&self) -> bool {
        self.phase.as_deref() == Some("Bound")
    }

    fn storage_class(&self) -> Option<&str> {
        self.storage_class.as_deref().filter(|c| !c.is_empty())
    }
}

/// Why no single policy applies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicySelectionError {
    /// There is no DRBDReplicationPolicy at all.
    #[error("{}", no_policy_message(.source_cluster.as_deref()))]
    NoPolicy {
        /// The requested primary cluster, if given.
        source_cluster: Option<String>,
    },
    /// No policy has `primaryCluster` equal to the requested source cluster.
    #[error("{}", no_match_message(.source_cluster, .available))]
    NoMatch {
        /// The requested primary cluster.
        source_cluster: String,
        /// The policies that exist: (name, primaryCluster, drCluster).
        available: Vec<(String, String, String)>,
    },
    /// Two or more policies have `primaryCluster` equal to the requested source cluster.
    #[error(
        "DRBDReplicationPolicies {} all have primaryCluster {source_cluster:?}, so the DR cluster is ambiguous; delete one of them or change its primaryCluster",
        quoted_list(.policies)
    )]
    Ambiguous {
        /// The requested primary cluster.
        source_cluster: String,
        /// The matching policies' names.
        policies: Vec<String>,
    },
    /// `sourceCluster` was not given and more than one policy exists.
    #[error(
        "spec.sourceCluster is not set and {} DRBDReplicationPolicies exist ({}); set spec.sourceCluster to the VM's primary cluster",
        .available.len(),
        describe_policies(.available)
    )]
    SourceClusterRequired {
        /// The policies that exist: (name, primaryCluster, drCluster).
        available: Vec<(String, String, String)>,
    },
}

fn no_policy_message(source_cluster: Option<&str>) -> String {
    match source_cluster {
        Some(cluster) => format!(
            "no DRBDReplicationPolicy exists in this namespace; create one with primaryCluster {cluster:?} and storageClassMappings for the VM's storage classes"
        ),
        None => "no DRBDReplicationPolicy exists in this namespace; create one with the VM's primary cluster as primaryCluster and storageClassMappings for the VM's storage classes".to_owned(),
    }
}

fn no_match_message(source_cluster: &str, available: &[(String, String, String)]) -> String {
    format!(
        "no DRBDReplicationPolicy has primaryCluster {source_cluster:?} (policies in this namespace: {}); set spec.sourceCluster to one of those primary clusters or create a policy for {source_cluster:?}",
        describe_policies(available)
    )
}

fn describe_policies(available: &[(String, String, String)]) -> String {
    available
        .iter()
        .map(|(name, primary, dr)| format!("{name:?} for {primary} → {dr}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn policy_name(policy: &DRBDReplicationPolicy) -> String {
    policy.metadata.name.clone().unwrap_or_default()
}

fn describe(policy: &DRBDReplicationPolicy) -> (String, String, String) {
    (
        policy_name(policy),
        policy.spec.primary_cluster.clone(),
        policy.spec.dr_cluster.clone(),
    )
}

/// The policy that applies to a VM on `source_cluster`.
///
/// With a source cluster, exactly one policy must have it as `primaryCluster`. Without one, the
/// only policy in the namespace applies (the webhook then fills `sourceCluster` from it).
///
/// # Errors
/// No policy at all, none for the source cluster, several for it, or several and no source
/// cluster given; each error names the cluster and the policies that exist.
pub fn select_policy<'p, P: Borrow<DRBDReplicationPolicy>>(
    policies: &'p [P],
    source_cluster: Option<&str>,
) -> Result<&'p DRBDReplicationPolicy, PolicySelectionError> {
    if policies.is_empty() {
        return Err(PolicySelectionError::NoPolicy {
            source_cluster: source_cluster.map(str::to_owned),
        });
    }
    let all = || policies.iter().map(Borrow::borrow);
    let Some(cluster) = source_cluster else {
        return match policies {
            [only] => Ok(only.borrow()),
            _ => Err(PolicySelectionError::SourceClusterRequired {
                available: all().map(describe).collect(),
            }),
        };
    };
    let matching: Vec<&DRBDReplicationPolicy> = all()
        .filter(|p| p.spec.primary_cluster == cluster)
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(PolicySelectionError::NoMatch {
            source_cluster: cluster.to_owned(),
            available: all().map(describe).collect(),
        }),
        several => Err(PolicySelectionError::Ambiguous {
            source_cluster: cluster.to_owned(),
            policies: several.iter().map(|p| policy_name(p)).collect(),
        }),
    }
}

/// The verdict for one PVC-backed volume of the VM.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The policy maps the PVC's storage class; DRBD can replicate it.
    Covered {
        /// Storage class on the primary cluster.
        storage_class: String,
        /// Storage class the policy maps it to on the DR cluster.
        dr_storage_class: String,
    },
    /// The PVC does not exist in the VM's namespace.
    PvcMissing,
    /// The PVC has no storage class, so no mapping can apply.
    NoStorageClass,
    /// The PVC's storage class is not among the policy's mappings.
    StorageClassNotMapped {
        /// The PVC's storage class.
        storage_class: String,
    },
}

/// Coverage of one PVC-backed volume.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeCoverage {
    /// Volume name in the VM template.
    pub volume: String,
    /// PVC name (for a DataVolume source, the DataVolume's name).
    pub pvc: String,
    /// DataVolume name when the volume is a `dataVolume` source.
    pub data_volume: Option<String>,
    /// What the cluster says about the PVC (`None` when missing).
    pub facts: Option<PvcFacts>,
    /// The verdict.
    pub verdict: Verdict,
}

impl VolumeCoverage {
    /// True when the policy covers this PVC.
    pub fn is_covered(&self) -> bool {
        matches!(self.verdict, Verdict::Covered { .. })
    }

    /// True when the PVC exists but is not Bound. Admission may accept this (e.g.
    /// WaitForFirstConsumer); the controller waits or fails on it.
    pub fn is_unbound(&self) -> bool {
        self.facts.as_ref().is_some_and(|f| !f.is_bound())
    }

    fn pvc_phrase(&self) -> String {
        match &self.data_volume {
            Some(dv) => format!("PVC {:?} of DataVolume {dv:?}", self.pvc),
            None => format!("PVC {:?}", self.pvc),
        }
    }
}

/// The coverage of a VM's PVCs by one policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    /// Namespace of the VM (and its PVCs) on the primary cluster.
    pub vm_namespace: String,
    /// Name of the VM.
    pub vm_name: String,
    /// Name of the policy that applies.
    pub policy: String,
    /// The policy's primary cluster.
    pub primary_cluster: String,
    /// The policy's DR cluster.
    pub dr_cluster: String,
    /// The policy's mappings, for messages.
    pub mappings: Vec<StorageClassMapping>,
    /// One entry per PVC-backed volume, in VM volume order. Other volumes (containerDisk,
    /// cloud-init, …) are not listed: there is nothing to replicate.
    pub volumes: Vec<VolumeCoverage>,
}

impl Coverage {
    /// Volumes the policy covers.
    pub fn covered(&self) -> impl Iterator<Item = &VolumeCoverage> {
        self.volumes.iter().filter(|v| v.is_covered())
    }

    /// Volumes the policy does not cover.
    pub fn uncovered(&self) -> impl Iterator<Item = &VolumeCoverage> {
        self.volumes.iter().filter(|v| !v.is_covered())
    }

    /// Volumes whose PVC exists but is not Bound.
    pub fn unbound(&self) -> impl Iterator<Item = &VolumeCoverage> {
        self.volumes.iter().filter(|v| v.is_unbound())
    }

    /// True when the VM has at least one PVC and the policy covers all of them.
    pub fn is_complete(&self) -> bool {
        !self.volumes.is_empty() && self.volumes.iter().all(VolumeCoverage::is_covered)
    }

    fn vm(&self) -> String {
        format!("{}/{}", self.vm_namespace, self.vm_name)
    }

    fn mappings_phrase(&self) -> String {
        if self.mappings.is_empty() {
            "it maps no storage classes".to_owned()
        } else {
            let pairs: Vec<String> = self
                .mappings
                .iter()
                .map(|m| format!("{} → {}", m.primary, m.dr))
                .collect();
            format!("it maps: {}", pairs.join(", "))
        }
    }

    /// The message for one volume's verdict, naming the PVC and what to do.
    pub fn volume_message(&self, volume: &VolumeCoverage) -> String {
        let pvc = volume.pvc_phrase();
        match &volume.verdict {
            Verdict::Covered {
                storage_class,
                dr_storage_class,
            } => format!(
                "{pvc} uses storage class {storage_class:?}, which DRBDReplicationPolicy {:?} maps to {dr_storage_class:?} on {}",
                self.policy, self.dr_cluster
            ),
            Verdict::PvcMissing => match &volume.data_volume {
                Some(dv) => format!(
                    "{pvc} (volume {:?}) does not exist in namespace {:?} on cluster {:?}; check that DataVolume {dv:?} exists and has created its PVC",
                    volume.volume, self.vm_namespace, self.primary_cluster
                ),
                None => format!(
                    "{pvc} (volume {:?}) does not exist in namespace {:?} on cluster {:?}; create it or fix the claimName in the VM",
                    volume.volume, self.vm_namespace, self.primary_cluster
                ),
            },
            Verdict::NoStorageClass => format!(
                "{pvc} has no storage class, so DRBDReplicationPolicy {:?} cannot map it ({}); only PVCs with a mapped storage class can be protected",
                self.policy,
                self.mappings_phrase()
            ),
            Verdict::StorageClassNotMapped { storage_class } => format!(
                "{pvc} uses storage class {storage_class:?}, which DRBDReplicationPolicy {:?} does not map ({}); add a storageClassMappings entry for {storage_class:?}",
                self.policy,
                self.mappings_phrase()
            ),
        }
    }

    /// The message for a PVC that exists but is not Bound.
    pub fn unbound_message(&self, volume: &VolumeCoverage) -> String {
        let phase = volume
            .facts
            .as_ref()
            .and_then(|f| f.phase.as_deref())
            .unwrap_or("unknown");
        format!(
            "{} is not Bound (phase {phase}); DRBD can replicate only a bound volume, so wait for it to bind or fix its storage",
            volume.pvc_phrase()
        )
    }

    /// `None` when the policy covers every PVC of the VM; otherwise one message naming the VM
    /// and every problem, for an admission denial or `status.message`. Binding is not checked
    /// here (see [`Coverage::unbound`]).
    pub fn denial(&self) -> Option<String> {
        if self.volumes.is_empty() {
            return Some(format!(
                "VirtualMachine {} mounts no persistentVolumeClaim or dataVolume volumes, so there is nothing for DRBD to protect",
                self.vm()
            ));
        }
        let problems: Vec<String> = self.uncovered().map(|v| self.volume_message(v)).collect();
        if problems.is_empty() {
            return None;
        }
        Some(format!(
            "VirtualMachine {} cannot be protected: {}",
            self.vm(),
            problems.join("; ")
        ))
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.denial() {
            Some(denial) => f.write_str(&denial),
            None => write!(
                f,
                "DRBDReplicationPolicy {:?} covers all {} PVCs of VirtualMachine {}",
                self.policy,
                self.volumes.len(),
                self.vm()
            ),
        }
    }
}

/// Assess how `policy` covers the PVCs of `vm`, given the PVCs found in the VM's namespace
/// (by name). `persistentVolumeClaim` and `dataVolume` sources are assessed; other volumes are
/// ignored.
pub fn assess(
    vm: &VirtualMachine,
    pvcs: &BTreeMap<String, PvcFacts>,
    policy: &DRBDReplicationPolicy,
) -> Coverage {
    let volumes = vm
        .claims()
        .map(|(volume, source)| {
            let pvc = source.pvc_name();
            let facts = pvcs.get(pvc).cloned();
            let verdict = match &facts {
                None => Verdict::PvcMissing,
                Some(f) => match f.storage_class() {
                    None => Verdict::NoStorageClass,
                    Some(class) => match policy.spec.dr_storage_class_for(class) {
                        Some(dr) => Verdict::Covered {
                            storage_class: class.to_owned(),
                            dr_storage_class: dr.to_owned(),
                        },
                        None => Verdict::StorageClassNotMapped {
                            storage_class: class.to_owned(),
                        },
                    },
                },
            };
            VolumeCoverage {
                volume: volume.to_owned(),
                pvc: pvc.to_owned(),
                data_volume: match source {
                    ClaimSource::DataVolume(name) => Some(name.to_owned()),
                    ClaimSource::PersistentVolumeClaim(_) => None,
                },
                facts,
                verdict,
            }
        })
        .collect();
    Coverage {
        vm_namespace: vm.metadata.namespace.clone().unwrap_or_default(),
        vm_name: vm.metadata.name.clone().unwrap_or_default(),
        policy: policy_name(policy),
        primary_cluster: policy.spec.primary_cluster.clone(),
        dr_cluster: policy.spec.dr_cluster.clone(),
        mappings: policy.spec.storage_class_mappings.clone(),
        volumes,
    }
}

/// True when [`assess`] would find nothing to report: the VM has at least one PVC-backed
/// volume, `policy` covers every one of them, and each PVC is Bound — so the assessment has no
/// denial ([`Coverage::denial`]) and no unbound volume ([`Coverage::unbound`]). It copies
/// nothing: the common case of admission, decided without building a [`Coverage`].
pub fn is_fully_covered(
    vm: &VirtualMachine,
    pvcs: &BTreeMap<String, PvcFacts>,
    policy: &DRBDReplicationPolicy,
) -> bool {
    let mut claims = vm.claims().peekable();
    claims.peek().is_some()
        && claims.all(|(_, source)| {
            pvcs.get(source.pvc_name()).is_some_and(|facts| {
                facts.is_bound()
                    && facts
                        .storage_class()
                        .and_then(|class| policy.spec.dr_storage_class_for(class))
                        .is_some()
            })
        })
}

/// Select the policy for `source_cluster` and assess how it covers `vm`'s PVCs.
///
/// # Errors
/// When no single policy applies (see [`select_policy`]).
pub fn coverage(
    vm: &VirtualMachine,
    pvcs: &BTreeMap<String, PvcFacts>,
    policies: &[DRBDReplicationPolicy],
    source_cluster: Option<&str>,
) -> Result<Coverage, PolicySelectionError> {
    let policy = select_policy(policies, source_cluster)?;
    Ok(assess(vm, pvcs, policy))
}

#[cfg(test)]
mod tests;
