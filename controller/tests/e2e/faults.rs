//! Under API faults on all three clusters (errors, conflicts, timeouts, dropped and expired
//! watches) many requests still all reach Protected, without a duplicate DRBDVolume or a port
//! handed out twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use protect_lab_apiserver::world::{DR, PRIMARY, QUORUM};

use crate::harness::*;

/// Requests in the fault scenario, as the issue asks (about 80 s of a debug build on 2 cores).
const REQUESTS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_injected_faults_on_all_three_clusters_a_hundred_requests_all_reach_protected_without_duplicate_volumes_or_ports()
 {
    let started = Instant::now();
    let mut env = Env::start(Options::instant()).await;
    let Some(lab) = env.lab_or_skip("injected API faults") else {
        return;
    };
    let vms = fleet(REQUESTS);
    env.seed_fleet(&vms).await;
    // 10% of every cluster's requests fail (500, the 409 conflict where one can happen, 504
    // timeouts), some are slow, and every watch ends after a few events (clients resume).
    let faults: Vec<_> = [QUORUM, PRIMARY, DR]
        .iter()
        .map(|c| lab.cluster(c).unwrap().faults())
        .collect();
    for (i, f) in faults.iter().enumerate() {
        f.seed(i as u64 + 7)
            .error_rate(0.1, &[500, 409, 504])
            .inject(
                protect_lab_apiserver::Rule::latency(Duration::from_millis(50)).probability(0.05),
            )
            .drop_watches_after(Some(25));
    }
    env.start_controller();
    env.create_requests(&vms).await;
    eprintln!("{REQUESTS} requests created after {:?}", started.elapsed());

    // Half way, expire every watch (410, relist) on all three clusters too.
    env.ticks(3).await;
    for f in &faults {
        f.expire_watches();
    }
    let all = env.all_become(REQUESTS, "Protected", 120).await;
    eprintln!("all Protected after {:?}", started.elapsed());
    for f in &faults {
        let c = f.counts();
        assert!(
            c.errors_total() > 0 && c.watches_dropped > 0,
            "faults were injected: {c:?}"
        );
        eprintln!("{c:?}");
        f.clear();
    }

    // Exactly one DRBDVolume per PVC on each cluster, one port per VM, no port twice.
    for cluster in [QUORUM, PRIMARY, DR] {
        let volumes = env.all_drbd_volumes(cluster).await;
        let mut per_pvc: BTreeMap<String, usize> = BTreeMap::new();
        for v in &volumes {
            *per_pvc.entry(v.spec.primary.pvc_name.clone()).or_default() += 1;
        }
        assert_eq!(per_pvc.len(), REQUESTS, "one volume per PVC on {cluster}");
        assert!(
            per_pvc.values().all(|n| *n == 1),
            "duplicate DRBDVolumes on {cluster}: {per_pvc:?}"
        );
        let ports: BTreeSet<i32> = volumes.iter().map(|v| v.spec.port).collect();
        assert_eq!(ports.len(), REQUESTS, "a distinct port per VM on {cluster}");
        assert!(ports.iter().all(|p| (7000..=7999).contains(p)), "{ports:?}");
    }
    let mut by_port: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for pr in &all {
        let status = pr.status.clone().unwrap();
        assert_eq!(status.volumes.len(), 1, "{status:?}");
        let port = status.volumes[0].port.expect("a port is recorded");
        by_port
            .entry(port)
            .or_default()
            .push(pr.spec.vm_name.clone());
    }
    assert!(
        by_port.values().all(|vms| vms.len() == 1),
        "a port recorded by two requests: {:?}",
        by_port
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .collect::<Vec<_>>()
    );
    // Every VM runs on its DRBD-backed frontend PVC.
    for vm in vms.iter().step_by(17) {
        assert_eq!(env.vm_claims(vm).await, [format!("{vm}-disk-drbd")]);
    }
    eprintln!("done after {:?}", started.elapsed());
}
