//! The pure decision: from what was observed ([`Facts`]) to the next step ([`Plan`]): the status
//! to report and the writes to make. No I/O; every rule of DESIGN §4 lives here, once.
//!
//! # Guarantees
//! - Phases only move forward ([`Phase::can_transition_to`]); `Failed` is final and a Failed
//!   request's status never changes.
//! - Every write is derived from observed state and is idempotent, so replaying a plan after a
//!   crash duplicates nothing. A plan carries at most one VirtualMachine patch: each VM step is
//!   observed (through the watch) before the next is decided.
//! - The DRBD port is chosen in the same status write that leaves Validating, and DRBDVolumes
//!   are only created from a status that already records it.
//! - Before the VM is first stopped, how it was run and its volumes are recorded on it; a failed
//!   activation puts both back before the request becomes Failed.
//! - Reported sync progress (`syncPercent`, and `outOfSyncBytes` during the initial sync) never
//!   goes backwards.
//!
//! # Assumptions
//! The caller writes `Plan::status` (when it differs) before executing `Plan::writes` in order,
//! stopping at the first failure.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use json_patch::Patch;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use protect_api::conditions::condition_type as ct;
use protect_api::coverage::{assess, select_policy};
use protect_api::kubevirt::{
    self, RunState, VirtualMachine, remove_original_run_state_annotation,
    remove_original_volumes_annotation, replace_volume_claim, restore_volume,
    set_original_run_state_annotation, set_original_volumes_annotation,
};
use protect_api::naming::{drbd_resource_name, drbd_volume_name};
use protect_api::ports::allocate_port;
use protect_api::well_known::{
    LABEL_PROTECTED_VM, LABEL_SOURCE_CLUSTER, LABEL_VM_NAMESPACE, TAINT_NOT_READY,
};
use protect_api::{
    Condition, ConditionStatus, DRBDReplicationPolicy, DRBDVolume, DRBDVolumeSpec,
    DRBDVolumeStatus, DrSide, Phase, PhaseTransition, PrimarySide, ProtectionRequestStatus,
    Protocol, VolumeStatus, find_condition, set_condition,
};

use crate::facts::{Facts, PrimaryFacts, Progress, Reach};
use crate::replication::{Health, ports_phrase, synced_on_both_sides};

/// A workload cluster, by its role for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The cluster the VM runs on.
    Primary,
    /// The cluster DRBD replicates to.
    Dr,
}

/// Which step of the VM's activation or restoration a VM patch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmStep {
    /// Record how the VM is run (annotation), before it is first stopped.
    RecordRunState,
    /// Record the VM's volumes (annotation), before they are first changed.
    RecordVolumes,
    /// Stop the VM (runStrategy Halted, or running: false).
    Stop,
    /// Point the VM's volumes at the frontend PVCs.
    SwitchVolumes,
    /// Put the recorded run strategy back, which starts the VM again.
    Restart,
    /// Put the recorded volumes back.
    RestoreVolumes,
    /// Remove the recording annotations.
    ForgetOriginals,
}

/// One write to make.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Create the quorum copy of a DRBDVolume (owned by the request).
    CreateQuorumVolume(Box<DRBDVolume>),
    /// Create a side copy on a workload cluster.
    CreateSideCopy {
        /// Which cluster.
        side: Side,
        /// The object (namespace set).
        volume: Box<DRBDVolume>,
    },
    /// Relay the other side's endpoint into a side copy's `spec.peerEndpoint`.
    SetPeerEndpoint {
        /// The cluster of the side copy to change.
        side: Side,
        /// Namespace of the side copy.
        namespace: String,
        /// Name of the side copy.
        name: String,
        /// The other side's `address:port`.
        endpoint: String,
    },
    /// Write the merged view of both sides to the quorum copy's status.
    UpdateQuorumStatus {
        /// Name of the quorum copy.
        name: String,
        /// The merged status.
        status: Box<DRBDVolumeStatus>,
    },
    /// Patch the VirtualMachine (RFC 6902) on the primary cluster.
    PatchVm {
        /// What the patch does.
        step: VmStep,
        /// The patch.
        patch: Patch,
    },
    /// Delete a side copy.
    DeleteSideCopy {
        /// Which cluster.
        side: Side,
        /// Namespace of the side copy.
        namespace: String,
        /// Name of the side copy.
        name: String,
    },
    /// Delete a quorum copy.
    DeleteQuorumVolume {
        /// Name of the quorum copy.
        name: String,
    },
}

/// The next step for a request that is not being deleted.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The status to report (written only when it differs from the stored one).
    pub status: ProtectionRequestStatus,
    /// Writes to make after the status, in order.
    pub writes: Vec<Write>,
    /// Sync progress memory to keep for the next decision.
    pub progress: BTreeMap<String, Progress>,
    /// Decide again after this long even if nothing is observed (a time-based rule is pending:
    /// stall detection, activation timeout).
    pub requeue_after: Option<Duration>,
}

/// The next step of unprotecting a request that is being deleted.
#[derive(Clone, Debug, PartialEq)]
pub struct Cleanup {
    /// Writes to make, in order.
    pub writes: Vec<Write>,
    /// True when everything is reversed and the finalizer may go.
    pub done: bool,
    /// What unprotect is doing or waiting for, for `status.message`.
    pub message: String,
}

/// Condition reason marking an activation that failed and is being rolled back; persisted in the
/// `Activated` condition so a restart resumes the rollback.
pub const REASON_ROLLING_BACK: &str = "RollingBack";

struct Draft<'f> {
    f: &'f Facts,
    old: ProtectionRequestStatus,
    status: ProtectionRequestStatus,
    writes: Vec<Write>,
    progress: BTreeMap<String, Progress>,
    requeue_after: Option<Duration>,
}

/// Decide the next step for a request that is not being deleted.
pub fn decide(f: &Facts) -> Plan {
    let old = f.request.status.clone().unwrap_or_default();
    let mut d = Draft {
        f,
        status: old.clone(),
        old,
        writes: vec![],
        progress: f.progress.clone(),
        requeue_after: None,
    };
    // The CRD defaults `status` to `{phase: Pending}` on read: without a recorded transition
    // the controller has never written it, and the request is new.
    let phase = match d.old.phase {
        Some(Phase::Pending) if d.old.phase_transitions.is_empty() => {
            d.status.phase = None;
            None
        }
        phase => phase,
    };
    match phase {
        None => {
            d.enter(
                Phase::Pending,
                format!(
                    "Accepted; the Protection Controller will validate VirtualMachine {}",
                    d.vm_ref()
                ),
            );
        }
        Some(Phase::Failed) => return d.finish(),
        Some(phase) => {
            d.reachability();
            match phase {
                Phase::Pending => {
                    let msg = format!(
                        "Validating VirtualMachine {} on cluster {}",
                        d.vm_ref(),
                        d.primary_cluster()
                    );
                    d.enter(Phase::Validating, msg);
                }
                Phase::Validating => validate(&mut d),
                Phase::CreatingDRBD => create_drbd(&mut d),
                Phase::Syncing => syncing(&mut d),
                Phase::ReadyToActivate => ready_to_activate(&mut d),
                Phase::Activating => activating(&mut d),
                Phase::Protected => protected(&mut d),
                Phase::Failed => {}
            }
        }
    }
    d.finish()
}

