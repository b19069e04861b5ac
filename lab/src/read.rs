//! GET and LIST: selectors, resourceVersion semantics, `limit`/`continue` paging, and the
//! Table / PartialObjectMetadata(List) renderings (06b-08b, 18, 54c).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use protect_lab_apimachinery::selector::{FieldSelector, LabelSelector};
use protect_lab_apimachinery::status;
use protect_lab_apimachinery::table::{self, IncludeObject};
use serde_json::{Map, Value, json};

use crate::printers;
use crate::registry::ResourceType;
use crate::respond::{self, ApiError, Encoding, Want};
use crate::server::{Ctx, Target, view};

/// The selectors of a list or watch request.
pub struct Selectors {
    pub label: LabelSelector,
    pub field: FieldSelector,
}

impl Selectors {
    pub fn parse(ctx: &Ctx, rt: &ResourceType) -> Result<Self, ApiError> {
        let label = LabelSelector::parse(ctx.q("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(&e.to_string()))?;
        let supported: Vec<&str> = rt.selectable_fields.iter().map(String::as_str).collect();
        let field = FieldSelector::parse(ctx.q("fieldSelector").unwrap_or_default(), &supported)
            .map_err(|e| ApiError::bad_request(&e.to_string()))?;
        Ok(Selectors { label, field })
    }

    /// Whether an object (in the requested view) is selected.
    pub fn matches(&self, obj: &Value) -> bool {
        self.label.matches(obj["metadata"]["labels"].as_object()) && self.field.matches(obj)
    }
}

/// What an Accept header asks for, or 406.
pub fn want(ctx: &Ctx) -> Result<Want, ApiError> {
    respond::negotiate(&ctx.headers).ok_or_else(respond::not_acceptable)
}

fn include_object(ctx: &Ctx) -> IncludeObject {
    match ctx.q("includeObject") {
        Some("Object") => IncludeObject::Object,
        Some("None") => IncludeObject::None,
        _ => IncludeObject::Metadata,
    }
}

/// A Table of objects (already in the requested view).
pub fn render_table(
    rt: &ResourceType,
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
    with_definitions: bool,
) -> Value {
    let now = jiff::Timestamp::now();
    if rt.is_custom() {
        let columns = table::columns(rt.crd_version());
        return table::table(
            &columns,
            objects,
            include,
            list_metadata,
            now,
            with_definitions,
        );
    }
    let printers = printers::builtin(&rt.kind, &rt.group);
    let columns: Vec<table::Column> = printers.iter().map(|p| p.column.clone()).collect();
    let mut t = table::table(
        &columns,
        objects,
        include,
        list_metadata,
        now,
        with_definitions,
    );
    // Built-in cells are computed (counts, joins), not JSONPath lookups.
    if let Some(rows) = t.get_mut("rows").and_then(Value::as_array_mut) {
        for (row, obj) in rows.iter_mut().zip(objects) {
            row["cells"] = Value::Array(printers.iter().map(|p| (p.cell)(obj, now)).collect());
        }
    }
    t
}

fn partial_list(objects: &[Value], rv: &str, cont: Option<&str>) -> Value {
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta(rv, cont, false),
        "items": objects.iter().map(table::partial_object_metadata).collect::<Vec<_>>(),
    })
}

fn list_meta(rv: &str, cont: Option<&str>, custom: bool) -> Value {
    let mut m = Map::new();
    if let Some(c) = cont {
        m.insert("continue".into(), json!(c));
    } else if custom {
        // Unstructured lists always write `continue` (06c-pr-list.http).
        m.insert("continue".into(), json!(""));
    }
    m.insert("resourceVersion".into(), json!(rv));
    if custom {
        m.sort_keys();
    }
    Value::Object(m)
}

/// `GET …/<name>` (and `/status`).
pub fn get(ctx: &Ctx, t: &Target) -> Result<Response, ApiError> {
    let want = want(ctx)?;
    let name = t.name.as_deref().unwrap_or_default();
    let stored = ctx
        .state
        .store
        .get(
            &t.rt.bucket,
            t.namespace.as_deref().unwrap_or_default(),
            name,
        )
        .ok_or_else(|| ApiError::status(status::not_found(respond::target(&t.rt, name))))?;
    let obj = view(&t.rt, &stored);
    let enc = ctx.enc;
    let body = match want {
        Want::Json => obj,
        Want::Yaml => {
            return Ok(respond::object(
                StatusCode::OK,
                &obj,
                Encoding { yaml: true, ..enc },
                &[],
            ));
        }
        Want::Table => {
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            render_table(
                &t.rt,
                &[obj],
                include_object(ctx),
                json!({"resourceVersion": rv}),
                true,
            )
        }
        Want::PartialObjectMetadata => table::partial_object_metadata(&obj),
        Want::PartialObjectMetadataList => {
            // 08b: upstream indents this one error.
            let err = ApiError::status(status::failure(500, None, "content is not a list"));
            return Ok(respond::error(
                err,
                Encoding {
                    pretty: true,
                    yaml: false,
                },
            ));
        }
    };
    Ok(respond::object(StatusCode::OK, &body, enc, &[]))
}

