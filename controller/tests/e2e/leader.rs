//! Two replicas under Lease leader election: only the holder writes, and when it goes the other
//! takes over and finishes the request.

use std::time::Duration;

use protect_lab_apiserver::world::{DR, PRIMARY, QUORUM};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_replica_writes_nothing_then_takes_over_the_lease_and_finishes_the_request() {
    let env = Env::start(Options::instant()).await;
    if env.lab_or_skip("two controller replicas").is_none() {
        return;
    }
    // A 3 s Lease renewed 1 s before it expires: a handover within a few real seconds.
    let first = env.start_replica("replica-a", 3, 1).await;
    without_ticks(Duration::from_secs(15), "replica-a leads", async || {
        (env.lease_holder().await.as_deref() == Some("replica-a")).then_some(())
    })
    .await;
    let second = env.start_replica("replica-b", 3, 1).await;

    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    env.request_until(name, 40, "the leader drives the request to Syncing", |pr| {
        phase_of(pr) == "Syncing"
    })
    .await;
    assert!(
        !env.quorum_writes_by(&first.identity).is_empty(),
        "the leader wrote the request's status"
    );
    assert_eq!(
        env.quorum_writes_by(&second.identity),
        [],
        "the standby wrote nothing while replica-a held the Lease"
    );

    first.kill();
    without_ticks(
        Duration::from_secs(20),
        "replica-b takes the Lease",
        async || (env.lease_holder().await.as_deref() == Some("replica-b")).then_some(()),
    )
    .await;
    let writes_by_a = env.quorum_writes_by(&first.identity).len();

    let protected = env.phase_becomes(name, "Protected", 80).await;
    assert!(
        !env.quorum_writes_by(&second.identity).is_empty(),
        "replica-b finished the request"
    );
    assert_eq!(
        env.quorum_writes_by(&first.identity).len(),
        writes_by_a,
        "the killed replica wrote nothing more"
    );
    // One DRBDVolume per PVC everywhere: the new leader adopted what the old one created.
    for cluster in [QUORUM, PRIMARY, DR] {
        let volumes = env.drbd_volumes(cluster).await;
        assert_eq!(names(&volumes).len(), 2, "{cluster}: {:?}", names(&volumes));
    }
    assert_eq!(
        env.vm_claims("web-server").await,
        [format!("{ROOT}-drbd"), format!("{DATA}-drbd")]
    );
    assert!(env.vm_running("web-server").await);
    assert_eq!(phase_of(&protected), "Protected");
}
