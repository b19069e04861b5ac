//! End-to-end tests of the KubeVirt, DRBD Operator and storage-provisioner simulators against
//! the lab, in the world `protect-lab up` serves (`protect_lab_apiserver::world`), on a manual clock.
//! Everything is observed through the API (a GET after each tick); no test sleeps: each waits
//! with [`Env::tick_until`], whose tick budget is the failure bound.
//!
//! The DRBDVolume side copies are created here as the controller would (DESIGN 3.3): the same
//! spec on cluster1 and cluster2 in the VM's namespace, one DRBD resource per VM, one port per
//! resource, and each side's `status.endpoint` relayed into the other side's `spec.peerEndpoint`
//! by the test. Citations: `KUBEVIRT.md` and `DRBD.md` in shared/.
//!
//! These tests live in the lab (not in lab/simulators) because protect-lab depends on the
//! simulators for `world`, so a dev-dependency the other way would be a cycle.

// Test helpers fail the test on any unexpected API answer; unwrapping is how they do it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, PersistentVolumeClaim};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use protect_lab_apiserver::world::{DR, PRIMARY, World, WorldOptions};
use protect_lab_simulators::objects::{drbd_volume, virtual_machine, virtual_machine_instance};
use protect_lab_simulators::seed::vm_manifest;
use protect_lab_simulators::{
    Bandwidth, DATA_COUNTER_ANNOTATION, DRBD_VOLUME_LABEL, Fault, TAINT_NOT_READY,
};
use serde_json::{Value, json};

/// One simulated second per tick.
const TICK: Duration = Duration::from_secs(1);
/// Namespace of the guide's VMs, and of the side copies (the controller puts them there).
const NS: &str = "production";
const VM: &str = "web-server";
const ROOT: &str = "web-server-root";
const DATA: &str = "web-server-data";
/// The DRBD resource of VM production/web-server: one per VM, shared by its volumes.
const RESOURCE: &str = "production-web-server";
const PORT: u16 = 7000;
/// First node (by name) of each cluster, where the simulated DRBD listens (its InternalIP).
const PRIMARY_ENDPOINT: &str = "10.0.1.10:7000";
const DR_ENDPOINT: &str = "10.0.2.10:7000";
const GIB: u64 = 1 << 30;

struct Env {
    world: World,
    c1: Client,
    c2: Client,
}

async fn env(bandwidth: Bandwidth) -> Env {
    let world = World::start(WorldOptions {
        bandwidth,
        ..WorldOptions::default()
    })
    .await
    .unwrap();
    let c1 = world.client(PRIMARY).unwrap();
    let c2 = world.client(DR).unwrap();
    Env { world, c1, c2 }
}

impl Env {
    /// One tick; every simulator has finished its pass when this returns.
    async fn tick(&self) {
        tokio::time::timeout(Duration::from_secs(20), self.world.clock().tick(TICK))
            .await
            .expect("the simulators finish a pass within 20 s");
    }

    async fn ticks(&self, n: usize) {
        for _ in 0..n {
            self.tick().await;
        }
    }

    /// Probe, and tick until the probe answers `Some`, at most `budget` ticks.
    async fn tick_until<T>(
        &self,
        budget: usize,
        what: &str,
        mut probe: impl AsyncFnMut() -> Option<T>,
    ) -> T {
        for _ in 0..budget {
            if let Some(found) = probe().await {
                return found;
            }
            self.tick().await;
        }
        match probe().await {
            Some(found) => found,
            None => panic!("{what}: not within {budget} ticks"),
        }
    }

    fn fault(&self) -> Fault {
        self.world.fault(PRIMARY).unwrap()
    }

    /// Wait until the VM's `printableStatus` is `status`.
    async fn vm_becomes(&self, vm: &str, status: &str, budget: usize) {
        self.tick_until(budget, &format!("VM {vm} {status}"), async || {
            (printable(&self.c1, vm).await.as_deref() == Some(status)).then_some(())
        })
        .await;
    }

    /// Stop the VM through its run strategy and wait until it is Stopped with no VMI.
    async fn stop(&self, vm: &str) {
        patch_vm(&self.c1, vm, json!({"spec": {"runStrategy": "Halted"}})).await;
        self.tick_until(30, &format!("VM {vm} stopped"), async || {
            let stopped = printable(&self.c1, vm).await.as_deref() == Some("Stopped");
            (stopped
                && get(&self.c1, &virtual_machine_instance(), vm)
                    .await
                    .is_none())
            .then_some(())
        })
        .await;
    }

