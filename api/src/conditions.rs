//! Status conditions (Kubernetes API conventions) and the helper that updates them without
//! churning `lastTransitionTime`.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition types of a ProtectionRequest.
pub mod condition_type {
    /// The VM, its PVCs and a covering policy were verified.
    pub const VALIDATED: &str = "Validated";
    /// DRBDVolumes exist on the quorum cluster and both workload clusters.
    pub const VOLUMES_CREATED: &str = "VolumesCreated";
    /// DRBD initial sync is complete for every volume.
    pub const SYNCED: &str = "Synced";
    /// The VM runs on the DRBD-backed frontend PVCs.
    pub const ACTIVATED: &str = "Activated";
    /// The request is fully Protected and healthy.
    pub const READY: &str = "Ready";
    /// The controller can reach the primary cluster's API.
    pub const PRIMARY_REACHABLE: &str = "PrimaryReachable";
    /// The controller can reach the DR cluster's API.
    pub const DR_REACHABLE: &str = "DRReachable";
    /// True only when the primary side sees its peer Connected, Established and
    /// `peerDiskState: UpToDate`, Protocol C, not Ahead/Behind: RPO 0 holds.
    pub const REPLICATING: &str = "Replicating";

    /// Every condition type a ProtectionRequest carries.
    pub const ALL: [&str; 8] = [
        VALIDATED,
        VOLUMES_CREATED,
        SYNCED,
        ACTIVATED,
        READY,
        PRIMARY_REACHABLE,
        DR_REACHABLE,
        REPLICATING,
    ];
}

/// Status of a condition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    #[default]
    Unknown,
}

impl ConditionStatus {
    /// `True` for `true`, `False` for `false`.
    pub fn from_bool(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }

    /// The name as written in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observation about an object, following Kubernetes API conventions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition, e.g. `Synced` or `Replicating`. Unique within the list.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether the condition holds: `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details: what happened and what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// `metadata.generation` the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition with a reason and message; no timestamp yet ([`set_condition`] sets it).
    pub fn new(
        type_: impl Into<String>,
        status: ConditionStatus,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_: type_.into(),
            status,
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_transition_time: None,
            observed_generation: None,
        }
    }

    /// Same condition with `observedGeneration` set.
    pub fn with_observed_generation(mut self, generation: Option<i64>) -> Self {
        self.observed_generation = generation;
        self
    }

    /// True when the status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }

    /// Equal in everything but `lastTransitionTime`.
    fn same_content(&self, other: &Condition) -> bool {
        self.type_ == other.type_
            && self.status == other.status
            && self.reason == other.reason
            && self.message == other.message
            && self.observed_generation == other.observed_generation
    }
}