impl<'f> Draft<'f> {
    fn finish(mut self) -> Plan {
        if self.status != self.old {
            self.status.observed_generation = self.f.request.metadata.generation;
        }
        Plan {
            status: self.status,
            writes: self.writes,
            progress: self.progress,
            requeue_after: self.requeue_after,
        }
    }

    fn now(&self) -> Time {
        Time(self.f.now)
    }

    fn vm_name(&self) -> &str {
        &self.f.request.spec.vm_name
    }

    fn vm_namespace(&self) -> &str {
        &self.f.request.spec.vm_namespace
    }

    fn vm_ref(&self) -> String {
        format!("{}/{}", self.vm_namespace(), self.vm_name())
    }

    /// The policy recorded in status, else the one the coverage rule selects.
    fn policy(&self) -> Option<&'f DRBDReplicationPolicy> {
        let f = self.f;
        match &self.status.policy {
            Some(name) => f
                .policies
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(name)),
            None => select_policy(&f.policies, f.request.spec.source_cluster.as_deref()).ok(),
        }
    }

    fn primary_cluster(&self) -> String {
        self.f
            .request
            .spec
            .source_cluster
            .clone()
            .or_else(|| self.policy().map(|p| p.spec.primary_cluster.clone()))
            .unwrap_or_else(|| "(unknown)".to_owned())
    }

    fn dr_cluster(&self) -> String {
        self.status
            .dr_cluster
            .clone()
            .or_else(|| self.policy().map(|p| p.spec.dr_cluster.clone()))
            .unwrap_or_else(|| "(unknown)".to_owned())
    }

    fn condition(&mut self, type_: &str, status: ConditionStatus, reason: &str, message: String) {
        let c = Condition::new(type_, status, reason, message)
            .with_observed_generation(self.f.request.metadata.generation);
        let now = self.now();
        set_condition(&mut self.status.conditions, c, now);
    }

    fn message(&mut self, message: impl Into<String>) {
        self.status.message = Some(message.into());
    }

    fn enter(&mut self, phase: Phase, message: String) {
        let from = self.status.phase.unwrap_or_default();
        debug_assert!(
            self.status.phase.is_none() || from.can_transition_to(phase),
            "{from} -> {phase}"
        );
        self.status.phase = Some(phase);
        self.message(message);
        if !self
            .status
            .phase_transitions
            .iter()
            .any(|t| t.phase == phase)
        {
            let time = self.now();
            self.status
                .phase_transitions
                .push(PhaseTransition { phase, time });
        }
        if phase == Phase::Failed {
            self.condition(
                ct::READY,
                ConditionStatus::False,
                "Failed",
                "the request failed; see status.message".to_owned(),
            );
        }
        // A phase change is worth deciding on at once; the status write's watch event also
        // wakes the request, this is the safety net.
        self.requeue_after = Some(Duration::ZERO);
    }

    fn fail(&mut self, reason: &str, message: String) {
        self.condition(ct::READY, ConditionStatus::False, reason, message.clone());
        self.enter(Phase::Failed, message);
        self.condition(
            ct::READY,
            ConditionStatus::False,
            reason,
            "the request failed; see status.message".to_owned(),
        );
    }

    fn requeue_in(&mut self, after: Duration) {
        self.requeue_after = Some(match self.requeue_after {
            Some(existing) => existing.min(after),
            None => after,
        });
    }

    fn since_phase(&self, phase: Phase) -> Duration {
        self.old
            .phase_transitions
            .iter()
            .find(|t| t.phase == phase)
            .map(|t| elapsed(t.time.0, self.f.now))
            .unwrap_or_default()
    }

    fn reachability(&mut self) {
        let primary = self.primary_cluster();
        let dr = self.dr_cluster();
        let (p, d) = (
            reach_condition(&self.f.primary, &primary),
            reach_condition(&self.f.dr, &dr),
        );
        self.condition(ct::PRIMARY_REACHABLE, p.0, p.1, p.2);
        self.condition(ct::DR_REACHABLE, d.0, d.1, d.2);
    }
}

fn reach_condition<T>(reach: &Reach<T>, cluster: &str) -> (ConditionStatus, &'static str, String) {
    match reach {
        Reach::Unknown => (
            ConditionStatus::Unknown,
            "NoPolicy",
            "no DRBDReplicationPolicy selected yet, so the cluster is not known".to_owned(),
        ),
        Reach::Unreachable { reason } => (
            ConditionStatus::False,
            "Unreachable",
            format!("cannot read cluster {cluster}: {reason}"),
        ),
        Reach::Reachable(_) => (
            ConditionStatus::True,
            "Reachable",
            format!("the API of cluster {cluster} answers"),
        ),
    }
}

fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or_default()
}

/// "5m", "1m30s", "45s", "2h".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

fn volumes_phrase(n: usize) -> String {
    if n == 1 {
        "1 volume".to_owned()
    } else {
        format!("{n} volumes")
    }
}

// ---------------------------------------------------------------------------------------------
// Validating

