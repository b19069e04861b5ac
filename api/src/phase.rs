//! The ProtectionRequest phase and its forward-only order.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Where a ProtectionRequest is in the protection workflow.
///
/// Phases only move forward, in declaration order; `Failed` can be entered from any phase that
/// is not final. `Protected` and `Failed` are final: no further phase follows them. Unprotect
/// (deletion) is driven by the finalizer, not by a phase.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum Phase {
    /// Created; the controller has not begun processing it.
    #[default]
    Pending,
    /// Verifying the VM, its PVCs and the policy that covers them.
    Validating,
    /// Creating DRBDVolumes on the quorum cluster and both workload clusters.
    CreatingDRBD,
    /// DRBD initial sync (full data copy) from primary to DR in progress; the VM keeps running.
    Syncing,
    /// Initial sync complete; all data consistent across clusters.
    ReadyToActivate,
    /// Stopping the VM and switching it to DRBD-backed frontend PVCs.
    Activating,
    /// The VM runs on DRBD-backed PVCs with synchronous replication.
    Protected,
    /// Unrecoverable error; see `status.message`. Final.
    Failed,
}

impl Phase {
    /// Every phase, in forward order (`Failed` last).
    pub const ALL: [Phase; 8] = [
        Phase::Pending,
        Phase::Validating,
        Phase::CreatingDRBD,
        Phase::Syncing,
        Phase::ReadyToActivate,
        Phase::Activating,
        Phase::Protected,
        Phase::Failed,
    ];

    /// The name as written in `status.phase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Validating => "Validating",
            Phase::CreatingDRBD => "CreatingDRBD",
            Phase::Syncing => "Syncing",
            Phase::ReadyToActivate => "ReadyToActivate",
            Phase::Activating => "Activating",
            Phase::Protected => "Protected",
            Phase::Failed => "Failed",
        }
    }

    /// True for `Protected` and `Failed`: no phase follows them.
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Protected | Phase::Failed)
    }

    /// Whether moving from `self` to `next` is allowed.
    ///
    /// Allowed: any later phase of the forward order (skipping is allowed, so a controller that
    /// resumes after a crash may persist where it really is), and `Failed` from any phase that
    /// is not final. Never allowed: staying put (not a transition), moving backward, and leaving
    /// `Protected` or `Failed`.
    pub fn can_transition_to(self, next: Phase) -> bool {
        if self.is_final() {
            return false;
        }
        // Declaration order is the forward order, and `Failed` is declared last.
        next > self
    }
}

// Written by hand so the schema carries no description of its own: the description of the field
// that holds a phase is what `kubectl explain` should show.
impl JsonSchema for Phase {
    fn schema_name() -> Cow<'static, str> {
        "Phase".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
        json_schema!({ "type": "string", "enum": names })
    }
}

/// Schema transform for an `Option<Phase>` field: schemars lists `null` among the enum values of
/// an optional enum, which the conformance CRD does not; absence is expressed by omission.
pub(crate) fn drop_null_from_enum(schema: &mut Schema) {
    if let Some(serde_json::Value::Array(values)) = schema.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_move_forward_only() {
        for (i, from) in Phase::ALL.iter().enumerate() {
            for (j, to) in Phase::ALL.iter().enumerate() {
                let expected = !from.is_final() && j > i;
                assert_eq!(from.can_transition_to(*to), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn failed_is_reachable_from_every_working_phase() {
        for from in Phase::ALL.into_iter().filter(|p| !p.is_final()) {
            assert!(from.can_transition_to(Phase::Failed), "{from} -> Failed");
        }
    }

    #[test]
    fn final_phases_never_change() {
        for to in Phase::ALL {
            assert!(!Phase::Failed.can_transition_to(to), "Failed -> {to}");
            assert!(!Phase::Protected.can_transition_to(to), "Protected -> {to}");
        }
    }

    #[test]
    fn serialized_names_match_the_guide() {
        for p in Phase::ALL {
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::json!(p.as_str())
            );
        }
        assert_eq!(Phase::default(), Phase::Pending);
    }
}