    async fn start(&self, vm: &str) {
        patch_vm(&self.c1, vm, json!({"spec": {"runStrategy": "Always"}})).await;
        self.vm_becomes(vm, "Running", 30).await;
    }

    /// Create the side copies of one PVC on both clusters, as the controller does.
    async fn create_side_copies(&self, pvc: &str, volume: i32, capacity: &str, dr_class: &str) {
        let copy: DynamicObject =
            serde_json::from_value(side_copy(pvc, volume, capacity, dr_class)).unwrap();
        for c in [&self.c1, &self.c2] {
            drbd_api(c)
                .create(&PostParams::default(), &copy)
                .await
                .unwrap();
        }
    }

    /// Relay each side's endpoint into the other side's `peerEndpoint` (the controller's job),
    /// once both sides report one.
    async fn relay(&self, pvc: &str) {
        let name = side_copy_name(pvc);
        let (primary, dr) = self
            .tick_until(30, "both endpoints reported", async || {
                let p = status(&self.c1, &name).await["endpoint"]
                    .as_str()?
                    .to_owned();
                let d = status(&self.c2, &name).await["endpoint"]
                    .as_str()?
                    .to_owned();
                Some((p, d))
            })
            .await;
        set_peer(&self.c1, &name, &dr).await;
        set_peer(&self.c2, &name, &primary).await;
    }

    /// Wait until the primary side sees its peer Connected, Established and UpToDate (RPO 0,
    /// DESIGN 3.3) and reports its frontend PVC.
    async fn established(&self, pvc: &str) {
        let name = side_copy_name(pvc);
        self.tick_until(60, &format!("{name} Established"), async || {
            let p = status(&self.c1, &name).await;
            let d = status(&self.c2, &name).await;
            (words(&p) == ["Connected", "UpToDate", "UpToDate", "Established"]
                && words(&d) == ["Connected", "UpToDate", "UpToDate", "Established"]
                && p["frontendPVC"].is_string())
            .then_some(())
        })
        .await;
    }

    /// Side copies for `pvcs` (volume numbers in order), relayed and Established.
    async fn protect(&self, pvcs: &[(&str, &str)]) {
        for (volume, (pvc, capacity)) in pvcs.iter().enumerate() {
            self.create_side_copies(pvc, volume as i32, capacity, "ceph-rbd-dr")
                .await;
        }
        for (pvc, _) in pvcs {
            self.relay(pvc).await;
        }
        for (pvc, _) in pvcs {
            self.established(pvc).await;
        }
    }
}

fn side_copy_name(pvc: &str) -> String {
    format!("{RESOURCE}-{pvc}")
}

/// A DRBDVolume side copy as the controller creates it on both workload clusters (DESIGN 3.3).
fn side_copy(pvc: &str, volume: i32, capacity: &str, dr_class: &str) -> Value {
    json!({
        "apiVersion": "siterecovery.trilio.io/v1alpha1",
        "kind": "DRBDVolume",
        "metadata": {
            "name": side_copy_name(pvc),
            "namespace": NS,
            "labels": {
                "siterecovery.trilio.io/protected-vm": VM,
                "siterecovery.trilio.io/vm-namespace": NS,
                "siterecovery.trilio.io/source-cluster": PRIMARY,
            },
        },
        "spec": {
            "resource": RESOURCE, "volumeNumber": volume, "port": PORT, "protocol": "C",
            "primary": {"cluster": PRIMARY, "pvcNamespace": NS, "pvcName": pvc,
                        "storageClass": "ceph-rbd", "capacity": capacity},
            "dr": {"cluster": DR, "pvcNamespace": NS, "pvcName": pvc, "storageClass": dr_class},
        }
    })
}

fn drbd_api(c: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(c.clone(), NS, &drbd_volume())
}

async fn get(c: &Client, resource: &ApiResource, name: &str) -> Option<Value> {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), NS, resource);
    let obj = api.get_opt(name).await.unwrap()?;
    Some(serde_json::to_value(obj).unwrap())
}

/// `status` of a side copy (`null` while none).
async fn status(c: &Client, name: &str) -> Value {
    get(c, &drbd_volume(), name)
        .await
        .and_then(|v| v.get("status").cloned())
        .unwrap_or(Value::Null)
}

/// connectionState, diskState, peerDiskState, replicationState ("" for null).
fn words(s: &Value) -> [&str; 4] {
    [
        "connectionState",
        "diskState",
        "peerDiskState",
        "replicationState",
    ]
    .map(|k| s[k].as_str().unwrap_or(""))
}