fn validate(d: &mut Draft<'_>) {
    let f = d.f;
    let policy = match select_policy(&f.policies, f.request.spec.source_cluster.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            d.condition(
                ct::VALIDATED,
                ConditionStatus::False,
                "NoMatchingPolicy",
                e.to_string(),
            );
            return d.fail("NoMatchingPolicy", e.to_string());
        }
    };
    let primary_cluster = policy.spec.primary_cluster.clone();
    let primary = match &f.primary {
        Reach::Reachable(p) => p,
        Reach::Unreachable { reason } => {
            let msg = format!(
                "Validating VirtualMachine {}: waiting to reach cluster {primary_cluster}: {reason}",
                d.vm_ref()
            );
            d.condition(
                ct::VALIDATED,
                ConditionStatus::Unknown,
                "PrimaryUnreachable",
                msg.clone(),
            );
            return d.message(msg);
        }
        Reach::Unknown => return,
    };
    let Some(vm) = &primary.vm else {
        let msg = format!(
            "VirtualMachine {:?} not found in namespace {:?} on cluster {:?}; check spec.vmName, spec.vmNamespace and spec.sourceCluster, and that the {} secret grants access to that namespace",
            d.vm_name(),
            d.vm_namespace(),
            primary_cluster,
            policy.spec.primary_kubeconfig_secret
        );
        d.condition(
            ct::VALIDATED,
            ConditionStatus::False,
            "VMNotFound",
            msg.clone(),
        );
        return d.fail("VMNotFound", msg);
    };
    if let Err(e) = RunState::of(vm) {
        let msg = format!("VirtualMachine {} cannot be protected: {e}", d.vm_ref());
        d.condition(
            ct::VALIDATED,
            ConditionStatus::False,
            "InvalidRunStrategy",
            msg.clone(),
        );
        return d.fail("InvalidRunStrategy", msg);
    }
    let coverage = assess(vm, &primary.pvcs, policy);
    if let Some(denial) = coverage.denial() {
        let reason = if coverage
            .uncovered()
            .any(|v| v.verdict == protect_api::coverage::Verdict::PvcMissing)
        {
            "PVCNotFound"
        } else {
            "StorageClassNotCovered"
        };
        d.condition(
            ct::VALIDATED,
            ConditionStatus::False,
            reason,
            denial.clone(),
        );
        return d.fail(reason, denial);
    }
    let unbound: Vec<String> = coverage
        .unbound()
        .map(|v| coverage.unbound_message(v))
        .collect();
    if !unbound.is_empty() {
        let msg = format!(
            "Validating VirtualMachine {}: {}",
            d.vm_ref(),
            unbound.join("; ")
        );
        d.condition(
            ct::VALIDATED,
            ConditionStatus::False,
            "PVCNotBound",
            msg.clone(),
        );
        return d.message(msg);
    }
    let policy_name = policy.metadata.name.clone().unwrap_or_default();
    let port = match allocate_port(&policy_name, policy.spec.port_range, &f.ports_in_use) {
        Ok(port) => port,
        Err(e) => {
            d.condition(
                ct::VALIDATED,
                ConditionStatus::False,
                "NoFreePort",
                e.to_string(),
            );
            return d.fail("NoFreePort", e.to_string());
        }
    };
    let (ns, name) = (d.vm_namespace().to_owned(), d.vm_name().to_owned());
    d.status.volumes = coverage
        .covered()
        .map(|v| {
            let (storage_class, dr_storage_class) = match &v.verdict {
                protect_api::coverage::Verdict::Covered {
                    storage_class,
                    dr_storage_class,
                } => (Some(storage_class.clone()), Some(dr_storage_class.clone())),
                _ => (None, None),
            };
            VolumeStatus {
                pvc: v.pvc.clone(),
                storage_class,
                dr_storage_class,
                capacity: v.facts.as_ref().and_then(|f| f.capacity.clone()),
                drbd_volume: Some(drbd_volume_name(&ns, &name, &v.pvc)),
                port: Some(port),
                sync_percent: Some(0.0),
                state: Some("Pending".to_owned()),
                ..Default::default()
            }
        })
        .collect();
    d.status.policy = Some(policy_name);
    d.status.dr_cluster = Some(policy.spec.dr_cluster.clone());
    d.status.sync_progress = Some("0%".to_owned());
    d.condition(
        ct::VALIDATED,
        ConditionStatus::True,
        "Validated",
        coverage.to_string(),
    );
    d.condition(
        ct::REPLICATING,
        ConditionStatus::False,
        "NotStarted",
        "DRBD replication has not started yet".to_owned(),
    );
    d.condition(
        ct::READY,
        ConditionStatus::False,
        "NotProtected",
        "the VM is not protected yet".to_owned(),
    );
    let msg = format!(
        "Creating DRBDVolumes for {} on {} and {}",
        volumes_phrase(d.status.volumes.len()),
        policy.spec.primary_cluster,
        policy.spec.dr_cluster
    );
    d.enter(Phase::CreatingDRBD, msg);
}

// ---------------------------------------------------------------------------------------------
// DRBDVolumes: create, relay endpoints, merge status

/// The DRBDVolume (spec and labels) for volume `index` of the request; namespace unset.
fn desired_volume(d: &Draft<'_>, index: usize, v: &VolumeStatus) -> Option<DRBDVolume> {
    let primary_cluster = d.primary_cluster();
    let spec = DRBDVolumeSpec {
        resource: drbd_resource_name(d.vm_namespace(), d.vm_name()),
        volume_number: i32::try_from(index).ok()?,
        port: v.port?,
        protocol: Protocol::C,
        primary: PrimarySide {
            cluster: primary_cluster.clone(),
            pvc_namespace: d.vm_namespace().to_owned(),
            pvc_name: v.pvc.clone(),
            storage_class: v.storage_class.clone()?,
            capacity: v.capacity.clone()?,
        },
        dr: DrSide {
            cluster: d.status.dr_cluster.clone()?,
            pvc_namespace: d.vm_namespace().to_owned(),
            pvc_name: v.pvc.clone(),
            storage_class: v.dr_storage_class.clone()?,
        },
        peer_endpoint: None,
    };
    let mut volume = DRBDVolume::new(v.drbd_volume.as_deref()?, spec);
    volume.metadata.labels = Some(
        [
            (LABEL_PROTECTED_VM.to_owned(), d.vm_name().to_owned()),
            (LABEL_VM_NAMESPACE.to_owned(), d.vm_namespace().to_owned()),
            (LABEL_SOURCE_CLUSTER.to_owned(), primary_cluster),
        ]
        .into(),
    );
    Some(volume)
}

