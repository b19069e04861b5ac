//! The storage provisioner of one workload cluster: what the PV controller and an external CSI
//! provisioner do together. A PVC whose StorageClass exists gets a PersistentVolume of the
//! requested size and is Bound; a PVC that names a PV (`spec.volumeName`) is bound to it; a PVC
//! whose class does not exist stays Pending with the controller's `ProvisioningFailed` event.
//! `WaitForFirstConsumer` classes are bound immediately (the simulator has no pods).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{Value, json};

/// Annotation marking a PV this provisioner created (the real one sets it too).
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// Annotation of the default StorageClass.
pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// An Event the PV controller records on the PVC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// Reason.
    pub reason: &'static str,
    /// Message.
    pub message: String,
}

/// What to do for one PVC.
#[derive(Clone, Debug, PartialEq)]
pub enum ClaimPlan {
    /// Bound, being deleted, or waiting without news.
    Nothing,
    /// Create this PV, then bind the claim to it.
    Provision(Box<PersistentVolume>),
    /// Bind the claim to the existing PV of this name.
    Bind(String),
    /// Leave it Pending and say why.
    Fail(ClaimEvent),
}

fn class_of<'a>(
    pvc: &'a PersistentVolumeClaim,
    classes: &'a BTreeMap<String, StorageClass>,
) -> Option<&'a str> {
    match pvc
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
    {
        Some(name) => Some(name),
        None => classes
            .values()
            .find(|c| {
                c.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DEFAULT_CLASS))
                    .is_some_and(|v| v == "true")
            })
            .and_then(|c| c.metadata.name.as_deref()),
    }
}

/// Decide for one PVC.
pub fn plan_claim(
    pvc: &PersistentVolumeClaim,
    classes: &BTreeMap<String, StorageClass>,
    pvs: &BTreeMap<String, PersistentVolume>,
) -> ClaimPlan {
    let phase = pvc.status.as_ref().and_then(|s| s.phase.as_deref());
    if phase == Some("Bound") || pvc.metadata.deletion_timestamp.is_some() {
        return ClaimPlan::Nothing;
    }
    let spec = pvc.spec.clone().unwrap_or_default();
    if let Some(volume) = spec.volume_name.as_deref().filter(|v| !v.is_empty()) {
        return if pvs.contains_key(volume) {
            ClaimPlan::Bind(volume.to_owned())
        } else {
            ClaimPlan::Nothing
        };
    }
    let Some(class_name) = class_of(pvc, classes).filter(|c| !c.is_empty()) else {
        return ClaimPlan::Fail(ClaimEvent {
            type_: "Normal",
            reason: "FailedBinding",
            message: "no persistent volumes available for this claim and no storage class is set"
                .into(),
        });
    };
    let Some(class) = classes.get(class_name) else {
        return ClaimPlan::Fail(ClaimEvent {
            type_: "Warning",
            reason: "ProvisioningFailed",
            message: format!("storageclass.storage.k8s.io \"{class_name}\" not found"),
        });
    };
    let uid = pvc.metadata.uid.clone().unwrap_or_default();
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| "1Gi".into());
    let pv: PersistentVolume = match serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": format!("pvc-{uid}"),
            "annotations": {PROVISIONED_BY: class.provisioner},
        },
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": spec.access_modes.clone().unwrap_or_else(|| vec!["ReadWriteOnce".into()]),
            "volumeMode": spec.volume_mode.clone().unwrap_or_else(|| "Filesystem".into()),
            "persistentVolumeReclaimPolicy": class.reclaim_policy.clone().unwrap_or_else(|| "Delete".into()),
            "storageClassName": class_name,
            "claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": pvc.metadata.namespace, "name": pvc.metadata.name, "uid": uid,
            },
            "csi": {"driver": class.provisioner, "volumeHandle": format!("pvc-{uid}")},
        },
    })) {
        Ok(pv) => pv,
        Err(_) => return ClaimPlan::Nothing,
    };
    ClaimPlan::Provision(Box::new(pv))
}