async fn set_peer(c: &Client, name: &str, peer: &str) {
    drbd_api(c)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"peerEndpoint": peer}})),
        )
        .await
        .unwrap();
}

async fn printable(c: &Client, vm: &str) -> Option<String> {
    let vm = get(c, &virtual_machine(), vm).await?;
    vm.pointer("/status/printableStatus")?
        .as_str()
        .map(str::to_owned)
}

async fn patch_vm(c: &Client, vm: &str, patch: Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), NS, &virtual_machine());
    api.patch(vm, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
}

/// Point the VM's two disks at these PVCs (what activation and unprotect do).
async fn set_volumes(c: &Client, root: &str, data: &str) {
    let volumes = json!([
        {"name": "disk0", "persistentVolumeClaim": {"claimName": root}},
        {"name": "disk1", "persistentVolumeClaim": {"claimName": data}},
    ]);
    patch_vm(
        c,
        VM,
        json!({"spec": {"template": {"spec": {"volumes": volumes}}}}),
    )
    .await;
}

async fn pvc(c: &Client, name: &str) -> Option<PersistentVolumeClaim> {
    Api::<PersistentVolumeClaim>::namespaced(c.clone(), NS)
        .get_opt(name)
        .await
        .unwrap()
}

fn phase(pvc: &PersistentVolumeClaim) -> &str {
    pvc.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The lab's data counter on a PVC (0 when absent; `None` when the PVC is gone).
async fn counter(c: &Client, name: &str) -> Option<u64> {
    let pvc = pvc(c, name).await?;
    Some(
        pvc.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DATA_COUNTER_ANNOTATION))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

async fn events(c: &Client) -> Vec<Event> {
    Api::<Event>::namespaced(c.clone(), NS)
        .list(&Default::default())
        .await
        .unwrap()
        .items
}

fn has_not_ready_taint(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| {
            t.iter()
                .any(|t| t.key == TAINT_NOT_READY && t.effect == "NoSchedule")
        })
}

async fn nodes(c: &Client) -> Vec<Node> {
    Api::<Node>::all(c.clone())
        .list(&Default::default())
        .await
        .unwrap()
        .items
}

// ---------------------------------------------------------------------------------------------
// KubeVirt

// KUBEVIRT.md §1 (runStrategy Always), §2 (printableStatus Running, ready), §3 (Pending →
// Scheduling → Scheduled → Running, nodeName); DESIGN 7: a running VM writes to its volumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeded_vm_reaches_running_on_the_first_node_and_its_data_counters_advance() {
    let env = env(Bandwidth::Instant).await;
    env.vm_becomes(VM, "Running", 30).await;
    let vm = get(&env.c1, &virtual_machine(), VM).await.unwrap();
    assert_eq!(vm["status"]["ready"], true, "{vm:#}");
    assert_eq!(vm["status"]["runStrategy"], "Always");
    let vmi = get(&env.c1, &virtual_machine_instance(), VM).await.unwrap();
    assert_eq!(vmi["status"]["phase"], "Running");
    assert_eq!(vmi["status"]["nodeName"], "cluster1-node-1");
    assert_eq!(
        vmi["metadata"]["labels"]["kubevirt.io/nodeName"],
        "cluster1-node-1"
    );
    let phases: Vec<&str> = vmi["status"]["phaseTransitionTimestamps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["phase"].as_str())
        .collect();
    assert_eq!(phases, ["Pending", "Scheduling", "Scheduled", "Running"]);

    let root = counter(&env.c1, ROOT).await.unwrap();
    let data = counter(&env.c1, DATA).await.unwrap();
    env.tick_until(10, "both disks written to", async || {
        let r = counter(&env.c1, ROOT).await?;
        let d = counter(&env.c1, DATA).await?;
        (r >= root + 3 && d >= data + 3).then_some(())
    })
    .await;
}

