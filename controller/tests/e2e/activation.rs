//! A failed activation puts the VM back as it was (original volumes, run strategy) before the
//! request fails: the VM is never left stopped or on half-switched volumes by us.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use protect_api::kubevirt::RunState;
use protect_api::well_known::ANNOTATION_ORIGINAL_VOLUMES;
use protect_controller::Settings;
use serde_json::json;

use crate::harness::*;

/// A taint neither KubeVirt nor DRBD knows: the VMI cannot schedule while it is on every node.
const DRAIN: &str = "maintenance.example.com/drain";

fn options() -> Options {
    Options {
        settings: Settings {
            activation_timeout: Duration::from_secs(60),
            ..Options::instant().settings
        },
        ..Options::instant()
    }
}

async fn set_drain_taint(env: &Env, on: bool) {
    let nodes: Api<Node> = Api::all(env.primary.clone());
    for node in nodes.list(&ListParams::default()).await.unwrap().items {
        let mut taints: Vec<serde_json::Value> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.key != DRAIN)
            .map(|t| serde_json::to_value(t).unwrap())
            .collect();
        if on {
            taints.push(json!({"key": DRAIN, "value": "true", "effect": "NoSchedule"}));
        }
        nodes
            .patch(
                &node.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({
                    "metadata": {"resourceVersion": node.resource_version()},
                    "spec": {"taints": taints},
                })),
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_that_cannot_start_on_its_frontend_pvcs_is_put_back_on_its_original_volumes_and_restarted_before_failed()
 {
    let mut env = Env::start(options()).await;
    // The running VMI stays (NoSchedule does not evict); once stopped for the switch it
    // cannot be scheduled again, on any volumes.
    let run_before = RunState::of(&env.vm(WEB_SERVER).await.unwrap()).unwrap();
    assert!(!run_before.is_halted());
    set_drain_taint(&env, true).await;
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    env.phase_becomes(name, "Syncing", 20).await;
    let before = (env.data_counter(ROOT).await, env.data_counter(DATA).await);

    // Stopped, switched and restarted, the VMI cannot schedule: the request says why.
    let switched = env
        .request_until(name, 40, "Activating, naming the taint", |pr| {
            condition_of(pr, "Activated").is_some_and(|(_, reason, message)| {
                reason == "WaitingForVM" && message.contains(DRAIN)
            })
        })
        .await;
    let waiting = message_of(&switched);
    assert!(
        waiting.starts_with("Activating: waiting for VM web-server to be Running on its DRBD-backed frontend PVCs (VMI Scheduling"),
        "{waiting}"
    );
    assert_eq!(
        env.vm_claims(WEB_SERVER).await,
        [format!("{ROOT}-drbd"), format!("{DATA}-drbd")]
    );

    let failed = env.phase_becomes(name, "Failed", 40).await;
    let message = message_of(&failed);
    assert!(
        message.starts_with(
            "Activation failed: VM web-server did not start on its DRBD-backed frontend PVCs within 1m"
        ) && message.ends_with("VM web-server was put back on its original volumes and restarted"),
        "{message}"
    );
    let (_, reason, _) = condition_of(&failed, "Ready").unwrap();
    assert_eq!(reason, "ActivationFailed");

    // Back as it was: the original claims, run as before, our annotations gone.
    assert_eq!(env.vm_claims(WEB_SERVER).await, [ROOT, DATA]);
    let vm = env.vm(WEB_SERVER).await.unwrap();
    assert_eq!(RunState::of(&vm).unwrap(), run_before);
    assert!(!vm.annotations().contains_key(ANNOTATION_ORIGINAL_VOLUMES));

    // When the node is usable again the VM runs on its original PVCs, nothing it wrote lost.
    set_drain_taint(&env, false).await;
    env.tick_until(10, "VM running on its original PVCs", async || {
        env.vm_running(WEB_SERVER).await.then_some(())
    })
    .await;
    assert_eq!(env.vm_claims(WEB_SERVER).await, [ROOT, DATA]);
    let after = (env.data_counter(ROOT).await, env.data_counter(DATA).await);
    assert!(
        after.0 >= before.0 && after.1 >= before.1,
        "{before:?} -> {after:?}"
    );
    assert_eq!(phase_of(&env.request(name).await.unwrap()), "Failed");
}
