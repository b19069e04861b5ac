//! Table-driven tests of the coverage rule and its messages.

use super::*;
use crate::replication_policy::DRBDReplicationPolicySpec;
use serde_json::json;

struct VmBuilder {
    name: &'static str,
    volumes: Vec<serde_json::Value>,
}

fn vm(name: &'static str) -> VmBuilder {
    VmBuilder {
        name,
        volumes: vec![],
    }
}

impl VmBuilder {
    fn with_pvc(mut self, volume: &str, claim: &str) -> Self {
        self.volumes
            .push(json!({"name": volume, "persistentVolumeClaim": {"claimName": claim}}));
        self
    }
    fn with_data_volume(mut self, volume: &str, dv: &str) -> Self {
        self.volumes
            .push(json!({"name": volume, "dataVolume": {"name": dv}}));
        self
    }
    fn with_container_disk(mut self, volume: &str) -> Self {
        self.volumes.push(
            json!({"name": volume, "containerDisk": {"image": "quay.io/containerdisks/fedora"}}),
        );
        self
    }
    fn build(self) -> VirtualMachine {
        serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": self.name, "namespace": "production"},
            "spec": {"runStrategy": "Always", "template": {"spec": {"volumes": self.volumes}}}
        }))
        .unwrap()
    }
}

fn policy(name: &str, primary: &str, dr: &str, mappings: &[(&str, &str)]) -> DRBDReplicationPolicy {
    let spec: DRBDReplicationPolicySpec = serde_json::from_value(json!({
        "primaryCluster": primary, "drCluster": dr,
        "storageClassMappings": mappings.iter().map(|(p, d)| json!({"primary": p, "dr": d})).collect::<Vec<_>>()
    }))
    .unwrap();
    DRBDReplicationPolicy::new(name, spec)
}

fn dr_policy() -> DRBDReplicationPolicy {
    policy(
        "dr-policy",
        "cluster1",
        "cluster2",
        &[("ceph-rbd", "ceph-rbd-dr")],
    )
}

fn pvc(class: Option<&str>, phase: &str) -> PvcFacts {
    PvcFacts {
        storage_class: class.map(str::to_owned),
        capacity: Some(Quantity("10Gi".into())),
        phase: Some(phase.into()),
    }
}

fn pvcs(entries: &[(&str, PvcFacts)]) -> BTreeMap<String, PvcFacts> {
    entries
        .iter()
        .map(|(n, f)| (n.to_string(), f.clone()))
        .collect()
}

#[test]
fn policy_selection_table() {
    let p1 = dr_policy();
    let p2 = policy("dr-policy-b", "cluster1", "cluster3", &[]);
    let p3 = policy("edge", "cluster4", "cluster5", &[]);
    struct Case {
        name: &'static str,
        policies: Vec<DRBDReplicationPolicy>,
        source: Option<&'static str>,
        expected: Result<&'static str, &'static str>,
    }
    let cases = [
        Case {
            name: "one policy matches the source cluster",
            policies: vec![p1.clone(), p3.clone()],
            source: Some("cluster1"),
            expected: Ok("dr-policy"),
        },
        Case {
            name: "no source cluster and exactly one policy",
            policies: vec![p3.clone()],
            source: None,
            expected: Ok("edge"),
        },
        Case {
            name: "no policy at all, source given",
            policies: vec![],
            source: Some("cluster1"),
            expected: Err(
                r#"no DRBDReplicationPolicy exists in this namespace; create one with primaryCluster "cluster1" and storageClassMappings for the VM's storage classes"#,
            ),
        },
        Case {
            name: "no policy at all, no source",
            policies: vec![],
            source: None,
            expected: Err(
                "no DRBDReplicationPolicy exists in this namespace; create one with the VM's primary cluster as primaryCluster and storageClassMappings for the VM's storage classes",
            ),
        },
        Case {
            name: "no policy for the cluster",
            policies: vec![p1.clone(), p3.clone()],
            source: Some("cluster9"),
            expected: Err(
                r#"no DRBDReplicationPolicy has primaryCluster "cluster9" (policies in this namespace: "dr-policy" for cluster1 → cluster2, "edge" for cluster4 → cluster5); set spec.sourceCluster to one of those primary clusters or create a policy for "cluster9""#,
            ),
        },
        Case {
            name: "two policies match: ambiguous",
            policies: vec![p1.clone(), p2.clone(), p3.clone()],
            source: Some("cluster1"),
            expected: Err(
                r#"DRBDReplicationPolicies "dr-policy" and "dr-policy-b" all have primaryCluster "cluster1", so the DR cluster is ambiguous; delete one of them or change its primaryCluster"#,
            ),
        },
        Case {
            name: "no source cluster and two policies",
            policies: vec![p1.clone(), p3.clone()],
            source: None,
            expected: Err(
                r#"spec.sourceCluster is not set and 2 DRBDReplicationPolicies exist ("dr-policy" for cluster1 → cluster2, "edge" for cluster4 → cluster5); set spec.sourceCluster to the VM's primary cluster"#,
            ),
        },
    ];
    for case in cases {
        let got = select_policy(&case.policies, case.source)
            .map(|p| p.metadata.name.clone().unwrap())
            .map_err(|e| e.to_string());
        assert_eq!(
            got,
            case.expected.map(str::to_owned).map_err(str::to_owned),
            "{}",
            case.name
        );
    }
}

