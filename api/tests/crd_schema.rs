//! The generated CRDs are structural schemas a kube-apiserver (1.28+) accepts, with the shape
//! the guide and the captured conformance CRD expect.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use protect_api::crds::crds;
use serde_json::Value;

fn schema(crd: &CustomResourceDefinition) -> Value {
    let version = &crd.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("every version has an openAPIV3Schema");
    serde_json::to_value(schema).expect("schema encodes as JSON")
}

/// Walk every schema node, collecting violations of the structural-schema rules.
fn check(path: &str, node: &Value, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        problems.push(format!("{path}: schema is not an object"));
        return;
    };
    for forbidden in [
        "$ref",
        "definitions",
        "$defs",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "$schema",
    ] {
        if obj.contains_key(forbidden) {
            problems.push(format!("{path}: has {forbidden}"));
        }
    }
    let typed = obj.contains_key("type")
        || obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        || obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !typed {
        problems.push(format!("{path}: no type"));
    }
    if let Some(t) = obj.get("type").filter(|t| !t.is_string()) {
        problems.push(format!("{path}: type is not a single string: {t}"));
    }
    match (
        obj.get("type").and_then(Value::as_str),
        obj.get("format").and_then(Value::as_str),
    ) {
        (Some("integer"), Some(f)) if f != "int32" && f != "int64" => {
            problems.push(format!("{path}: integer format {f}"))
        }
        (Some("number"), Some(f)) if f != "float" && f != "double" => {
            problems.push(format!("{path}: number format {f}"))
        }
        _ => {}
    }
    if let Some(values) = obj.get("enum").and_then(Value::as_array)
        && values.iter().any(Value::is_null)
    {
        problems.push(format!("{path}: enum lists null"));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        problems.push(format!("{path}: properties with additionalProperties"));
    }
    if obj.get("type").and_then(Value::as_str) == Some("array") && !obj.contains_key("items") {
        problems.push(format!("{path}: array without items"));
    }
    if obj.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
        let keys = obj
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array);
        let items = obj.get("items");
        let required: Vec<&str> = items
            .and_then(|i| i.get("required"))
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match keys {
            None => problems.push(format!("{path}: list-type map without list-map-keys")),
            Some(keys) => {
                for key in keys.iter().filter_map(Value::as_str) {
                    if !required.contains(&key) {
                        problems.push(format!("{path}: list-map key {key} is not required"));
                    }
                    if items
                        .and_then(|i| i.get("properties"))
                        .and_then(|p| p.get(key))
                        .is_none()
                    {
                        problems.push(format!("{path}: list-map key {key} is not a property"));
                    }
                }
            }
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for name in &required {
            if !props.contains_key(*name) {
                problems.push(format!("{path}: required {name} is not a property"));
            }
        }
        for (name, child) in props {
            check(&format!("{path}.{name}"), child, problems);
        }
    }
    if let Some(items) = obj.get("items") {
        check(&format!("{path}[]"), items, problems);
    }
    if let Some(additional) = obj.get("additionalProperties").filter(|a| a.is_object()) {
        check(&format!("{path}{{*}}"), additional, problems);
    }
}

/// Every leaf field a user can `kubectl explain` has a description.
fn check_descriptions(path: &str, node: &Value, problems: &mut Vec<String>) {
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            let child_path = format!("{path}.{name}");
            if child
                .get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                problems.push(format!("{child_path}: no description"));
            }
            check_descriptions(&child_path, child, problems);
        }
    }
    if let Some(items) = node.get("items") {
        check_descriptions(&format!("{path}[]"), items, problems);
    }
}

#[test]
fn every_crd_is_a_structural_schema() {
    for crd in crds() {
        let mut problems = vec![];
        check("", &schema(&crd), &mut problems);
        assert!(
            problems.is_empty(),
            "{}: {problems:#?}",
            crd.metadata.name.unwrap()
        );
    }
}

#[test]
fn every_field_has_a_description() {
    for crd in crds() {
        let mut problems = vec![];
        check_descriptions("", &schema(&crd), &mut problems);
        assert!(
            problems.is_empty(),
            "{}: {problems:#?}",
            crd.metadata.name.unwrap()
        );
    }
}

