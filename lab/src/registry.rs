//! The resource types a cluster serves: a table of built-in kinds, plus one entry per served
//! version of every Established CustomResourceDefinition.

use std::sync::Arc;

use serde_json::Value;

/// Verbs of a built-in resource, as discovery lists them (sorted).
const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces cannot be deleted as a collection.
const NS_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Verbs of a custom resource, in the (unsorted) order the apiextensions server lists them.
pub const CRD_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];

/// Where a resource type comes from, which decides how its objects are validated and printed.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Compiled into the apiserver.
    Builtin,
    /// Served from a CustomResourceDefinition: the CRD object and the index of this version in
    /// `spec.versions`.
    Crd {
        crd: Arc<Value>,
        version_index: usize,
    },
}

/// One resource of one group-version (`apps/v1 deployments`).
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    /// Field labels a field selector may use besides `metadata.name` / `metadata.namespace`.
    pub selectable_fields: Vec<String>,
    /// Whether `/status` is a subresource (then the main endpoint ignores `.status`).
    pub status_subresource: bool,
    /// The store bucket objects live in: two views of one kind (core/v1 and events.k8s.io/v1
    /// Events) share a bucket.
    pub bucket: String,
    pub origin: Origin,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `/api/v1` or `/apis/<group>/<version>`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The resource as error messages name it: `protectionrequests.siterecovery.trilio.io`,
    /// `configmaps`.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The kind as 422 messages name it: `ProtectionRequest.siterecovery.trilio.io`, `Event`.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn is_custom(&self) -> bool {
        matches!(self.origin, Origin::Crd { .. })
    }

    /// The CRD version entry (`spec.versions[i]`) for a custom resource.
    pub fn crd_version(&self) -> Option<&Value> {
        match &self.origin {
            Origin::Crd { crd, version_index } => {
                crd.pointer(&format!("/spec/versions/{version_index}"))
            }
            Origin::Builtin => None,
        }
    }

    /// The structural schema (`schema.openAPIV3Schema`) of a custom resource version.
    pub fn schema(&self) -> Option<&Value> {
        self.crd_version()
            .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
    }

    /// `base64(sha256("group/version/Kind")[..8])`, as discovery's storageVersionHash.
    pub fn storage_version_hash(&self) -> String {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}/{}/{}", self.group, self.version, self.kind));
        base64::engine::general_purpose::STANDARD.encode(&digest[..8])
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// A row of the built-in table: `(group, version, kind, plural, short names, namespaced,
/// categories, selectable fields, status subresource)`.
struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    categories: &'static [&'static str],
    selectable_fields: &'static [&'static str],
    status: bool,
    bucket: Option<&'static str>,
}

const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    status: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        short_names,
        namespaced,
        categories: &[],
        selectable_fields: &[],
        status,
        bucket: None,
    }
}

/// Event field labels accepted by core/v1 (`pkg/registry/core/event/strategy.go`).
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// The built-in kinds the lab serves, in discovery order within each group.
const BUILTINS: &[Builtin] = &[
    Builtin {
        categories: &[],
        selectable_fields: &["type"],
        ..b("", "v1", "Secret", "secrets", &[], true, false)
    },
    b("", "v1", "ConfigMap", "configmaps", &["cm"], true, false),
    Builtin {
        selectable_fields: EVENT_FIELDS,
        bucket: Some("events"),
        ..b("", "v1", "Event", "events", &["ev"], true, false)
    },
    Builtin {
        selectable_fields: &["status.phase"],
        ..b("", "v1", "Namespace", "namespaces", &["ns"], false, true)
    },
    Builtin {
        selectable_fields: &["spec.unschedulable"],
        ..b("", "v1", "Node", "nodes", &["no"], false, true)
    },
    b(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &["pvc"],
        true,
        true,
    ),
    b(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        &["pv"],
        false,
        true,
    ),
    Builtin {
        categories: &["all"],
        selectable_fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ..b("", "v1", "Pod", "pods", &["po"], true, true)
    },
    b(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        &["sa"],
        true,
        false,
    ),
    Builtin {
        categories: &["all"],
        ..b("", "v1", "Service", "services", &["svc"], true, true)
    },
    Builtin {
        categories: &["all"],
        ..b(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            &["deploy"],
            true,
            true,
        )
    },
    Builtin {
        bucket: Some("events"),
        ..b(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            &["ev"],
            true,
            false,
        )
    },
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        &[],
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        &[],
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        &[],
        true,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        &[],
        true,
        false,
    ),
    b(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        &["sc"],
        false,
        false,
    ),
    Builtin {
        categories: &["api-extensions"],
        ..b(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            &[],
            false,
            false,
        )
    },
    Builtin {
        categories: &["api-extensions"],
        ..b(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            &[],
            false,
            false,
        )
    },
    Builtin {
        categories: &["api-extensions"],
        ..b(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
            false,
            true,
        )
    },
    b(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        &[],
        true,
        false,
    ),
];