#[test]
fn volume_verdict_table() {
    let policy = dr_policy();
    struct Case {
        name: &'static str,
        vm: VirtualMachine,
        pvcs: BTreeMap<String, PvcFacts>,
        expected: Vec<(&'static str, Verdict, &'static str)>,
    }
    let cases = [
        Case {
            name: "pvc covered",
            vm: vm("web-server").with_pvc("data", "web-server-data").build(),
            pvcs: pvcs(&[("web-server-data", pvc(Some("ceph-rbd"), "Bound"))]),
            expected: vec![(
                "web-server-data",
                Verdict::Covered {
                    storage_class: "ceph-rbd".into(),
                    dr_storage_class: "ceph-rbd-dr".into(),
                },
                r#"PVC "web-server-data" uses storage class "ceph-rbd", which DRBDReplicationPolicy "dr-policy" maps to "ceph-rbd-dr" on cluster2"#,
            )],
        },
        Case {
            name: "storage class not mapped",
            vm: vm("web-server").with_pvc("logs", "logs").build(),
            pvcs: pvcs(&[("logs", pvc(Some("local-path"), "Bound"))]),
            expected: vec![(
                "logs",
                Verdict::StorageClassNotMapped {
                    storage_class: "local-path".into(),
                },
                r#"PVC "logs" uses storage class "local-path", which DRBDReplicationPolicy "dr-policy" does not map (it maps: ceph-rbd → ceph-rbd-dr); add a storageClassMappings entry for "local-path""#,
            )],
        },
        Case {
            name: "pvc missing",
            vm: vm("web-server").with_pvc("data", "web-server-data").build(),
            pvcs: pvcs(&[]),
            expected: vec![(
                "web-server-data",
                Verdict::PvcMissing,
                r#"PVC "web-server-data" (volume "data") does not exist in namespace "production" on cluster "cluster1"; create it or fix the claimName in the VM"#,
            )],
        },
        Case {
            name: "pvc of a data volume missing",
            vm: vm("web-server")
                .with_data_volume("rootdisk", "web-server-root")
                .build(),
            pvcs: pvcs(&[]),
            expected: vec![(
                "web-server-root",
                Verdict::PvcMissing,
                r#"PVC "web-server-root" of DataVolume "web-server-root" (volume "rootdisk") does not exist in namespace "production" on cluster "cluster1"; check that DataVolume "web-server-root" exists and has created its PVC"#,
            )],
        },
        Case {
            name: "pvc without storage class",
            vm: vm("web-server").with_pvc("data", "static-data").build(),
            pvcs: pvcs(&[("static-data", pvc(None, "Bound"))]),
            expected: vec![(
                "static-data",
                Verdict::NoStorageClass,
                r#"PVC "static-data" has no storage class, so DRBDReplicationPolicy "dr-policy" cannot map it (it maps: ceph-rbd → ceph-rbd-dr); only PVCs with a mapped storage class can be protected"#,
            )],
        },
        Case {
            name: "empty storage class counts as none",
            vm: vm("web-server").with_pvc("data", "static-data").build(),
            pvcs: pvcs(&[("static-data", pvc(Some(""), "Bound"))]),
            expected: vec![(
                "static-data",
                Verdict::NoStorageClass,
                r#"PVC "static-data" has no storage class, so DRBDReplicationPolicy "dr-policy" cannot map it (it maps: ceph-rbd → ceph-rbd-dr); only PVCs with a mapped storage class can be protected"#,
            )],
        },
        Case {
            name: "data volume covered, container disk and cloud-init ignored",
            vm: vm("web-server")
                .with_container_disk("boot")
                .with_data_volume("rootdisk", "web-server-root")
                .build(),
            pvcs: pvcs(&[("web-server-root", pvc(Some("ceph-rbd"), "Bound"))]),
            expected: vec![(
                "web-server-root",
                Verdict::Covered {
                    storage_class: "ceph-rbd".into(),
                    dr_storage_class: "ceph-rbd-dr".into(),
                },
                r#"PVC "web-server-root" of DataVolume "web-server-root" uses storage class "ceph-rbd", which DRBDReplicationPolicy "dr-policy" maps to "ceph-rbd-dr" on cluster2"#,
            )],
        },
    ];
    for case in cases {
        let coverage = assess(&case.vm, &case.pvcs, &policy);
        let got: Vec<(String, Verdict, String)> = coverage
            .volumes
            .iter()
            .map(|v| (v.pvc.clone(), v.verdict.clone(), coverage.volume_message(v)))
            .collect();
        let expected: Vec<(String, Verdict, String)> = case
            .expected
            .into_iter()
            .map(|(p, v, m)| (p.to_owned(), v, m.to_owned()))
            .collect();
        assert_eq!(got, expected, "{}", case.name);
    }
}