// KUBEVIRT.md §1 (runStrategy Halted ⇄ Always), §2 (Stopping, then Stopped; VMI deleted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_stops_and_starts_again_through_run_strategy_halted_and_always() {
    let env = env(Bandwidth::Instant).await;
    env.vm_becomes(VM, "Running", 30).await;
    patch_vm(&env.c1, VM, json!({"spec": {"runStrategy": "Halted"}})).await;
    let mut seen = Vec::new();
    env.tick_until(30, "Stopped without VMI", async || {
        let status = printable(&env.c1, VM).await?;
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        let gone = get(&env.c1, &virtual_machine_instance(), VM)
            .await
            .is_none();
        (status == "Stopped" && gone).then_some(())
    })
    .await;
    assert!(
        seen.iter().any(|s| s == "Stopping"),
        "Running → Stopping → Stopped, saw {seen:?}"
    );
    // The VM's status catches up with the VMI's removal at the next pass.
    env.tick_until(3, "status.created false", async || {
        let vm = get(&env.c1, &virtual_machine(), VM).await?;
        (vm["status"]["created"] == false).then_some(())
    })
    .await;
    let vm = get(&env.c1, &virtual_machine(), VM).await.unwrap();
    assert_eq!(vm["status"]["ready"], false, "{:#}", vm["status"]);

    // A stopped VM writes nothing.
    let frozen = counter(&env.c1, ROOT).await.unwrap();
    env.ticks(3).await;
    assert_eq!(counter(&env.c1, ROOT).await.unwrap(), frozen);

    env.start(VM).await;
    env.tick_until(10, "writes resume", async || {
        (counter(&env.c1, ROOT).await? > frozen).then_some(())
    })
    .await;
}

// KUBEVIRT.md §1: legacy `spec.running` (true = Always, false = Halted; exclusive with
// runStrategy, which status.runStrategy reports resolved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_stops_and_starts_again_through_the_legacy_running_field() {
    let env = env(Bandwidth::Instant).await;
    env.vm_becomes(VM, "Running", 30).await;
    patch_vm(
        &env.c1,
        VM,
        json!({"spec": {"runStrategy": null, "running": false}}),
    )
    .await;
    env.tick_until(30, "Stopped without VMI", async || {
        let stopped = printable(&env.c1, VM).await.as_deref() == Some("Stopped");
        (stopped
            && get(&env.c1, &virtual_machine_instance(), VM)
                .await
                .is_none())
        .then_some(())
    })
    .await;
    let vm = get(&env.c1, &virtual_machine(), VM).await.unwrap();
    assert_eq!(vm["status"]["runStrategy"], "Halted");

    patch_vm(&env.c1, VM, json!({"spec": {"running": true}})).await;
    env.vm_becomes(VM, "Running", 30).await;
    let vm = get(&env.c1, &virtual_machine(), VM).await.unwrap();
    assert_eq!(vm["status"]["runStrategy"], "Always");
}

// KUBEVIRT.md §2 (ErrorPvcNotFound precedence), §3 (Synchronized=False FailedPvcNotFound and
// the FailedPvcNotFound Event; the VMI starts once the PVC appears).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_whose_pvc_is_missing_shows_error_pvc_not_found_and_starts_once_the_pvc_appears() {
    let env = env(Bandwidth::Instant).await;
    let vms: Api<DynamicObject> = Api::namespaced_with(env.c1.clone(), NS, &virtual_machine());
    let vm: DynamicObject =
        serde_json::from_value(vm_manifest("orphan", &["orphan-disk"])).unwrap();
    vms.create(&PostParams::default(), &vm).await.unwrap();

    env.vm_becomes("orphan", "ErrorPvcNotFound", 30).await;
    let message = "PVC production/orphan-disk does not exist, waiting for it to appear";
    let vmi = get(&env.c1, &virtual_machine_instance(), "orphan")
        .await
        .unwrap();
    let conditions = vmi["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions.iter().any(|c| c["type"] == "Synchronized"
            && c["status"] == "False"
            && c["reason"] == "FailedPvcNotFound"
            && c["message"] == message),
        "{conditions:#?}"
    );
    let event = env
        .tick_until(5, "FailedPvcNotFound event", async || {
            events(&env.c1)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedPvcNotFound"))
        })
        .await;
    assert_eq!(event.message.as_deref(), Some(message));
    assert_eq!(
        event.involved_object.kind.as_deref(),
        Some("VirtualMachineInstance")
    );
    assert_eq!(event.involved_object.name.as_deref(), Some("orphan"));

    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "orphan-disk", "namespace": NS},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "ceph-rbd",
                 "resources": {"requests": {"storage": "1Gi"}}}
    }))
    .unwrap();
    Api::<PersistentVolumeClaim>::namespaced(env.c1.clone(), NS)
        .create(&PostParams::default(), &claim)
        .await
        .unwrap();
    env.vm_becomes("orphan", "Running", 30).await;
}

// ---------------------------------------------------------------------------------------------
// Storage provisioner and DRBD Operator

