//! The guide's Example 1 (and Examples 2-4 along the way): one VM from Pending to Protected.

use protect_api::Phase;
use protect_api::well_known::{ANNOTATION_ORIGINAL_VOLUMES, LABEL_PROTECTED_VM};
use protect_lab_apiserver::world::QUORUM;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_1_takes_web_server_from_pending_through_syncing_to_protected_on_drbd_frontend_pvcs()
 {
    let mut env = Env::start(Options::default()).await;
    env.start_controller();
    env.kubectl_apply("protect-web-server.yaml", EXAMPLE_1)
        .await;
    let name = "protect-web-server";

    // Example 2: while syncing, the message counts the volumes and each volume shows progress.
    let syncing = env
        .request_until(name, 40, "Syncing with per-volume progress", |pr| {
            let Some(s) = &pr.status else { return false };
            phase_of(pr) == "Syncing"
                && s.volumes.len() == 2
                && s.volumes
                    .iter()
                    .any(|v| v.sync_percent.is_some_and(|p| p > 0.0 && p < 100.0))
        })
        .await;
    let message = message_of(&syncing);
    assert_eq!(message, "DRBD initial sync in progress for 2 volumes");
    let status = syncing.status.clone().unwrap();
    let pvcs: Vec<&str> = status.volumes.iter().map(|v| v.pvc.as_str()).collect();
    assert_eq!(pvcs, [ROOT, DATA]);
    for v in &status.volumes {
        assert_eq!(v.port, Some(7000), "{v:?}");
        assert_eq!(v.storage_class.as_deref(), Some("ceph-rbd"));
        assert_eq!(v.dr_storage_class.as_deref(), Some("ceph-rbd-dr"));
    }
    let (synced, reason, detail) = condition_of(&syncing, "Synced").unwrap();
    assert_eq!(
        (synced.as_str(), reason.as_str()),
        ("False", "SyncInProgress")
    );
    assert!(detail.contains(DATA), "{detail}");

    let protected = env.phase_becomes(name, "Protected", 80).await;
    let status = protected.status.clone().unwrap();
    let timeline: Vec<Phase> = status.phase_transitions.iter().map(|t| t.phase).collect();
    assert_eq!(
        timeline,
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
    assert!(
        status
            .phase_transitions
            .windows(2)
            .all(|w| w[0].time.0 <= w[1].time.0),
        "phase times go forward: {:?}",
        status.phase_transitions
    );
    for (type_, expected) in [
        ("Validated", "True"),
        ("VolumesCreated", "True"),
        ("Synced", "True"),
        ("Activated", "True"),
        ("Ready", "True"),
        ("PrimaryReachable", "True"),
        ("DRReachable", "True"),
        ("Replicating", "True"),
    ] {
        let (s, reason, message) = condition_of(&protected, type_).unwrap();
        assert_eq!(s, expected, "{type_}: {reason}: {message}");
    }
    assert_eq!(
        message_of(&protected),
        "VM web-server is running on DRBD-backed PVCs; synchronous replication to cluster2 is active"
    );
    for v in &status.volumes {
        assert_eq!(v.sync_percent, Some(100.0), "{v:?}");
    }

    // The VM runs on the frontend PVCs; its original volumes are recorded on it.
    assert_eq!(
        env.vm_claims(WEB_SERVER).await,
        ["web-server-root-drbd", "web-server-data-drbd"]
    );
    env.tick_until(10, "VM web-server Running", async || {
        env.vm_running(WEB_SERVER).await.then_some(())
    })
    .await;
    let vm = env.vm(WEB_SERVER).await.unwrap();
    let recorded = vm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_ORIGINAL_VOLUMES))
        .expect("original volumes are recorded");
    assert!(
        recorded.contains(ROOT) && recorded.contains(DATA),
        "{recorded}"
    );
    assert!(env.pvc(ROOT).await.is_some() && env.pvc(DATA).await.is_some());

    // Example 3: the table the guide shows.
    let table = env
        .kubectl(&["--context", QUORUM, "get", "pr", "-n", "dr-deployment"])
        .await;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "PHASE", "AGE"], "{table}");
    assert_eq!(
        lines[1][..2],
        ["protect-web-server", "Protected"],
        "{table}"
    );

    // Example 4: the DRBDVolumes on the quorum cluster, by label.
    let listed = env
        .kubectl(&[
            "--context",
            QUORUM,
            "get",
            "drbdvolumes",
            "-n",
            "dr-deployment",
            "-l",
            "siterecovery.trilio.io/protected-vm=web-server",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let quorum = env.drbd_volumes(QUORUM).await;
    assert_eq!(quorum.len(), 2);
    for v in &quorum {
        assert_eq!(label(v, LABEL_PROTECTED_VM), Some(WEB_SERVER));
        assert_eq!(v.spec.port, 7000);
    }
    env.stop_controller();
}
