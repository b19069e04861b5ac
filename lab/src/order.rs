//! Key order of the JSON the lab writes. The apiserver encodes built-in kinds from Go structs
//! (field declaration order) and custom resources from unstructured maps (keys sorted). With
//! serde_json's `preserve_order`, writing the right order once, when an object is stored, makes
//! every later response byte-exact.

use serde_json::{Map, Value};

/// `metav1.ObjectMeta` field order.
const OBJECT_META: &[&str] = protect_lab_apimachinery::schema::OBJECT_META_FIELDS;

const MANAGED_FIELDS_ENTRY: &[&str] = &[
    "manager",
    "operation",
    "apiVersion",
    "time",
    "fieldsType",
    "fieldsV1",
    "subresource",
];

const OBJECT_REFERENCE: &[&str] = &[
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
];

/// `JSONSchemaProps` field order (apiextensions/v1).
const JSON_SCHEMA_PROPS: &[&str] = &[
    "id",
    "$schema",
    "$ref",
    "description",
    "type",
    "format",
    "title",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "enum",
    "maxProperties",
    "minProperties",
    "required",
    "items",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "properties",
    "additionalProperties",
    "patternProperties",
    "dependencies",
    "additionalItems",
    "definitions",
    "externalDocs",
    "example",
    "nullable",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
];

/// Moves the keys named in `order` to the front, in that order; other keys follow as they were.
fn reorder(map: &mut Map<String, Value>, order: &[&str]) {
    let mut old = std::mem::take(map);
    for key in order {
        if let Some(v) = old.shift_remove(*key) {
            map.insert((*key).to_string(), v);
        }
    }
    map.extend(old);
}

fn reorder_at(value: &mut Value, order: &[&str]) {
    if let Some(map) = value.as_object_mut() {
        reorder(map, order);
    }
}

/// Sorts every object's keys, recursively (custom resources, AdmissionReview payloads).
pub fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Writes `metadata` in ObjectMeta order (also PartialObjectMetadata, Table rows).
pub fn object_meta(meta: &mut Value) {
    reorder_at(meta, OBJECT_META);
    if let Some(entries) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
        entries
            .iter_mut()
            .for_each(|e| reorder_at(e, MANAGED_FIELDS_ENTRY));
    }
}

fn schema_props(schema: &mut Value) {
    reorder_at(schema, JSON_SCHEMA_PROPS);
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    for key in ["properties", "patternProperties", "definitions"] {
        if let Some(props) = map.get_mut(key).and_then(Value::as_object_mut) {
            props.values_mut().for_each(schema_props);
        }
    }
    for key in ["items", "not", "additionalProperties", "additionalItems"] {
        if let Some(v) = map.get_mut(key) {
            if v.is_object() {
                schema_props(v);
            } else if let Some(a) = v.as_array_mut() {
                a.iter_mut().for_each(schema_props);
            }
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(a) = map.get_mut(key).and_then(Value::as_array_mut) {
            a.iter_mut().for_each(schema_props);
        }
    }
}

fn crd(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        reorder_at(
            spec,
            &[
                "group",
                "names",
                "scope",
                "versions",
                "conversion",
                "preserveUnknownFields",
            ],
        );
        if let Some(names) = spec.get_mut("names") {
            reorder_at(
                names,
                &[
                    "plural",
                    "singular",
                    "shortNames",
                    "kind",
                    "listKind",
                    "categories",
                ],
            );
        }
        for v in spec
            .get_mut("versions")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            reorder_at(
                v,
                &[
                    "name",
                    "served",
                    "storage",
                    "deprecated",
                    "deprecationWarning",
                    "schema",
                    "subresources",
                    "additionalPrinterColumns",
                    "selectableFields",
                ],
            );
            if let Some(s) = v.pointer_mut("/schema/openAPIV3Schema") {
                schema_props(s);
            }
            for col in v
                .get_mut("additionalPrinterColumns")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                reorder_at(
                    col,
                    &[
                        "name",
                        "type",
                        "format",
                        "description",
                        "priority",
                        "jsonPath",
                    ],
                );
            }
        }
    }
    if let Some(status) = obj.get_mut("status") {
        reorder_at(status, &["conditions", "acceptedNames", "storedVersions"]);
        if let Some(names) = status.get_mut("acceptedNames") {
            reorder_at(
                names,
                &[
                    "plural",
                    "singular",
                    "shortNames",
                    "kind",
                    "listKind",
                    "categories",
                ],
            );
        }
        for c in status
            .get_mut("conditions")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            reorder_at(
                c,
                &["type", "status", "lastTransitionTime", "reason", "message"],
            );
        }
    }
}

