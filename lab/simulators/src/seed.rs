//! The guide's world on the two workload clusters: KubeVirt's CRDs, nodes, storage classes,
//! namespace `production`, and on the primary cluster VM `web-server` with PVCs
//! `web-server-root` and `web-server-data` (class `ceph-rbd`), plus VM `analytics` whose PVC
//! uses `local-path`, a class no policy covers (the admission story). Idempotent: objects that
//! already exist are left as they are. The quorum cluster's objects (policy, kubeconfig
//! Secrets) and the DRBDVolume CRD belong to the lab, which knows the kubeconfigs and the
//! product's CRDs.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::objects::{virtual_machine, virtual_machine_instance};

/// Seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Creating an object failed.
    #[error("cannot create {kind} {name:?}: {source}")]
    Create {
        /// Kind.
        kind: &'static str,
        /// Name.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A CRD did not become Established in time.
    #[error("CRD {0} did not become Established within 30 s")]
    CrdNotEstablished(String),
}

/// A PVC of a seeded VM: (name, storage class, size).
pub type PvcSeed = (String, String, String);

/// One workload cluster's part of the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSeed {
    /// Node names and InternalIPs.
    pub nodes: Vec<(String, String)>,
    /// Storage classes (name, provisioner).
    pub storage_classes: Vec<(String, String)>,
    /// VMs with their PVCs (VM name, [(PVC, class, size)]).
    pub vms: Vec<(String, Vec<PvcSeed>)>,
}

/// More VMs for a cluster already seeded with its nodes and classes: each on one 1Gi
/// `ceph-rbd` PVC named `<vm>-disk` (the fleets of the scale tests and benchmarks).
pub fn fleet(vms: &[String]) -> ClusterSeed {
    ClusterSeed {
        nodes: vec![],
        storage_classes: vec![],
        vms: vms
            .iter()
            .map(|vm| {
                (
                    vm.clone(),
                    vec![(format!("{vm}-disk"), "ceph-rbd".into(), "1Gi".into())],
                )
            })
            .collect(),
    }
}

/// The primary cluster of the guide (`cluster1`).
pub fn primary() -> ClusterSeed {
    ClusterSeed {
        nodes: (1..=3)
            .map(|i| (format!("cluster1-node-{i}"), format!("10.0.1.{}", 9 + i)))
            .collect(),
        storage_classes: vec![
            ("ceph-rbd".into(), "rbd.csi.ceph.com".into()),
            ("local-path".into(), "rancher.io/local-path".into()),
        ],
        vms: vec![
            (
                "web-server".into(),
                vec![
                    ("web-server-root".into(), "ceph-rbd".into(), "20Gi".into()),
                    ("web-server-data".into(), "ceph-rbd".into(), "100Gi".into()),
                ],
            ),
            (
                "analytics".into(),
                vec![("analytics-data".into(), "local-path".into(), "50Gi".into())],
            ),
        ],
    }
}

/// The DR cluster of the guide (`cluster2`).
pub fn dr() -> ClusterSeed {
    ClusterSeed {
        nodes: (1..=3)
            .map(|i| (format!("cluster2-node-{i}"), format!("10.0.2.{}", 9 + i)))
            .collect(),
        storage_classes: vec![("ceph-rbd-dr".into(), "rbd.csi.ceph.com".into())],
        vms: vec![],
    }
}

/// Namespace of the guide's VMs.
pub const NAMESPACE: &str = "production";

/// Minimal KubeVirt CRDs: VirtualMachine with the status subresource, VirtualMachineInstance
/// without it (virt-handler writes VMI status through the main resource), both schemaless.
pub fn kubevirt_crds() -> Vec<CustomResourceDefinition> {
    // KubeVirt's own printer columns (virt-operator's CRDs), so `kubectl get vm,vmi` prints
    // what users know: STATUS/READY for VMs, PHASE/IP/NODENAME/READY for VMIs.
    let age = json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"});
    let ready = json!({"name": "Ready", "type": "string",
                       "jsonPath": ".status.conditions[?(@.type=='Ready')].status"});
    let vm_columns = json!([age, {"name": "Status", "type": "string", "jsonPath": ".status.printableStatus"}, ready]);
    let vmi_columns = json!([
        age,
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "IP", "type": "string", "jsonPath": ".status.interfaces[0].ipAddress"},
        {"name": "NodeName", "type": "string", "jsonPath": ".status.nodeName"},
        ready,
        {"name": "Live-Migratable", "type": "string", "priority": 1,
         "jsonPath": ".status.conditions[?(@.type=='LiveMigratable')].status"},
        {"name": "Paused", "type": "string", "priority": 1,
         "jsonPath": ".status.conditions[?(@.type=='Paused')].status"},
    ]);
    let crd = |kind: &str, plural: &str, singular: &str, short: &[&str], status: bool| {
        let mut version = json!({
            "name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            "additionalPrinterColumns": if status { &vm_columns } else { &vmi_columns },
        });
        if status {
            version["subresources"] = json!({"status": {}});
        }
        serde_json::from_value::<CustomResourceDefinition>(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.kubevirt.io")},
            "spec": {
                "group": "kubevirt.io",
                "scope": "Namespaced",
                "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": singular,
                          "shortNames": short, "categories": ["all"]},
                "versions": [version],
            }
        }))
    };
    [
        crd(
            "VirtualMachine",
            "virtualmachines",
            "virtualmachine",
            &["vm", "vms"],
            true,
        ),
        crd(
            "VirtualMachineInstance",
            "virtualmachineinstances",
            "virtualmachineinstance",
            &["vmi", "vmis"],
            false,
        ),
    ]
    .into_iter()
    .filter_map(Result::ok)
    .collect()
}