fn owner_reference(d: &Draft<'_>) -> Option<OwnerReference> {
    let meta = &d.f.request.metadata;
    Some(OwnerReference {
        api_version: protect_api::well_known::API_VERSION.to_owned(),
        kind: "ProtectionRequest".to_owned(),
        name: meta.name.clone()?,
        uid: meta.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// What [`ensure_volumes`] found.
struct VolumesSeen {
    /// All three copies of every volume exist.
    all_exist: bool,
    /// Both side copies of every volume carry the other side's current endpoint.
    all_relayed: bool,
    /// What is still missing, for messages.
    waiting: Vec<String>,
}

fn side_status<'a>(
    copies: Option<&'a BTreeMap<String, DRBDVolume>>,
    name: &str,
) -> Option<&'a DRBDVolumeStatus> {
    copies?.get(name)?.status.as_ref()
}

/// Create missing copies, relay endpoints and merge side status into the quorum copies.
fn ensure_volumes(d: &mut Draft<'_>) -> VolumesSeen {
    let f = d.f;
    let primary = f.primary.reachable();
    let dr = f.dr.reachable();
    let (primary_cluster, dr_cluster) = (d.primary_cluster(), d.dr_cluster());
    let mut seen = VolumesSeen {
        all_exist: true,
        all_relayed: true,
        waiting: vec![],
    };
    let volumes = d.status.volumes.clone();
    for (index, v) in volumes.iter().enumerate() {
        let Some(desired) = desired_volume(d, index, v) else {
            continue;
        };
        let name = desired.metadata.name.clone().unwrap_or_default();
        match f.quorum_volumes.get(&name) {
            None => {
                let mut quorum = desired.clone();
                quorum.metadata.namespace = f.request.metadata.namespace.clone();
                quorum.metadata.owner_references = owner_reference(d).map(|o| vec![o]);
                d.writes.push(Write::CreateQuorumVolume(Box::new(quorum)));
                seen.all_exist = false;
            }
            Some(existing) => {
                if let Some(p) = primary {
                    let merged = merge_status(
                        side_status(Some(&p.side_copies), &name),
                        side_status(dr.map(|d| &d.side_copies), &name),
                        existing.status.as_ref(),
                        f.now,
                    );
                    if existing.status.as_ref() != Some(&merged) {
                        d.writes.push(Write::UpdateQuorumStatus {
                            name: name.clone(),
                            status: Box::new(merged),
                        });
                    }
                }
            }
        }
        let mut side_copy = desired.clone();
        side_copy.metadata.namespace = Some(d.vm_namespace().to_owned());
        let p_copy = primary.and_then(|p| p.side_copies.get(&name));
        let d_copy = dr.and_then(|x| x.side_copies.get(&name));
        if let Some(p) = primary
            && !p.side_copies.contains_key(&name)
        {
            d.writes.push(Write::CreateSideCopy {
                side: Side::Primary,
                volume: Box::new(side_copy.clone()),
            });
        }
        if let Some(x) = dr
            && !x.side_copies.contains_key(&name)
        {
            d.writes.push(Write::CreateSideCopy {
                side: Side::Dr,
                volume: Box::new(side_copy.clone()),
            });
        }
        if p_copy.is_none() || d_copy.is_none() {
            seen.all_exist = false;
            seen.all_relayed = false;
            if primary.is_none() {
                seen.waiting
                    .push(format!("cluster {primary_cluster} to be reachable"));
            }
            if dr.is_none() {
                seen.waiting
                    .push(format!("cluster {dr_cluster} to be reachable"));
            }
            continue;
        }
        let (Some(p_copy), Some(d_copy)) = (p_copy, d_copy) else {
            continue;
        };
        for (side, this, other, other_cluster) in [
            (Side::Primary, p_copy, d_copy, &dr_cluster),
            (Side::Dr, d_copy, p_copy, &primary_cluster),
        ] {
            match other.status.as_ref().and_then(|s| s.endpoint.clone()) {
                Some(endpoint) => {
                    if this.spec.peer_endpoint.as_deref() != Some(endpoint.as_str()) {
                        d.writes.push(Write::SetPeerEndpoint {
                            side,
                            namespace: d.vm_namespace().to_owned(),
                            name: name.clone(),
                            endpoint,
                        });
                        seen.all_relayed = false;
                    }
                }
                None => {
                    seen.all_relayed = false;
                    seen.waiting.push(format!(
                        "the DRBD Operator on cluster {other_cluster} to report an endpoint for PVC {:?}",
                        v.pvc
                    ));
                }
            }
        }
    }
    seen
}

/// The quorum copy's status: the primary side's view (which alone proves RPO 0), split brain if
/// either side reports it, and a `Replicating` condition that also summarizes the DR side.
pub fn merge_status(
    primary: Option<&DRBDVolumeStatus>,
    dr: Option<&DRBDVolumeStatus>,
    existing: Option<&DRBDVolumeStatus>,
    now: Timestamp,
) -> DRBDVolumeStatus {
    let mut merged = primary.cloned().unwrap_or_default();
    merged.conditions = existing.map(|e| e.conditions.clone()).unwrap_or_default();
    let split = [primary, dr]
        .iter()
        .flatten()
        .filter_map(|s| s.split_brain)
        .reduce(|a, b| a || b);
    merged.split_brain = split;
    let health = Health::of(primary);
    let dr_words = match dr {
        Some(s) => format!(
            "DR side: disk {}, {}, {}",
            s.disk_state.as_ref().map_or("unknown", |w| w.as_str()),
            s.connection_state
                .as_ref()
                .map_or("not connected", |w| w.as_str()),
            s.replication_state
                .as_ref()
                .map_or("no replication state", |w| w.as_str()),
        ),
        None => "DR side: not reported".to_owned(),
    };
    let condition = Condition::new(
        ct::REPLICATING,
        ConditionStatus::from_bool(health.is_replicating()),
        health.reason(),
        dr_words,
    );
    set_condition(&mut merged.conditions, condition, Time(now));
    merged
}

fn create_drbd(d: &mut Draft<'_>) {
    let seen = ensure_volumes(d);
    let n = d.status.volumes.len();
    if seen.all_exist && seen.all_relayed {
        d.condition(
            ct::VOLUMES_CREATED,
            ConditionStatus::True,
            "Created",
            format!(
                "DRBDVolumes exist for {} on the quorum cluster, {} and {}, and each side knows its peer",
                volumes_phrase(n),
                d.primary_cluster(),
                d.dr_cluster()
            ),
        );
        return d.enter(
            Phase::Syncing,
            format!("DRBD initial sync in progress for {}", volumes_phrase(n)),
        );
    }
    let waiting = if seen.waiting.is_empty() {
        "the DRBDVolumes being created".to_owned()
    } else {
        dedup(seen.waiting).join("; ")
    };
    d.condition(
        ct::VOLUMES_CREATED,
        ConditionStatus::False,
        "Creating",
        format!("waiting for {waiting}"),
    );
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

// ---------------------------------------------------------------------------------------------
// Progress and replication

/// Update `status.volumes` from the side copies; returns per-volume (done, health).
fn observe_volumes(d: &mut Draft<'_>, initial_sync: bool) -> Vec<(bool, Health)> {
    let f = d.f;
    let primary = f.primary.reachable();
    let dr = f.dr.reachable();
    let mut out = vec![];
    let mut volumes = d.status.volumes.clone();
    for v in &mut volumes {
        let name = v.drbd_volume.clone().unwrap_or_default();
        let p = side_status(primary.map(|p| &p.side_copies), &name);
        let r = side_status(dr.map(|x| &x.side_copies), &name);
        let done = synced_on_both_sides(p, r);
        let health = Health::of(p);
        if primary.is_some() {
            let observed_pct = if done {
                Some(100.0)
            } else {
                p.and_then(|s| s.sync_percent)
            };
            let observed_oos = if done && initial_sync {
                Some(0)
            } else {
                p.and_then(|s| s.out_of_sync_bytes)
            };
            let advanced = match (observed_pct, v.sync_percent) {
                (Some(new), Some(old)) => new >= old,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if advanced {
                v.sync_percent = observed_pct;
            }
            v.out_of_sync_bytes = match (initial_sync, observed_oos, v.out_of_sync_bytes) {
                (true, Some(new), Some(old)) => Some(new.min(old)),
                (_, Some(new), _) => Some(new),
                (_, None, old) => old,
            };
            v.sync_rate = p.and_then(|s| s.sync_rate_bytes_per_sec);
            v.eta_seconds = match (done, v.out_of_sync_bytes, v.sync_rate) {
                (false, Some(oos), Some(rate)) if rate > 0 => Some((oos + rate - 1) / rate),
                _ => None,
            };
            v.state = Some(state_word(p));
        }
        out.push((done, health));
    }
    let percents: Vec<f64> = volumes.iter().filter_map(|v| v.sync_percent).collect();
    if !percents.is_empty() {
        let mean = percents.iter().sum::<f64>() / percents.len() as f64;
        d.status.sync_progress = Some(format!("{}%", mean.floor() as i64));
    }
    d.status.volumes = volumes;
    out
}

fn state_word(s: Option<&DRBDVolumeStatus>) -> String {
    let Some(s) = s else {
        return "Unknown".to_owned();
    };
    if s.split_brain == Some(true) {
        return "SplitBrain".to_owned();
    }
    match (&s.connection_state, &s.replication_state) {
        (Some(protect_api::ConnectionState::Connected), Some(r)) => r.as_str().to_owned(),
        (Some(c), _) => c.as_str().to_owned(),
        (None, _) => "Unknown".to_owned(),
    }
}

/// Set `Replicating` from the volumes' health (Unknown while the primary is unreachable).
fn replicating_condition(d: &mut Draft<'_>, health: &[(bool, Health)]) -> Option<String> {
    if d.f.primary.reachable().is_none() {
        d.condition(
            ct::REPLICATING,
            ConditionStatus::Unknown,
            "PrimaryUnreachable",
            format!(
                "cannot read the DRBD state on cluster {}",
                d.primary_cluster()
            ),
        );
        return Some(format!("cluster {} is unreachable", d.primary_cluster()));
    }
    let resource = drbd_resource_name(d.vm_namespace(), d.vm_name());
    let bad: Vec<(&Health, &VolumeStatus)> = health
        .iter()
        .zip(d.status.volumes.iter())
        .filter(|((_, h), _)| !h.is_replicating())
        .map(|((_, h), v)| (h, v))
        .collect();
    match bad.first() {
        None => {
            d.condition(
                ct::REPLICATING,
                ConditionStatus::True,
                "PeerUpToDate",
                format!(
                    "every volume is Connected and Established with its DR peer UpToDate (Protocol C): RPO 0 to {}",
                    d.dr_cluster()
                ),
            );
            None
        }
        Some((first, _)) => {
            // Split brain is the one to shout about, whichever volume has it.
            let reason = bad
                .iter()
                .find(|(h, _)| matches!(h, Health::SplitBrain))
                .map_or(first.reason(), |(h, _)| h.reason());
            let message = bad
                .iter()
                .map(|(h, v)| h.describe(&v.pvc, &resource, v.port))
                .collect::<Vec<_>>()
                .join("; ");
            d.condition(
                ct::REPLICATING,
                ConditionStatus::False,
                reason,
                message.clone(),
            );
            Some(message)
        }
    }
}

fn syncing(d: &mut Draft<'_>) {
    ensure_volumes(d);
    let health = observe_volumes(d, true);
    replicating_condition(d, &health);
    let n = d.status.volumes.len();
    if !health.is_empty() && health.iter().all(|(done, _)| *done) {
        d.condition(
            ct::SYNCED,
            ConditionStatus::True,
            "SyncComplete",
            format!(
                "initial sync complete: every volume is UpToDate and Established on {} and {}",
                d.primary_cluster(),
                d.dr_cluster()
            ),
        );
        let msg = format!(
            "Initial sync complete for {}; all data is consistent across {} and {}",
            volumes_phrase(n),
            d.primary_cluster(),
            d.dr_cluster()
        );
        return d.enter(Phase::ReadyToActivate, msg);
    }
    // Stall detection: remember when each volume last moved.
    let f = d.f;
    let stall = f.settings.stall_timeout;
    let resource = drbd_resource_name(d.vm_namespace(), d.vm_name());
    let mut stalled = vec![];
    let mut in_progress = vec![];
    let volumes = d.status.volumes.clone();
    for (v, (done, h)) in volumes.iter().zip(health.iter()) {
        if *done {
            d.progress.remove(&v.pvc);
            continue;
        }
        let pct = v.sync_percent.unwrap_or(0.0);
        in_progress.push(format!("{} {}%", v.pvc, pct.floor() as i64));
        let observed = f.primary.reachable().and_then(|p| {
            side_status(
                Some(&p.side_copies),
                v.drbd_volume.as_deref().unwrap_or_default(),
            )
        });
        let oos = observed.and_then(|s| s.out_of_sync_bytes);
        let percent = observed.and_then(|s| s.sync_percent);
        let previous = f.progress.get(&v.pvc).copied();
        let moved = match previous {
            None => true,
            Some(prev) => {
                matches!((oos, prev.out_of_sync_bytes), (Some(n), Some(o)) if n < o)
                    || matches!((percent, prev.sync_percent), (Some(n), Some(o)) if n > o)
            }
        };
        let memory = if moved {
            Progress {
                out_of_sync_bytes: oos,
                sync_percent: percent,
                since: f.now,
            }
        } else {
            previous.unwrap_or(Progress {
                out_of_sync_bytes: oos,
                sync_percent: percent,
                since: f.now,
            })
        };
        d.progress.insert(v.pvc.clone(), memory);
        let quiet = elapsed(memory.since, f.now);
        if quiet >= stall {
            let cause = match (&f.dr, h) {
                // The primary side may be done; only the DR cluster's own view is missing.
                (Reach::Unreachable { reason }, _) => format!(
                    "the API of the DR cluster {} cannot be read ({reason}), so the DR side of the sync cannot be confirmed",
                    d.dr_cluster()
                ),
                (_, h) => match h {
                    Health::Disconnected { .. } | Health::StandAlone | Health::SplitBrain => {
                        h.describe(&v.pvc, &resource, v.port)
                    }
                    Health::NoStatus => h.describe(&v.pvc, &resource, v.port),
                    _ => format!(
                        "DRBD is {} but no data moved: the DR peer may be unreachable, or {} may be blocked or throttled between the primary and DR nodes",
                        v.state.as_deref().unwrap_or("connected"),
                        ports_phrase(v.port)
                    ),
                },
            };
            stalled.push(format!(
                "no sync progress for {} on PVC {:?} ({}% done): {cause}",
                human_duration(quiet),
                v.pvc,
                pct.floor() as i64
            ));
        } else {
            d.requeue_in(stall - quiet);
        }
    }
    let remaining = in_progress.len();
    if stalled.is_empty() {
        d.condition(
            ct::SYNCED,
            ConditionStatus::False,
            "SyncInProgress",
            format!("initial sync in progress: {}", in_progress.join(", ")),
        );
        d.message(format!(
            "DRBD initial sync in progress for {}",
            volumes_phrase(remaining)
        ));
    } else {
        d.condition(
            ct::SYNCED,
            ConditionStatus::False,
            "SyncStalled",
            format!(
                "{}; check from a primary node that the DR node answers, e.g. `nc -zv <dr-node-ip> {}`",
                stalled.join("; "),
                volumes.first().and_then(|v| v.port).unwrap_or(7000)
            ),
        );
        d.message(format!(
            "DRBD initial sync in progress for {}, stalled for {} (see the Synced condition for the likely cause)",
            volumes_phrase(remaining),
            stalled.len()
        ));
    }
}

fn ready_to_activate(d: &mut Draft<'_>) {
    ensure_volumes(d);
    let health = observe_volumes(d, false);
    replicating_condition(d, &health);
    let msg = format!(
        "Stopping VM {} to switch it to DRBD-backed frontend PVCs",
        d.vm_name()
    );
    d.enter(Phase::Activating, msg);
}

// ---------------------------------------------------------------------------------------------
// Activating

/// A protected volume of the VM: template volume name, original PVC, frontend PVC.
struct Target {
    volume: String,
    pvc: String,
    frontend: Option<String>,
}

fn targets(d: &Draft<'_>, primary: &PrimaryFacts, originals: &[kubevirt::Volume]) -> Vec<Target> {
    let mut out = vec![];
    for v in &d.status.volumes {
        let frontend = side_status(
            Some(&primary.side_copies),
            v.drbd_volume.as_deref().unwrap_or_default(),
        )
        .and_then(|s| s.frontend_pvc.clone());
        for o in originals {
            if o.claim().map(|c| c.pvc_name()) == Some(v.pvc.as_str()) {
                out.push(Target {
                    volume: o.name.clone(),
                    pvc: v.pvc.clone(),
                    frontend: frontend.clone(),
                });
            }
        }
    }
    out
}

fn current_claim<'v>(vm: &'v VirtualMachine, volume: &str) -> Option<&'v str> {
    vm.volumes()
        .iter()
        .find(|v| v.name == volume)
        .and_then(|v| v.claim())
        .map(|c| c.pvc_name())
}

fn vm_patch(d: &mut Draft<'_>, step: VmStep, patch: Patch, message: String) {
    d.writes.push(Write::PatchVm { step, patch });
    d.message(message);
}

fn activating(d: &mut Draft<'_>) {
    ensure_volumes(d);
    let health = observe_volumes(d, false);
    let replication_problem = replicating_condition(d, &health);
    let f = d.f;
    let primary = match &f.primary {
        Reach::Reachable(p) => p,
        Reach::Unreachable { reason } => {
            let msg = format!(
                "Activating: waiting to reach cluster {}: {reason}",
                d.primary_cluster()
            );
            return d.message(msg);
        }
        Reach::Unknown => return,
    };
    let Some(vm) = &primary.vm else {
        let msg = format!(
            "VirtualMachine {} disappeared from cluster {} during activation; nothing was switched back because there is no VM",
            d.vm_ref(),
            d.primary_cluster()
        );
        d.condition(
            ct::ACTIVATED,
            ConditionStatus::False,
            "VMNotFound",
            msg.clone(),
        );
        return d.fail("VMNotFound", msg);
    };
    let rolling_back = find_condition(&d.status.conditions, ct::ACTIVATED)
        .is_some_and(|c| c.reason.as_deref() == Some(REASON_ROLLING_BACK));
    if rolling_back {
        return roll_back(d, primary, vm);
    }
    let run_now = match RunState::of(vm) {
        Ok(s) => s,
        Err(e) => return begin_roll_back(d, primary, vm, e.to_string()),
    };
    let elapsed = d.since_phase(Phase::Activating);
    let timeout = f.settings.activation_timeout;
    let name = d.vm_name().to_owned();

    // 1. Record how the VM is run, then its volumes, before anything changes.
    let Some(original_run) = vm.original_run_state() else {
        let patch = set_original_run_state_annotation(vm, &run_now);
        return vm_patch(
            d,
            VmStep::RecordRunState,
            patch,
            format!("Activating: recording how VM {name} is run before stopping it"),
        );
    };
    let originals = match vm.original_volumes() {
        None => {
            return match set_original_volumes_annotation(vm) {
                Ok(patch) => vm_patch(
                    d,
                    VmStep::RecordVolumes,
                    patch,
                    format!("Activating: recording the original volumes of VM {name}"),
                ),
                Err(e) => begin_roll_back(d, primary, vm, e.to_string()),
            };
        }
        Some(Err(e)) => {
            return begin_roll_back(
                d,
                primary,
                vm,
                format!("the original-volumes annotation of VM {name} is not readable: {e}"),
            );
        }
        Some(Ok(v)) => v,
    };
    let targets = targets(d, primary, &originals);
    let switched =
        |t: &Target| t.frontend.is_some() && current_claim(vm, &t.volume) == t.frontend.as_deref();

    // 2. Stop, wait for the VMI to go, switch the volumes.
    if targets.is_empty() || !targets.iter().all(switched) {
        let not_ready: Vec<String> = targets
            .iter()
            .filter_map(|t| match &t.frontend {
                None => Some(format!(
                    "the DRBD Operator has not reported a frontend PVC for PVC {:?}",
                    t.pvc
                )),
                Some(fe) => match primary.pvcs.get(fe) {
                    Some(p) if p.is_bound() => None,
                    Some(p) => Some(format!(
                        "frontend PVC {fe:?} for PVC {:?} is {}",
                        t.pvc,
                        p.phase.as_deref().unwrap_or("not Bound")
                    )),
                    None => Some(format!(
                        "frontend PVC {fe:?} for PVC {:?} does not exist yet",
                        t.pvc
                    )),
                },
            })
            .collect();
        if !not_ready.is_empty() {
            let cause = not_ready.join("; ");
            if elapsed >= timeout {
                return begin_roll_back(
                    d,
                    primary,
                    vm,
                    format!("{cause} after {}", human_duration(timeout)),
                );
            }
            d.requeue_in(timeout - elapsed);
            d.condition(
                ct::ACTIVATED,
                ConditionStatus::False,
                "WaitingForFrontendPVCs",
                cause.clone(),
            );
            return d.message(format!(
                "Activating: waiting for DRBD-backed frontend PVCs before stopping VM {name}: {cause}"
            ));
        }
        if !run_now.is_halted() {
            d.condition(
                ct::ACTIVATED,
                ConditionStatus::False,
                "StoppingVM",
                format!("stopping VM {name} to switch its volumes"),
            );
            return vm_patch(
                d,
                VmStep::Stop,
                run_now.halted().patch(),
                format!("Stopping VM {name} to switch it to DRBD-backed frontend PVCs"),
            );
        }
        if primary.vmi.is_some() {
            return d.message(format!(
                "Activating: waiting for VM {name} to stop before switching it to DRBD-backed frontend PVCs"
            ));
        }
        let mut ops = vec![];
        for t in targets.iter().filter(|t| !switched(t)) {
            let Some(fe) = &t.frontend else { continue };
            match replace_volume_claim(vm, &t.volume, fe) {
                Ok(p) => ops.extend(p.0),
                Err(e) => return begin_roll_back(d, primary, vm, e.to_string()),
            }
        }
        d.condition(
            ct::ACTIVATED,
            ConditionStatus::False,
            "SwitchingVolumes",
            format!("pointing VM {name} at its DRBD-backed frontend PVCs"),
        );
        return vm_patch(
            d,
            VmStep::SwitchVolumes,
            Patch(ops),
            format!("Activating: switching VM {name} to DRBD-backed frontend PVCs"),
        );
    }

    // 3. Restart as it was run before, and wait for it to run.
    if run_now != original_run {
        d.condition(
            ct::ACTIVATED,
            ConditionStatus::False,
            "RestartingVM",
            format!("restarting VM {name} on its DRBD-backed frontend PVCs"),
        );
        return vm_patch(
            d,
            VmStep::Restart,
            original_run.patch(),
            format!("Activating: restarting VM {name} on DRBD-backed frontend PVCs"),
        );
    }
    let running = original_run.is_halted()
        || primary
            .vmi
            .as_ref()
            .is_some_and(|v| v.is_running_and_ready());
    if running {
        return become_protected(d, replication_problem);
    }
    let unschedulable = primary.vmi.as_ref().and_then(|v| v.unschedulable_message());
    if let Some(why) = unschedulable
        && (why.contains(TAINT_NOT_READY) || !primary.not_ready_nodes.is_empty())
    {
        let nodes = primary
            .not_ready_nodes
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let on = if nodes.is_empty() {
            String::new()
        } else {
            format!(" on node(s) {nodes}")
        };
        let msg = format!(
            "VM {name} cannot be scheduled yet: the DRBD node agent set the {TAINT_NOT_READY}:NoSchedule taint{on} while its DRBD resources come up; waiting for it to remove the taint (it does once the resources are Connected, at most 120 s)"
        );
        d.condition(
            ct::ACTIVATED,
            ConditionStatus::False,
            "WaitingForNodeTaint",
            msg.clone(),
        );
        return d.message(format!("Activating: {msg}"));
    }
    let phase = primary
        .vmi
        .as_ref()
        .and_then(|v| v.phase())
        .unwrap_or("not created yet");
    let detail = unschedulable.map_or_else(String::new, |m| format!(": {m}"));
    if elapsed >= timeout {
        return begin_roll_back(
            d,
            primary,
            vm,
            format!(
                "VM {name} did not start on its DRBD-backed frontend PVCs within {} (VMI {phase}{detail})",
                human_duration(timeout)
            ),
        );
    }
    d.requeue_in(timeout - elapsed);
    let msg = format!(
        "waiting for VM {name} to be Running on its DRBD-backed frontend PVCs (VMI {phase}{detail})"
    );
    d.condition(
        ct::ACTIVATED,
        ConditionStatus::False,
        "WaitingForVM",
        msg.clone(),
    );
    d.message(format!("Activating: {msg}"));
}

fn become_protected(d: &mut Draft<'_>, replication_problem: Option<String>) {
    let name = d.vm_name().to_owned();
    d.condition(
        ct::ACTIVATED,
        ConditionStatus::True,
        "Activated",
        format!("VM {name} runs on its DRBD-backed frontend PVCs"),
    );
    protected_status(d, replication_problem);
    let msg = d.status.message.clone().unwrap_or_default();
    d.enter(Phase::Protected, msg);
}

fn protected_status(d: &mut Draft<'_>, replication_problem: Option<String>) {
    let name = d.vm_name().to_owned();
    let dr = d.dr_cluster();
    match replication_problem {
        None => {
            d.condition(
                ct::READY,
                ConditionStatus::True,
                "Protected",
                format!("VM {name} is protected with RPO 0 to {dr}"),
            );
            d.message(format!(
                "VM {name} is running on DRBD-backed PVCs; synchronous replication to {dr} is active"
            ));
        }
        Some(problem) => {
            d.condition(
                ct::READY,
                ConditionStatus::False,
                "ReplicationBroken",
                problem.clone(),
            );
            d.message(format!(
                "VM {name} is running on DRBD-backed PVCs, but replication to {dr} is not synchronous right now: {problem}"
            ));
        }
    }
}

fn begin_roll_back(d: &mut Draft<'_>, primary: &PrimaryFacts, vm: &VirtualMachine, cause: String) {
    d.condition(
        ct::ACTIVATED,
        ConditionStatus::False,
        REASON_ROLLING_BACK,
        cause,
    );
    roll_back(d, primary, vm);
}

/// Put the VM back as it was (volumes, then run strategy, then forget the annotations), one
/// observed step at a time, then fail.
fn roll_back(d: &mut Draft<'_>, primary: &PrimaryFacts, vm: &VirtualMachine) {
    let cause = find_condition(&d.status.conditions, ct::ACTIVATED)
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    let name = d.vm_name().to_owned();
    let restoring =
        format!("Activation failed ({cause}); putting VM {name} back on its original volumes");
    match restore_vm_step(primary, vm) {
        Ok(Some((step, patch))) => vm_patch(d, step, patch, restoring),
        Ok(None) if primary.vmi.is_some() && vm_volumes_differ(vm) => d.message(restoring),
        Ok(None) => {
            let restarted = match vm.original_run_state().or_else(|| RunState::of(vm).ok()) {
                Some(s) if s.is_halted() => "left stopped, as it was before",
                _ => "restarted",
            };
            d.fail(
                "ActivationFailed",
                format!(
                    "Activation failed: {cause}. VM {name} was put back on its original volumes and {restarted}"
                ),
            );
        }
        Err(e) => {
            let msg = format!(
                "Activation failed ({cause}) and VM {name} cannot be restored automatically: {e}"
            );
            d.message(msg);
        }
    }
}

fn vm_volumes_differ(vm: &VirtualMachine) -> bool {
    match vm.original_volumes() {
        Some(Ok(originals)) => originals.iter().any(|o| {
            vm.volumes()
                .iter()
                .find(|v| v.name == o.name)
                .is_some_and(|v| v != o)
        }),
        _ => false,
    }
}

/// The next step of putting `vm` back as its annotations recorded it: `Ok(None)` when either it
/// is back (no annotations left) or it is waiting for the VMI to stop (volumes differ, VMI
/// present). Shared by a failed activation and unprotect.
fn restore_vm_step(
    primary: &PrimaryFacts,
    vm: &VirtualMachine,
) -> Result<Option<(VmStep, Patch)>, String> {
    let run_now = RunState::of(vm).map_err(|e| e.to_string())?;
    if vm_volumes_differ(vm) {
        if !run_now.is_halted() {
            return Ok(Some((VmStep::Stop, run_now.halted().patch())));
        }
        if primary.vmi.is_some() {
            return Ok(None);
        }
        let Some(Ok(originals)) = vm.original_volumes() else {
            return Ok(None);
        };
        let mut ops = vec![];
        for o in &originals {
            if vm.volumes().iter().any(|v| v.name == o.name && v != o) {
                ops.extend(restore_volume(vm, o).map_err(|e| e.to_string())?.0);
            }
        }
        return Ok(Some((VmStep::RestoreVolumes, Patch(ops))));
    }
    if let Some(original) = vm.original_run_state()
        && original != run_now
    {
        return Ok(Some((VmStep::Restart, original.patch())));
    }
    let mut ops = remove_original_volumes_annotation(vm).0;
    ops.extend(remove_original_run_state_annotation(vm).0);
    if ops.is_empty() {
        return Ok(None);
    }
    Ok(Some((VmStep::ForgetOriginals, Patch(ops))))
}

fn protected(d: &mut Draft<'_>) {
    ensure_volumes(d);
    let health = observe_volumes(d, false);
    let problem = replicating_condition(d, &health);
    protected_status(d, problem);
}

// ---------------------------------------------------------------------------------------------
// Unprotect

/// Decide the next step of unprotecting a request that is being deleted: put the VM back on its
/// original volumes (stopping it while they change), delete the DRBDVolumes on all three
/// clusters, wait for the DRBD Operator to tear the side copies down, then restart the VM as it
/// was run and forget the recording annotations. The VM's original PVCs are never touched.
pub fn decide_cleanup(f: &Facts) -> Cleanup {
    let status = f.request.status.clone().unwrap_or_default();
    let name = f.request.spec.vm_name.clone();
    let mut writes = vec![];
    let mut waiting = vec![];
    let created_anything = !status.volumes.is_empty() || !f.quorum_volumes.is_empty();
    let mut volumes_restored = true;
    let mut vm_done = true;
    match &f.primary {
        Reach::Reachable(p) => {
            let primary_copies_gone = p.side_copies.is_empty();
            if let Some(vm) = &p.vm {
                if vm_volumes_differ(vm) {
                    volumes_restored = false;
                    vm_done = false;
                    match restore_vm_step(p, vm) {
                        Ok(Some((step, patch))) => writes.push(Write::PatchVm { step, patch }),
                        Ok(None) => waiting.push(format!("VM {name} to stop")),
                        Err(e) => waiting.push(format!("VM {name} to be repairable: {e}")),
                    }
                } else if vm.original_volumes().is_some() || vm.original_run_state().is_some() {
                    vm_done = false;
                    if primary_copies_gone {
                        match restore_vm_step(p, vm) {
                            Ok(Some((step, patch))) => writes.push(Write::PatchVm { step, patch }),
                            Ok(None) => {}
                            Err(e) => waiting.push(format!("VM {name} to be repairable: {e}")),
                        }
                    } else {
                        waiting.push(format!(
                            "the DRBD Operator on the primary cluster to tear down before VM {name} restarts"
                        ));
                    }
                }
            }
            if volumes_restored {
                for (n, copy) in &p.side_copies {
                    if copy.metadata.deletion_timestamp.is_none() {
                        writes.push(Write::DeleteSideCopy {
                            side: Side::Primary,
                            namespace: copy.metadata.namespace.clone().unwrap_or_default(),
                            name: n.clone(),
                        });
                    }
                }
                if !primary_copies_gone {
                    waiting.push(
                        "DRBDVolume side copies on the primary cluster to be torn down".to_owned(),
                    );
                }
            }
        }
        Reach::Unreachable { reason } if created_anything => {
            volumes_restored = false;
            vm_done = false;
            waiting.push(format!("the primary cluster to be reachable ({reason})"));
        }
        _ => {}
    }
    let mut dr_done = true;
    if volumes_restored {
        match &f.dr {
            Reach::Reachable(x) => {
                for (n, copy) in &x.side_copies {
                    if copy.metadata.deletion_timestamp.is_none() {
                        writes.push(Write::DeleteSideCopy {
                            side: Side::Dr,
                            namespace: copy.metadata.namespace.clone().unwrap_or_default(),
                            name: n.clone(),
                        });
                    }
                }
                if !x.side_copies.is_empty() {
                    dr_done = false;
                    waiting.push(
                        "DRBDVolume side copies on the DR cluster to be torn down".to_owned(),
                    );
                }
            }
            Reach::Unreachable { reason } if created_anything => {
                dr_done = false;
                waiting.push(format!("the DR cluster to be reachable ({reason})"));
            }
            _ => {}
        }
        for (n, copy) in &f.quorum_volumes {
            if copy.metadata.deletion_timestamp.is_none() {
                writes.push(Write::DeleteQuorumVolume { name: n.clone() });
            }
        }
    }
    let primary_done = match &f.primary {
        Reach::Reachable(p) => p.side_copies.is_empty(),
        Reach::Unreachable { .. } => !created_anything,
        Reach::Unknown => true,
    };
    let done =
        volumes_restored && vm_done && dr_done && primary_done && f.quorum_volumes.is_empty();
    let message = if done {
        format!("Unprotected VM {name}")
    } else if waiting.is_empty() {
        format!("Unprotecting VM {name}")
    } else {
        format!(
            "Unprotecting VM {name}: waiting for {}",
            dedup(waiting).join("; ")
        )
    };
    Cleanup {
        writes,
        done,
        message,
    }
}

#[cfg(test)]
mod tests;
