//! Test fixtures as small builders: `vm("web-server").with_pvc("root", "web-server-root")`,
//! the guide's world (`guide_facts()`), review bodies, and the AdmissionReviews a real
//! kube-apiserver sent (captured in `tests/fixtures/kube-apiserver/`).

use protect_api::coverage::PvcFacts;
use protect_api::kubevirt::VirtualMachine;
use protect_api::{DRBDReplicationPolicy, ProtectionRequest};
use serde_json::{Value, json};

use crate::facts::StaticFacts;

/// The quorum namespace of the guide.
pub const NS: &str = "dr-deployment";

pub struct VmBuilder {
    name: String,
    namespace: String,
    spec: Value,
    volumes: Vec<Value>,
}

pub fn vm(name: &str) -> VmBuilder {
    VmBuilder {
        name: name.to_owned(),
        namespace: "production".to_owned(),
        spec: json!({"runStrategy": "Always"}),
        volumes: vec![],
    }
}

impl VmBuilder {
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }
    pub fn with_pvc(mut self, volume: &str, claim: &str) -> Self {
        self.volumes
            .push(json!({"name": volume, "persistentVolumeClaim": {"claimName": claim}}));
        self
    }
    pub fn with_run_strategy(mut self, strategy: &str) -> Self {
        self.spec = json!({"runStrategy": strategy});
        self
    }
    pub fn build(self) -> VirtualMachine {
        let mut spec = self.spec;
        spec["template"] = json!({"spec": {"volumes": self.volumes}});
        serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec
        }))
        .unwrap()
    }
}

pub fn pvc(class: &str, phase: &str) -> PvcFacts {
    PvcFacts {
        storage_class: Some(class.to_owned()),
        capacity: Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
            "10Gi".into(),
        )),
        phase: Some(phase.to_owned()),
    }
}

pub fn policy(
    name: &str,
    namespace: &str,
    primary: &str,
    dr: &str,
    mappings: &[(&str, &str)],
) -> DRBDReplicationPolicy {
    serde_json::from_value(json!({
        "apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "DRBDReplicationPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"primaryCluster": primary, "drCluster": dr,
            "storageClassMappings": mappings.iter().map(|(p, d)| json!({"primary": p, "dr": d})).collect::<Vec<_>>()}
    }))
    .unwrap()
}

/// A ProtectionRequest object as it arrives in a review.
pub fn request_object(name: &str, vm: &str, vm_ns: &str, source: Option<&str>) -> Value {
    let mut spec = json!({"vmName": vm, "vmNamespace": vm_ns});
    if let Some(source) = source {
        spec["sourceCluster"] = json!(source);
    }
    json!({"apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "ProtectionRequest",
        "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

pub fn request(name: &str, vm: &str, vm_ns: &str, source: Option<&str>) -> ProtectionRequest {
    serde_json::from_value(request_object(name, vm, vm_ns, source)).unwrap()
}

/// The guide's world: policy `dr-policy` (cluster1 → cluster2, ceph-rbd → ceph-rbd-dr) in
/// dr-deployment; on cluster1, VM production/web-server with two bound ceph-rbd PVCs, and
/// VM production/legacy-app whose data PVC uses the unmapped class local-path.
pub fn guide_facts() -> StaticFacts {
    StaticFacts::default()
        .with_policy(
            NS,
            policy(
                "dr-policy",
                NS,
                "cluster1",
                "cluster2",
                &[("ceph-rbd", "ceph-rbd-dr")],
            ),
        )
        .with_vm(
            "cluster1",
            vm("web-server")
                .with_pvc("rootdisk", "web-server-root")
                .with_pvc("datadisk", "web-server-data")
                .build(),
        )
        .with_pvc(
            "cluster1",
            "production",
            "web-server-root",
            pvc("ceph-rbd", "Bound"),
        )
        .with_pvc(
            "cluster1",
            "production",
            "web-server-data",
            pvc("ceph-rbd", "Bound"),
        )
        .with_vm(
            "cluster1",
            vm("legacy-app")
                .with_pvc("rootdisk", "legacy-root")
                .with_pvc("datadisk", "legacy-data")
                .build(),
        )
        .with_pvc(
            "cluster1",
            "production",
            "legacy-root",
            pvc("ceph-rbd", "Bound"),
        )
        .with_pvc(
            "cluster1",
            "production",
            "legacy-data",
            pvc("local-path", "Bound"),
        )
}

/// An AdmissionReview body for a ProtectionRequest.
pub fn review_body(
    uid: &str,
    operation: &str,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Vec<u8> {
    review_body_for(
        "ProtectionRequest",
        "protectionrequests",
        uid,
        operation,
        object,
        old,
    )
}

pub fn review_body_for(
    kind: &str,
    resource: &str,
    uid: &str,
    operation: &str,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Vec<u8> {
    let name = object
        .or(old)
        .and_then(|o| o.pointer("/metadata/name"))
        .cloned()
        .unwrap_or(json!(""));
    serde_json::to_vec(&json!({
        "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid,
            "kind": {"group": "siterecovery.trilio.io", "version": "v1alpha1", "kind": kind},
            "resource": {"group": "siterecovery.trilio.io", "version": "v1alpha1", "resource": resource},
            "name": name, "namespace": NS, "operation": operation,
            "userInfo": {"username": "admin"},
            "object": object, "oldObject": old, "dryRun": false
        }
    }))
    .unwrap()
}

/// The `n`th AdmissionReview body (0-based) a real kube-apiserver sent, from a capture file in
/// `tests/fixtures/kube-apiserver/`.
pub fn captured(file: &str, n: usize) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/kube-apiserver/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| l.starts_with(r#"{"kind":"AdmissionReview""#))
        .nth(n)
        .unwrap_or_else(|| panic!("{file} has no review #{n}"))
        .as_bytes()
        .to_vec()
}

/// Decode the base64 patch of a response into JSON.
pub fn decoded_patch(review: &Value) -> Option<Value> {
    use base64::Engine as _;
    let patch = review["response"]["patch"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .unwrap();
    Some(serde_json::from_slice(&bytes).unwrap())
}
