//! What the simulators know about other people's objects: API resources of the custom kinds,
//! quantities, the lab's data-counter annotation, conditions, and small JSON accessors. No
//! product crate is imported: the simulators speak the wire format only.

use jiff::Timestamp;
use kube::core::{ApiResource, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Annotation on a PVC: how many writes its disk holds. The KubeVirt simulator advances it on
/// every PVC a running VM mounts; the DRBD simulator carries it from a frontend PVC to its
/// backing PVC and across the wire to the DR backing PVC. A test proves "nothing written was
/// lost" by comparing counters before and after activation or unprotect.
pub const DATA_COUNTER_ANNOTATION: &str = "lab.siterecovery.trilio.io/data-counter";

/// Label on PVCs and PVs the DRBD simulator created: the DRBDVolume they belong to. Only
/// objects carrying it are ever deleted by the simulator.
pub const DRBD_VOLUME_LABEL: &str = "lab.siterecovery.trilio.io/drbd-volume";

/// Finalizer the DRBD simulator keeps on side copies so it can tear the resource down.
pub const DRBD_FINALIZER: &str = "lab.siterecovery.trilio.io/drbd-teardown";

/// Node taint set by the DRBD node agent while its resources come up (DESIGN 3.4).
pub const TAINT_NOT_READY: &str = "siterecovery.trilio.io/not-ready";

/// `kubevirt.io/v1` VirtualMachine.
pub fn virtual_machine() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kubevirt.io", "v1", "VirtualMachine"),
        "virtualmachines",
    )
}

/// `kubevirt.io/v1` VirtualMachineInstance.
pub fn virtual_machine_instance() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kubevirt.io", "v1", "VirtualMachineInstance"),
        "virtualmachineinstances",
    )
}

/// `siterecovery.trilio.io/v1alpha1` DRBDVolume.
pub fn drbd_volume() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("siterecovery.trilio.io", "v1alpha1", "DRBDVolume"),
        "drbdvolumes",
    )
}

/// Bytes in a Kubernetes quantity such as `10Gi`, `500M`, `1.5Gi` or `1073741824`.
pub fn quantity_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let multiplier: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        _ => return None,
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier);
    }
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| (value * multiplier as f64).ceil() as u64)
}

/// A quantity that may arrive as a JSON string or number (`x-kubernetes-int-or-string`).
pub fn quantity_value_bytes(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => quantity_bytes(s),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The data counter of an object's annotations (0 when absent or unreadable).
pub fn data_counter(annotations: Option<&std::collections::BTreeMap<String, String>>) -> u64 {
    annotations
        .and_then(|a| a.get(DATA_COUNTER_ANNOTATION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A KubeVirt-style condition (`VirtualMachineCondition` / `VirtualMachineInstanceCondition`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// KubeVirt always writes `lastProbeTime: null`.
    #[serde(default)]
    pub last_probe_time: Option<String>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl Condition {
    /// A condition with a reason and message; the transition time is set by [`settle`].
    pub fn new(type_: &str, status: bool, reason: Option<&str>, message: Option<&str>) -> Self {
        Condition {
            type_: type_.to_owned(),
            status: if status { "True" } else { "False" }.to_owned(),
            reason: reason.map(str::to_owned),
            message: message.map(str::to_owned),
            last_probe_time: None,
            last_transition_time: None,
        }
    }

    /// Whether the condition holds.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// Give each condition without one its `lastTransitionTime`: kept from `previous` when the
/// status did not change, `now` otherwise.
pub fn settle(
    conditions: Vec<Condition>,
    previous: &[Condition],
    now: Timestamp,
) -> Vec<Condition> {
    conditions
        .into_iter()
        .map(|mut c| {
            if c.last_transition_time.is_some() {
                // Copied from another object (VMI → VM): keep its time.
                return c;
            }
            let kept = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == c.status)
                .and_then(|p| p.last_transition_time.clone());
            c.last_transition_time = Some(kept.unwrap_or_else(|| rfc3339(now)));
            c
        })
        .collect()
}

/// The conditions under `status.conditions` of a JSON object.
pub fn conditions_of(status: &Value) -> Vec<Condition> {
    status
        .get("conditions")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default()
}

/// A timestamp as the API server writes it: RFC 3339, seconds precision, `Z`.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `v[path…]` as a string.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

/// The fields of `new` that differ from `old` (a missing field equals `null`), as a JSON merge
/// patch body; `None` when nothing would change, so the simulators never write no-op updates.
pub fn changed_fields(
    old: &Value,
    new: &serde_json::Map<String, Value>,
) -> Option<serde_json::Map<String, Value>> {
    let diff: serde_json::Map<String, Value> = new
        .iter()
        .filter(|(k, v)| old.get(k.as_str()).unwrap_or(&Value::Null) != *v)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!diff.is_empty()).then_some(diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_in_binary_and_decimal_units() {
        let table = [
            ("10Gi", Some(10 << 30)),
            ("100Mi", Some(100 << 20)),
            ("1.5Gi", Some(3 << 29)),
            ("500M", Some(500_000_000)),
            ("1073741824", Some(1 << 30)),
            ("1x", None),
            ("", None),
        ];
        for (q, bytes) in table {
            assert_eq!(quantity_bytes(q), bytes, "{q}");
        }
    }

    #[test]
    fn only_changed_fields_are_patched_and_null_equals_missing() {
        let old = serde_json::json!({"a": 1, "b": "x"});
        let new = serde_json::json!({"a": 1, "b": "y", "c": null});
        let new = new.as_object().unwrap();
        let diff = changed_fields(&old, new).unwrap();
        assert_eq!(Value::Object(diff), serde_json::json!({"b": "y"}));
        let same = serde_json::json!({"a": 1, "b": "x", "c": null});
        assert!(changed_fields(&old, same.as_object().unwrap()).is_none());
    }

    #[test]
    fn settling_keeps_the_transition_time_of_an_unchanged_status() {
        let then = "2025-05-01T10:00:00Z";
        let mut old = Condition::new("Ready", true, None, None);
        old.last_transition_time = Some(then.into());
        let now: Timestamp = "2025-05-01T11:00:00Z".parse().unwrap();
        let same = settle(
            vec![Condition::new("Ready", true, None, None)],
            &[old.clone()],
            now,
        );
        assert_eq!(same[0].last_transition_time.as_deref(), Some(then));
        let flipped = settle(
            vec![Condition::new("Ready", false, None, None)],
            &[old],
            now,
        );
        assert_eq!(
            flipped[0].last_transition_time.as_deref(),
            Some("2025-05-01T11:00:00Z")
        );
    }
}