/// Top-level field order of the built-in kinds (after kind, apiVersion, metadata).
fn top_level(kind: &str, api_version: &str) -> &'static [&'static str] {
    match (kind, api_version) {
        ("ConfigMap", _) => &["immutable", "data", "binaryData"],
        ("Secret", _) => &["immutable", "data", "stringData", "type"],
        ("Event", "v1") => &[
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ],
        ("Event", _) => &[
            "eventTime",
            "series",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "regarding",
            "related",
            "note",
            "type",
            "deprecatedSource",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ],
        ("ServiceAccount", _) => &[
            "secrets",
            "imagePullSecrets",
            "automountServiceAccountToken",
        ],
        ("Role", _) | ("ClusterRole", _) => &["rules", "aggregationRule"],
        ("RoleBinding", _) | ("ClusterRoleBinding", _) => &["subjects", "roleRef"],
        ("StorageClass", _) => &[
            "provisioner",
            "parameters",
            "reclaimPolicy",
            "mountOptions",
            "allowVolumeExpansion",
            "volumeBindingMode",
            "allowedTopologies",
        ],
        ("MutatingWebhookConfiguration", _) | ("ValidatingWebhookConfiguration", _) => {
            &["webhooks"]
        }
        _ => &["spec", "status"],
    }
}

/// Puts a built-in object in Go struct order: `kind, apiVersion, metadata`, then its fields.
pub fn builtin(obj: &mut Value) {
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let mut order = vec!["kind", "apiVersion", "metadata"];
    order.extend_from_slice(top_level(&kind, &api_version));
    reorder_at(obj, &order);
    if let Some(meta) = obj.get_mut("metadata") {
        object_meta(meta);
    }
    match kind.as_str() {
        "CustomResourceDefinition" => crd(obj),
        "Event" => {
            for key in ["involvedObject", "regarding", "related"] {
                if let Some(r) = obj.get_mut(key) {
                    reorder_at(r, OBJECT_REFERENCE);
                }
            }
        }
        _ => {}
    }
}

/// Writes an object in the order the apiserver would: sorted for custom resources, Go
/// struct order for built-ins.
pub fn canonical(obj: &mut Value, custom: bool) {
    if custom {
        sort_keys(obj);
    } else {
        builtin(obj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_resources_are_written_with_sorted_keys() {
        let mut v =
            json!({"spec":{"vmName":"a","sourceCluster":"b"},"apiVersion":"x/v1","kind":"K"});
        canonical(&mut v, true);
        assert_eq!(
            serde_json::to_string(&v).expect("json"),
            r#"{"apiVersion":"x/v1","kind":"K","spec":{"sourceCluster":"b","vmName":"a"}}"#
        );
    }

    #[test]
    fn builtins_are_written_in_go_struct_order() {
        // 70c-event-get-core-v1.http
        let mut v = json!({"type":"Normal","apiVersion":"v1","reason":"R","kind":"Event",
            "involvedObject":{"name":"pr1","kind":"K"},"metadata":{"uid":"u","name":"n"}});
        canonical(&mut v, false);
        assert_eq!(
            serde_json::to_string(&v).expect("json"),
            r#"{"kind":"Event","apiVersion":"v1","metadata":{"name":"n","uid":"u"},"involvedObject":{"kind":"K","name":"pr1"},"reason":"R","type":"Normal"}"#
        );
    }
}
