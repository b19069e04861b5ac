//! Defaults for ProtectionRequests, as RFC 6902 operations: `spec.sourceCluster` when exactly
//! one policy exists (CREATE only: the spec is immutable afterwards), and the protected-vm /
//! vm-namespace / source-cluster labels. Nothing to change means no operations at all.

use std::borrow::Borrow;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation};
use protect_api::DRBDReplicationPolicy;
use protect_api::naming::is_label_value;
use protect_api::well_known::{LABEL_PROTECTED_VM, LABEL_SOURCE_CLUSTER, LABEL_VM_NAMESPACE};
use serde_json::{Map, Value};

use crate::admission::Operation;

/// The operations that default `object` (a ProtectionRequest), and warnings for labels that
/// cannot be set because the value is not a valid label value.
pub fn mutate<P: Borrow<DRBDReplicationPolicy>>(
    object: &Value,
    operation: Operation,
    policies: &[P],
) -> (Vec<PatchOperation>, Vec<String>) {
    let mut ops = Vec::new();
    let mut warnings = Vec::new();
    let spec = object.get("spec").and_then(Value::as_object);
    let spec_text = |field: &str| {
        spec.and_then(|s| s.get(field))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let mut source_cluster = spec_text("sourceCluster").map(str::to_owned);
    let source_cluster_absent =
        spec.is_some_and(|s| matches!(s.get("sourceCluster"), None | Some(Value::Null)));
    if operation == Operation::Create
        && source_cluster_absent
        && let [only] = policies
    {
        let cluster = only.borrow().spec.primary_cluster.clone();
        ops.push(add(
            &["spec", "sourceCluster"],
            Value::String(cluster.clone()),
        ));
        source_cluster = Some(cluster);
    }

    let wanted: Vec<(&str, String)> = [
        (LABEL_PROTECTED_VM, spec_text("vmName").map(str::to_owned)),
        (LABEL_VM_NAMESPACE, spec_text("vmNamespace").map(str::to_owned)),
        (LABEL_SOURCE_CLUSTER, source_cluster),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.map(|v| (key, v)))
    .filter(|(key, value)| {
        let ok = is_label_value(value);
        if !ok {
            warnings.push(format!(
                "label {key} not set: {value:?} is not a valid label value (at most 63 characters of letters, digits, '-', '_' and '.')"
            ));
        }
        ok
    })
    .collect();

    match object.pointer("/metadata/labels") {
        Some(Value::Object(labels)) => {
            for (key, value) in wanted {
                if labels.get(key).and_then(Value::as_str) != Some(value.as_str()) {
                    // `add` on an existing member replaces it (RFC 6902 §4.1).
                    ops.push(add(&["metadata", "labels", key], Value::String(value)));
                }
            }
        }
        None | Some(Value::Null)
            if !wanted.is_empty() && object.get("metadata").is_some_and(Value::is_object) =>
        {
            let labels: Map<String, Value> = wanted
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect();
            ops.push(add(&["metadata", "labels"], Value::Object(labels)));
        }
        _ => {}
    }
    (ops, warnings)
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(primary: &str) -> DRBDReplicationPolicy {
        serde_json::from_value(json!({
            "apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "DRBDReplicationPolicy",
            "metadata": {"name": "dr-policy", "namespace": "dr-deployment"},
            "spec": {"primaryCluster": primary, "drCluster": "cluster2"}}))
        .unwrap()
    }

    fn patched(object: &Value, ops: Vec<PatchOperation>) -> Value {
        let mut doc = object.clone();
        json_patch::patch(&mut doc, &json_patch::Patch(ops)).unwrap();
        doc
    }

    #[test]
    fn the_only_policy_fills_source_cluster_and_all_three_labels_are_added() {
        let pr = json!({"metadata": {"name": "protect-web-server"},
            "spec": {"vmName": "web-server", "vmNamespace": "production"}});
        let (ops, warnings) = mutate(&pr, Operation::Create, &[policy("cluster1")]);
        assert!(warnings.is_empty());
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            json!([
                {"op": "add", "path": "/spec/sourceCluster", "value": "cluster1"},
                {"op": "add", "path": "/metadata/labels", "value": {
                    "siterecovery.trilio.io/protected-vm": "web-server",
                    "siterecovery.trilio.io/vm-namespace": "production",
                    "siterecovery.trilio.io/source-cluster": "cluster1"}}
            ])
        );
    }

    #[test]
    fn existing_labels_are_kept_and_only_missing_ones_added() {
        let pr = json!({"metadata": {"labels": {"team": "a", "siterecovery.trilio.io/protected-vm": "web-server"}},
            "spec": {"vmName": "web-server", "vmNamespace": "production", "sourceCluster": "cluster1"}});
        let (ops, _) = mutate(
            &pr,
            Operation::Create,
            &[policy("cluster1"), policy("cluster3")],
        );
        let doc = patched(&pr, ops);
        assert_eq!(
            doc["metadata"]["labels"],
            json!({"team": "a", "siterecovery.trilio.io/protected-vm": "web-server",
                "siterecovery.trilio.io/vm-namespace": "production",
                "siterecovery.trilio.io/source-cluster": "cluster1"})
        );
    }

    #[test]
    fn a_fully_defaulted_request_needs_no_operations() {
        let pr = json!({"metadata": {"labels": {
                "siterecovery.trilio.io/protected-vm": "web-server",
                "siterecovery.trilio.io/vm-namespace": "production",
                "siterecovery.trilio.io/source-cluster": "cluster1"}},
            "spec": {"vmName": "web-server", "vmNamespace": "production", "sourceCluster": "cluster1"}});
        assert_eq!(
            mutate(&pr, Operation::Create, &[policy("cluster1")]),
            (vec![], vec![])
        );
    }

    #[test]
    fn source_cluster_is_not_guessed_among_several_policies_nor_on_update() {
        let pr = json!({"metadata": {}, "spec": {"vmName": "vm", "vmNamespace": "ns"}});
        let (ops, _) = mutate(&pr, Operation::Create, &[policy("c1"), policy("c2")]);
        assert!(
            patched(&pr, ops.clone())["spec"]
                .get("sourceCluster")
                .is_none()
        );
        let (ops, _) = mutate(&pr, Operation::Update, &[policy("c1")]);
        assert!(patched(&pr, ops)["spec"].get("sourceCluster").is_none());
    }

    #[test]
    fn a_vm_name_too_long_for_a_label_is_warned_about_not_labelled() {
        let long = "a".repeat(70);
        let pr = json!({"metadata": {}, "spec": {"vmName": long, "vmNamespace": "ns", "sourceCluster": "c1"}});
        let (ops, warnings) = mutate(&pr, Operation::Create, &[] as &[DRBDReplicationPolicy]);
        let labels = &patched(&pr, ops)["metadata"]["labels"];
        assert!(labels.get(LABEL_PROTECTED_VM).is_none());
        assert_eq!(labels[LABEL_VM_NAMESPACE], "ns");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("label siterecovery.trilio.io/protected-vm not set"));
    }
}
