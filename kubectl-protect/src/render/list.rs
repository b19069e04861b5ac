//! The table of requests: NAME VM PHASE SYNC AGE MESSAGE; `-o wide` adds SOURCE DR POLICY;
//! `-A` puts NAMESPACE first.

use jiff::Timestamp;
use protect_api::ProtectionRequest;

use super::{Paint, age, or_dash, table};
use crate::health::health;

/// Which columns the table has.
#[derive(Debug, Clone, Copy, Default)]
pub struct Columns {
    /// Add SOURCE, DR and POLICY.
    pub wide: bool,
    /// Add NAMESPACE in front.
    pub namespace: bool,
}

/// Overall sync progress: `status.syncProgress` as the controller wrote it, else the mean of
/// the volumes' percentages, else `-`.
pub fn sync_progress(request: &ProtectionRequest) -> String {
    let Some(status) = request.status.as_ref() else {
        return "-".to_owned();
    };
    if let Some(progress) = status.sync_progress.as_deref().filter(|p| !p.is_empty()) {
        return progress.to_owned();
    }
    let percents: Vec<f64> = status
        .volumes
        .iter()
        .filter_map(|v| v.sync_percent)
        .collect();
    if percents.is_empty() {
        "-".to_owned()
    } else {
        format!(
            "{:.0}%",
            percents.iter().sum::<f64>() / percents.len() as f64
        )
    }
}

/// `vmNamespace/vmName`.
pub fn vm_ref(request: &ProtectionRequest) -> String {
    format!("{}/{}", request.spec.vm_namespace, request.spec.vm_name)
}

/// Age of the request from its creation timestamp.
pub fn request_age(request: &ProtectionRequest, now: Timestamp) -> String {
    request
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| age(t.0, now))
        .unwrap_or_else(|| "<unknown>".to_owned())
}

/// The header for `columns`.
pub fn header(columns: Columns) -> Vec<&'static str> {
    let mut h = Vec::new();
    if columns.namespace {
        h.push("NAMESPACE");
    }
    h.extend(["NAME", "VM", "PHASE", "SYNC", "AGE"]);
    if columns.wide {
        h.extend(["SOURCE", "DR", "POLICY"]);
    }
    h.push("MESSAGE");
    h
}

/// One row for `request`.
pub fn row(
    request: &ProtectionRequest,
    columns: Columns,
    now: Timestamp,
    paint: Paint,
) -> Vec<String> {
    let status = request.status.as_ref();
    let mut r = Vec::new();
    if columns.namespace {
        r.push(or_dash(request.metadata.namespace.as_deref()));
    }
    r.push(or_dash(request.metadata.name.as_deref()));
    r.push(vm_ref(request));
    r.push(paint.phase(request.phase(), &health(request)));
    r.push(sync_progress(request));
    r.push(request_age(request, now));
    if columns.wide {
        r.push(or_dash(request.spec.source_cluster.as_deref()));
        r.push(or_dash(status.and_then(|s| s.dr_cluster.as_deref())));
        r.push(or_dash(status.and_then(|s| s.policy.as_deref())));
    }
    r.push(status.and_then(|s| s.message.clone()).unwrap_or_default());
    r
}

/// The table of `requests`, sorted as given.
pub fn render_list(
    requests: &[ProtectionRequest],
    columns: Columns,
    now: Timestamp,
    paint: Paint,
) -> String {
    table(
        &header(columns),
        requests.iter().map(|r| row(r, columns, now, paint)),
    )
}

/// kubectl's wording when nothing matched (printed to stderr).
pub fn no_resources(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No resources found in {ns} namespace."),
        None => "No resources found".to_owned(),
    }
}