// DESIGN 3.3: the DR side's operator creates the backing PVC with the mapped class; a class
// missing there leaves it Pending with the PV controller's ProvisioningFailed Event, and the DR
// side attaches no disk (Diskless, no endpoint to relay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_missing_on_the_dr_side_leaves_the_backing_pvc_pending_with_provisioning_failed() {
    let env = env(Bandwidth::Instant).await;
    env.create_side_copies(ROOT, 0, "20Gi", "ceph-block-dr")
        .await;
    let backing = env
        .tick_until(10, "backing PVC created on cluster2", async || {
            pvc(&env.c2, ROOT).await
        })
        .await;
    assert_eq!(
        backing.metadata.labels.unwrap()[DRBD_VOLUME_LABEL],
        side_copy_name(ROOT)
    );
    env.ticks(5).await;
    let backing = pvc(&env.c2, ROOT).await.unwrap();
    assert_eq!(phase(&backing), "Pending");
    assert_eq!(
        backing.spec.unwrap().storage_class_name.as_deref(),
        Some("ceph-block-dr")
    );
    let failed = events(&env.c2)
        .await
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("ProvisioningFailed"))
        .expect("ProvisioningFailed event");
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(
        failed.message.as_deref(),
        Some("storageclass.storage.k8s.io \"ceph-block-dr\" not found")
    );
    assert_eq!(failed.involved_object.name.as_deref(), Some(ROOT));

    let dr = status(&env.c2, &side_copy_name(ROOT)).await;
    assert_eq!(dr["endpoint"], Value::Null, "{dr:#}");
    assert_eq!(dr["diskState"], "Diskless");
    let primary = status(&env.c1, &side_copy_name(ROOT)).await;
    assert_eq!(primary["endpoint"], PRIMARY_ENDPOINT);
}

// DRBD.md §1 (states through an initial full sync: Connecting, SyncSource/SyncTarget with the
// target Inconsistent, then Established/UpToDate), §4 (what operators report: done %, out-of-sync,
// rate), §5 (resync at the configured rate); DESIGN 3.3 (endpoint, frontendPVC on the primary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drbd_flow_connects_syncs_at_a_finite_bandwidth_and_establishes_with_a_frontend_pvc() {
    let rate = 4 * GIB;
    let env = env(Bandwidth::BytesPerSec(rate)).await;
    let name = side_copy_name(ROOT);
    env.create_side_copies(ROOT, 0, "20Gi", "ceph-rbd-dr").await;

    // Each side reports its endpoint once its PVC is Bound; no connection before the peer is known.
    let (p, d) = env
        .tick_until(20, "both endpoints", async || {
            let p = status(&env.c1, &name).await;
            let d = status(&env.c2, &name).await;
            (p["endpoint"].is_string() && d["endpoint"].is_string()).then_some((p, d))
        })
        .await;
    assert_eq!(p["endpoint"], PRIMARY_ENDPOINT);
    assert_eq!(d["endpoint"], DR_ENDPOINT);
    assert_eq!(
        (p["role"].as_str(), d["role"].as_str()),
        (Some("Primary"), Some("Secondary"))
    );
    assert_eq!(words(&p), ["", "UpToDate", "", ""]);
    assert_eq!(words(&d), ["", "Inconsistent", "", ""]);
    let backing = pvc(&env.c2, ROOT).await.unwrap();
    assert_eq!(
        backing.spec.as_ref().unwrap().storage_class_name.as_deref(),
        Some("ceph-rbd-dr")
    );
    assert_eq!(
        backing.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
        "20Gi"
    );

    // Only the primary knows its peer yet: it tries to connect.
    set_peer(&env.c1, &name, DR_ENDPOINT).await;
    let p = env
        .tick_until(5, "primary Connecting", async || {
            let p = status(&env.c1, &name).await;
            p["connectionState"].is_string().then_some(p)
        })
        .await;
    assert_eq!(words(&p), ["Connecting", "UpToDate", "DUnknown", "Off"]);

    set_peer(&env.c2, &name, PRIMARY_ENDPOINT).await;
    let mut progress: Vec<f64> = Vec::new();
    env.tick_until(30, "Established", async || {
        let p = status(&env.c1, &name).await;
        let d = status(&env.c2, &name).await;
        if p["replicationState"] == "SyncSource" {
            assert_eq!(
                words(&p),
                ["Connected", "UpToDate", "Inconsistent", "SyncSource"]
            );
            assert_eq!(
                words(&d),
                ["Connected", "Inconsistent", "UpToDate", "SyncTarget"]
            );
            assert_eq!(p["syncRateBytesPerSec"], rate);
            assert!(p["outOfSyncBytes"].as_u64().unwrap() > 0);
            progress.push(p["syncPercent"].as_f64().unwrap());
        }
        (p["replicationState"] == "Established").then_some(())
    })
    .await;
    // 20 GiB at 4 GiB/s: 20 %, 40 %, 60 %, 80 %, then done.
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert!(
        progress.iter().all(|p| *p > 0.0 && *p < 100.0),
        "{progress:?}"
    );

    env.established(ROOT).await;
    let p = status(&env.c1, &name).await;
    assert_eq!(p["syncPercent"], 100.0);
    assert_eq!(p["outOfSyncBytes"], 0);
    assert_eq!(p["splitBrain"], false);
    assert_eq!(p["frontendPVC"], "web-server-root-drbd");
    let frontend = pvc(&env.c1, "web-server-root-drbd").await.unwrap();
    assert_eq!(phase(&frontend), "Bound");
    assert_eq!(frontend.metadata.labels.unwrap()[DRBD_VOLUME_LABEL], name);
    let d = status(&env.c2, &name).await;
    assert!(d.get("frontendPVC").is_none(), "primary side only: {d:#}");
}

