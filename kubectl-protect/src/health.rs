//! Health of a request beyond its phase: the rule behind the exit code of `status` and
//! `--wait`, and behind the "(degraded)" marker in tables.

use protect_api::conditions::condition_type;
use protect_api::{ConditionStatus, Phase, ProtectionRequest};

use crate::exit::Exit;

/// How a request is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Not final yet and nothing is wrong.
    InProgress,
    /// Protected and replicating.
    Protected,
    /// Something is wrong but the request is not Failed; each entry says what.
    Degraded(Vec<String>),
    /// The request is Failed.
    Failed,
}

impl Health {
    /// The exit code for this health.
    pub fn exit(&self) -> Exit {
        match self {
            Health::InProgress | Health::Protected => Exit::Ok,
            Health::Degraded(_) => Exit::Degraded,
            Health::Failed => Exit::Failed,
        }
    }

    /// True when degraded.
    pub fn is_degraded(&self) -> bool {
        matches!(self, Health::Degraded(_))
    }
}

/// Conditions whose `False` is a problem in any phase.
const ALWAYS_HEALTH: [&str; 2] = [
    condition_type::PRIMARY_REACHABLE,
    condition_type::DR_REACHABLE,
];
/// Conditions whose `False` is a problem once the request is Protected (before that they are
/// simply not reached yet).
const PROTECTED_HEALTH: [&str; 2] = [condition_type::REPLICATING, condition_type::READY];

/// The health of `request`.
///
/// Failed when the phase is Failed. Degraded when PrimaryReachable or DRReachable is False, when
/// a condition is False with a reason that says it stalled (e.g. `SyncStalled`), or, once
/// Protected, when Replicating or Ready is False: a Protected request whose replication broke is
/// never reported as fine.
pub fn health(request: &ProtectionRequest) -> Health {
    let phase = request.phase();
    if phase == Phase::Failed {
        return Health::Failed;
    }
    let conditions = request
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let problems: Vec<String> = conditions
        .iter()
        .filter(|c| c.status == ConditionStatus::False)
        .filter(|c| {
            ALWAYS_HEALTH.contains(&c.type_.as_str())
                || (phase == Phase::Protected && PROTECTED_HEALTH.contains(&c.type_.as_str()))
                || c.reason.as_deref().is_some_and(|r| r.contains("Stalled"))
        })
        .map(|c| {
            let mut text = format!("{}=False", c.type_);
            if let Some(reason) = c.reason.as_deref().filter(|r| !r.is_empty()) {
                text.push_str(&format!(" ({reason})"));
            }
            if let Some(message) = c.message.as_deref().filter(|m| !m.is_empty()) {
                text.push_str(&format!(": {message}"));
            }
            text
        })
        .collect();
    if !problems.is_empty() {
        Health::Degraded(problems)
    } else if phase == Phase::Protected {
        Health::Protected
    } else {
        Health::InProgress
    }
}

/// The worst exit over many requests (Failed over Degraded over Ok).
pub fn worst_exit<'a>(requests: impl IntoIterator<Item = &'a ProtectionRequest>) -> Exit {
    requests
        .into_iter()
        .map(|r| health(r).exit())
        .max()
        .unwrap_or(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use protect_api::Condition;

    use super::*;
    use crate::fixtures::request;

    fn cond(type_: &str, status: ConditionStatus, reason: &str) -> Condition {
        Condition::new(type_, status, reason, "details")
    }

    #[test]
    fn a_protected_request_that_replicates_is_healthy() {
        let pr = request("web-server")
            .phase(Phase::Protected)
            .condition(cond(
                condition_type::REPLICATING,
                ConditionStatus::True,
                "Connected",
            ))
            .build();
        assert_eq!(health(&pr), Health::Protected);
        assert_eq!(health(&pr).exit(), Exit::Ok);
    }

    #[test]
    fn a_protected_request_that_stopped_replicating_is_degraded() {
        let pr = request("web-server")
            .phase(Phase::Protected)
            .condition(cond(
                condition_type::REPLICATING,
                ConditionStatus::False,
                "PeerDisconnected",
            ))
            .build();
        assert_eq!(
            health(&pr),
            Health::Degraded(vec!["Replicating=False (PeerDisconnected): details".into()])
        );
        assert_eq!(health(&pr).exit(), Exit::Degraded);
    }

    #[test]
    fn not_replicating_yet_while_syncing_is_progress_not_degradation() {
        let pr = request("web-server")
            .phase(Phase::Syncing)
            .condition(cond(
                condition_type::REPLICATING,
                ConditionStatus::False,
                "InitialSync",
            ))
            .condition(cond(
                condition_type::SYNCED,
                ConditionStatus::False,
                "SyncInProgress",
            ))
            .build();
        assert_eq!(health(&pr), Health::InProgress);
    }

    #[test]
    fn an_unreachable_dr_cluster_or_a_stalled_sync_degrades_any_phase() {
        let unreachable = request("a")
            .phase(Phase::Syncing)
            .condition(cond(
                condition_type::DR_REACHABLE,
                ConditionStatus::False,
                "Timeout",
            ))
            .build();
        assert!(health(&unreachable).is_degraded());
        let stalled = request("b")
            .phase(Phase::Syncing)
            .condition(cond(
                condition_type::SYNCED,
                ConditionStatus::False,
                "SyncStalled",
            ))
            .build();
        assert!(health(&stalled).is_degraded());
    }

    #[test]
    fn failed_wins_over_everything() {
        let failed = request("a").phase(Phase::Failed).build();
        let degraded = request("b")
            .phase(Phase::Syncing)
            .condition(cond(
                condition_type::DR_REACHABLE,
                ConditionStatus::False,
                "Timeout",
            ))
            .build();
        let fine = request("c").phase(Phase::Syncing).build();
        assert_eq!(worst_exit([&fine, &degraded, &failed]), Exit::Failed);
        assert_eq!(worst_exit([&fine, &degraded]), Exit::Degraded);
        assert_eq!(worst_exit([&fine]), Exit::Ok);
        assert_eq!(worst_exit([]), Exit::Ok);
    }
}
