//! Table-driven tests of the decision: every phase transition of DESIGN §4 and every
//! troubleshooting case of the guide, with the message a user reads. The small "cluster" below
//! applies a plan's writes to the facts the way the API would, so whole progressions can run.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use protect_api::coverage::PvcFacts;
use protect_api::kubevirt::{VirtualMachineInstance, Volume};
use protect_api::well_known::{ANNOTATION_ORIGINAL_RUN_STRATEGY, ANNOTATION_ORIGINAL_VOLUMES};
use protect_api::{ProtectionRequest, ProtectionRequestSpec};
use serde_json::json;

use super::*;
use crate::facts::{DrFacts, Settings};

const POLICY: &str = "dr-policy";

fn at(secs: i64) -> Timestamp {
    "2025-05-01T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(secs)
}

fn request() -> ProtectionRequest {
    let mut r = ProtectionRequest::new(
        "protect-web-server",
        ProtectionRequestSpec {
            vm_name: "web-server".into(),
            vm_namespace: "production".into(),
            source_cluster: Some("cluster1".into()),
        },
    );
    r.metadata.namespace = Some("dr-deployment".into());
    r.metadata.uid = Some("uid-1".into());
    r.metadata.generation = Some(1);
    r
}

fn policy() -> DRBDReplicationPolicy {
    serde_json::from_value(json!({
        "apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "DRBDReplicationPolicy",
        "metadata": {"name": POLICY, "namespace": "dr-deployment"},
        "spec": {"primaryCluster": "cluster1", "drCluster": "cluster2",
                 "storageClassMappings": [{"primary": "ceph-rbd", "dr": "ceph-rbd-dr"}]}
    }))
    .unwrap()
}

fn vm(spec_run: serde_json::Value) -> VirtualMachine {
    let mut spec = json!({"template": {"spec": {"volumes": [
        {"name": "rootdisk", "persistentVolumeClaim": {"claimName": "web-server-root"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "web-server-data"}},
        {"name": "cloudinit", "cloudInitNoCloud": {"userData": "#cloud-config"}}
    ]}}});
    for (k, v) in spec_run.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": "web-server", "namespace": "production"},
        "spec": spec
    }))
    .unwrap()
}

fn pvc(class: &str, phase: &str) -> PvcFacts {
    PvcFacts {
        storage_class: Some(class.into()),
        capacity: Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
            "10Gi".into(),
        )),
        phase: Some(phase.into()),
    }
}

fn vmi(phase: &str, ready: bool) -> VirtualMachineInstance {
    serde_json::from_value(json!({
        "metadata": {"name": "web-server", "namespace": "production"},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
    }))
    .unwrap()
}