// DRBD.md §4/§5: a resync that makes no progress while Connected (what the controller must
// report as stalled, DESIGN 4 step 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sync_stays_connected_and_makes_no_progress_until_released() {
    let env = env(Bandwidth::BytesPerSec(GIB)).await;
    let name = side_copy_name(ROOT);
    env.create_side_copies(ROOT, 0, "20Gi", "ceph-rbd-dr").await;
    env.relay(ROOT).await;
    env.tick_until(20, "sync under way", async || {
        let p = status(&env.c1, &name).await;
        (p["replicationState"] == "SyncSource" && p["syncPercent"].as_f64()? > 0.0).then_some(())
    })
    .await;
    env.fault().stall_sync(RESOURCE, true);
    env.tick().await;
    let before = status(&env.c1, &name).await;
    env.ticks(5).await;
    let after = status(&env.c1, &name).await;
    assert_eq!(
        words(&after),
        ["Connected", "UpToDate", "Inconsistent", "SyncSource"]
    );
    assert_eq!(after["syncPercent"], before["syncPercent"]);
    assert_eq!(after["outOfSyncBytes"], before["outOfSyncBytes"]);
    assert_eq!(after["syncRateBytesPerSec"], 0);
    assert!(after["syncPercent"].as_f64().unwrap() < 100.0);

    env.fault().stall_sync(RESOURCE, false);
    env.established(ROOT).await;
}

// DRBD.md §1: after a disconnect both sides retry (Connecting) and the DR side keeps calling
// its own, now stale, disk UpToDate; DESIGN 3.3: only the primary's view of its peer counts.
// On reconnect the bitmap resync brings the DR copy up to the primary's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_dr_side_still_reports_its_own_disk_up_to_date_while_it_falls_behind() {
    let env = env(Bandwidth::Instant).await;
    let name = side_copy_name(ROOT);
    env.vm_becomes(VM, "Running", 30).await;
    env.protect(&[(ROOT, "20Gi")]).await;

    env.fault().disconnect(RESOURCE, true);
    env.tick_until(5, "primary Connecting", async || {
        (status(&env.c1, &name).await["connectionState"] == "Connecting").then_some(())
    })
    .await;
    env.ticks(3).await; // the VM keeps writing to the primary only
    let p = status(&env.c1, &name).await;
    let d = status(&env.c2, &name).await;
    assert_eq!(words(&p), ["Connecting", "UpToDate", "DUnknown", "Off"]);
    assert_eq!(words(&d), ["Connecting", "UpToDate", "DUnknown", "Off"]);
    assert!(p["outOfSyncBytes"].as_u64().unwrap() > 0, "{p:#}");
    let primary = counter(&env.c1, ROOT).await.unwrap();
    let dr = counter(&env.c2, ROOT).await.unwrap();
    assert!(dr < primary, "the DR copy is stale: {dr} < {primary}");

    env.fault().disconnect(RESOURCE, false);
    env.established(ROOT).await;
    env.tick_until(10, "DR copy caught up", async || {
        (counter(&env.c2, ROOT).await? >= primary).then_some(())
    })
    .await;
}