async fn create<K>(api: &Api<K>, kind: &'static str, value: Value) -> Result<(), SeedError>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let Ok(obj) = serde_json::from_value::<K>(value) else {
        return Ok(());
    };
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(source) => Err(SeedError::Create {
            kind,
            name: obj.meta().name.clone().unwrap_or_default(),
            source,
        }),
    }
}

/// Install KubeVirt's CRDs and wait until they are Established.
pub async fn install_kubevirt(client: &Client) -> Result<(), SeedError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in kubevirt_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let value = serde_json::to_value(&crd).unwrap_or(Value::Null);
        create(&api, "CustomResourceDefinition", value).await?;
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        match tokio::time::timeout(Duration::from_secs(30), established).await {
            Ok(Ok(_)) => {}
            _ => return Err(SeedError::CrdNotEstablished(name)),
        }
    }
    Ok(())
}

/// A VirtualMachine as the guide shows it: `runStrategy: Always`, one disk per PVC.
pub fn vm_manifest(name: &str, pvcs: &[&str]) -> Value {
    let disks: Vec<Value> = pvcs
        .iter()
        .enumerate()
        .map(|(i, _)| json!({"name": format!("disk{i}"), "disk": {"bus": "virtio"}}))
        .collect();
    let volumes: Vec<Value> = pvcs
        .iter()
        .enumerate()
        .map(|(i, pvc)| json!({"name": format!("disk{i}"), "persistentVolumeClaim": {"claimName": pvc}}))
        .collect();
    json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {
            "runStrategy": "Always",
            "template": {
                "metadata": {"labels": {"kubevirt.io/vm": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 180,
                    "domain": {"resources": {"requests": {"memory": "2Gi"}}, "devices": {"disks": disks}},
                    "volumes": volumes,
                }
            }
        }
    })
}

/// Create one cluster's part of the world (KubeVirt CRDs included). The VMs start running
/// once the simulators tick.
pub async fn seed_cluster(client: &Client, seed: &ClusterSeed) -> Result<(), SeedError> {
    install_kubevirt(client).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    create(
        &namespaces,
        "Namespace",
        json!({"metadata": {"name": NAMESPACE}}),
    )
    .await?;
    let nodes: Api<Node> = Api::all(client.clone());
    for (name, ip) in &seed.nodes {
        create(
            &nodes,
            "Node",
            json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
                "spec": {},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                    "message": "kubelet is posting ready status"}]
                }
            }),
        )
        .await?;
    }
    let classes: Api<StorageClass> = Api::all(client.clone());
    for (name, provisioner) in &seed.storage_classes {
        create(
            &classes,
            "StorageClass",
            json!({"metadata": {"name": name}, "provisioner": provisioner,
                   "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate", "allowVolumeExpansion": true}),
        )
        .await?;
    }
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NAMESPACE);
    let vms: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &virtual_machine());
    // Touch the VMI resource so a missing CRD surfaces here, not in the simulator.
    let _vmis: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &virtual_machine_instance());
    for (vm, claims) in &seed.vms {
        for (pvc, class, size) in claims {
            create(
                &pvcs,
                "PersistentVolumeClaim",
                json!({
                    "metadata": {"name": pvc, "namespace": NAMESPACE, "labels": {"app": vm}},
                    "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Block",
                             "storageClassName": class, "resources": {"requests": {"storage": size}}}
                }),
            )
            .await?;
        }
        let names: Vec<&str> = claims.iter().map(|(p, _, _)| p.as_str()).collect();
        create(&vms, "VirtualMachine", vm_manifest(vm, &names)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubevirt::plan::{claims, run_strategy};

    #[test]
    fn the_guides_vm_runs_always_on_its_two_ceph_pvcs() {
        let seed = primary();
        let (name, pvcs) = &seed.vms[0];
        assert_eq!(name, "web-server");
        let names: Vec<&str> = pvcs.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(names, ["web-server-root", "web-server-data"]);
        assert!(pvcs.iter().all(|p| p.1 == "ceph-rbd"));
        let vm = vm_manifest(name, &names);
        assert_eq!(run_strategy(&vm["spec"]).as_deref(), Ok("Always"));
        assert_eq!(claims(&vm["spec"]["template"]["spec"]), names);
    }

    #[test]
    fn the_dr_cluster_offers_the_mapped_class_only() {
        let classes: Vec<String> = dr().storage_classes.into_iter().map(|c| c.0).collect();
        assert_eq!(classes, ["ceph-rbd-dr"]);
    }

    #[test]
    fn kubevirt_crds_give_the_vm_a_status_subresource_and_the_vmi_none() {
        let crds = kubevirt_crds();
        assert_eq!(crds.len(), 2);
        assert!(crds[0].spec.versions[0].subresources.is_some());
        assert!(crds[1].spec.versions[0].subresources.is_none());
    }
}
