//! Crash safety (DESIGN §4: every step idempotent, its result persisted before the next): the
//! controller is killed right after each of its writes in turn and started again.

use std::time::Duration;

use protect_lab_apiserver::world::{DR, PRIMARY, QUORUM};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_controller_after_each_of_its_writes_still_ends_protected_without_duplicates_or_loss()
 {
    let mut env = Env::start(Options::instant()).await;
    if env.lab_or_skip("crash after every write").is_none() {
        return;
    }
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    let counters_before = (env.data_counter(ROOT).await, env.data_counter(DATA).await);
    let (mut crashes, mut ticks) = (0, 0);
    loop {
        let pr = env.request(name).await.unwrap();
        if phase_of(&pr) == "Protected" {
            break;
        }
        assert!(
            crashes < 400 && ticks < 100,
            "not Protected after {crashes} crashes and {ticks} ticks: {:?}",
            pr.status
        );
        let before = env.controller_writes();
        env.start_controller();
        // Kill it as soon as it wrote anything; when it has nothing to write, let time pass.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(800);
        let wrote = loop {
            if env.controller_writes() > before {
                break true;
            }
            if tokio::time::Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        env.stop_controller();
        if wrote {
            crashes += 1;
        } else {
            env.tick().await;
            ticks += 1;
        }
    }
    eprintln!("Protected after {crashes} crashes and {ticks} ticks");
    assert!(
        crashes >= 20,
        "the happy path makes at least 20 writes, each crashed after: {crashes}"
    );

    // Let a last, uninterrupted controller settle the steady state.
    env.start_controller();
    env.tick_until(20, "VM running", async || {
        env.vm_running(WEB_SERVER).await.then_some(())
    })
    .await;
    env.ticks(2).await;
    let pr = env.phase_becomes(name, "Protected", 5).await;
    for cluster in [QUORUM, PRIMARY, DR] {
        let volumes = env.drbd_volumes(cluster).await;
        assert_eq!(
            names(&volumes).len(),
            2,
            "exactly one copy per PVC on {cluster}: {:?}",
            names(&volumes)
        );
        assert!(
            volumes.iter().all(|v| v.spec.port == 7000),
            "one port for the VM's resource on {cluster}"
        );
    }
    let ports: Vec<Option<i32>> = pr.status.unwrap().volumes.iter().map(|v| v.port).collect();
    assert_eq!(ports, [Some(7000), Some(7000)]);
    assert_eq!(
        env.vm_claims(WEB_SERVER).await,
        ["web-server-root-drbd", "web-server-data-drbd"]
    );
    let root = env.pvc(ROOT).await.expect("original PVC intact");
    let data = env.pvc(DATA).await.expect("original PVC intact");
    assert!(
        root.metadata.deletion_timestamp.is_none() && data.metadata.deletion_timestamp.is_none()
    );
    let counters_now = (
        env.data_counter("web-server-root-drbd").await,
        env.data_counter("web-server-data-drbd").await,
    );
    assert!(
        counters_now.0 >= counters_before.0 && counters_now.1 >= counters_before.1,
        "no data lost: {counters_now:?} < {counters_before:?}"
    );
}
