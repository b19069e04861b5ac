//! Unprotect: deleting the request reverses everything (DESIGN §4).

use protect_lab_apiserver::world::{DR, PRIMARY, QUORUM};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_protected_request_puts_web_server_back_on_its_original_pvcs_with_its_data_and_removes_every_drbd_volume()
 {
    let mut env = Env::start(Options::instant()).await;
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    env.phase_becomes(name, "Syncing", 20).await;
    let before_activation = (env.data_counter(ROOT).await, env.data_counter(DATA).await);
    env.phase_becomes(name, "Protected", 40).await;
    env.tick_until(10, "VM running on its frontend PVCs", async || {
        env.vm_running(WEB_SERVER).await.then_some(())
    })
    .await;
    // The guest keeps writing while protected, to the frontend PVCs.
    env.ticks(3).await;
    let while_protected = (
        env.data_counter("web-server-root-drbd").await,
        env.data_counter("web-server-data-drbd").await,
    );
    assert!(
        while_protected.0 >= before_activation.0,
        "{while_protected:?} {before_activation:?}"
    );

    env.delete_request_until_gone(name, 60).await;

    env.web_server_is_back_on_its_original_pvcs().await;
    let after = (env.data_counter(ROOT).await, env.data_counter(DATA).await);
    assert!(
        after.0 >= while_protected.0 && after.1 >= while_protected.1,
        "nothing written while protected is lost: after {after:?}, while protected {while_protected:?}"
    );
    for cluster in [QUORUM, PRIMARY, DR] {
        let left = env.drbd_volumes(cluster).await;
        assert!(
            left.is_empty(),
            "DRBDVolumes left on {cluster}: {:?}",
            names(&left)
        );
    }
    assert!(env.pvc("web-server-root-drbd").await.is_none());
    assert!(env.pvc(ROOT).await.is_some() && env.pvc(DATA).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_request_while_syncing_removes_the_drbd_volumes_and_never_touches_the_vm() {
    let mut env = Env::start(Options::default()).await;
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";
    env.phase_becomes(name, "Syncing", 20).await;
    env.requests()
        .delete(name, &Default::default())
        .await
        .unwrap();
    env.tick_until(40, "request gone", async || {
        env.request(name).await.is_none().then_some(())
    })
    .await;
    for cluster in [QUORUM, PRIMARY, DR] {
        let left = env.drbd_volumes(cluster).await;
        assert!(
            left.is_empty(),
            "DRBDVolumes left on {cluster}: {:?}",
            names(&left)
        );
    }
    assert_eq!(env.vm_claims(WEB_SERVER).await, [ROOT, DATA]);
    assert!(env.vm_running(WEB_SERVER).await);
}