/// The condition of `type_` in `conditions`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Insert or update `new` in `conditions` (keyed on `type`) and report whether anything other
/// than timestamps changed, so callers can skip a status write that would change nothing.
///
/// `lastTransitionTime` is set to `now` when the condition is new or its status changes, and is
/// kept from the existing entry otherwise (whatever `new` carries is ignored). Reason, message
/// and observedGeneration are always taken from `new`.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition, now: Time) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        None => {
            conditions.push(Condition {
                last_transition_time: Some(now),
                ..new
            });
            true
        }
        Some(existing) => {
            let changed = !existing.same_content(&new);
            let last_transition_time =
                if existing.status == new.status && existing.last_transition_time.is_some() {
                    existing.last_transition_time.clone()
                } else {
                    Some(now)
                };
            *existing = Condition {
                last_transition_time,
                ..new
            };
            changed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn synced(status: ConditionStatus, reason: &str, message: &str) -> Condition {
        Condition::new(condition_type::SYNCED, status, reason, message)
    }

    #[test]
    fn a_new_condition_is_added_with_now_as_transition_time() {
        let mut conditions = vec![];
        let changed = set_condition(
            &mut conditions,
            synced(ConditionStatus::False, "SyncInProgress", "63% done"),
            at("2025-05-01T10:00:00Z"),
        );
        assert!(changed);
        assert_eq!(conditions.len(), 1);
        assert_eq!(
            conditions[0].last_transition_time,
            Some(at("2025-05-01T10:00:00Z"))
        );
    }

    #[test]
    fn same_status_keeps_the_transition_time_and_reports_no_change() {
        let mut conditions = vec![];
        let c = synced(ConditionStatus::False, "SyncInProgress", "63% done");
        set_condition(&mut conditions, c.clone(), at("2025-05-01T10:00:00Z"));
        let changed = set_condition(&mut conditions, c, at("2025-05-01T10:05:00Z"));
        assert!(!changed);
        assert_eq!(
            conditions[0].last_transition_time,
            Some(at("2025-05-01T10:00:00Z"))
        );
    }

    #[test]
    fn a_new_message_with_the_same_status_is_a_change_but_keeps_the_transition_time() {
        let mut conditions = vec![];
        set_condition(
            &mut conditions,
            synced(ConditionStatus::False, "SyncInProgress", "63% done"),
            at("2025-05-01T10:00:00Z"),
        );
        let changed = set_condition(
            &mut conditions,
            synced(ConditionStatus::False, "SyncInProgress", "80% done"),
            at("2025-05-01T10:05:00Z"),
        );
        assert!(changed);
        assert_eq!(conditions[0].message.as_deref(), Some("80% done"));
        assert_eq!(
            conditions[0].last_transition_time,
            Some(at("2025-05-01T10:00:00Z"))
        );
    }

    #[test]
    fn a_status_change_moves_the_transition_time() {
        let mut conditions = vec![];
        set_condition(
            &mut conditions,
            synced(ConditionStatus::False, "SyncInProgress", "63% done"),
            at("2025-05-01T10:00:00Z"),
        );
        let changed = set_condition(
            &mut conditions,
            synced(
                ConditionStatus::True,
                "SyncComplete",
                "all volumes UpToDate",
            ),
            at("2025-05-01T10:05:00Z"),
        );
        assert!(changed);
        assert!(conditions[0].is_true());
        assert_eq!(
            conditions[0].last_transition_time,
            Some(at("2025-05-01T10:05:00Z"))
        );
    }

    #[test]
    fn other_condition_types_are_left_alone() {
        let mut conditions = vec![];
        let ready = Condition::new(
            condition_type::READY,
            ConditionStatus::False,
            "NotProtected",
            "syncing",
        );
        set_condition(&mut conditions, ready.clone(), at("2025-05-01T10:00:00Z"));
        set_condition(
            &mut conditions,
            synced(ConditionStatus::True, "SyncComplete", "done"),
            at("2025-05-01T10:05:00Z"),
        );
        assert_eq!(conditions.len(), 2);
        let found = find_condition(&conditions, condition_type::READY).unwrap();
        assert_eq!(found.last_transition_time, Some(at("2025-05-01T10:00:00Z")));
        assert_eq!(found.reason, ready.reason);
    }

    #[test]
    fn observed_generation_change_counts_as_a_change() {
        let mut conditions = vec![];
        let c = synced(ConditionStatus::True, "SyncComplete", "done");
        set_condition(
            &mut conditions,
            c.clone().with_observed_generation(Some(1)),
            at("2025-05-01T10:00:00Z"),
        );
        assert!(set_condition(
            &mut conditions,
            c.with_observed_generation(Some(2)),
            at("2025-05-01T10:05:00Z")
        ));
        assert_eq!(
            conditions[0].last_transition_time,
            Some(at("2025-05-01T10:00:00Z"))
        );
    }

    #[test]
    fn condition_serializes_with_kubernetes_field_names() {
        let mut c = synced(ConditionStatus::True, "SyncComplete", "done");
        c.last_transition_time = Some(at("2025-05-01T10:00:00Z"));
        c.observed_generation = Some(3);
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({
                "type": "Synced", "status": "True", "reason": "SyncComplete", "message": "done",
                "lastTransitionTime": "2025-05-01T10:00:00Z", "observedGeneration": 3
            })
        );
    }
}
