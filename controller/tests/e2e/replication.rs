//! Replication health after protection, and the DR cluster's reachability during the sync.

use std::time::{Duration, Instant};

use protect_lab_apiserver::world::{DR, PRIMARY};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_request_whose_replication_breaks_shows_replicating_false_and_recovers() {
    let mut env = Env::start(Options::instant()).await;
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    env.phase_becomes(name, "Protected", 40).await;

    env.fault(PRIMARY).disconnect(&web_server_resource(), true);
    let broken = env
        .request_until(name, 20, "Replicating=False for both volumes", |pr| {
            condition_of(pr, "Replicating")
                .is_some_and(|(s, _, m)| s == "False" && m.contains(ROOT) && m.contains(DATA))
        })
        .await;
    assert_eq!(phase_of(&broken), "Protected", "it stays Protected");
    let (_, reason, detail) = condition_of(&broken, "Replicating").unwrap();
    assert_eq!(reason, "PeerDisconnected");
    assert!(detail.contains("7000–7999"), "{detail}");
    let (ready, ready_reason, _) = condition_of(&broken, "Ready").unwrap();
    assert_eq!(
        (ready.as_str(), ready_reason.as_str()),
        ("False", "ReplicationBroken")
    );
    let message = message_of(&broken);
    assert!(
        message.starts_with(
            "VM web-server is running on DRBD-backed PVCs, but replication to cluster2 is not synchronous right now"
        ),
        "{message}"
    );

    env.fault(PRIMARY).disconnect(&web_server_resource(), false);
    let healed = env
        .request_until(name, 30, "Replicating=True again", |pr| {
            condition_of(pr, "Replicating").is_some_and(|(s, _, _)| s == "True")
        })
        .await;
    let (ready, _, _) = condition_of(&healed, "Ready").unwrap();
    assert_eq!(ready, "True");
    assert_eq!(phase_of(&healed), "Protected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dr_partition_during_syncing_keeps_syncing_with_dr_reachable_false_and_completes_after_heal()
 {
    let mut env = Env::start(Options::default()).await;
    let Some(lab) = env.lab_or_skip("DR partition") else {
        return;
    };
    let dr_api = lab.cluster(DR).unwrap().faults();
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    env.phase_becomes(name, "Syncing", 20).await;

    // The DR cluster's API and its nodes' DRBD links go away together.
    dr_api.partition();
    env.fabric().partition(PRIMARY, DR);
    let cut = env
        .request_until(name, 30, "DRReachable=False", |pr| {
            condition_of(pr, "DRReachable").is_some_and(|(s, _, _)| s == "False")
        })
        .await;
    assert_eq!(phase_of(&cut), "Syncing");
    let (_, reason, detail) = condition_of(&cut, "DRReachable").unwrap();
    assert_eq!(reason, "Unreachable");
    assert!(
        detail.starts_with("cannot read cluster cluster2"),
        "{detail}"
    );
    env.ticks(5).await;
    assert_eq!(phase_of(&env.request(name).await.unwrap()), "Syncing");

    dr_api.heal();
    env.fabric().heal(PRIMARY, DR);
    let done = env.phase_becomes(name, "Protected", 80).await;
    let (s, _, _) = condition_of(&done, "DRReachable").unwrap();
    assert_eq!(s, "True");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_dr_cluster_wakes_its_protected_request_although_no_object_changes_after_healing()
{
    let mut env = Env::start(Options::instant()).await;
    let Some(lab) = env.lab_or_skip("quiet recovery") else {
        return;
    };
    let dr_api = lab.cluster(DR).unwrap().faults();
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    env.phase_becomes(name, "Protected", 40).await;

    // From here on no tick: simulated time stands still, so the simulators change nothing on
    // any cluster and only the controller's own reactions can move the request's status.
    dr_api.partition();
    let cut = without_ticks(Duration::from_secs(20), "DRReachable=False", async || {
        let pr = env.request(name).await?;
        condition_of(&pr, "DRReachable")
            .is_some_and(|(s, _, _)| s == "False")
            .then_some(pr)
    })
    .await;
    assert_eq!(phase_of(&cut), "Protected");

    dr_api.heal();
    let healed = Instant::now();
    let back = without_ticks(Duration::from_secs(20), "DRReachable=True", async || {
        let pr = env.request(name).await?;
        condition_of(&pr, "DRReachable")
            .is_some_and(|(s, _, _)| s == "True")
            .then_some(pr)
    })
    .await;
    eprintln!("DRReachable=True {:?} after healing", healed.elapsed());
    assert_eq!(phase_of(&back), "Protected");
}
