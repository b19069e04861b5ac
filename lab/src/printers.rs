//! Server-side printing of built-in kinds (what `kubectl get` shows): the columns of
//! `pkg/printers/internalversion/printers.go` for the kinds the lab serves. Custom resources use
//! their CRD's `additionalPrinterColumns` through `protect_lab_apimachinery::table`.

use protect_lab_apimachinery::table::{self, Column};
use serde_json::{Value, json};

/// The description upstream gives the Name column of every Table.
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

type Cell = fn(&Value, jiff::Timestamp) -> Value;

/// One printed column of a built-in kind.
pub struct Printer {
    pub column: Column,
    pub cell: Cell,
}

fn col(name: &str, type_: &str, priority: i64, description: &str, cell: Cell) -> Printer {
    Printer {
        column: Column {
            name: name.to_string(),
            type_: type_.to_string(),
            format: if name == "Name" {
                "name".into()
            } else {
                String::new()
            },
            description: description.to_string(),
            priority,
            json_path: String::new(),
        },
        cell,
    }
}

fn s(v: &Value) -> Value {
    Value::String(v.as_str().unwrap_or_default().to_string())
}

fn age_of(ts: &Value, now: jiff::Timestamp) -> Value {
    match ts.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) {
        Some(t) => Value::String(table::human_duration(now.duration_since(t))),
        None => Value::String("<unknown>".into()),
    }
}

fn name(o: &Value, _: jiff::Timestamp) -> Value {
    s(&o["metadata"]["name"])
}

fn age(o: &Value, now: jiff::Timestamp) -> Value {
    age_of(&o["metadata"]["creationTimestamp"], now)
}

fn count(v: &Value) -> usize {
    v.as_object()
        .map(|m| m.len())
        .or_else(|| v.as_array().map(Vec::len))
        .unwrap_or(0)
}

fn or_none(v: &Value) -> Value {
    match v.as_str() {
        Some(x) if !x.is_empty() => Value::String(x.to_string()),
        _ => Value::String("<none>".into()),
    }
}