fn tainted_vmi() -> VirtualMachineInstance {
    serde_json::from_value(json!({
        "metadata": {"name": "web-server", "namespace": "production"},
        "status": {"phase": "Scheduling", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 node(s) had untolerated taint {siterecovery.trilio.io/not-ready: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."}]}
    }))
    .unwrap()
}

/// The guide's Example 1 world: VM web-server running with two ceph-rbd PVCs on cluster1.
fn world() -> Facts {
    Facts {
        now: at(0),
        request: request(),
        policies: vec![policy()],
        ports_in_use: BTreeSet::new(),
        quorum_volumes: BTreeMap::new(),
        primary: Reach::Reachable(PrimaryFacts {
            vm: Some(vm(json!({"runStrategy": "Always"}))),
            vmi: Some(vmi("Running", true)),
            pvcs: [
                ("web-server-root".to_owned(), pvc("ceph-rbd", "Bound")),
                ("web-server-data".to_owned(), pvc("ceph-rbd", "Bound")),
            ]
            .into(),
            side_copies: BTreeMap::new(),
            not_ready_nodes: BTreeSet::new(),
        }),
        dr: Reach::Reachable(DrFacts::default()),
        progress: BTreeMap::new(),
        settings: Settings::default(),
    }
}

fn primary(f: &mut Facts) -> &mut PrimaryFacts {
    match &mut f.primary {
        Reach::Reachable(p) => p,
        _ => panic!("primary unreachable"),
    }
}

fn copies(f: &mut Facts, side: Side) -> &mut BTreeMap<String, DRBDVolume> {
    match side {
        Side::Primary => &mut primary(f).side_copies,
        Side::Dr => match &mut f.dr {
            Reach::Reachable(d) => &mut d.side_copies,
            _ => panic!("dr unreachable"),
        },
    }
}

/// Apply a plan as the API would: status stored, writes applied in order.
fn step(f: &mut Facts) -> Plan {
    let plan = decide(f);
    let vm_patches = plan
        .writes
        .iter()
        .filter(|w| matches!(w, Write::PatchVm { .. }))
        .count();
    assert!(
        vm_patches <= 1,
        "a plan carries at most one VM patch: {:?}",
        plan.writes
    );
    let before = f.request.phase();
    f.request.status = Some(plan.status.clone());
    assert!(
        f.request.phase() == before || before.can_transition_to(f.request.phase()),
        "{before} -> {}",
        f.request.phase()
    );
    f.progress = plan.progress.clone();
    apply(f, &plan.writes);
    plan
}

fn apply(f: &mut Facts, writes: &[Write]) {
    for w in writes {
        match w {
            Write::CreateQuorumVolume(v) => {
                assert!(
                    f.quorum_volumes
                        .insert(v.metadata.name.clone().unwrap(), (**v).clone())
                        .is_none(),
                    "duplicate quorum DRBDVolume"
                );
            }
            Write::CreateSideCopy { side, volume } => {
                let name = volume.metadata.name.clone().unwrap();
                assert!(
                    copies(f, *side).insert(name, (**volume).clone()).is_none(),
                    "duplicate side copy"
                );
            }
            Write::SetPeerEndpoint {
                side,
                name,
                endpoint,
                ..
            } => {
                copies(f, *side).get_mut(name).unwrap().spec.peer_endpoint = Some(endpoint.clone());
            }
            Write::UpdateQuorumStatus { name, status } => {
                f.quorum_volumes.get_mut(name).unwrap().status = Some((**status).clone());
            }
            Write::PatchVm { patch, .. } => {
                let vm = primary(f).vm.as_mut().unwrap();
                let mut doc = serde_json::to_value(&*vm).unwrap();
                json_patch::patch(&mut doc, &patch.0).unwrap();
                *vm = serde_json::from_value(doc).unwrap();
            }
            Write::DeleteSideCopy { side, name, .. } => {
                copies(f, *side).remove(name);
            }
            Write::DeleteQuorumVolume { name } => {
                f.quorum_volumes.remove(name);
            }
        }
    }
}

/// KubeVirt: the VMI follows the run strategy (and the taint, when nodes carry it).
fn kubevirt(f: &mut Facts) {
    let p = primary(f);
    let halted = RunState::of(p.vm.as_ref().unwrap()).unwrap().is_halted();
    p.vmi = if halted {
        None
    } else if !p.not_ready_nodes.is_empty() {
        Some(tainted_vmi())
    } else {
        Some(vmi("Running", true))
    };
}

fn drbd_status(conn: &str, disk: &str, peer: &str, repl: &str) -> DRBDVolumeStatus {
    DRBDVolumeStatus {
        connection_state: Some(conn.into()),
        disk_state: Some(disk.into()),
        peer_disk_state: Some(peer.into()),
        replication_state: Some(repl.into()),
        ..Default::default()
    }
}

/// The DRBD Operators: endpoints, then progress `percent` of a 10 GiB volume, then in sync.
fn operators(f: &mut Facts, percent: f64) {
    const SIZE: i64 = 10 << 30;
    for side in [Side::Primary, Side::Dr] {
        for copy in copies(f, side).values_mut() {
            let port = copy.spec.port;
            let endpoint = match side {
                Side::Primary => format!("10.0.1.10:{port}"),
                Side::Dr => format!("10.0.2.10:{port}"),
            };
            let connected = copy.spec.peer_endpoint.is_some();
            let oos = ((100.0 - percent) / 100.0 * SIZE as f64) as i64;
            let mut s = match (side, connected, percent >= 100.0) {
                (_, false, _) => DRBDVolumeStatus::default(),
                (_, true, true) => drbd_status("Connected", "UpToDate", "UpToDate", "Established"),
                (Side::Primary, true, false) => {
                    drbd_status("Connected", "UpToDate", "Inconsistent", "SyncSource")
                }
                (Side::Dr, true, false) => {
                    drbd_status("Connected", "Inconsistent", "UpToDate", "SyncTarget")
                }
            };
            s.endpoint = Some(endpoint);
            if connected {
                s.sync_percent = Some(percent);
                s.out_of_sync_bytes = Some(oos);
                s.sync_rate_bytes_per_sec = Some(if percent >= 100.0 { 0 } else { 100 << 20 });
            }
            if side == Side::Primary {
                s.frontend_pvc = Some(format!("{}-drbd", copy.spec.primary.pvc_name));
            }
            copy.status = Some(s);
        }
    }
    let frontends: Vec<String> = copies(f, Side::Primary)
        .values()
        .filter_map(|c| c.status.as_ref()?.frontend_pvc.clone())
        .collect();
    for fe in frontends {
        primary(f).pvcs.insert(fe, pvc("drbd", "Bound"));
    }
}

fn condition<'a>(status: &'a ProtectionRequestStatus, type_: &str) -> &'a Condition {
    find_condition(&status.conditions, type_).unwrap_or_else(|| panic!("no {type_} condition"))
}

/// Run the happy path until `phase` (operators report `percent` while syncing).
fn until(f: &mut Facts, phase: Phase, percent: f64) {
    for _ in 0..40 {
        if f.request.status.as_ref().and_then(|s| s.phase) == Some(phase) {
            return;
        }
        step(f);
        operators(
            f,
            if f.request.phase() >= Phase::Syncing {
                percent
            } else {
                0.0
            },
        );
        kubevirt(f);
    }
    panic!("never reached {phase}: {:?}", f.request.status);
}

// --- Pending, Validating -----------------------------------------------------------------------

#[test]
fn a_new_request_is_recorded_as_pending_then_validating() {
    let mut f = world();
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Pending));
    assert!(plan.writes.is_empty());
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Validating));
    assert_eq!(
        plan.status.message.as_deref(),
        Some("Validating VirtualMachine production/web-server on cluster cluster1")
    );
    assert_eq!(
        condition(&plan.status, ct::PRIMARY_REACHABLE).status,
        ConditionStatus::True
    );
}

#[test]
fn a_status_that_is_only_the_crd_default_is_a_new_request() {
    let mut f = world();
    f.request.status = Some(ProtectionRequestStatus {
        phase: Some(Phase::Pending),
        ..ProtectionRequestStatus::default()
    });
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Pending));
    let timeline: Vec<Phase> = plan
        .status
        .phase_transitions
        .iter()
        .map(|t| t.phase)
        .collect();
    assert_eq!(timeline, [Phase::Pending]);
    assert!(
        plan.status
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("Accepted")),
        "{:?}",
        plan.status.message
    );
    assert_eq!(step(&mut f).status.phase, Some(Phase::Validating));
}

