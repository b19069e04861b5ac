//! The guide's Troubleshooting section, case by case, with the words a user reads.

use kube::api::{Api, DynamicObject, PostParams};
use protect_lab_apiserver::world::{PRIMARY, QUORUM};
use protect_lab_simulators::objects::virtual_machine;
use protect_lab_simulators::seed::vm_manifest;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_running_controller_a_request_never_leaves_pending() {
    let mut env = Env::start(Options::instant()).await;
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    env.ticks(10).await;
    let pr = env.request("protect-web-server").await.unwrap();
    // Nothing but the controller writes status; the CRD's status default makes the request
    // read as Pending, and `kubectl get pr` prints it as the guide shows.
    assert_eq!(phase_of(&pr), "Pending");
    assert!(pr.status.as_ref().unwrap().phase_transitions.is_empty());
    let table = env
        .kubectl(&["--context", QUORUM, "get", "pr", "-n", "dr-deployment"])
        .await;
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row.len(), 3, "NAME, PHASE and AGE: {table}");
    assert_eq!(row[..2], ["protect-web-server", "Pending"]);

    // Once the controller runs, the request moves on.
    env.start_controller();
    env.phase_becomes("protect-web-server", "Protected", 40)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_a_missing_vm_fails_naming_the_vm_namespace_and_cluster() {
    let mut env = Env::start(Options::instant()).await;
    env.start_controller();
    env.create_request("protect-db", "database").await;
    let pr = env.phase_becomes("protect-db", "Failed", 20).await;
    let message = message_of(&pr);
    assert!(
        message.starts_with(
            "VirtualMachine \"database\" not found in namespace \"production\" on cluster \"cluster1\""
        ),
        "{message}"
    );
    let (status, reason, _) = condition_of(&pr, "Validated").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "VMNotFound"));
    assert!(env.drbd_volumes(QUORUM).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_a_vm_whose_pvc_is_missing_fails_naming_the_pvc() {
    let mut env = Env::start(Options::instant()).await;
    // A VM whose only disk claims a PVC that does not exist.
    let vms: Api<DynamicObject> =
        Api::namespaced_with(env.primary.clone(), VM_NAMESPACE, &virtual_machine());
    let vm: DynamicObject = serde_json::from_value(vm_manifest("cache", &["cache-data"])).unwrap();
    vms.create(&PostParams::default(), &vm).await.unwrap();
    env.start_controller();
    env.create_request("protect-cache", "cache").await;
    let pr = env.phase_becomes("protect-cache", "Failed", 20).await;
    let message = message_of(&pr);
    assert!(message.contains("cache-data"), "{message}");
    assert!(
        message.contains("not found") || message.contains("does not exist"),
        "{message}"
    );
    let (_, reason, _) = condition_of(&pr, "Validated").unwrap();
    assert_eq!(reason, "PVCNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_on_a_storage_class_no_policy_covers_fails_naming_the_pvc_and_the_class() {
    let mut env = Env::start(Options::instant()).await;
    env.start_controller();
    env.create_request("protect-analytics", "analytics").await;
    let pr = env.phase_becomes("protect-analytics", "Failed", 20).await;
    let message = message_of(&pr);
    assert!(
        message.contains("analytics-data") && message.contains("local-path"),
        "{message}"
    );
    let (_, reason, _) = condition_of(&pr, "Validated").unwrap();
    assert_eq!(reason, "StorageClassNotCovered");
    // The VM was never touched.
    assert_eq!(env.vm_claims("analytics").await, ["analytics-data"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sync_stays_syncing_with_a_condition_naming_the_drbd_ports_then_completes() {
    let mut env = Env::start(Options::default()).await;
    env.fault(PRIMARY).stall_sync(&web_server_resource(), true);
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    env.phase_becomes(name, "Syncing", 20).await;
    // stall timeout 60 s = 12 ticks of 5 s.
    let stalled = env
        .request_until(name, 30, "Synced=False SyncStalled", |pr| {
            condition_of(pr, "Synced").is_some_and(|(_, reason, _)| reason == "SyncStalled")
        })
        .await;
    assert_eq!(phase_of(&stalled), "Syncing");
    let (status, _, detail) = condition_of(&stalled, "Synced").unwrap();
    assert_eq!(status, "False");
    assert!(detail.contains("7000–7999"), "{detail}");
    assert!(detail.contains("nc -zv <dr-node-ip> 7000"), "{detail}");
    let message = message_of(&stalled);
    assert!(
        message.starts_with("DRBD initial sync in progress for 2 volumes, stalled"),
        "{message}"
    );

    env.fault(PRIMARY).stall_sync(&web_server_resource(), false);
    let pr = env.phase_becomes(name, "Protected", 80).await;
    let (_, reason, _) = condition_of(&pr, "Synced").unwrap();
    assert_eq!(reason, "SyncComplete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_ready_taint_during_activation_is_named_and_activation_completes_once_it_goes() {
    let mut env = Env::start(Options::instant()).await;
    let nodes = ["cluster1-node-1", "cluster1-node-2", "cluster1-node-3"];
    // The running VMI stays (NoSchedule does not evict); the restarted one cannot schedule.
    for node in nodes {
        env.fault(PRIMARY).never_ready(node, true);
    }
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    let waiting = env
        .request_until(name, 60, "Activated=False WaitingForNodeTaint", |pr| {
            condition_of(pr, "Activated")
                .is_some_and(|(_, reason, _)| reason == "WaitingForNodeTaint")
        })
        .await;
    assert_eq!(phase_of(&waiting), "Activating");
    let message = message_of(&waiting);
    assert!(
        message.starts_with("Activating: VM web-server cannot be scheduled yet")
            && message.contains("siterecovery.trilio.io/not-ready:NoSchedule"),
        "{message}"
    );
    // It keeps waiting, and says so, for as long as the taint stays.
    env.ticks(6).await;
    let still = env.request(name).await.unwrap();
    assert_eq!(phase_of(&still), "Activating");

    for node in nodes {
        env.fault(PRIMARY).never_ready(node, false);
    }
    env.phase_becomes(name, "Protected", 40).await;
    env.tick_until(10, "VM running", async || {
        env.vm_running(WEB_SERVER).await.then_some(())
    })
    .await;
}