fn join(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn access_modes(v: &Value) -> Value {
    let short: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect();
    Value::String(short.join(","))
}

/// The printer of a built-in kind; Name/Age for kinds without a specific one.
pub fn builtin(kind: &str, group: &str) -> Vec<Printer> {
    let mut cols = vec![col("Name", "string", 0, NAME_DESCRIPTION, name)];
    match (kind, group) {
        ("Namespace", _) => {
            cols.push(col(
                "Status",
                "string",
                0,
                "The status of the namespace",
                |o, _| s(&o["status"]["phase"]),
            ));
        }
        ("ConfigMap", _) => {
            cols.push(col("Data", "string", 0, "", |o, _| {
                json!(count(&o["data"]) + count(&o["binaryData"]))
            }));
        }
        ("Secret", _) => {
            cols.push(col("Type", "string", 0, "", |o, _| s(&o["type"])));
            cols.push(col("Data", "string", 0, "", |o, _| {
                json!(count(&o["data"]))
            }));
        }
        ("ServiceAccount", _) => {
            cols.push(col("Secrets", "string", 0, "", |o, _| {
                json!(count(&o["secrets"]))
            }));
        }
        ("Node", _) => {
            cols.push(col("Status", "string", 0, "", |o, _| {
                let ready = o["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == "Ready")
                    .map(|c| c["status"] == "True");
                let mut status = match ready {
                    Some(true) => "Ready".to_string(),
                    Some(false) | None => "NotReady".to_string(),
                };
                if o["spec"]["unschedulable"] == true {
                    status.push_str(",SchedulingDisabled");
                }
                json!(status)
            }));
            cols.push(col("Roles", "string", 0, "", |o, _| {
                let roles: Vec<&str> = o["metadata"]["labels"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                    .collect();
                if roles.is_empty() {
                    json!("<none>")
                } else {
                    json!(roles.join(","))
                }
            }));
            cols.push(col("Age", "string", 0, AGE_DESCRIPTION, age));
            cols.push(col("Version", "string", 0, "", |o, _| {
                s(&o["status"]["nodeInfo"]["kubeletVersion"])
            }));
            return cols;
        }
        ("PersistentVolumeClaim", _) => {
            cols.push(col("Status", "string", 0, "", |o, _| {
                s(&o["status"]["phase"])
            }));
            cols.push(col("Volume", "string", 0, "", |o, _| {
                s(&o["spec"]["volumeName"])
            }));
            cols.push(col("Capacity", "string", 0, "", |o, _| {
                s(&o["status"]["capacity"]["storage"])
            }));
            cols.push(col("Access Modes", "string", 0, "", |o, _| {
                access_modes(&o["status"]["accessModes"])
            }));
            cols.push(col("StorageClass", "string", 0, "", |o, _| {
                s(&o["spec"]["storageClassName"])
            }));
            cols.push(col("VolumeAttributesClass", "string", 0, "", |o, _| {
                or_none(&o["spec"]["volumeAttributesClassName"])
            }));
        }
        ("PersistentVolume", _) => {
            cols.push(col("Capacity", "string", 0, "", |o, _| {
                s(&o["spec"]["capacity"]["storage"])
            }));
            cols.push(col("Access Modes", "string", 0, "", |o, _| {
                access_modes(&o["spec"]["accessModes"])
            }));
            cols.push(col("Reclaim Policy", "string", 0, "", |o, _| {
                s(&o["spec"]["persistentVolumeReclaimPolicy"])
            }));
            cols.push(col("Status", "string", 0, "", |o, _| {
                s(&o["status"]["phase"])
            }));
            cols.push(col("Claim", "string", 0, "", |o, _| {
                let r = &o["spec"]["claimRef"];
                match (r["namespace"].as_str(), r["name"].as_str()) {
                    (Some(ns), Some(n)) => json!(format!("{ns}/{n}")),
                    _ => json!(""),
                }
            }));
            cols.push(col("StorageClass", "string", 0, "", |o, _| {
                s(&o["spec"]["storageClassName"])
            }));
            cols.push(col("VolumeAttributesClass", "string", 0, "", |o, _| {
                or_none(&o["spec"]["volumeAttributesClassName"])
            }));
            cols.push(col("Reason", "string", 0, "", |o, _| {
                s(&o["status"]["reason"])
            }));
        }
        ("Pod", _) => {
            cols.push(col("Ready", "string", 0, "", |o, _| {
                let statuses = o["status"]["containerStatuses"].as_array();
                let total = o["spec"]["containers"]
                    .as_array()
                    .map(Vec::len)
                    .unwrap_or(0);
                let ready = statuses
                    .into_iter()
                    .flatten()
                    .filter(|c| c["ready"] == true)
                    .count();
                json!(format!("{ready}/{total}"))
            }));
            cols.push(col("Status", "string", 0, "", |o, _| {
                if o["metadata"]["deletionTimestamp"].is_string() {
                    json!("Terminating")
                } else {
                    s(&o["status"]["phase"])
                }
            }));
            cols.push(col("Restarts", "string", 0, "", |o, _| {
                let n: i64 = o["status"]["containerStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["restartCount"].as_i64())
                    .sum();
                json!(n.to_string())
            }));
            cols.push(col("Age", "string", 0, AGE_DESCRIPTION, age));
            cols.push(col("IP", "string", 1, "", |o, _| {
                or_none(&o["status"]["podIP"])
            }));
            cols.push(col("Node", "string", 1, "", |o, _| {
                or_none(&o["spec"]["nodeName"])
            }));
            return cols;
        }
        ("Service", _) => {
            cols.push(col("Type", "string", 0, "", |o, _| s(&o["spec"]["type"])));
            cols.push(col("Cluster-IP", "string", 0, "", |o, _| {
                or_none(&o["spec"]["clusterIP"])
            }));
            cols.push(col("External-IP", "string", 0, "", |o, _| {
                let ips = join(&o["spec"]["externalIPs"]);
                if ips.is_empty() {
                    json!("<none>")
                } else {
                    json!(ips)
                }
            }));
            cols.push(col("Port(s)", "string", 0, "", |o, _| {
                let ports: Vec<String> = o["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                    .collect();
                if ports.is_empty() {
                    json!("<none>")
                } else {
                    json!(ports.join(","))
                }
            }));
        }
        ("Deployment", _) => {
            cols.push(col("Ready", "string", 0, "", |o, _| {
                json!(format!(
                    "{}/{}",
                    o["status"]["readyReplicas"].as_i64().unwrap_or(0),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                ))
            }));
            cols.push(col("Up-to-date", "integer", 0, "", |o, _| {
                json!(o["status"]["updatedReplicas"].as_i64().unwrap_or(0))
            }));
            cols.push(col("Available", "integer", 0, "", |o, _| {
                json!(o["status"]["availableReplicas"].as_i64().unwrap_or(0))
            }));
        }
        ("Event", _) => {
            return vec![
                col("Last Seen", "string", 0, "", |o, now| {
                    let t = if o["lastTimestamp"].is_string() {
                        &o["lastTimestamp"]
                    } else {
                        &o["eventTime"]
                    };
                    age_of(t, now)
                }),
                col("Type", "string", 0, "", |o, _| s(&o["type"])),
                col("Reason", "string", 0, "", |o, _| s(&o["reason"])),
                col("Object", "string", 0, "", |o, _| {
                    let r = &o["involvedObject"];
                    json!(format!(
                        "{}/{}",
                        r["kind"].as_str().unwrap_or_default().to_lowercase(),
                        r["name"].as_str().unwrap_or_default()
                    ))
                }),
                col("Message", "string", 0, "", |o, _| s(&o["message"])),
            ];
        }
        ("Lease", _) => {
            cols.push(col("Holder", "string", 0, "", |o, _| {
                s(&o["spec"]["holderIdentity"])
            }));
        }
        ("StorageClass", _) => {
            cols.push(col("Provisioner", "string", 0, "", |o, _| {
                s(&o["provisioner"])
            }));
            cols.push(col("ReclaimPolicy", "string", 0, "", |o, _| {
                json!(o["reclaimPolicy"].as_str().unwrap_or("Delete"))
            }));
            cols.push(col("VolumeBindingMode", "string", 0, "", |o, _| {
                json!(o["volumeBindingMode"].as_str().unwrap_or("Immediate"))
            }));
            cols.push(col("AllowVolumeExpansion", "string", 0, "", |o, _| {
                json!(
                    o["allowVolumeExpansion"]
                        .as_bool()
                        .unwrap_or(false)
                        .to_string()
                )
            }));
        }
        ("MutatingWebhookConfiguration", _) | ("ValidatingWebhookConfiguration", _) => {
            cols.push(col("Webhooks", "integer", 0, "", |o, _| {
                json!(count(&o["webhooks"]))
            }));
        }
        ("CustomResourceDefinition", _) | ("Role", _) | ("ClusterRole", _) => {
            cols.push(col("Created At", "date", 0, "", |o, _| {
                s(&o["metadata"]["creationTimestamp"])
            }));
            return cols;
        }
        ("RoleBinding", _) | ("ClusterRoleBinding", _) => {
            cols.push(col("Role", "string", 0, "", |o, _| {
                json!(format!(
                    "{}/{}",
                    o["roleRef"]["kind"].as_str().unwrap_or_default(),
                    o["roleRef"]["name"].as_str().unwrap_or_default()
                ))
            }));
        }
        _ => {}
    }
    cols.push(col("Age", "string", 0, AGE_DESCRIPTION, age));
    cols
}