/// A continue token: base64 of `{"rv":N,"start":"<ns>/<name>"}` (upstream's shape).
fn encode_continue(rv: u64, after: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{after}\u{0}")}).to_string(),
    )
}

fn decode_continue(token: &str) -> Option<(u64, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        v["rv"].as_u64()?,
        v["start"].as_str()?.trim_end_matches('\u{0}').to_string(),
    ))
}

fn key(obj: &Value) -> String {
    format!(
        "{}/{}",
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn expired() -> ApiError {
    ApiError::status(status::failure(
        410,
        Some("Expired"),
        "The resourceVersion for the provided list is too old.",
    ))
}

/// `GET …/<resource>`.
pub fn list(ctx: &Ctx, t: &Target) -> Result<Response, ApiError> {
    let want = want(ctx)?;
    let rt = &t.rt;
    let selectors = Selectors::parse(ctx, rt)?;
    let store = &ctx.state.store;
    let ns = t.namespace.as_deref();
    let limit: usize = ctx.q("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let (stored, rv, after): (Vec<Arc<Value>>, u64, Option<String>) = if let Some(token) =
        ctx.q("continue").filter(|c| !c.is_empty())
    {
        let (rv, after) = decode_continue(token)
            .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
        let objs = store.list_at(&rt.bucket, ns, rv).map_err(|_| {
            ApiError::status(status::failure(
                410,
                Some("Expired"),
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ))
        })?;
        (objs, rv, Some(after))
    } else if ctx.q("resourceVersionMatch") == Some("Exact") {
        let rv: u64 = ctx
            .q("resourceVersion")
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| {
                ApiError::bad_request("resourceVersionMatch=Exact requires a resourceVersion")
            })?;
        (
            store.list_at(&rt.bucket, ns, rv).map_err(|_| expired())?,
            rv,
            None,
        )
    } else {
        let (objs, rv) = store.list(&rt.bucket, ns);
        (objs, rv, None)
    };
    let mut items: Vec<Value> = stored
        .iter()
        .map(|o| view(rt, o))
        .filter(|o| after.as_ref().is_none_or(|a| key(o).as_str() > a.as_str()))
        .filter(|o| selectors.matches(o))
        .collect();
    let mut cont = None;
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        cont = items.last().map(|last| encode_continue(rv, &key(last)));
    }
    let rv_s = rv.to_string();
    let enc = ctx.enc;
    let body = match want {
        Want::Table => {
            let mut meta = Map::new();
            if let Some(c) = &cont {
                meta.insert("continue".into(), json!(c));
            }
            meta.insert("resourceVersion".into(), json!(rv_s));
            render_table(rt, &items, include_object(ctx), Value::Object(meta), true)
        }
        Want::PartialObjectMetadata | Want::PartialObjectMetadataList => {
            partial_list(&items, &rv_s, cont.as_deref())
        }
        Want::Json | Want::Yaml => {
            let list = list_object(rt, items, &rv_s, cont.as_deref());
            if want == Want::Yaml {
                return Ok(respond::object(
                    StatusCode::OK,
                    &list,
                    Encoding { yaml: true, ..enc },
                    &[],
                ));
            }
            list
        }
    };
    Ok(respond::object(StatusCode::OK, &body, enc, &[]))
}

/// A `<Kind>List`: sorted keys and typed items for custom resources (06c), Go order and
/// untyped items for built-ins (70d).
pub fn list_object(rt: &ResourceType, items: Vec<Value>, rv: &str, cont: Option<&str>) -> Value {
    if rt.is_custom() {
        json!({
            "apiVersion": rt.api_version(),
            "items": items,
            "kind": rt.list_kind,
            "metadata": list_meta(rv, cont, true),
        })
    } else {
        let items: Vec<Value> = items
            .into_iter()
            .map(|mut o| {
                if let Some(m) = o.as_object_mut() {
                    m.shift_remove("kind");
                    m.shift_remove("apiVersion");
                }
                o
            })
            .collect();
        json!({
            "kind": rt.list_kind,
            "apiVersion": rt.api_version(),
            "metadata": list_meta(rv, cont, false),
            "items": items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, "dr/pr1");
        assert_eq!(decode_continue(&t), Some((42, "dr/pr1".to_string())));
    }
}