fn validating() -> Facts {
    let mut f = world();
    until(&mut f, Phase::Validating, 0.0);
    f
}

#[test]
fn validation_failures_name_what_is_missing() {
    type Case = (&'static str, fn(&mut Facts), &'static str, &'static str);
    let cases: &[Case] = &[
        (
            "VM missing",
            |f| primary(f).vm = None,
            "VMNotFound",
            r#"VirtualMachine "web-server" not found in namespace "production" on cluster "cluster1"; check spec.vmName, spec.vmNamespace and spec.sourceCluster, and that the primary-kubeconfig secret grants access to that namespace"#,
        ),
        (
            "PVC missing",
            |f| {
                primary(f).pvcs.remove("web-server-data");
            },
            "PVCNotFound",
            r#"VirtualMachine production/web-server cannot be protected: PVC "web-server-data" (volume "data") does not exist in namespace "production" on cluster "cluster1"; create it or fix the claimName in the VM"#,
        ),
        (
            "storage class not covered",
            |f| {
                primary(f)
                    .pvcs
                    .insert("web-server-data".into(), pvc("local-path", "Bound"));
            },
            "StorageClassNotCovered",
            r#"VirtualMachine production/web-server cannot be protected: PVC "web-server-data" uses storage class "local-path", which DRBDReplicationPolicy "dr-policy" does not map (it maps: ceph-rbd → ceph-rbd-dr); add a storageClassMappings entry for "local-path""#,
        ),
        (
            "no policy for the source cluster",
            |f| f.request.spec.source_cluster = Some("cluster9".into()),
            "NoMatchingPolicy",
            r#"no DRBDReplicationPolicy has primaryCluster "cluster9" (policies in this namespace: "dr-policy" for cluster1 → cluster2); set spec.sourceCluster to one of those primary clusters or create a policy for "cluster9""#,
        ),
        (
            "both running and runStrategy",
            |f| primary(f).vm = Some(vm(json!({"runStrategy": "Always", "running": true}))),
            "InvalidRunStrategy",
            "VirtualMachine production/web-server cannot be protected: VirtualMachine sets both spec.running and spec.runStrategy, which KubeVirt treats as mutually exclusive",
        ),
    ];
    for (name, break_it, reason, message) in cases {
        let mut f = validating();
        break_it(&mut f);
        let plan = step(&mut f);
        assert_eq!(plan.status.phase, Some(Phase::Failed), "{name}");
        assert_eq!(plan.status.message.as_deref(), Some(*message), "{name}");
        assert_eq!(
            condition(&plan.status, ct::VALIDATED).reason.as_deref(),
            Some(*reason),
            "{name}"
        );
        assert!(plan.writes.is_empty(), "{name}");
    }
}

#[test]
fn an_unbound_pvc_keeps_the_request_validating_and_says_why() {
    let mut f = validating();
    primary(&mut f)
        .pvcs
        .insert("web-server-data".into(), pvc("ceph-rbd", "Pending"));
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Validating));
    assert_eq!(
        plan.status.message.as_deref(),
        Some(
            r#"Validating VirtualMachine production/web-server: PVC "web-server-data" is not Bound (phase Pending); DRBD can replicate only a bound volume, so wait for it to bind or fix its storage"#
        )
    );
}

#[test]
fn an_unreachable_primary_keeps_the_request_validating_with_primary_reachable_false() {
    let mut f = validating();
    f.primary = Reach::Unreachable {
        reason: "Secret dr-deployment/primary-kubeconfig not found".into(),
    };
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Validating));
    let c = condition(&plan.status, ct::PRIMARY_REACHABLE);
    assert_eq!(c.status, ConditionStatus::False);
    assert_eq!(
        c.message.as_deref(),
        Some("cannot read cluster cluster1: Secret dr-deployment/primary-kubeconfig not found")
    );
}

#[test]
fn validation_records_the_volumes_and_the_lowest_free_port_before_any_drbd_volume_exists() {
    let mut f = validating();
    f.ports_in_use = [7000, 7001].into();
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::CreatingDRBD));
    assert!(
        plan.writes.is_empty(),
        "no DRBDVolume before the port is persisted"
    );
    assert_eq!(plan.status.policy.as_deref(), Some(POLICY));
    assert_eq!(plan.status.dr_cluster.as_deref(), Some("cluster2"));
    let pvcs: Vec<_> = plan
        .status
        .volumes
        .iter()
        .map(|v| (v.pvc.as_str(), v.port, v.dr_storage_class.as_deref()))
        .collect();
    assert_eq!(
        pvcs,
        [
            ("web-server-root", Some(7002), Some("ceph-rbd-dr")),
            ("web-server-data", Some(7002), Some("ceph-rbd-dr"))
        ]
    );
    assert_eq!(
        plan.status.message.as_deref(),
        Some("Creating DRBDVolumes for 2 volumes on cluster1 and cluster2")
    );
}

#[test]
fn an_exhausted_port_range_fails_with_the_policy_message() {
    let mut f = validating();
    f.ports_in_use = (7000..=7999).collect();
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Failed));
    assert!(plan.status.message.unwrap().contains("is exhausted"));
}

// --- CreatingDRBD ------------------------------------------------------------------------------