#[test]
fn a_fully_covered_vm_has_no_denial() {
    let vm = vm("web-server")
        .with_data_volume("rootdisk", "web-server-root")
        .with_pvc("data", "web-server-data")
        .build();
    let found = pvcs(&[
        ("web-server-root", pvc(Some("ceph-rbd"), "Bound")),
        ("web-server-data", pvc(Some("ceph-rbd"), "Bound")),
    ]);
    let coverage = coverage(&vm, &found, &[dr_policy()], Some("cluster1")).unwrap();
    assert!(coverage.is_complete());
    assert_eq!(coverage.denial(), None);
    assert_eq!(coverage.covered().count(), 2);
    assert_eq!(
        coverage.to_string(),
        r#"DRBDReplicationPolicy "dr-policy" covers all 2 PVCs of VirtualMachine production/web-server"#
    );
}

#[test]
fn the_denial_names_the_vm_and_every_uncovered_pvc() {
    let vm = vm("web-server")
        .with_pvc("data", "web-server-data")
        .with_pvc("logs", "logs")
        .with_pvc("scratch", "scratch")
        .build();
    let found = pvcs(&[
        ("web-server-data", pvc(Some("ceph-rbd"), "Bound")),
        ("logs", pvc(Some("local-path"), "Bound")),
    ]);
    let coverage = coverage(&vm, &found, &[dr_policy()], None).unwrap();
    assert!(!coverage.is_complete());
    assert_eq!(
        coverage.denial().unwrap(),
        concat!(
            "VirtualMachine production/web-server cannot be protected: ",
            r#"PVC "logs" uses storage class "local-path", which DRBDReplicationPolicy "dr-policy" does not map (it maps: ceph-rbd → ceph-rbd-dr); add a storageClassMappings entry for "local-path"; "#,
            r#"PVC "scratch" (volume "scratch") does not exist in namespace "production" on cluster "cluster1"; create it or fix the claimName in the VM"#
        )
    );
}

#[test]
fn a_vm_without_pvcs_is_denied() {
    let vm = vm("stateless").with_container_disk("boot").build();
    let coverage = assess(&vm, &pvcs(&[]), &dr_policy());
    assert!(!coverage.is_complete());
    assert_eq!(
        coverage.denial().unwrap(),
        "VirtualMachine production/stateless mounts no persistentVolumeClaim or dataVolume volumes, so there is nothing for DRBD to protect"
    );
}

