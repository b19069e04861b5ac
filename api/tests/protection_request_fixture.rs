//! The guide's Example 1 manifest parses into a ProtectionRequest and round-trips.

use protect_api::{Phase, ProtectionRequest};
use serde_json::Value;

const EXAMPLE_1: &str = include_str!("fixtures/protect-web-server.yaml");

#[test]
fn the_guides_example_1_parses_and_round_trips() {
    let pr: ProtectionRequest = serde_saphyr::from_str(EXAMPLE_1).unwrap();
    assert_eq!(pr.metadata.name.as_deref(), Some("protect-web-server"));
    assert_eq!(pr.metadata.namespace.as_deref(), Some("dr-deployment"));
    assert_eq!(pr.spec.vm_name, "web-server");
    assert_eq!(pr.spec.vm_namespace, "production");
    assert_eq!(pr.spec.source_cluster.as_deref(), Some("cluster1"));
    assert_eq!(pr.phase(), Phase::Pending);

    let yaml = serde_saphyr::to_string(&pr).unwrap();
    let reparsed: ProtectionRequest = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(reparsed, pr);

    let input: Value = serde_saphyr::from_str(EXAMPLE_1).unwrap();
    let written = serde_json::to_value(&pr).unwrap();
    assert_eq!(written["spec"], input["spec"]);
    assert_eq!(written, input, "nothing added or lost at any level");
}

#[test]
fn source_cluster_may_be_omitted() {
    let pr: ProtectionRequest = serde_saphyr::from_str(
        "apiVersion: siterecovery.trilio.io/v1alpha1\nkind: ProtectionRequest\nmetadata:\n  name: p\nspec:\n  vmName: a\n  vmNamespace: b\n",
    )
    .unwrap();
    assert_eq!(pr.spec.source_cluster, None);
    assert!(
        !serde_json::to_string(&pr.spec)
            .unwrap()
            .contains("sourceCluster")
    );
}

#[test]
fn a_status_written_by_the_controller_round_trips() {
    let json = serde_json::json!({
        "apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "ProtectionRequest",
        "metadata": {"name": "protect-web-server", "namespace": "dr-deployment", "generation": 1},
        "spec": {"vmName": "web-server", "vmNamespace": "production", "sourceCluster": "cluster1"},
        "status": {
            "phase": "Syncing",
            "message": "DRBD initial sync in progress for 2 volumes",
            "conditions": [{"type": "Synced", "status": "False", "reason": "SyncInProgress",
                            "message": "63% done", "lastTransitionTime": "2025-05-01T10:00:30Z",
                            "observedGeneration": 1}],
            "policy": "dr-policy", "drCluster": "cluster2", "observedGeneration": 1,
            "phaseTransitions": [{"phase": "Pending", "time": "2025-05-01T10:00:00Z"},
                                 {"phase": "Syncing", "time": "2025-05-01T10:00:30Z"}],
            "syncProgress": "63%",
            "volumes": [{"pvc": "web-server-data", "storageClass": "ceph-rbd",
                         "drStorageClass": "ceph-rbd-dr", "capacity": "100Gi",
                         "drbdVolume": "production-web-server-web-server-data-0123456789",
                         "port": 7000, "syncPercent": 63.5, "outOfSyncBytes": 39137730560_i64,
                         "syncRate": 104857600, "etaSeconds": 373, "state": "SyncSource"}]
        }
    });
    let pr: ProtectionRequest = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(pr.phase(), Phase::Syncing);
    assert_eq!(serde_json::to_value(&pr).unwrap(), json);
}