#[test]
fn creating_drbd_creates_three_copies_per_volume_then_relays_endpoints_then_syncs() {
    let mut f = validating();
    step(&mut f); // -> CreatingDRBD
    let plan = step(&mut f);
    let creates: Vec<_> = plan
        .writes
        .iter()
        .map(|w| match w {
            Write::CreateQuorumVolume(v) => ("quorum", v.metadata.namespace.clone().unwrap()),
            Write::CreateSideCopy {
                side: Side::Primary,
                volume,
            } => ("primary", volume.metadata.namespace.clone().unwrap()),
            Write::CreateSideCopy {
                side: Side::Dr,
                volume,
            } => ("dr", volume.metadata.namespace.clone().unwrap()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(creates.len(), 6);
    assert_eq!(
        creates
            .iter()
            .filter(|(w, ns)| *w == "quorum" && ns == "dr-deployment")
            .count(),
        2
    );
    let quorum = f.quorum_volumes.values().next().unwrap();
    let labels = quorum.metadata.labels.clone().unwrap();
    assert_eq!(labels[LABEL_PROTECTED_VM], "web-server");
    assert_eq!(labels[LABEL_VM_NAMESPACE], "production");
    assert_eq!(labels[LABEL_SOURCE_CLUSTER], "cluster1");
    assert_eq!(
        quorum.metadata.owner_references.as_ref().unwrap()[0].uid,
        "uid-1"
    );
    assert!(quorum.spec.resource.starts_with("production-web-server-"));
    assert_eq!(plan.status.phase, Some(Phase::CreatingDRBD));

    // Nothing reported yet: the request waits, naming what for.
    let plan = step(&mut f);
    assert!(
        plan.writes
            .iter()
            .all(|w| matches!(w, Write::UpdateQuorumStatus { .. }))
    );
    assert!(
        condition(&plan.status, ct::VOLUMES_CREATED)
            .message
            .as_deref()
            .unwrap()
            .contains("to report an endpoint")
    );

    operators(&mut f, 0.0);
    let plan = step(&mut f);
    let relays = plan
        .writes
        .iter()
        .filter(|w| matches!(w, Write::SetPeerEndpoint { .. }))
        .count();
    assert_eq!(relays, 4, "both sides of both volumes learn their peer");
    assert_eq!(plan.status.phase, Some(Phase::CreatingDRBD));
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Syncing));
    assert_eq!(
        plan.status.message.as_deref(),
        Some("DRBD initial sync in progress for 2 volumes")
    );
    let dr_copy = copies(&mut f, Side::Primary)
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        dr_copy.spec.peer_endpoint.as_deref(),
        Some("10.0.2.10:7000")
    );
}

#[test]
fn replaying_a_decision_creates_nothing_twice() {
    let mut f = validating();
    step(&mut f);
    step(&mut f);
    // The same facts decided again (a restart with fresh caches): nothing to create.
    let plan = decide(&f);
    assert!(plan.writes.iter().all(|w| !matches!(
        w,
        Write::CreateQuorumVolume(_) | Write::CreateSideCopy { .. }
    )));
}

// --- Syncing -----------------------------------------------------------------------------------

fn syncing(percent: f64) -> Facts {
    let mut f = world();
    until(&mut f, Phase::Syncing, percent);
    operators(&mut f, percent);
    f
}

#[test]
fn syncing_reports_the_guide_message_and_per_volume_progress_with_eta() {
    let mut f = syncing(37.0);
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Syncing));
    assert_eq!(
        plan.status.message.as_deref(),
        Some("DRBD initial sync in progress for 2 volumes")
    );
    let v = &plan.status.volumes[0];
    assert_eq!(v.sync_percent, Some(37.0));
    assert_eq!(v.state.as_deref(), Some("SyncSource"));
    assert_eq!(v.sync_rate, Some(100 << 20));
    let oos = v.out_of_sync_bytes.unwrap();
    assert_eq!(v.eta_seconds, Some((oos + (100 << 20) - 1) / (100 << 20)));
    assert_eq!(plan.status.sync_progress.as_deref(), Some("37%"));
    let synced = condition(&plan.status, ct::SYNCED);
    assert_eq!(synced.reason.as_deref(), Some("SyncInProgress"));
    assert_eq!(
        synced.message.as_deref(),
        Some("initial sync in progress: web-server-root 37%, web-server-data 37%")
    );
    assert_eq!(
        condition(&plan.status, ct::REPLICATING).status,
        ConditionStatus::False
    );
}

#[test]
fn reported_progress_never_goes_backwards() {
    let mut f = syncing(60.0);
    step(&mut f);
    operators(&mut f, 40.0);
    let plan = step(&mut f);
    let v = &plan.status.volumes[0];
    assert_eq!(v.sync_percent, Some(60.0));
    assert_eq!(
        v.out_of_sync_bytes,
        Some(((40.0 / 100.0) * (10i64 << 30) as f64) as i64)
    );
}

