//! What `-w` and `--wait` print: one plain line per change when piped, and the messages of the
//! progress bars on a terminal.

use jiff::Timestamp;
use protect_api::{Phase, ProtectionRequest, VolumeStatus};

use super::detail::{eta, percent};
use super::list::{request_age, sync_progress};
use super::{Paint, or_dash};
use crate::health::{Health, health};

/// Width of the NAME column in watch lines: wide enough for the guide's names, wider when a
/// name needs it.
pub fn name_width<'a>(names: impl IntoIterator<Item = &'a str>) -> usize {
    names.into_iter().map(str::len).max().unwrap_or(0).max(20)
}

/// The header of plain watch output.
pub fn watch_header(name_width: usize) -> String {
    format!(
        "{:<name_width$}   {:<20}   {:<5}   {:<6}   MESSAGE",
        "NAME", "PHASE", "SYNC", "AGE"
    )
}

/// One plain line for a request that changed, aligned under [`watch_header`]; like the guide's
/// Example 1 progression, plus sync and message.
pub fn watch_line(request: &ProtectionRequest, name_width: usize, now: Timestamp) -> String {
    let phase = Paint::plain().phase(request.phase(), &health(request));
    let message = request
        .status
        .as_ref()
        .and_then(|s| s.message.as_deref())
        .unwrap_or_default();
    format!(
        "{:<name_width$}   {:<20}   {:<5}   {:<6}   {message}",
        or_dash(request.metadata.name.as_deref()),
        phase,
        sync_progress(request),
        request_age(request, now),
    )
    .trim_end()
    .to_owned()
}

/// The line printed when a followed request is gone (unprotect --wait, or deleted while
/// watching).
pub fn deleted_line(name: &str) -> String {
    format!("protectionrequest.siterecovery.trilio.io/{name} deleted")
}

/// Step of a phase on the request's progress bar (0 = Pending … 6 = Protected).
pub fn phase_step(phase: Phase) -> u64 {
    match phase {
        Phase::Failed => 0,
        other => Phase::ALL.iter().position(|p| *p == other).unwrap_or(0) as u64,
    }
}

/// Number of steps on the request's progress bar (Pending … Protected).
pub const PHASE_STEPS: u64 = 6;

/// The message beside the request's bar: phase and status message.
pub fn request_bar_message(request: &ProtectionRequest, paint: Paint) -> String {
    let h = health(request);
    let mut text = paint.phase(request.phase(), &h);
    if let Some(m) = request.status.as_ref().and_then(|s| s.message.as_deref()) {
        text.push_str(&format!(": {m}"));
    }
    if let Health::Degraded(problems) = h {
        text.push_str(&format!(" [{}]", problems.join("; ")));
    }
    text
}

/// The message beside a volume's bar: classes, state, percentage and ETA.
pub fn volume_bar_message(volume: &VolumeStatus) -> String {
    format!(
        "{} → {}  {}  {}  ETA {}",
        or_dash(volume.storage_class.as_deref()),
        or_dash(volume.dr_storage_class.as_deref()),
        or_dash(volume.state.as_deref()),
        percent(volume.sync_percent),
        eta(volume.eta_seconds),
    )
}

/// Position of a volume bar, in tenths of a percent (0 – 1000).
pub fn volume_position(volume: &VolumeStatus) -> u64 {
    (volume.sync_percent.unwrap_or(0.0).clamp(0.0, 100.0) * 10.0).round() as u64
}

/// The last line after following a request to its end.
pub fn final_line(request: &ProtectionRequest) -> String {
    let name = or_dash(request.metadata.name.as_deref());
    match health(request) {
        Health::Failed => format!(
            "{name} Failed: {}",
            or_dash(request.status.as_ref().and_then(|s| s.message.as_deref()))
        ),
        Health::Degraded(problems) => {
            format!(
                "{name} {} but degraded: {}",
                request.phase(),
                problems.join("; ")
            )
        }
        Health::Protected => format!("{name} Protected"),
        Health::InProgress => format!("{name} {}", request.phase()),
    }
}

/// The last line after following every request until all are Protected or Failed: how many
/// ended how, e.g.
/// `all requests are Protected or Failed: 2 Protected, 1 Protected (degraded), 1 Failed`.
pub fn final_summary(requests: &[ProtectionRequest]) -> String {
    let (mut protected, mut degraded, mut failed, mut other) = (0, 0, 0, 0);
    for request in requests {
        match (request.phase(), health(request)) {
            (_, Health::Failed) => failed += 1,
            (Phase::Protected, Health::Degraded(_)) => degraded += 1,
            (Phase::Protected, _) => protected += 1,
            _ => other += 1,
        }
    }
    let counts: Vec<String> = [
        (protected, "Protected"),
        (degraded, "Protected (degraded)"),
        (failed, "Failed"),
        (other, "in progress"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    format!(
        "all requests are Protected or Failed: {}",
        counts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use protect_api::{Condition, ConditionStatus};

    use super::*;
    use crate::fixtures::request;

    #[test]
    fn the_summary_counts_protected_degraded_and_failed() {
        let requests = [
            request("a").phase(Phase::Protected).build(),
            request("b").phase(Phase::Failed).build(),
            request("c")
                .phase(Phase::Protected)
                .condition(Condition::new(
                    "Replicating",
                    ConditionStatus::False,
                    "PeerDisconnected",
                    "x",
                ))
                .build(),
            request("d").phase(Phase::Protected).build(),
        ];
        assert_eq!(
            final_summary(&requests),
            "all requests are Protected or Failed: 2 Protected, 1 Protected (degraded), 1 Failed"
        );
        assert_eq!(
            final_summary(&requests[1..2]),
            "all requests are Protected or Failed: 1 Failed"
        );
    }
}