// DRBD.md §1 (a network failure: Connecting on both sides, retried until the network heals).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_of_the_fabric_takes_the_link_down_until_it_heals() {
    let env = env(Bandwidth::Instant).await;
    let name = side_copy_name(ROOT);
    env.protect(&[(ROOT, "20Gi")]).await;

    env.world.fabric().partition(PRIMARY, DR);
    env.tick_until(5, "both sides Connecting", async || {
        let p = status(&env.c1, &name).await;
        let d = status(&env.c2, &name).await;
        (p["connectionState"] == "Connecting" && d["connectionState"] == "Connecting").then_some(())
    })
    .await;
    assert!(!env.world.fabric().can_reach(PRIMARY, DR, DR_ENDPOINT));
    env.ticks(3).await;
    assert_eq!(status(&env.c1, &name).await["peerDiskState"], "DUnknown");

    env.world.fabric().heal(DR, PRIMARY);
    env.established(ROOT).await;
}

// DRBD.md §6: both sides wrote while apart → at reconnect "Split-Brain detected but unresolved",
// both StandAlone; DESIGN 3.3: reported, never resolved automatically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_brain_leaves_both_sides_standalone_and_flagged_and_is_never_resolved() {
    let env = env(Bandwidth::Instant).await;
    let name = side_copy_name(ROOT);
    env.vm_becomes(VM, "Running", 30).await;
    env.protect(&[(ROOT, "20Gi")]).await;

    env.fault().disconnect(RESOURCE, true);
    env.tick_until(5, "Connecting", async || {
        (status(&env.c1, &name).await["connectionState"] == "Connecting").then_some(())
    })
    .await;
    env.ticks(2).await; // the primary writes while disconnected
    env.fault().write_on_dr(RESOURCE); // and so does the DR side (a forced promotion)
    env.fault().disconnect(RESOURCE, false);
    env.tick_until(5, "split brain", async || {
        let p = status(&env.c1, &name).await;
        (p["splitBrain"] == true).then_some(())
    })
    .await;
    for _ in 0..20 {
        env.tick().await;
        for c in [&env.c1, &env.c2] {
            let s = status(c, &name).await;
            assert_eq!(s["connectionState"], "StandAlone", "{s:#}");
            assert_eq!(s["splitBrain"], true, "{s:#}");
            assert_eq!(s["replicationState"], "Off", "{s:#}");
        }
    }
}

// DESIGN 3.4/7: the node agent taints its nodes siterecovery.trilio.io/not-ready:NoSchedule at
// start-up until its resources are Connected; KUBEVIRT.md §3 (Unschedulable with the
// scheduler's message), §2 (ErrorUnschedulable). A running VM is not evicted (NoSchedule).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_not_ready_taint_keeps_a_restarted_vm_unschedulable_until_its_resource_connects() {
    let env = env(Bandwidth::Instant).await;
    env.vm_becomes(VM, "Running", 30).await;
    env.create_side_copies(ROOT, 0, "20Gi", "ceph-rbd-dr").await;
    env.tick_until(10, "primary endpoint", async || {
        status(&env.c1, &side_copy_name(ROOT)).await["endpoint"]
            .is_string()
            .then_some(())
    })
    .await;
    env.fault().restart_node_agent();
    env.tick_until(5, "every cluster1 node tainted", async || {
        nodes(&env.c1)
            .await
            .iter()
            .all(has_not_ready_taint)
            .then_some(())
    })
    .await;
    assert_eq!(printable(&env.c1, VM).await.as_deref(), Some("Running"));

    env.stop(VM).await;
    patch_vm(&env.c1, VM, json!({"spec": {"runStrategy": "Always"}})).await;
    env.vm_becomes(VM, "ErrorUnschedulable", 30).await;
    let expected = "0/3 nodes are available: 3 node(s) had untolerated taint {siterecovery.trilio.io/not-ready: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    for _ in 0..5 {
        env.tick().await;
        let vmi = get(&env.c1, &virtual_machine_instance(), VM).await.unwrap();
        assert_eq!(vmi["status"]["phase"], "Scheduling");
        let scheduled = vmi["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "PodScheduled")
            .cloned()
            .unwrap();
        assert_eq!(scheduled["status"], "False");
        assert_eq!(scheduled["reason"], "Unschedulable");
        assert_eq!(scheduled["message"], expected);
    }
    assert!(
        events(&env.c1)
            .await
            .iter()
            .any(|e| e.reason.as_deref() == Some("FailedScheduling")
                && e.message.as_deref() == Some(expected))
    );

    env.relay(ROOT).await;
    env.vm_becomes(VM, "Running", 30).await;
    assert!(!nodes(&env.c1).await.iter().any(has_not_ready_taint));
}