#[test]
fn a_stalled_sync_stays_syncing_with_a_condition_naming_the_drbd_ports() {
    let mut f = syncing(37.0);
    let plan = step(&mut f);
    assert!(
        plan.requeue_after
            .is_some_and(|d| d <= Settings::default().stall_timeout)
    );
    // The DR node becomes unreachable on the DRBD port: the primary side keeps Connecting.
    for copy in copies(&mut f, Side::Primary).values_mut() {
        let s = copy.status.as_mut().unwrap();
        s.connection_state = Some("Connecting".into());
        s.replication_state = Some("Off".into());
        s.peer_disk_state = Some("DUnknown".into());
    }
    f.now = at(4 * 60);
    let plan = step(&mut f);
    assert_eq!(
        condition(&plan.status, ct::SYNCED).reason.as_deref(),
        Some("SyncInProgress")
    );
    f.now = at(5 * 60 + 1);
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Syncing));
    let synced = condition(&plan.status, ct::SYNCED);
    assert_eq!(synced.reason.as_deref(), Some("SyncStalled"));
    let msg = synced.message.as_deref().unwrap();
    assert!(msg.starts_with(r#"no sync progress for 5m1s on PVC "web-server-root" (37% done): the primary side of PVC "web-server-root" is Connecting and cannot reach its DR peer: DRBD nodes on the primary and DR clusters must reach each other on TCP port 7000 (DRBD ports 7000–7999)"#), "{msg}");
    assert!(msg.ends_with("`nc -zv <dr-node-ip> 7000`"), "{msg}");
    assert_eq!(
        plan.status.message.as_deref(),
        Some(
            "DRBD initial sync in progress for 2 volumes, stalled for 2 (see the Synced condition for the likely cause)"
        )
    );
    assert_eq!(
        condition(&plan.status, ct::REPLICATING).reason.as_deref(),
        Some("PeerDisconnected")
    );
}

#[test]
fn a_connected_sync_without_progress_is_also_reported_as_stalled() {
    let mut f = syncing(50.0);
    step(&mut f);
    f.now = at(10 * 60);
    let plan = step(&mut f);
    let msg = condition(&plan.status, ct::SYNCED).message.clone().unwrap();
    assert!(
        msg.contains("DRBD is SyncSource but no data moved"),
        "{msg}"
    );
    assert!(
        msg.contains("TCP port 7000 (DRBD ports 7000–7999)"),
        "{msg}"
    );
}

#[test]
fn a_dr_partition_keeps_the_request_syncing_with_dr_reachable_false() {
    let mut f = syncing(100.0);
    f.dr = Reach::Unreachable {
        reason: "Get \"https://cluster2/\": connection refused".into(),
    };
    let plan = step(&mut f);
    assert_eq!(
        plan.status.phase,
        Some(Phase::Syncing),
        "DR's own view is required"
    );
    assert_eq!(
        condition(&plan.status, ct::DR_REACHABLE).status,
        ConditionStatus::False
    );
    assert!(
        plan.writes
            .iter()
            .all(|w| !matches!(w, Write::CreateSideCopy { .. }))
    );
}

#[test]
fn a_sync_waiting_only_for_an_unreachable_dr_cluster_blames_the_dr_api_not_the_drbd_ports() {
    let mut f = syncing(100.0);
    f.dr = Reach::Unreachable {
        reason: "watching nodes failed".into(),
    };
    step(&mut f);
    f.now = at(10 * 60);
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Syncing));
    let msg = condition(&plan.status, ct::SYNCED).message.clone().unwrap();
    assert!(
        msg.contains("the API of the DR cluster cluster2 cannot be read (watching nodes failed), so the DR side of the sync cannot be confirmed"),
        "{msg}"
    );
    assert!(!msg.contains("no data moved"), "{msg}");
}

#[test]
fn a_disconnected_dr_side_that_still_says_up_to_date_is_not_in_sync() {
    let mut f = syncing(100.0);
    for copy in copies(&mut f, Side::Dr).values_mut() {
        copy.status = Some(drbd_status("Connecting", "UpToDate", "DUnknown", "Off"));
    }
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Syncing));
}

#[test]
fn a_complete_sync_on_both_sides_is_ready_to_activate_then_activating() {
    let mut f = syncing(100.0);
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::ReadyToActivate));
    assert_eq!(
        plan.status.message.as_deref(),
        Some(
            "Initial sync complete for 2 volumes; all data is consistent across cluster1 and cluster2"
        )
    );
    assert_eq!(
        condition(&plan.status, ct::SYNCED).status,
        ConditionStatus::True
    );
    assert!(
        plan.status
            .volumes
            .iter()
            .all(|v| v.sync_percent == Some(100.0) && v.out_of_sync_bytes == Some(0))
    );
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Activating));
}

// --- Activating --------------------------------------------------------------------------------

fn activating() -> Facts {
    let mut f = syncing(100.0);
    step(&mut f);
    step(&mut f);
    assert_eq!(f.request.phase(), Phase::Activating);
    f
}

fn vm_step(plan: &Plan) -> Option<VmStep> {
    plan.writes.iter().find_map(|w| match w {
        Write::PatchVm { step, .. } => Some(*step),
        _ => None,
    })
}