/// Built-in groups in the order `/apis` lists them (upstream order, restricted to ours).
pub const BUILTIN_GROUP_ORDER: &[&str] = &[
    "apps",
    "events.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
];

/// Every built-in resource type.
pub fn builtins() -> Vec<Arc<ResourceType>> {
    BUILTINS
        .iter()
        .map(|row| {
            let bucket = match row.bucket {
                Some(b) => b.to_string(),
                None if row.group.is_empty() => row.plural.to_string(),
                None => format!("{}/{}", row.group, row.plural),
            };
            let verbs: &[&str] = if row.kind == "Namespace" {
                NS_VERBS
            } else {
                ALL_VERBS
            };
            Arc::new(ResourceType {
                group: row.group.to_string(),
                version: row.version.to_string(),
                kind: row.kind.to_string(),
                list_kind: format!("{}List", row.kind),
                plural: row.plural.to_string(),
                singular: row.kind.to_lowercase(),
                short_names: row.short_names.iter().map(|s| s.to_string()).collect(),
                categories: row.categories.iter().map(|s| s.to_string()).collect(),
                namespaced: row.namespaced,
                verbs: verbs.iter().map(|s| s.to_string()).collect(),
                selectable_fields: row
                    .selectable_fields
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                status_subresource: row.status,
                bucket,
                origin: Origin::Builtin,
            })
        })
        .collect()
}

/// The resource types an Established CRD serves (one per served version).
pub fn from_crd(crd: &Arc<Value>) -> Vec<Arc<ResourceType>> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let mut out = Vec::new();
    for (i, version) in spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if version["served"] != Value::Bool(true) {
            continue;
        }
        out.push(Arc::new(ResourceType {
            group: group.clone(),
            version: version["name"].as_str().unwrap_or_default().to_string(),
            kind: kind.clone(),
            list_kind: names["listKind"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{kind}List")),
            plural: plural.clone(),
            singular: names["singular"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| kind.to_lowercase()),
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            namespaced: spec["scope"] == "Namespaced",
            verbs: CRD_VERBS.iter().map(|s| s.to_string()).collect(),
            selectable_fields: version["selectableFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["jsonPath"].as_str())
                .map(|p| p.trim_start_matches('.').to_string())
                .collect(),
            status_subresource: version.pointer("/subresources/status").is_some(),
            bucket: format!("{group}/{plural}"),
            origin: Origin::Crd {
                crd: crd.clone(),
                version_index: i,
            },
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_version_hash_matches_the_corpus() {
        // 03d-apis-group-version.http: "storageVersionHash":"vzQ55/Jh1i4="
        let crd = Arc::new(
            serde_json::json!({"spec":{"group":"siterecovery.trilio.io","scope":"Namespaced",
            "names":{"plural":"protectionrequests","kind":"ProtectionRequest"},
            "versions":[{"name":"v1alpha1","served":true,"storage":true,"subresources":{"status":{}}}]}}),
        );
        let types = from_crd(&crd);
        assert_eq!(types[0].storage_version_hash(), "vzQ55/Jh1i4=");
        assert!(types[0].status_subresource);
        assert_eq!(types[0].list_kind, "ProtectionRequestList");
    }

    #[test]
    fn both_event_views_share_one_bucket() {
        let events: Vec<_> = builtins()
            .into_iter()
            .filter(|r| r.plural == "events")
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].bucket, events[1].bucket);
    }
}