// DESIGN 4 step 5 and unprotect: switching the VM to the frontend PVCs and back loses nothing —
// the frontend and the original PVC are one device, and Protocol C puts every write on the DR
// backing PVC too (DRBD.md §2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_vm_to_the_frontend_pvcs_and_back_preserves_its_data_on_the_original_and_dr_pvcs()
 {
    let env = env(Bandwidth::Instant).await;
    env.vm_becomes(VM, "Running", 30).await;
    env.protect(&[(ROOT, "20Gi"), (DATA, "100Gi")]).await;

    // Activation: stop, point at the frontends, start.
    env.stop(VM).await;
    let before = counter(&env.c1, ROOT).await.unwrap();
    set_volumes(&env.c1, "web-server-root-drbd", "web-server-data-drbd").await;
    env.start(VM).await;
    let written = env
        .tick_until(10, "the VM writes to the frontend", async || {
            let f = counter(&env.c1, "web-server-root-drbd").await?;
            (f >= before + 3).then_some(f)
        })
        .await;
    env.tick_until(
        10,
        "the write reaches the original and the DR backing PVC",
        async || {
            let original = counter(&env.c1, ROOT).await?;
            let dr = counter(&env.c2, ROOT).await?;
            (original >= written && dr >= written).then_some(())
        },
    )
    .await;

    // Unprotect: stop, back to the original PVCs, start.
    env.stop(VM).await;
    env.tick().await;
    let last = counter(&env.c1, "web-server-root-drbd").await.unwrap();
    let last_data = counter(&env.c1, "web-server-data-drbd").await.unwrap();
    env.tick_until(
        5,
        "everything written is on the original and DR PVCs",
        async || {
            let ok = counter(&env.c1, ROOT).await? >= last
                && counter(&env.c1, DATA).await? >= last_data
                && counter(&env.c2, ROOT).await? >= last
                && counter(&env.c2, DATA).await? >= last_data;
            ok.then_some(())
        },
    )
    .await;
    set_volumes(&env.c1, ROOT, DATA).await;
    env.start(VM).await;
    let original = counter(&env.c1, ROOT).await.unwrap();
    assert!(original >= last, "nothing lost: {original} >= {last}");
    env.tick_until(10, "the VM writes to the original again", async || {
        (counter(&env.c1, ROOT).await? > original).then_some(())
    })
    .await;
}

// DESIGN 4 (deletion) and the simulator's guarantee: tearing a side copy down removes only what
// the operator created (frontend PVC, DR backing PVC), never the VM's original PVC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_side_copies_tears_them_down_but_never_removes_the_original_pvc() {
    let env = env(Bandwidth::Instant).await;
    env.vm_becomes(VM, "Running", 30).await;
    env.protect(&[(ROOT, "20Gi")]).await;
    let name = side_copy_name(ROOT);
    let original = pvc(&env.c1, ROOT).await.unwrap();
    let written = counter(&env.c1, ROOT).await.unwrap();
    for c in [&env.c1, &env.c2] {
        let copy = get(c, &drbd_volume(), &name).await.unwrap();
        assert!(
            copy["metadata"]["finalizers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "lab.siterecovery.trilio.io/drbd-teardown"),
            "{copy:#}"
        );
        drbd_api(c)
            .delete(&name, &DeleteParams::default())
            .await
            .unwrap();
    }
    env.tick_until(10, "both side copies gone", async || {
        let gone = get(&env.c1, &drbd_volume(), &name).await.is_none()
            && get(&env.c2, &drbd_volume(), &name).await.is_none();
        gone.then_some(())
    })
    .await;
    env.tick_until(5, "frontend and backing PVCs gone", async || {
        let gone = pvc(&env.c1, "web-server-root-drbd").await.is_none()
            && pvc(&env.c2, ROOT).await.is_none();
        gone.then_some(())
    })
    .await;
    let after = pvc(&env.c1, ROOT).await.expect("the original PVC stays");
    assert_eq!(after.metadata.uid, original.metadata.uid);
    assert_eq!(after.metadata.deletion_timestamp, None);
    assert_eq!(phase(&after), "Bound");
    assert!(counter(&env.c1, ROOT).await.unwrap() >= written);
    assert_eq!(printable(&env.c1, VM).await.as_deref(), Some("Running"));
}
