//! The `PROTECT_E2E_KUBECONFIG` mode, run here against clusters reachable only through a
//! kubeconfig file: a bare lab (three empty API servers, no seeded world, no simulators) plays
//! the real clusters. The harness then takes the path real clusters take — it installs the CRDs
//! and the guide's seed through the API, writes the kubeconfig Secrets from the contexts, and
//! runs the simulators as external clients; kubectl is the real one with `--kubeconfig`.

use protect_lab_apiserver::Lab;
use protect_lab_apiserver::world::{DR, PRIMARY, QUORUM};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_1_is_protected_and_unprotected_on_clusters_given_only_by_a_kubeconfig() {
    let lab = Lab::start(&[QUORUM, PRIMARY, DR])
        .await
        .expect("three bare clusters start");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    lab.write_kubeconfig(&path).unwrap();
    let mut env = Env::external(path.to_str().unwrap(), Options::instant()).await;
    assert!(env.lab().is_none(), "the harness sees external clusters");
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";

    let protected = env.phase_becomes(name, "Protected", 60).await;
    assert_eq!(
        message_of(&protected),
        "VM web-server is running on DRBD-backed PVCs; synchronous replication to cluster2 is active"
    );
    assert_eq!(
        env.vm_claims(WEB_SERVER).await,
        ["web-server-root-drbd", "web-server-data-drbd"]
    );
    env.tick_until(10, "VM running on its frontend PVCs", async || {
        env.vm_running(WEB_SERVER).await.then_some(())
    })
    .await;
    for cluster in [QUORUM, PRIMARY, DR] {
        assert_eq!(env.drbd_volumes(cluster).await.len(), 2, "{cluster}");
    }
    let printed = env
        .kubectl(&[
            "--context",
            QUORUM,
            "get",
            "pr",
            name,
            "-n",
            "dr-deployment",
        ])
        .await;
    assert!(printed.contains("Protected"), "{printed}");

    env.delete_request_until_gone(name, 60).await;
    env.web_server_is_back_on_its_original_pvcs().await;
    for cluster in [QUORUM, PRIMARY, DR] {
        assert!(env.drbd_volumes(cluster).await.is_empty(), "{cluster}");
    }
    drop(env);
    lab.shutdown().await;
}