/// The merge patches that bind `pvc` to `pv`: (claim metadata and spec, claim status, volume
/// spec, volume status).
pub fn bind_patches(pvc: &PersistentVolumeClaim, pv: &PersistentVolume) -> [Value; 4] {
    let pv_name = pv.metadata.name.clone().unwrap_or_default();
    let pv_spec = pv.spec.clone().unwrap_or_default();
    let provisioner = pv
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PROVISIONED_BY))
        .cloned();
    let mut annotations = json!({
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
    });
    if let Some(p) = provisioner {
        annotations["volume.kubernetes.io/storage-provisioner"] = json!(p);
        annotations["volume.beta.kubernetes.io/storage-provisioner"] = json!(p);
    }
    [
        json!({"metadata": {"annotations": annotations}, "spec": {"volumeName": pv_name}}),
        json!({"status": {
            "phase": "Bound",
            "accessModes": pv_spec.access_modes,
            "capacity": pv_spec.capacity,
        }}),
        json!({"spec": {"claimRef": {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "namespace": pvc.metadata.namespace, "name": pvc.metadata.name, "uid": pvc.metadata.uid,
            "resourceVersion": pvc.metadata.resource_version,
        }}}),
        json!({"status": {"phase": "Bound"}}),
    ]
}

/// Whether a PV this provisioner created has lost its claim and should go (reclaim `Delete`).
pub fn is_released(pv: &PersistentVolume, claims: &BTreeMap<(String, String), String>) -> bool {
    let provisioned = pv
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(PROVISIONED_BY));
    let spec = pv.spec.as_ref();
    let delete_policy = spec
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .is_none_or(|p| p == "Delete");
    let Some(claim) = spec.and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    let key = (
        claim.namespace.clone().unwrap_or_default(),
        claim.name.clone().unwrap_or_default(),
    );
    let claim_alive = claims
        .get(&key)
        .is_some_and(|uid| claim.uid.as_deref().is_none_or(|u| u == uid));
    provisioned && delete_policy && !claim_alive && pv.metadata.deletion_timestamp.is_none()
}

/// The provisioner's I/O for one cluster.
pub struct Provisioner {
    writer: crate::runtime::Writer,
    pvcs: kube::runtime::reflector::Store<PersistentVolumeClaim>,
    pvs: kube::runtime::reflector::Store<PersistentVolume>,
    classes: kube::runtime::reflector::Store<StorageClass>,
    recorder: crate::runtime::Recorder,
}