#[test]
fn activation_records_stops_switches_and_restarts_the_vm_one_observed_step_at_a_time() {
    let mut f = activating();
    let mut steps = vec![];
    for _ in 0..12 {
        let plan = step(&mut f);
        if let Some(s) = vm_step(&plan) {
            steps.push(s);
        }
        if plan.status.phase == Some(Phase::Protected) {
            break;
        }
        // Stopping takes one observation: the VMI is still there right after the stop patch.
        if vm_step(&plan) != Some(VmStep::Stop) {
            kubevirt(&mut f);
        }
    }
    assert_eq!(
        steps,
        [
            VmStep::RecordRunState,
            VmStep::RecordVolumes,
            VmStep::Stop,
            VmStep::SwitchVolumes,
            VmStep::Restart
        ]
    );
    let status = f.request.status.clone().unwrap();
    assert_eq!(status.phase, Some(Phase::Protected));
    assert_eq!(
        status.message.as_deref(),
        Some(
            "VM web-server is running on DRBD-backed PVCs; synchronous replication to cluster2 is active"
        )
    );
    for t in [
        ct::VALIDATED,
        ct::VOLUMES_CREATED,
        ct::SYNCED,
        ct::ACTIVATED,
        ct::READY,
        ct::REPLICATING,
    ] {
        assert_eq!(condition(&status, t).status, ConditionStatus::True, "{t}");
    }
    let vm = primary(&mut f).vm.clone().unwrap();
    let claims: Vec<_> = vm.claims().map(|(_, c)| c.pvc_name().to_owned()).collect();
    assert_eq!(claims, ["web-server-root-drbd", "web-server-data-drbd"]);
    let originals: Vec<Volume> = vm.original_volumes().unwrap().unwrap();
    assert_eq!(originals, self::vm(json!({})).volumes());
    assert_eq!(vm.spec.run_strategy, Some(kubevirt::RunStrategy::Always));
    let phases: Vec<Phase> = status.phase_transitions.iter().map(|t| t.phase).collect();
    assert_eq!(
        phases,
        [
            Phase::Pending,
            Phase::Validating,
            Phase::CreatingDRBD,
            Phase::Syncing,
            Phase::ReadyToActivate,
            Phase::Activating,
            Phase::Protected
        ]
    );
}

#[test]
fn a_legacy_vm_is_stopped_and_restarted_through_spec_running() {
    let mut f = world();
    primary(&mut f).vm = Some(vm(json!({"running": true})));
    until(&mut f, Phase::Protected, 100.0);
    let vm = primary(&mut f).vm.clone().unwrap();
    assert_eq!(vm.spec.running, Some(true));
    assert_eq!(vm.spec.run_strategy, None);
    assert_eq!(
        vm.metadata.annotations.unwrap()[ANNOTATION_ORIGINAL_RUN_STRATEGY],
        "running=true"
    );
}

#[test]
fn the_vm_is_not_stopped_until_its_frontend_pvcs_are_bound() {
    let mut f = activating();
    step(&mut f);
    step(&mut f); // annotations recorded
    primary(&mut f)
        .pvcs
        .insert("web-server-data-drbd".into(), pvc("drbd", "Pending"));
    let plan = step(&mut f);
    assert_eq!(vm_step(&plan), None);
    assert_eq!(
        condition(&plan.status, ct::ACTIVATED).reason.as_deref(),
        Some("WaitingForFrontendPVCs")
    );
    assert_eq!(
        plan.status.message.as_deref(),
        Some(
            r#"Activating: waiting for DRBD-backed frontend PVCs before stopping VM web-server: frontend PVC "web-server-data-drbd" for PVC "web-server-data" is Pending"#
        )
    );
    assert!(plan.requeue_after.is_some());
}

#[test]
fn activation_waits_for_the_not_ready_taint_and_says_why_then_completes() {
    let mut f = activating();
    primary(&mut f).not_ready_nodes = ["node-a".to_owned()].into();
    let mut last = None;
    for _ in 0..10 {
        let plan = step(&mut f);
        if vm_step(&plan) != Some(VmStep::Stop) {
            kubevirt(&mut f);
        }
        last = Some(plan);
    }
    let plan = last.unwrap();
    assert_eq!(plan.status.phase, Some(Phase::Activating));
    let c = condition(&plan.status, ct::ACTIVATED);
    assert_eq!(c.reason.as_deref(), Some("WaitingForNodeTaint"));
    assert_eq!(
        c.message.as_deref(),
        Some(
            "VM web-server cannot be scheduled yet: the DRBD node agent set the siterecovery.trilio.io/not-ready:NoSchedule taint on node(s) node-a while its DRBD resources come up; waiting for it to remove the taint (it does once the resources are Connected, at most 120 s)"
        )
    );
    // Long after the activation timeout: still waiting, never rolled back for the taint.
    f.now = at(3600);
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Activating));
    primary(&mut f).not_ready_nodes.clear();
    kubevirt(&mut f);
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Protected));
}

#[test]
fn a_frontend_pvc_that_never_binds_fails_activation_with_the_vm_untouched_and_running() {
    let mut f = activating();
    step(&mut f);
    step(&mut f);
    primary(&mut f)
        .pvcs
        .insert("web-server-data-drbd".into(), pvc("drbd", "Pending"));
    step(&mut f);
    f.now = at(11 * 60);
    let mut steps = vec![];
    for _ in 0..6 {
        let plan = step(&mut f);
        steps.extend(vm_step(&plan));
        kubevirt(&mut f);
    }
    assert_eq!(steps, [VmStep::ForgetOriginals]);
    let status = f.request.status.clone().unwrap();
    assert_eq!(status.phase, Some(Phase::Failed));
    assert_eq!(
        status.message.as_deref(),
        Some(
            r#"Activation failed: frontend PVC "web-server-data-drbd" for PVC "web-server-data" is Pending after 10m. VM web-server was put back on its original volumes and restarted"#
        )
    );
    let vm = primary(&mut f).vm.clone().unwrap();
    assert_eq!(vm.volumes(), self::vm(json!({})).volumes());
    assert_eq!(vm.spec.run_strategy, Some(kubevirt::RunStrategy::Always));
    assert!(vm.metadata.annotations.unwrap_or_default().is_empty());
    assert!(primary(&mut f).vmi.as_ref().unwrap().is_running_and_ready());
}

