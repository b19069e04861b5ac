//! The world `protect-lab up` serves (`protect_lab_apiserver::world`, issue 7's first bullet without the
//! controller and webhook): our CRDs on all three clusters, the guide's VM running on cluster1,
//! the policy and the kubeconfig Secrets on quorum — seen by the real kubectl, and by a client
//! built from the Secrets. kubectl is required (fails loudly when missing; never skipped).

// Test helpers fail the test on any unexpected API answer; unwrapping is how they do it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::Kubectl;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::wait::await_condition;
use protect_lab_apiserver::world::{
    self, Clock, DR, DR_KUBECONFIG_SECRET, PRIMARY, PRIMARY_KUBECONFIG_SECRET,
    PROTECTION_NAMESPACE, QUORUM, World, WorldOptions,
};
use protect_lab_simulators::Bandwidth;
use protect_lab_simulators::objects::virtual_machine;

async fn printable(c: &Client, vm: &str) -> Option<String> {
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), "production", &virtual_machine());
    let vm = api.get_opt(vm).await.unwrap()?;
    vm.data
        .pointer("/status/printableStatus")?
        .as_str()
        .map(str::to_owned)
}

/// Tick the manual clock until the VM runs (GET after each tick; 30 ticks at most).
async fn tick_until_running(world: &World, vm: &str) {
    let c1 = world.client(PRIMARY).unwrap();
    for _ in 0..30 {
        if printable(&c1, vm).await.as_deref() == Some("Running") {
            return;
        }
        tokio::time::timeout(
            Duration::from_secs(20),
            world.clock().tick(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    }
    panic!("VM {vm} not Running within 30 ticks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_the_seeded_vm_running_on_cluster1_and_the_policy_on_quorum() {
    let world = World::start(WorldOptions {
        bandwidth: Bandwidth::Instant,
        ..WorldOptions::default()
    })
    .await
    .unwrap();
    tick_until_running(&world, "web-server").await;
    let k = Kubectl::new(world.lab());
    let kubectl = |args: &[&str]| tokio::task::block_in_place(|| k.ok(args));

    let status = kubectl(&[
        "--context",
        "cluster1",
        "get",
        "vm",
        "web-server",
        "-n",
        "production",
        "-o",
        "jsonpath={.status.printableStatus}",
    ]);
    assert_eq!(status, "Running");
    // KubeVirt's printer columns: NAME AGE STATUS READY.
    let table = kubectl(&["--context", "cluster1", "get", "vm", "-n", "production"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "AGE", "STATUS", "READY"], "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("web-server "))
        .unwrap();
    assert_eq!(row.split_whitespace().nth(2), Some("Running"), "{table}");
    // READY is `.status.conditions[?(@.type=='Ready')].status`: a JSONPath filter.
    assert_eq!(row.split_whitespace().nth(3), Some("True"), "{table}");

    // The guide's Troubleshooting command.
    let policies = kubectl(&[
        "--context",
        "quorum",
        "get",
        "drbdreplicationpolicies",
        "-n",
        "dr-deployment",
        "-o",
        "yaml",
    ]);
    let policies: serde_json::Value = serde_saphyr::from_str(&policies).unwrap();
    let spec = &policies["items"][0]["spec"];
    assert_eq!(policies["items"][0]["metadata"]["name"], world::POLICY_NAME);
    assert_eq!(spec["primaryCluster"], "cluster1");
    assert_eq!(spec["drCluster"], "cluster2");
    assert_eq!(
        spec["storageClassMappings"],
        serde_json::json!([{"primary": "ceph-rbd", "dr": "ceph-rbd-dr"}])
    );
    assert_eq!(spec["primaryKubeconfigSecret"], "primary-kubeconfig");
    assert_eq!(spec["drKubeconfigSecret"], "dr-kubeconfig");
    // Defaults from the CRD's schema.
    assert_eq!(spec["protocol"], "C");
    assert_eq!(
        spec["portRange"],
        serde_json::json!({"start": 7000, "end": 7999})
    );

    // Our CRDs everywhere; KubeVirt's on the workload clusters only.
    for context in ["quorum", "cluster1", "cluster2"] {
        kubectl(&[
            "--context",
            context,
            "get",
            "crd",
            "protectionrequests.siterecovery.trilio.io",
            "drbdreplicationpolicies.siterecovery.trilio.io",
            "drbdvolumes.siterecovery.trilio.io",
        ]);
        let kubevirt = tokio::task::block_in_place(|| {
            k.run(&[
                "--context",
                context,
                "get",
                "crd",
                "virtualmachines.kubevirt.io",
            ])
        });
        assert_eq!(kubevirt.status.success(), context != "quorum", "{context}");
    }
    let prs = kubectl(&["--context", "quorum", "get", "pr", "-n", "dr-deployment"]);
    assert_eq!(prs, "");
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubeconfig_secrets_on_quorum_reach_cluster1_and_cluster2() {
    let world = World::start(WorldOptions::default()).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(world.client(QUORUM).unwrap(), PROTECTION_NAMESPACE);
    for (secret, cluster, node) in [
        (PRIMARY_KUBECONFIG_SECRET, PRIMARY, "cluster1-node-1"),
        (DR_KUBECONFIG_SECRET, DR, "cluster2-node-1"),
    ] {
        let secret = secrets.get(secret).await.unwrap();
        let data = secret.data.unwrap();
        let kubeconfig = String::from_utf8(data["kubeconfig"].0.clone()).unwrap();
        let parsed = kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap();
        assert_eq!(parsed.current_context.as_deref(), Some(cluster));
        // The current context, as the controller would use it.
        let config = kube::Config::from_custom_kubeconfig(parsed, &Default::default())
            .await
            .unwrap();
        let client = Client::try_from(config).unwrap();
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
        nodes.get(node).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_real_time_clock_the_seeded_vm_runs_without_anyone_ticking_and_shutdown_is_clean() {
    let world = World::start(WorldOptions {
        bandwidth: Bandwidth::Instant,
        clock: Clock::Realtime {
            period: Duration::from_millis(20),
        },
    })
    .await
    .unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(
        world.client(PRIMARY).unwrap(),
        "production",
        &virtual_machine(),
    );
    let running = await_condition(api, "web-server", |vm: Option<&DynamicObject>| {
        vm.and_then(|vm| vm.data.pointer("/status/printableStatus"))
            .is_some_and(|s| s == "Running")
    });
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("Running within 30 s of real time")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), world.shutdown())
        .await
        .expect("shutdown within 10 s");
}
