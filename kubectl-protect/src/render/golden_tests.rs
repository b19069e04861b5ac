//! Golden-file tests of everything `render` prints. A fixed `now` keeps ages stable; run with
//! `UPDATE_GOLDEN=1` to rewrite the files after an intended change, then review the diff.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimStatus,
};
use protect_api::conditions::condition_type;
use protect_api::coverage::{self, PvcFacts};
use protect_api::kubevirt::VirtualMachine;
use protect_api::{
    Condition, ConditionStatus, DRBDReplicationPolicy, DRBDReplicationPolicySpec, Phase,
    ProtectionRequest, StorageClassMapping,
};

use super::Paint;
use super::check::{Admission, CheckReport, render_check};
use super::detail::render_detail;
use super::list::{Columns, render_list};
use super::progress::{name_width, watch_header, watch_line};
use crate::fixtures::{event, now, request, volume};

fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{name}: output differs from {}",
        path.display()
    );
}

fn cond(type_: &str, status: ConditionStatus, reason: &str, message: &str) -> Condition {
    Condition::new(type_, status, reason, message)
}

/// The guide's Example 3 namespace: two Protected requests and one syncing, plus one degraded
/// and one Failed.
fn deployment() -> Vec<ProtectionRequest> {
    vec![
        request("web-server")
            .created_ago(2 * 86400)
            .phase(Phase::Protected)
            .sync("100%")
            .policy("cluster1-to-cluster2", "cluster2")
            .message("VM runs on DRBD-backed PVCs; replication Connected")
            .condition(cond(condition_type::REPLICATING, ConditionStatus::True, "Connected", "peer UpToDate"))
            .build(),
        request("database")
            .created_ago(2 * 86400 + 3600)
            .phase(Phase::Protected)
            .sync("100%")
            .policy("cluster1-to-cluster2", "cluster2")
            .message("replication to cluster2 is down")
            .condition(cond(condition_type::REPLICATING, ConditionStatus::False, "PeerDisconnected", "primary sees peer StandAlone"))
            .build(),
        request("cache")
            .created_ago(300)
            .phase(Phase::Syncing)
            .sync("63%")
            .policy("cluster1-to-cluster2", "cluster2")
            .message("DRBD initial sync in progress for 2 volumes")
            .build(),
        request("legacy")
            .created_ago(45)
            .phase(Phase::Failed)
            .policy("cluster1-to-cluster2", "cluster2")
            .message("PVC \"legacy-data\" uses storage class \"local-path\", which DRBDReplicationPolicy \"cluster1-to-cluster2\" does not map")
            .build(),
    ]
}

#[test]
fn list_table_matches_golden() {
    assert_golden(
        "status_list",
        &render_list(&deployment(), Columns::default(), now(), Paint::plain()),
    );
}

#[test]
fn wide_list_with_namespaces_matches_golden() {
    let mut requests = deployment();
    requests[3] = request("legacy")
        .namespace("dr-staging")
        .created_ago(45)
        .phase(Phase::Pending)
        .build();
    let columns = Columns {
        wide: true,
        namespace: true,
    };
    assert_golden(
        "status_list_wide_all_namespaces",
        &render_list(&requests, columns, now(), Paint::plain()),
    );
}

fn syncing_web_server() -> ProtectionRequest {
    request("web-server")
        .created_ago(300)
        .phase(Phase::Syncing)
        .sync("63%")
        .policy("cluster1-to-cluster2", "cluster2")
        .message("DRBD initial sync in progress for 2 volumes")
        .entered(Phase::Pending, 0)
        .entered(Phase::Validating, 3)
        .entered(Phase::CreatingDRBD, 12)
        .entered(Phase::Syncing, 30)
        .condition(cond(
            condition_type::VALIDATED,
            ConditionStatus::True,
            "VMAndPVCsFound",
            "VM production/web-server and 2 PVCs found; all covered",
        ))
        .condition(cond(
            condition_type::VOLUMES_CREATED,
            ConditionStatus::True,
            "Created",
            "2 DRBDVolumes on cluster1 and cluster2",
        ))
        .condition(cond(
            condition_type::SYNCED,
            ConditionStatus::False,
            "SyncInProgress",
            "63% done",
        ))
        .volume(volume(
            "web-server-data",
            "ceph-rbd",
            "ceph-rbd-dr",
            "SyncSource",
            58.25,
            Some(130),
        ))
        .volume(volume(
            "web-server-logs",
            "ceph-rbd",
            "ceph-rbd-dr",
            "SyncSource",
            67.5,
            Some(95),
        ))
        .build()
}

#[test]
fn detail_view_while_syncing_matches_golden() {
    let events = vec![
        event(
            "protect-web-server",
            "Normal",
            "PhaseChanged",
            "Pending → Validating",
            297,
        ),
        event(
            "protect-web-server",
            "Normal",
            "PhaseChanged",
            "Validating → CreatingDRBD",
            288,
        ),
        event(
            "protect-web-server",
            "Normal",
            "PhaseChanged",
            "CreatingDRBD → Syncing",
            270,
        ),
    ];
    assert_golden(
        "status_detail_syncing",
        &render_detail(&syncing_web_server(), &events, now(), Paint::plain()),
    );
}