impl Provisioner {
    /// Start the watches; the provisioner acts on [`Provisioner::pass`].
    pub fn new(
        writer: crate::runtime::Writer,
        tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Self {
        use kube::Api;
        let client = writer.client.clone();
        Provisioner {
            pvcs: crate::runtime::watch(Api::all(client.clone()), (), tasks),
            pvs: crate::runtime::watch(Api::all(client.clone()), (), tasks),
            classes: crate::runtime::watch(Api::all(client), (), tasks),
            recorder: crate::runtime::Recorder::new(writer.clone(), "persistentvolume-controller"),
            writer,
        }
    }

    /// Wait until every cache has its first list.
    pub async fn ready(&self) {
        let _ = self.pvcs.wait_until_ready().await;
        let _ = self.pvs.wait_until_ready().await;
        let _ = self.classes.wait_until_ready().await;
    }

    /// Bind what can be bound, report what cannot, release volumes whose claim is gone.
    pub async fn pass(&mut self, now: jiff::Timestamp) {
        let classes: BTreeMap<String, StorageClass> = self
            .classes
            .state()
            .iter()
            .map(|c| (c.metadata.name.clone().unwrap_or_default(), (**c).clone()))
            .collect();
        let mut pvs: BTreeMap<String, PersistentVolume> = self
            .pvs
            .state()
            .iter()
            .map(|p| (p.metadata.name.clone().unwrap_or_default(), (**p).clone()))
            .collect();
        let mut claims = self.pvcs.state();
        claims.sort_by_key(|c| (c.metadata.namespace.clone(), c.metadata.name.clone()));
        for pvc in &claims {
            if let Err(error) = self.claim(pvc, &classes, &mut pvs, now).await {
                tracing::warn!(cluster = %self.writer.cluster, %error, "provisioner write failed");
            }
        }
        let alive: BTreeMap<(String, String), String> = claims
            .iter()
            .map(|c| {
                (
                    (
                        c.metadata.namespace.clone().unwrap_or_default(),
                        c.metadata.name.clone().unwrap_or_default(),
                    ),
                    c.metadata.uid.clone().unwrap_or_default(),
                )
            })
            .collect();
        let api: kube::Api<PersistentVolume> = kube::Api::all(self.writer.client.clone());
        for (name, pv) in &pvs {
            if is_released(pv, &alive)
                && let Err(error) = self.writer.delete(&api, "PersistentVolume", name).await
            {
                tracing::warn!(cluster = %self.writer.cluster, %error, "provisioner delete failed");
            }
        }
    }

    async fn claim(
        &mut self,
        pvc: &PersistentVolumeClaim,
        classes: &BTreeMap<String, StorageClass>,
        pvs: &mut BTreeMap<String, PersistentVolume>,
        now: jiff::Timestamp,
    ) -> Result<(), crate::runtime::Error> {
        let pv = match plan_claim(pvc, classes, pvs) {
            ClaimPlan::Nothing => return Ok(()),
            ClaimPlan::Fail(event) => {
                let about = crate::runtime::Involved {
                    api_version: "v1".into(),
                    kind: "PersistentVolumeClaim".into(),
                    namespace: pvc.metadata.namespace.clone().unwrap_or_default(),
                    name: pvc.metadata.name.clone().unwrap_or_default(),
                    uid: pvc.metadata.uid.clone().unwrap_or_default(),
                };
                return self
                    .recorder
                    .record(&about, event.type_, event.reason, &event.message, now)
                    .await;
            }
            ClaimPlan::Provision(pv) => {
                let api: kube::Api<PersistentVolume> = kube::Api::all(self.writer.client.clone());
                self.writer.create(&api, "PersistentVolume", &pv).await?;
                let name = pv.metadata.name.clone().unwrap_or_default();
                pvs.insert(name, *pv.clone());
                *pv
            }
            ClaimPlan::Bind(name) => match pvs.get(&name) {
                Some(pv) => pv.clone(),
                None => return Ok(()),
            },
        };
        let namespace = pvc.metadata.namespace.clone().unwrap_or_default();
        let claim = pvc.metadata.name.clone().unwrap_or_default();
        let pv_name = pv.metadata.name.clone().unwrap_or_default();
        let [claim_meta, claim_status, volume_spec, volume_status] = bind_patches(pvc, &pv);
        let client = self.writer.client.clone();
        let pvc_api: kube::Api<PersistentVolumeClaim> =
            kube::Api::namespaced(client.clone(), &namespace);
        let pv_api: kube::Api<PersistentVolume> = kube::Api::all(client);
        let w = &self.writer;
        w.merge(&pv_api, "PersistentVolume", &pv_name, false, volume_spec)
            .await?;
        w.merge(&pv_api, "PersistentVolume", &pv_name, true, volume_status)
            .await?;
        w.merge(&pvc_api, "PersistentVolumeClaim", &claim, false, claim_meta)
            .await?;
        w.merge(
            &pvc_api,
            "PersistentVolumeClaim",
            &claim,
            true,
            claim_status,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pvc(class: Option<&str>, volume_name: Option<&str>) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "web-server-data", "namespace": "production", "uid": "u1"},
            "spec": {
                "storageClassName": class,
                "volumeName": volume_name,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "100Gi"}}
            }
        }))
        .unwrap()
    }

    fn class(name: &str, default: bool) -> (String, StorageClass) {
        let sc: StorageClass = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": {DEFAULT_CLASS: default.to_string()}},
            "provisioner": "rbd.csi.ceph.com"
        }))
        .unwrap();
        (name.to_owned(), sc)
    }

    #[test]
    fn a_claim_whose_class_exists_gets_a_volume_of_the_requested_size() {
        let classes = [class("ceph-rbd", false)].into();
        let ClaimPlan::Provision(pv) =
            plan_claim(&pvc(Some("ceph-rbd"), None), &classes, &BTreeMap::new())
        else {
            panic!("expected provisioning")
        };
        let spec = pv.spec.clone().unwrap();
        assert_eq!(pv.metadata.name.as_deref(), Some("pvc-u1"));
        assert_eq!(spec.capacity.unwrap()["storage"].0, "100Gi");
        assert_eq!(spec.storage_class_name.as_deref(), Some("ceph-rbd"));
        assert_eq!(
            spec.claim_ref.unwrap().name.as_deref(),
            Some("web-server-data")
        );
        let [claim, claim_status, _, _] = bind_patches(&pvc(Some("ceph-rbd"), None), &pv);
        assert_eq!(
            claim["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"],
            "yes"
        );
        assert_eq!(claim["spec"]["volumeName"], "pvc-u1");
        assert_eq!(claim_status["status"]["phase"], "Bound");
        assert_eq!(claim_status["status"]["capacity"]["storage"], "100Gi");
    }

    #[test]
    fn a_claim_whose_class_is_missing_stays_pending_with_provisioning_failed() {
        let classes = [class("ceph-rbd", false)].into();
        assert_eq!(
            plan_claim(&pvc(Some("ceph-rbd-dr"), None), &classes, &BTreeMap::new()),
            ClaimPlan::Fail(ClaimEvent {
                type_: "Warning",
                reason: "ProvisioningFailed",
                message: "storageclass.storage.k8s.io \"ceph-rbd-dr\" not found".into(),
            })
        );
    }

    #[test]
    fn a_claim_without_class_uses_the_default_class_or_waits() {
        let with_default = [class("standard", true)].into();
        assert!(matches!(
            plan_claim(&pvc(None, None), &with_default, &BTreeMap::new()),
            ClaimPlan::Provision(_)
        ));
        let ClaimPlan::Fail(event) =
            plan_claim(&pvc(None, None), &BTreeMap::new(), &BTreeMap::new())
        else {
            panic!()
        };
        assert_eq!(event.reason, "FailedBinding");
    }

    #[test]
    fn a_claim_naming_an_existing_volume_is_bound_to_it_and_bound_claims_are_left_alone() {
        let pv: PersistentVolume =
            serde_json::from_value(json!({"metadata": {"name": "pv-x"}})).unwrap();
        let pvs = [("pv-x".to_owned(), pv)].into();
        assert_eq!(
            plan_claim(&pvc(Some("ceph-rbd"), Some("pv-x")), &BTreeMap::new(), &pvs),
            ClaimPlan::Bind("pv-x".into())
        );
        let mut bound = pvc(Some("ceph-rbd"), None);
        bound.status = Some(serde_json::from_value(json!({"phase": "Bound"})).unwrap());
        assert_eq!(
            plan_claim(&bound, &BTreeMap::new(), &pvs),
            ClaimPlan::Nothing
        );
    }

    #[test]
    fn a_provisioned_volume_whose_claim_is_gone_is_released() {
        let classes = [class("ceph-rbd", false)].into();
        let ClaimPlan::Provision(pv) =
            plan_claim(&pvc(Some("ceph-rbd"), None), &classes, &BTreeMap::new())
        else {
            panic!()
        };
        let alive = [(
            ("production".to_owned(), "web-server-data".to_owned()),
            "u1".to_owned(),
        )]
        .into();
        assert!(!is_released(&pv, &alive));
        assert!(is_released(&pv, &BTreeMap::new()));
        let recreated = [(
            ("production".to_owned(), "web-server-data".to_owned()),
            "u2".to_owned(),
        )]
        .into();
        assert!(
            is_released(&pv, &recreated),
            "a new claim of the same name is another claim"
        );
    }
}
