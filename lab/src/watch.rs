//! WATCH: NDJSON events, one compact JSON per line, flushed per event (50-54d).
//!
//! A watch starts from the current objects (resourceVersion ""/"0", or `sendInitialEvents`,
//! which then ends the initial part with the `k8s.io/initial-events-end` BOOKMARK), or replays
//! the event window after a resourceVersion; one older than the window gets HTTP 200 and a
//! single in-stream ERROR 410 Expired. Selectors apply per event: an object leaving the
//! selection is DELETED for this watcher.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use protect_lab_apimachinery::status;
use protect_lab_apimachinery::table::{self, IncludeObject};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::read::{self, Selectors};
use crate::registry::ResourceType;
use crate::respond::{ApiError, Want};
use crate::server::{Ctx, Target, view};
use crate::store::{Event, EventType};

/// Without `timeoutSeconds` the apiserver picks 30-60 minutes; the lab uses the upper bound.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

struct Watcher {
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    selectors: Selectors,
    want: Want,
    /// Table watches: only the first event carries columnDefinitions (53-watch-as-table.http).
    sent_table: bool,
}

impl Watcher {
    /// The line for an event, or None when this watcher does not see it.
    fn line(&mut self, ev: &Event) -> Option<Bytes> {
        let obj = view(&self.rt, &ev.object);
        let in_ns = |o: &Value| {
            self.namespace
                .as_deref()
                .is_none_or(|ns| o["metadata"]["namespace"].as_str() == Some(ns))
        };
        if !in_ns(&obj) {
            return None;
        }
        let now = self.selectors.matches(&obj);
        let before = ev
            .prev
            .as_ref()
            .map(|p| self.selectors.matches(&view(&self.rt, p)))
            .unwrap_or(false);
        let kind = match (ev.kind, before, now) {
            (EventType::Deleted, true, _) => EventType::Deleted,
            (EventType::Deleted, false, _) => return None,
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Modified, true, true) => EventType::Modified,
            (EventType::Modified, false, true) => EventType::Added,
            (EventType::Modified, true, false) => EventType::Deleted,
            _ => return None,
        };
        Some(self.encode(kind.as_str(), obj))
    }

    fn encode(&mut self, kind: &str, obj: Value) -> Bytes {
        let object = match self.want {
            Want::Table => {
                let rv = obj["metadata"]["resourceVersion"].clone();
                let t = read::render_table(
                    &self.rt,
                    &[obj],
                    IncludeObject::Metadata,
                    json!({"resourceVersion": rv}),
                    !self.sent_table,
                );
                self.sent_table = true;
                t
            }
            Want::PartialObjectMetadata | Want::PartialObjectMetadataList => {
                table::partial_object_metadata(&obj)
            }
            Want::Json | Want::Yaml => obj,
        };
        line(&json!({"type": kind, "object": object}))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let rt = &self.rt;
        let mut meta = serde_json::Map::new();
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        if initial_end {
            let blueprint = read::list_object(rt, Vec::new(), "", None);
            let mut blueprint = blueprint;
            if rt.is_custom() {
                // The blueprint is an empty list without metadata (52-watch-sendInitialEvents…).
                if let Some(m) = blueprint.as_object_mut() {
                    m.shift_remove("metadata");
                }
            } else {
                blueprint["metadata"] = json!({});
            }
            let mut encoded = serde_json::to_vec(&blueprint).unwrap_or_default();
            encoded.push(b'\n');
            meta.insert(
                "annotations".into(),
                json!({
                    "k8s.io/initial-events-end": "true",
                    "kubernetes.io/initial-events-list-blueprint":
                        base64::engine::general_purpose::STANDARD.encode(encoded),
                }),
            );
            if rt.is_custom() {
                meta.sort_keys();
            }
        }
        let object = if rt.is_custom() {
            json!({"apiVersion": rt.api_version(), "kind": rt.kind, "metadata": meta})
        } else {
            json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta})
        };
        line(&json!({"type": "BOOKMARK", "object": object}))
    }
}

fn line(v: &Value) -> Bytes {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `GET …?watch=true`.
pub async fn watch(ctx: &Ctx, t: &Target) -> Result<Response, ApiError> {
    let want = read::want(ctx)?;
    let rt = t.rt.clone();
    let mut selectors = Selectors::parse(ctx, &rt)?;
    if let Some(name) = &t.name {
        // A watch on one object is a watch with metadata.name=<name>.
        let field = match ctx.q("fieldSelector").filter(|f| !f.is_empty()) {
            Some(f) => format!("{f},metadata.name={name}"),
            None => format!("metadata.name={name}"),
        };
        let supported: Vec<&str> = rt.selectable_fields.iter().map(String::as_str).collect();
        selectors.field =
            protect_lab_apimachinery::selector::FieldSelector::parse(&field, &supported)
                .map_err(|e| ApiError::bad_request(&e.to_string()))?;
    }
    let send_initial = ctx.flag("sendInitialEvents");
    let rv_param = ctx.q("resourceVersion").unwrap_or_default();
    let from = if send_initial || rv_param.is_empty() || rv_param == "0" {
        None
    } else {
        Some(rv_param.parse::<u64>().map_err(|_| {
            ApiError::status(status::failure(
                400,
                Some("BadRequest"),
                &format!("invalid resource version: {rv_param}"),
            ))
        })?)
    };
    let timeout = ctx
        .q("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let bookmarks = ctx.flag("allowWatchBookmarks");
    let bookmark_interval = ctx.state.config.bookmark_interval;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut watcher = Watcher {
        rt: rt.clone(),
        namespace: t.namespace.clone(),
        selectors,
        want,
        sent_table: false,
    };
    let sub = match ctx.state.store.watch(&rt.bucket, from) {
        Ok(sub) => sub,
        Err(too_old) => {
            // 54-watch-too-old-rv-410.http: HTTP 200, one ERROR event, end of stream.
            let err = status::failure(410, Some("Expired"), &too_old.to_string());
            let _ = tx.try_send(line(&json!({"type": "ERROR", "object": err})));
            drop(tx);
            return Ok(stream_response(rx));
        }
    };
    let state = ctx.state.clone();
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        for ev in &sub.initial {
            if let Some(l) = watcher.line(ev)
                && tx.send(l).await.is_err()
            {
                return;
            }
        }
        if send_initial && tx.send(watcher.bookmark(sub.rv, true)).await.is_err() {
            return;
        }
        let mut live = sub.live;
        // Periodic bookmarks, plus one shortly before the timeout as upstream sends
        // (50-watch-from-list-rv.http: ~1.5 s before).
        let mut next_bookmark = tokio::time::Instant::now() + bookmark_interval;
        let final_bookmark = deadline.checked_sub(Duration::from_millis(1500));
        let mut final_sent = false;
        loop {
            let wake = match final_bookmark {
                Some(f) if bookmarks && !final_sent && f < next_bookmark => f,
                _ => next_bookmark,
            };
            tokio::select! {
                ev = live.recv() => {
                    let Some(ev) = ev else { break };
                    if let Some(l) = watcher.line(&ev)
                        && tx.send(l).await.is_err()
                    {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(wake), if bookmarks => {
                    if Some(wake) == final_bookmark {
                        final_sent = true;
                    } else {
                        next_bookmark = tokio::time::Instant::now() + bookmark_interval;
                    }
                    if tx.send(watcher.bookmark(state.store.current_rv(), false)).await.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tx.closed() => return,
            }
        }
    });
    Ok(stream_response(rx))
}
