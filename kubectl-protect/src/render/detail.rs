//! The detail view of one request (`status NAME`): summary, phase timeline, conditions,
//! per-volume replication table and recent Events, laid out like `kubectl describe`.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use protect_api::{ConditionStatus, ProtectionRequest, VolumeStatus};

use super::list::{request_age, sync_progress, vm_ref};
use super::{Paint, age, human_duration, indent, or_dash, table};
use crate::health::{Health, health};

/// How many Events the detail view shows (the most recent).
pub const MAX_EVENTS: usize = 10;

/// The detail view of `request` with its `events`.
pub fn render_detail(
    request: &ProtectionRequest,
    events: &[Event],
    now: Timestamp,
    paint: Paint,
) -> String {
    let status = request.status.clone().unwrap_or_default();
    let health = health(request);
    let mut out = String::new();
    let field = |out: &mut String, label: &str, value: &str| {
        out.push_str(&format!("{:<11}{value}\n", format!("{label}:")));
    };
    field(&mut out, "Name", &or_dash(request.metadata.name.as_deref()));
    field(
        &mut out,
        "Namespace",
        &or_dash(request.metadata.namespace.as_deref()),
    );
    field(&mut out, "VM", &vm_ref(request));
    field(
        &mut out,
        "Source",
        &or_dash(request.spec.source_cluster.as_deref()),
    );
    field(&mut out, "DR", &or_dash(status.dr_cluster.as_deref()));
    field(&mut out, "Policy", &or_dash(status.policy.as_deref()));
    field(&mut out, "Phase", &paint.phase(request.phase(), &health));
    field(&mut out, "Sync", &sync_progress(request));
    field(&mut out, "Age", &request_age(request, now));
    field(&mut out, "Message", &or_dash(status.message.as_deref()));
    if let Health::Degraded(problems) = &health {
        out.push_str(&format!("{}\n", paint.warn("Degraded:")));
        for p in problems {
            out.push_str(&format!("  - {p}\n"));
        }
    }

    out.push_str("\nTimeline:\n");
    if status.phase_transitions.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let created = request.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let rows = status.phase_transitions.iter().map(|t| {
            vec![
                t.phase.to_string(),
                t.time.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                created
                    .map(|c| human_duration((t.time.0.as_second() - c.as_second()).max(0)))
                    .unwrap_or_else(|| "-".into()),
            ]
        });
        out.push_str(&indent(&table(&["PHASE", "ENTERED", "AFTER"], rows), 2));
    }

    out.push_str("\nConditions:\n");
    if status.conditions.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let rows = status.conditions.iter().map(|c| {
            let s = match c.status {
                ConditionStatus::True => paint.good("True"),
                ConditionStatus::False => paint.warn("False"),
                ConditionStatus::Unknown => "Unknown".to_owned(),
            };
            vec![
                c.type_.clone(),
                s,
                or_dash(c.reason.as_deref()),
                c.last_transition_time
                    .as_ref()
                    .map(|t| age(t.0, now))
                    .unwrap_or_else(|| "-".into()),
                c.message.clone().unwrap_or_default(),
            ]
        });
        out.push_str(&indent(
            &table(&["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows),
            2,
        ));
    }

    out.push_str("\nVolumes:\n");
    if status.volumes.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let rows = status.volumes.iter().map(volume_row);
        out.push_str(&indent(
            &table(
                &[
                    "PVC",
                    "STORAGE CLASS",
                    "CAPACITY",
                    "STATE",
                    "SYNC",
                    "ETA",
                    "PORT",
                ],
                rows,
            ),
            2,
        ));
    }

    out.push_str("\nEvents:\n");
    let recent = recent_events(events);
    if recent.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let rows = recent.iter().map(|e| {
            vec![
                or_dash(e.type_.as_deref()),
                or_dash(e.reason.as_deref()),
                event_time(e)
                    .map(|t| age(t, now))
                    .unwrap_or_else(|| "-".into()),
                or_dash(
                    e.reporting_component
                        .as_deref()
                        .filter(|c| !c.is_empty())
                        .or(e.source.as_ref().and_then(|s| s.component.as_deref())),
                ),
                e.message.clone().unwrap_or_default().trim().to_owned(),
            ]
        });
        out.push_str(&indent(
            &table(&["TYPE", "REASON", "AGE", "FROM", "MESSAGE"], rows),
            2,
        ));
    }
    out
}

/// One row of the volume table.
fn volume_row(v: &VolumeStatus) -> Vec<String> {
    vec![
        v.pvc.clone(),
        format!(
            "{} → {}",
            or_dash(v.storage_class.as_deref()),
            or_dash(v.dr_storage_class.as_deref())
        ),
        v.capacity
            .as_ref()
            .map(|q| q.0.clone())
            .unwrap_or_else(|| "-".into()),
        or_dash(v.state.as_deref()),
        percent(v.sync_percent),
        eta(v.eta_seconds),
        v.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
    ]
}

/// `63.5%`, or `-`.
pub fn percent(value: Option<f64>) -> String {
    value
        .map(|p| format!("{:.1}%", p.clamp(0.0, 100.0)))
        .unwrap_or_else(|| "-".into())
}

/// `2m10s`, or `-` when unknown or done.
pub fn eta(seconds: Option<i64>) -> String {
    match seconds {
        Some(s) if s > 0 => human_duration(s),
        _ => "-".into(),
    }
}

/// When an Event last happened: lastTimestamp, eventTime, firstTimestamp, creation time.
pub fn event_time(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The most recent [`MAX_EVENTS`] events, oldest first (as kubectl describe lists them).
pub fn recent_events(events: &[Event]) -> Vec<&Event> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| event_time(e));
    let skip = sorted.len().saturating_sub(MAX_EVENTS);
    sorted.into_iter().skip(skip).collect()
}