#[test]
fn a_vm_that_never_starts_on_the_frontend_pvcs_is_switched_back_and_restarted_before_failed() {
    let mut f = activating();
    let mut steps = vec![];
    // Run activation until the VM was restarted on the frontend PVCs, with a VMI that never runs.
    for _ in 0..8 {
        let plan = step(&mut f);
        steps.extend(vm_step(&plan));
        if vm_step(&plan) != Some(VmStep::Stop) {
            kubevirt(&mut f);
        }
        if steps.last() == Some(&VmStep::Restart) {
            break;
        }
    }
    primary(&mut f).vmi = Some(vmi("Scheduling", false));
    f.now = at(11 * 60);
    steps.clear();
    for _ in 0..10 {
        let plan = step(&mut f);
        steps.extend(vm_step(&plan));
        if vm_step(&plan) == Some(VmStep::Stop) {
            continue; // the VMI goes away only after the stop is observed
        }
        kubevirt(&mut f);
        if vm_step(&plan) == Some(VmStep::Restart) {
            primary(&mut f).vmi = Some(vmi("Running", true));
        }
    }
    assert_eq!(
        steps,
        [
            VmStep::Stop,
            VmStep::RestoreVolumes,
            VmStep::Restart,
            VmStep::ForgetOriginals
        ]
    );
    let status = f.request.status.clone().unwrap();
    assert_eq!(status.phase, Some(Phase::Failed));
    assert!(status.message.as_deref().unwrap().starts_with(
        "Activation failed: VM web-server did not start on its DRBD-backed frontend PVCs within 10m (VMI Scheduling)"
    ));
    let vm = primary(&mut f).vm.clone().unwrap();
    assert_eq!(vm.volumes(), self::vm(json!({})).volumes());
    assert_eq!(vm.spec.run_strategy, Some(kubevirt::RunStrategy::Always));
    assert!(
        vm.metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(ANNOTATION_ORIGINAL_VOLUMES))
    );
}

// --- Protected ---------------------------------------------------------------------------------

fn protected() -> Facts {
    let mut f = world();
    until(&mut f, Phase::Protected, 100.0);
    f
}

#[test]
fn broken_replication_keeps_the_request_protected_with_replicating_false_and_a_reason() {
    type Case = (&'static str, DRBDVolumeStatus, &'static str);
    let split = DRBDVolumeStatus {
        split_brain: Some(true),
        ..drbd_status("StandAlone", "UpToDate", "DUnknown", "Off")
    };
    let cases: Vec<Case> = vec![
        (
            "disconnected",
            drbd_status("Connecting", "UpToDate", "DUnknown", "Off"),
            "PeerDisconnected",
        ),
        (
            "congested",
            drbd_status("Connected", "UpToDate", "Outdated", "Ahead"),
            "Congested",
        ),
        (
            "resync after reconnect",
            drbd_status("Connected", "UpToDate", "Inconsistent", "SyncSource"),
            "Resyncing",
        ),
        ("split brain", split, "SplitBrain"),
    ];
    for (name, broken, reason) in cases {
        let mut f = protected();
        for copy in copies(&mut f, Side::Primary).values_mut() {
            let frontend = copy.status.as_ref().unwrap().frontend_pvc.clone();
            copy.status = Some(DRBDVolumeStatus {
                frontend_pvc: frontend,
                ..broken.clone()
            });
        }
        let plan = step(&mut f);
        assert_eq!(plan.status.phase, Some(Phase::Protected), "{name}");
        let c = condition(&plan.status, ct::REPLICATING);
        assert_eq!(
            (c.status, c.reason.as_deref()),
            (ConditionStatus::False, Some(reason)),
            "{name}"
        );
        assert_eq!(
            condition(&plan.status, ct::READY).status,
            ConditionStatus::False,
            "{name}"
        );
        assert!(
            plan.status
                .message
                .as_deref()
                .unwrap()
                .contains("not synchronous right now"),
            "{name}"
        );
        assert!(
            plan.status
                .volumes
                .iter()
                .all(|v| v.sync_percent == Some(100.0)),
            "{name}: progress kept"
        );
        // Never a VM change, never a deletion: split brain is a human decision.
        assert!(
            plan.writes
                .iter()
                .all(|w| matches!(w, Write::UpdateQuorumStatus { .. })),
            "{name}"
        );
        // Recovery when DRBD reconnects.
        operators(&mut f, 100.0);
        let plan = step(&mut f);
        assert_eq!(
            condition(&plan.status, ct::REPLICATING).status,
            ConditionStatus::True,
            "{name}"
        );
    }
}

#[test]
fn split_brain_message_says_the_controller_will_not_resolve_it() {
    let mut f = protected();
    for copy in copies(&mut f, Side::Primary).values_mut() {
        copy.status.as_mut().unwrap().split_brain = Some(true);
    }
    let plan = step(&mut f);
    let msg = condition(&plan.status, ct::REPLICATING)
        .message
        .clone()
        .unwrap();
    assert!(
        msg.contains("The controller never resolves split brain"),
        "{msg}"
    );
    let quorum = f.quorum_volumes.values().next().unwrap();
    assert_eq!(quorum.status.as_ref().unwrap().split_brain, Some(true));
}

#[test]
fn nothing_but_time_passing_changes_nothing() {
    let mut f = protected();
    step(&mut f);
    let before = f.request.status.clone().unwrap();
    f.now = at(86_400);
    let plan = step(&mut f);
    assert_eq!(plan.status, before);
    assert!(plan.writes.is_empty(), "{:?}", plan.writes);
}

#[test]
fn failed_is_final() {
    let mut f = validating();
    primary(&mut f).vm = None;
    step(&mut f);
    let failed = f.request.status.clone().unwrap();
    primary(&mut f).vm = Some(vm(json!({"runStrategy": "Always"})));
    f.now = at(600);
    let plan = step(&mut f);
    assert_eq!(plan.status, failed);
    assert!(plan.writes.is_empty());
}

