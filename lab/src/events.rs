//! Events are stored once, in the core/v1 shape, and served through two views: `/api/v1`
//! (core) and `events.k8s.io/v1`, converted field by field as the apiserver does
//! (70-event-create-events-v1.http … 70f).

use serde_json::{Map, Value};

use crate::order;

/// (events.k8s.io/v1 field, core/v1 field).
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename(obj: &Value, to_core: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj.as_object().into_iter().flatten() {
        let key = RENAMES
            .iter()
            .find_map(|(new, core)| {
                if to_core && k == new {
                    Some(*core)
                } else if !to_core && k == core {
                    Some(*new)
                } else {
                    None
                }
            })
            .unwrap_or(k);
        out.insert(key.to_string(), v.clone());
    }
    out
}

/// The stored (core/v1) form of an Event written through either view.
pub fn to_storage(obj: &Value, api_version: &str) -> Value {
    let mut core = if api_version == "v1" {
        obj.as_object().cloned().unwrap_or_default()
    } else {
        rename(obj, true)
    };
    core.insert("apiVersion".into(), Value::String("v1".into()));
    core.insert("kind".into(), Value::String("Event".into()));
    Value::Object(core)
}

/// The Event as the `api_version` view shows it, with the fields Go always writes (`source: {}`,
/// null timestamps, empty reporting strings) and in Go struct order.
pub fn view(stored: &Value, api_version: &str) -> Value {
    let mut out = if api_version == "v1" {
        let mut m = stored.as_object().cloned().unwrap_or_default();
        for (k, default) in [
            ("source", Value::Object(Map::new())),
            ("firstTimestamp", Value::Null),
            ("lastTimestamp", Value::Null),
            ("eventTime", Value::Null),
            ("reportingComponent", Value::String(String::new())),
            ("reportingInstance", Value::String(String::new())),
        ] {
            m.entry(k).or_insert(default);
        }
        m
    } else {
        let mut m = rename(stored, false);
        for (k, default) in [
            ("eventTime", Value::Null),
            ("deprecatedSource", Value::Object(Map::new())),
            ("deprecatedFirstTimestamp", Value::Null),
            ("deprecatedLastTimestamp", Value::Null),
        ] {
            m.entry(k).or_insert(default);
        }
        // omitempty strings of the events.k8s.io type
        for k in [
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "note",
            "type",
        ] {
            if m.get(k).is_some_and(|v| v.as_str() == Some("")) {
                m.remove(k);
            }
        }
        m
    };
    out.insert("apiVersion".into(), Value::String(api_version.to_string()));
    out.insert("kind".into(), Value::String("Event".into()));
    let mut v = Value::Object(out);
    order::builtin(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_events_v1_event_reads_back_through_the_core_view() {
        // 70-event-create-events-v1.http then 70c-event-get-core-v1.http
        let written = json!({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e"},
            "eventTime":"2026-11-24T07:08:01.524470Z","reportingController":"c","reportingInstance":"i",
            "action":"Reconcile","reason":"PhaseChanged","regarding":{"kind":"K","name":"pr1"},"note":"n","type":"Normal"});
        let stored = to_storage(&written, "events.k8s.io/v1");
        let core = view(&stored, "v1");
        assert_eq!(
            serde_json::to_string(&core).expect("json"),
            r#"{"kind":"Event","apiVersion":"v1","metadata":{"name":"e"},"involvedObject":{"kind":"K","name":"pr1"},"reason":"PhaseChanged","message":"n","source":{},"firstTimestamp":null,"lastTimestamp":null,"type":"Normal","eventTime":"2026-11-24T07:08:01.524470Z","action":"Reconcile","reportingComponent":"c","reportingInstance":"i"}"#
        );
        let back = view(&stored, "events.k8s.io/v1");
        assert_eq!(
            serde_json::to_string(&back).expect("json"),
            r#"{"kind":"Event","apiVersion":"events.k8s.io/v1","metadata":{"name":"e"},"eventTime":"2026-11-24T07:08:01.524470Z","reportingController":"c","reportingInstance":"i","action":"Reconcile","reason":"PhaseChanged","regarding":{"kind":"K","name":"pr1"},"note":"n","type":"Normal","deprecatedSource":{},"deprecatedFirstTimestamp":null,"deprecatedLastTimestamp":null}"#
        );
    }
}