#[test]
fn the_structural_check_catches_violations() {
    let bad = serde_json::json!({"type": "object", "properties": {
        "a": {"nullable": true},
        "b": {"type": "integer", "format": "uint64"},
        "c": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
              "items": {"type": "object", "properties": {"type": {"type": "string"}}}},
        "d": {"anyOf": [{"type": "string"}]}
    }});
    let mut problems = vec![];
    check("", &bad, &mut problems);
    assert_eq!(
        problems,
        vec![
            ".a: no type",
            ".b: integer format uint64",
            ".c: list-map key type is not required",
            ".d: has anyOf",
            ".d: no type"
        ]
    );
}

fn crd(name: &str) -> CustomResourceDefinition {
    crds()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .expect("CRD is generated")
}

#[test]
fn protection_request_matches_the_guide_and_the_conformance_crd() {
    let crd = crd("protectionrequests.siterecovery.trilio.io");
    assert_eq!(crd.spec.group, "siterecovery.trilio.io");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(
        crd.spec.names.short_names,
        Some(vec!["pr".into(), "protect".into()])
    );
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    assert!(version.subresources.as_ref().unwrap().status.is_some());

    let columns: Vec<(String, String, String, i32)> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c.name.to_uppercase(),
                c.type_.clone(),
                c.json_path.clone(),
                c.priority.unwrap_or(0),
            )
        })
        .collect();
    let expected = [
        ("PHASE", "string", ".status.phase", 0),
        ("AGE", "date", ".metadata.creationTimestamp", 0),
        ("VM", "string", ".spec.vmName", 1),
        ("SOURCE", "string", ".spec.sourceCluster", 1),
        ("DR", "string", ".status.drCluster", 1),
        ("SYNC", "string", ".status.syncProgress", 1),
    ]
    .map(|(n, t, p, prio)| (n.to_owned(), t.to_owned(), p.to_owned(), prio));
    assert_eq!(columns, expected);

    let schema = schema(&crd);
    let spec = &schema["properties"]["spec"];
    assert_eq!(
        spec["required"],
        serde_json::json!(["vmName", "vmNamespace"])
    );
    let status = &schema["properties"]["status"]["properties"];
    assert_eq!(
        status["phase"]["enum"],
        serde_json::json!([
            "Pending",
            "Validating",
            "CreatingDRBD",
            "Syncing",
            "ReadyToActivate",
            "Activating",
            "Protected",
            "Failed"
        ])
    );
    let conditions = &status["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(
        conditions["x-kubernetes-list-map-keys"],
        serde_json::json!(["type"])
    );
    assert_eq!(conditions["items"]["required"], serde_json::json!(["type"]));
    for field in [
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    ] {
        assert!(
            conditions["items"]["properties"].get(field).is_some(),
            "condition field {field}"
        );
    }
    assert_eq!(
        conditions["items"]["properties"]["lastTransitionTime"]["format"],
        "date-time"
    );
    assert_eq!(status["observedGeneration"]["format"], "int64");
}

#[test]
fn policy_defaults_are_in_the_schema_so_the_apiserver_fills_them() {
    let schema = schema(&crd("drbdreplicationpolicies.siterecovery.trilio.io"));
    let spec = &schema["properties"]["spec"]["properties"];
    assert_eq!(
        spec["primaryKubeconfigSecret"]["default"],
        "primary-kubeconfig"
    );
    assert_eq!(spec["drKubeconfigSecret"]["default"], "dr-kubeconfig");
    assert_eq!(
        spec["portRange"]["default"],
        serde_json::json!({"end": 7999, "start": 7000})
    );
    assert_eq!(spec["protocol"]["default"], "C");
    assert_eq!(spec["protocol"]["enum"], serde_json::json!(["C"]));
}

#[test]
fn drbd_volume_state_words_are_open_strings() {
    let crd = crd("drbdvolumes.siterecovery.trilio.io");
    assert!(
        crd.spec.versions[0]
            .subresources
            .as_ref()
            .unwrap()
            .status
            .is_some()
    );
    let schema = schema(&crd);
    let status = &schema["properties"]["status"]["properties"];
    for field in [
        "role",
        "connectionState",
        "diskState",
        "peerDiskState",
        "replicationState",
    ] {
        assert_eq!(status[field]["type"], "string", "{field}");
        assert!(
            status[field].get("enum").is_none(),
            "{field} must accept unknown words"
        );
    }
    assert!(status.get("frontendPVC").is_some());
    assert_eq!(
        status["conditions"]["x-kubernetes-list-map-keys"],
        serde_json::json!(["type"])
    );
}