#[test]
fn detail_view_of_a_degraded_request_says_so_in_words() {
    let pr = deployment().remove(1);
    let text = render_detail(&pr, &[], now(), Paint::plain());
    assert_golden("status_detail_degraded", &text);
    assert!(text.contains("Protected (degraded)"));
}

#[test]
fn watch_lines_follow_the_guides_example_1() {
    let phases = [
        (Phase::Pending, 0),
        (Phase::Validating, 3),
        (Phase::CreatingDRBD, 12),
        (Phase::Syncing, 30),
        (Phase::ReadyToActivate, 240),
        (Phase::Activating, 255),
        (Phase::Protected, 285),
    ];
    let width = name_width(["protect-web-server"]);
    let mut out = watch_header(width) + "\n";
    for (phase, age) in phases {
        // Print each line at the moment the phase is entered: `now` = creation + age.
        let pr = request("web-server").created_ago(age).phase(phase).build();
        out.push_str(&watch_line(&pr, width, now()));
        out.push('\n');
    }
    assert_golden("watch_lines_example_1", &out);
}

fn policy() -> DRBDReplicationPolicy {
    let mut p = DRBDReplicationPolicy::new(
        "cluster1-to-cluster2",
        DRBDReplicationPolicySpec {
            primary_cluster: "cluster1".into(),
            dr_cluster: "cluster2".into(),
            storage_class_mappings: vec![StorageClassMapping {
                primary: "ceph-rbd".into(),
                dr: "ceph-rbd-dr".into(),
            }],
            primary_kubeconfig_secret: "primary-kubeconfig".into(),
            dr_kubeconfig_secret: "dr-kubeconfig".into(),
            port_range: Default::default(),
            protocol: Default::default(),
        },
    );
    p.metadata.namespace = Some("dr-deployment".into());
    p
}

fn vm() -> VirtualMachine {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": "web-server", "namespace": "production"},
        "spec": {"runStrategy": "Always", "template": {"spec": {"volumes": [
            {"name": "rootdisk", "persistentVolumeClaim": {"claimName": "web-server-data"}},
            {"name": "logs", "dataVolume": {"name": "web-server-logs"}},
            {"name": "cloudinit", "cloudInitNoCloud": {"userData": "#cloud-config"}}
        ]}}}
    }))
    .unwrap()
}

fn pvc(class: &str, phase: &str) -> PvcFacts {
    PvcFacts::from_pvc(&PersistentVolumeClaim {
        spec: Some(PersistentVolumeClaimSpec {
            storage_class_name: Some(class.into()),
            ..Default::default()
        }),
        status: Some(PersistentVolumeClaimStatus {
            phase: Some(phase.into()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[test]
fn check_report_of_a_fully_covered_vm_matches_golden() {
    let pvcs = BTreeMap::from([
        ("web-server-data".to_owned(), pvc("ceph-rbd", "Bound")),
        ("web-server-logs".to_owned(), pvc("ceph-rbd", "Bound")),
    ]);
    let report = CheckReport {
        request: "dr-deployment/protect-web-server".into(),
        vm: "production/web-server".into(),
        admission: Admission::Accepted {
            source_cluster: Some("cluster1".into()),
        },
        coverage: Ok(coverage::assess(&vm(), &pvcs, &policy())),
    };
    assert_eq!(report.exit(), crate::exit::Exit::Ok);
    assert_golden("check_covered", &render_check(&report, Paint::plain()));
}

#[test]
fn check_report_of_an_uncovered_pvc_says_which_and_why() {
    let pvcs = BTreeMap::from([
        ("web-server-data".to_owned(), pvc("ceph-rbd", "Bound")),
        ("web-server-logs".to_owned(), pvc("local-path", "Pending")),
    ]);
    let coverage = coverage::assess(&vm(), &pvcs, &policy());
    let denial = format!(
        "Error from server: admission webhook \"validate.siterecovery.trilio.io\" denied the request: {}",
        coverage.denial().unwrap()
    );
    let report = CheckReport {
        request: "dr-deployment/protect-web-server".into(),
        vm: "production/web-server".into(),
        admission: Admission::Denied(denial),
        coverage: Ok(coverage),
    };
    assert_eq!(report.exit(), crate::exit::Exit::Denied);
    let text = render_check(&report, Paint::plain());
    assert!(text.contains("local-path"));
    assert_golden("check_uncovered", &text);
}

#[test]
fn check_report_when_the_primary_cluster_cannot_be_read() {
    let report = CheckReport {
        request: "dr-deployment/protect-web-server".into(),
        vm: "production/web-server".into(),
        admission: Admission::Accepted {
            source_cluster: Some("cluster1".into()),
        },
        coverage: Err("Secret dr-deployment/primary-kubeconfig has no key \"kubeconfig\"".into()),
    };
    assert_eq!(report.exit(), crate::exit::Exit::Error);
    assert_golden(
        "check_coverage_unavailable",
        &render_check(&report, Paint::plain()),
    );
}