#[test]
fn a_policy_without_mappings_says_so() {
    let vm = vm("web-server").with_pvc("data", "web-server-data").build();
    let found = pvcs(&[("web-server-data", pvc(Some("ceph-rbd"), "Bound"))]);
    let empty = policy("bare", "cluster1", "cluster2", &[]);
    let coverage = assess(&vm, &found, &empty);
    assert_eq!(
        coverage.volume_message(&coverage.volumes[0]),
        r#"PVC "web-server-data" uses storage class "ceph-rbd", which DRBDReplicationPolicy "bare" does not map (it maps no storage classes); add a storageClassMappings entry for "ceph-rbd""#
    );
}

#[test]
fn an_unbound_pvc_is_covered_but_reported_separately() {
    let vm = vm("web-server").with_pvc("data", "web-server-data").build();
    let found = pvcs(&[("web-server-data", pvc(Some("ceph-rbd"), "Pending"))]);
    let coverage = assess(&vm, &found, &dr_policy());
    assert!(coverage.is_complete());
    let unbound: Vec<_> = coverage.unbound().collect();
    assert_eq!(unbound.len(), 1);
    assert_eq!(
        coverage.unbound_message(unbound[0]),
        r#"PVC "web-server-data" is not Bound (phase Pending); DRBD can replicate only a bound volume, so wait for it to bind or fix its storage"#
    );
}

#[test]
fn pvc_facts_are_read_from_a_pvc_object() {
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "web-server-data", "namespace": "production"},
        "spec": {"storageClassName": "ceph-rbd", "resources": {"requests": {"storage": "20Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "21Gi"}}
    }))
    .unwrap();
    let facts = PvcFacts::from_pvc(&pvc);
    assert_eq!(facts.storage_class.as_deref(), Some("ceph-rbd"));
    assert_eq!(facts.capacity, Some(Quantity("21Gi".into())));
    assert!(facts.is_bound());

    let pending: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "x"},
        "spec": {"resources": {"requests": {"storage": "5Gi"}}},
        "status": {"phase": "Pending"}
    }))
    .unwrap();
    let facts = PvcFacts::from_pvc(&pending);
    assert_eq!(facts.capacity, Some(Quantity("5Gi".into())));
    assert_eq!(facts.storage_class, None);
    assert!(!facts.is_bound());
}

#[test]
fn fully_covered_is_exactly_an_assessment_with_nothing_to_report() {
    // Every VM of up to two volumes (PVC, DataVolume or containerDisk) whose PVCs are in every
    // state coverage distinguishes, under a policy with and without the mapping.
    let states: [Option<PvcFacts>; 7] = [
        None,
        Some(pvc(None, "Bound")),
        Some(pvc(Some(""), "Bound")),
        Some(pvc(Some("ceph-rbd"), "Bound")),
        Some(pvc(Some("ceph-rbd"), "Pending")),
        Some(PvcFacts {
            phase: None,
            ..pvc(Some("ceph-rbd"), "Bound")
        }),
        Some(pvc(Some("local-path"), "Bound")),
    ];
    let volume_kinds = ["pvc", "dv", "disk"];
    let policies = [dr_policy(), policy("bare", "cluster1", "cluster2", &[])];
    let mut checked = 0;
    for count in 0..=2 {
        for kinds in 0..volume_kinds.len().pow(count) {
            for pvc_states in 0..states.len().pow(count) {
                let mut builder = vm("vm");
                let mut found = BTreeMap::new();
                for i in 0..count as usize {
                    let kind = volume_kinds[kinds / volume_kinds.len().pow(i as u32) % 3];
                    let state = &states[pvc_states / states.len().pow(i as u32) % states.len()];
                    let claim = format!("claim-{i}");
                    builder = match kind {
                        "pvc" => builder.with_pvc(&format!("v{i}"), &claim),
                        "dv" => builder.with_data_volume(&format!("v{i}"), &claim),
                        _ => builder.with_container_disk(&format!("v{i}")),
                    };
                    if let Some(facts) = state {
                        found.insert(claim, facts.clone());
                    }
                }
                let vm = builder.build();
                for policy in &policies {
                    let coverage = assess(&vm, &found, policy);
                    let nothing_to_report =
                        coverage.denial().is_none() && coverage.unbound().next().is_none();
                    assert_eq!(
                        is_fully_covered(&vm, &found, policy),
                        nothing_to_report,
                        "{coverage:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 200, "{checked}");
}