#[test]
fn reachability_is_reported_in_every_working_phase() {
    let mut f = protected();
    f.dr = Reach::Unreachable {
        reason: "watch failed: connection refused".into(),
    };
    let plan = step(&mut f);
    assert_eq!(
        condition(&plan.status, ct::DR_REACHABLE).status,
        ConditionStatus::False
    );
    assert_eq!(
        condition(&plan.status, ct::PRIMARY_REACHABLE).status,
        ConditionStatus::True
    );
    f.primary = Reach::Unreachable { reason: "x".into() };
    let plan = step(&mut f);
    assert_eq!(plan.status.phase, Some(Phase::Protected));
    assert_eq!(
        condition(&plan.status, ct::REPLICATING).status,
        ConditionStatus::Unknown
    );
}

// --- Unprotect ---------------------------------------------------------------------------------

fn cleanup_until_done(f: &mut Facts) -> Vec<VmStep> {
    let mut steps = vec![];
    for _ in 0..12 {
        let c = decide_cleanup(f);
        if c.done {
            return steps;
        }
        for w in &c.writes {
            if let Write::PatchVm { step, .. } = w {
                steps.push(*step);
            }
        }
        let stopped = c.writes.iter().any(|w| {
            matches!(
                w,
                Write::PatchVm {
                    step: VmStep::Stop,
                    ..
                }
            )
        });
        apply(f, &c.writes);
        if !stopped {
            kubevirt(f);
        }
    }
    panic!("cleanup never finished: {:?}", decide_cleanup(f));
}

#[test]
fn unprotect_after_activation_restores_the_vm_and_deletes_every_drbd_volume() {
    let mut f = protected();
    let steps = cleanup_until_done(&mut f);
    assert_eq!(
        steps,
        [
            VmStep::Stop,
            VmStep::RestoreVolumes,
            VmStep::Restart,
            VmStep::ForgetOriginals
        ]
    );
    let p = primary(&mut f).clone();
    let vm = p.vm.unwrap();
    assert_eq!(vm.volumes(), self::vm(json!({})).volumes());
    assert_eq!(vm.spec.run_strategy, Some(kubevirt::RunStrategy::Always));
    assert!(vm.metadata.annotations.unwrap_or_default().is_empty());
    assert!(p.vmi.unwrap().is_running_and_ready());
    assert!(p.side_copies.is_empty() && f.quorum_volumes.is_empty());
    assert!(copies(&mut f, Side::Dr).is_empty());
}

#[test]
fn unprotect_keeps_the_vm_stopped_only_until_the_primary_side_copies_are_gone() {
    let mut f = protected();
    for _ in 0..3 {
        let c = decide_cleanup(&f);
        let stopped = c.writes.iter().any(|w| {
            matches!(
                w,
                Write::PatchVm {
                    step: VmStep::Stop,
                    ..
                }
            )
        });
        // Deletes are only issued once the volumes are back on the original PVCs.
        if c.writes
            .iter()
            .any(|w| matches!(w, Write::DeleteSideCopy { .. }))
        {
            assert!(!vm_volumes_differ(primary(&mut f).vm.as_ref().unwrap()));
        }
        // The DRBD Operator holds its finalizer: side copies stay, marked for deletion.
        for w in &c.writes {
            if let Write::DeleteSideCopy { side, name, .. } = w {
                copies(&mut f, *side)
                    .get_mut(name)
                    .unwrap()
                    .metadata
                    .deletion_timestamp = Some(Time(at(1)));
            }
        }
        let rest: Vec<Write> = c
            .writes
            .into_iter()
            .filter(|w| !matches!(w, Write::DeleteSideCopy { .. }))
            .collect();
        apply(&mut f, &rest);
        if !stopped {
            kubevirt(&mut f);
        }
    }
    let c = decide_cleanup(&f);
    assert!(!c.done);
    assert!(
        c.message
            .contains("to tear down before VM web-server restarts"),
        "{}",
        c.message
    );
    assert!(primary(&mut f).vmi.is_none());
}

#[test]
fn unprotect_before_activation_only_deletes_drbd_volumes() {
    let mut f = syncing(40.0);
    let steps = cleanup_until_done(&mut f);
    assert!(steps.is_empty());
    assert!(f.quorum_volumes.is_empty());
    assert!(primary(&mut f).vmi.as_ref().unwrap().is_running_and_ready());
}

#[test]
fn unprotect_waits_for_an_unreachable_dr_cluster() {
    let mut f = syncing(40.0);
    f.dr = Reach::Unreachable {
        reason: "connection refused".into(),
    };
    let c = decide_cleanup(&f);
    assert!(!c.done);
    assert_eq!(
        c.message,
        "Unprotecting VM web-server: waiting for DRBDVolume side copies on the primary cluster to be torn down; the DR cluster to be reachable (connection refused)"
    );
}

#[test]
fn unprotect_of_a_request_that_created_nothing_is_done_at_once() {
    let mut f = validating();
    primary(&mut f).vm = None;
    step(&mut f);
    assert!(decide_cleanup(&f).done);
}

#[test]
fn human_durations_read_like_kubectl() {
    for (secs, text) in [
        (0, "0s"),
        (45, "45s"),
        (300, "5m"),
        (301, "5m1s"),
        (7200, "2h"),
    ] {
        assert_eq!(human_duration(Duration::from_secs(secs)), text);
    }
}
