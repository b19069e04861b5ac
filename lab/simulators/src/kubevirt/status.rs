//! `VirtualMachine.status.printableStatus`, decided in KubeVirt's order (KUBEVIRT.md §2).

use crate::objects::Condition;

/// VMI phases (`kubevirt.io/v1` `VirtualMachineInstancePhase`).
pub mod phase {
    /// Accepted, no pod yet.
    pub const PENDING: &str = "Pending";
    /// virt-launcher pod exists, not yet ready.
    pub const SCHEDULING: &str = "Scheduling";
    /// Pod ready on a node.
    pub const SCHEDULED: &str = "Scheduled";
    /// Guest running.
    pub const RUNNING: &str = "Running";
    /// Guest shut down or stopped gracefully.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Crashed, or deleted before it ran.
    pub const FAILED: &str = "Failed";

    /// Succeeded or Failed.
    pub fn is_final(phase: &str) -> bool {
        phase == SUCCEEDED || phase == FAILED
    }
}

/// What the precedence looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatusFacts<'a> {
    /// The VM has a deletionTimestamp.
    pub vm_deleting: bool,
    /// The VMI, if one exists: its phase, whether it is being deleted, its conditions.
    pub vmi: Option<(&'a str, bool, &'a [Condition])>,
    /// The run strategy (or a stop request) wants the VMI gone.
    pub stop_expected: bool,
    /// The run strategy (or a start request) wants a VMI running.
    pub start_expected: bool,
    /// A PVC the template references exists but is not Bound.
    pub pvc_unbound: bool,
}

fn has(conditions: &[Condition], type_: &str, status: &str, reason: Option<&str>) -> bool {
    conditions.iter().any(|c| {
        c.type_ == type_
            && c.status == status
            && reason.is_none_or(|r| c.reason.as_deref() == Some(r))
    })
}

/// The first matching status of KubeVirt's list. Migrating, DataVolume, image-pull and
/// CrashLoopBackOff states cannot arise in the simulator and are not modelled.
pub fn printable_status(f: StatusFacts<'_>) -> &'static str {
    if f.vm_deleting {
        return "Terminating";
    }
    if let Some((vmi_phase, deleting, _)) = f.vmi
        && !phase::is_final(vmi_phase)
        && (deleting || f.stop_expected)
    {
        return "Stopping";
    }
    if let Some((vmi_phase, _, conditions)) = f.vmi {
        if vmi_phase == phase::RUNNING && has(conditions, "Paused", "True", None) {
            return "Paused";
        }
        if vmi_phase == phase::RUNNING {
            return "Running";
        }
        if has(
            conditions,
            "Synchronized",
            "False",
            Some("FailedPvcNotFound"),
        ) {
            return "ErrorPvcNotFound";
        }
        if has(conditions, "PodScheduled", "False", Some("Unschedulable")) {
            return "ErrorUnschedulable";
        }
    }
    if f.start_expected && f.pvc_unbound {
        return "WaitingForVolumeBinding";
    }
    match f.vmi {
        None if f.start_expected => "Starting",
        Some(("" | phase::PENDING | phase::SCHEDULING | phase::SCHEDULED, _, _)) => "Starting",
        Some((p, _, _)) if phase::is_final(p) => "Stopped",
        None => "Stopped",
        Some(_) => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(type_: &str, status: bool, reason: &str) -> Condition {
        Condition::new(type_, status, Some(reason), None)
    }

    #[test]
    fn printable_status_follows_kubevirts_precedence() {
        let paused = [cond("Paused", true, "PausedByUser")];
        let pvc_missing = [
            cond("Synchronized", false, "FailedPvcNotFound"),
            cond("PodScheduled", false, "Unschedulable"),
        ];
        let unschedulable = [cond("PodScheduled", false, "Unschedulable")];
        let none: [Condition; 0] = [];
        let base = StatusFacts::default();
        let table: Vec<(&str, StatusFacts<'_>, &str)> = vec![
            ("no VMI, nothing expected", base, "Stopped"),
            (
                "no VMI, start expected",
                StatusFacts {
                    start_expected: true,
                    ..base
                },
                "Starting",
            ),
            (
                "deleting VM wins over everything",
                StatusFacts {
                    vm_deleting: true,
                    vmi: Some(("Running", false, &none)),
                    ..base
                },
                "Terminating",
            ),
            (
                "running VMI being deleted",
                StatusFacts {
                    vmi: Some(("Running", true, &none)),
                    ..base
                },
                "Stopping",
            ),
            (
                "running VMI with a stop expected",
                StatusFacts {
                    vmi: Some(("Running", false, &none)),
                    stop_expected: true,
                    ..base
                },
                "Stopping",
            ),
            (
                "final VMI being deleted is Stopped, not Stopping",
                StatusFacts {
                    vmi: Some(("Succeeded", true, &none)),
                    ..base
                },
                "Stopped",
            ),
            (
                "paused",
                StatusFacts {
                    vmi: Some(("Running", false, &paused)),
                    ..base
                },
                "Paused",
            ),
            (
                "running",
                StatusFacts {
                    vmi: Some(("Running", false, &none)),
                    ..base
                },
                "Running",
            ),
            (
                "PVC missing outranks unschedulable",
                StatusFacts {
                    vmi: Some(("Pending", false, &pvc_missing)),
                    start_expected: true,
                    ..base
                },
                "ErrorPvcNotFound",
            ),
            (
                "unschedulable",
                StatusFacts {
                    vmi: Some(("Scheduling", false, &unschedulable)),
                    start_expected: true,
                    ..base
                },
                "ErrorUnschedulable",
            ),
            (
                "unbound PVC",
                StatusFacts {
                    vmi: Some(("Pending", false, &none)),
                    start_expected: true,
                    pvc_unbound: true,
                    ..base
                },
                "WaitingForVolumeBinding",
            ),
            (
                "unbound PVC but no start expected",
                StatusFacts {
                    pvc_unbound: true,
                    ..base
                },
                "Stopped",
            ),
            (
                "scheduled VMI is still Starting",
                StatusFacts {
                    vmi: Some(("Scheduled", false, &none)),
                    start_expected: true,
                    ..base
                },
                "Starting",
            ),
            (
                "final VMI kept (RerunOnFailure after guest shutdown)",
                StatusFacts {
                    vmi: Some(("Succeeded", false, &none)),
                    ..base
                },
                "Stopped",
            ),
            (
                "unknown phase",
                StatusFacts {
                    vmi: Some(("Unknown", false, &none)),
                    ..base
                },
                "Unknown",
            ),
        ];
        for (case, facts, expected) in table {
            assert_eq!(printable_status(facts), expected, "{case}");
        }
    }
}
