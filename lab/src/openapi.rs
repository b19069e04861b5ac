//! OpenAPI v3: the `/openapi/v3` index of group-version documents (URLs carry a content hash,
//! so they change when CRDs change) and the documents themselves. For custom resources the
//! document carries the CRD's schema; for built-ins it is minimal but valid: what kubectl needs
//! is each PATCH operation's `x-kubernetes-group-version-kind` and its `fieldValidation`
//! parameter (04-openapi-v3-index.http, 04b-openapi-v3-siterecovery-trimmed.http).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use sha2::Digest;

use crate::cluster::ClusterState;
use crate::discovery::hex_upper;
use crate::registry::ResourceType;
use crate::respond::ApiError;

/// The `fieldValidation` parameter exactly as upstream declares it.
const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";

fn param(name: &str, description: &str, type_: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": type_, "uniqueItems": true}})
}

fn write_params(patch: bool) -> Vec<Value> {
    let mut p = vec![
        param(
            "dryRun",
            "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
            "string",
        ),
        param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
            "string",
        ),
        param("fieldValidation", FIELD_VALIDATION, "string"),
    ];
    if patch {
        p.push(param("force", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.", "boolean"));
    }
    p
}

fn schema_name(rt: &ResourceType) -> String {
    let mut group: Vec<&str> = rt.group.split('.').collect();
    group.reverse();
    let prefix = if rt.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        group.join(".")
    };
    format!("{prefix}.{}.{}", rt.version, rt.kind)
}

fn op(
    rt: &ResourceType,
    action: &str,
    id: &str,
    params: Vec<Value>,
    body: Option<&[&str]>,
) -> Value {
    let reference = json!({"$ref": format!("#/components/schemas/{}", schema_name(rt))});
    let mut m = Map::new();
    m.insert("operationId".into(), json!(format!("{id}{}", rt.kind)));
    m.insert("parameters".into(), Value::Array(params));
    if let Some(types) = body {
        let content: Map<String, Value> = types
            .iter()
            .map(|t| (t.to_string(), json!({"schema": reference.clone()})))
            .collect();
        m.insert(
            "requestBody".into(),
            json!({"content": content, "required": true}),
        );
    }
    m.insert(
        "responses".into(),
        json!({"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}}),
    );
    m.insert("x-kubernetes-action".into(), json!(action));
    m.insert(
        "x-kubernetes-group-version-kind".into(),
        json!({"group": rt.group, "version": rt.version, "kind": rt.kind}),
    );
    Value::Object(m)
}

/// The document of one group-version.
fn document(types: &[&Arc<ResourceType>]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into(),
        json!({"type": "object", "description": "ObjectMeta is metadata that all persisted resources must have."}),
    );
    for rt in types {
        let base = rt.group_version_path();
        let collection = if rt.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{base}/{}", rt.plural)
        };
        let patch_types: &[&str] = if rt.is_custom() {
            &[
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
            ]
        } else {
            // Without strategic-merge-patch listed here kubectl computes its patches from the Go
            // types it was compiled with, which know every built-in's merge keys.
            &[
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
            ]
        };
        let body_types: &[&str] = &["application/json", "application/yaml"];
        paths.insert(
            collection.clone(),
            json!({
                "get": op(rt, "list", "list", vec![], None),
                "post": op(rt, "post", "create", write_params(false), Some(body_types)),
                "delete": op(rt, "deletecollection", "deleteCollection", vec![], None),
            }),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": op(rt, "get", "read", vec![], None),
                "put": op(rt, "put", "replace", write_params(false), Some(body_types)),
                "patch": op(rt, "patch", "patch", write_params(true), Some(patch_types)),
                "delete": op(rt, "delete", "delete", vec![], None),
            }),
        );
        if rt.status_subresource {
            paths.insert(
                format!("{collection}/{{name}}/status"),
                json!({
                    "get": op(rt, "get", "readStatus", vec![], None),
                    "put": op(rt, "put", "replaceStatus", write_params(false), Some(body_types)),
                    "patch": op(rt, "patch", "patchStatus", write_params(true), Some(patch_types)),
                }),
            );
        }
        let gvk = json!([{"group": rt.group, "kind": rt.kind, "version": rt.version}]);
        let schema = match rt.schema() {
            Some(s) => {
                let mut s = s.clone();
                if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
                    props.insert(
                        "metadata".into(),
                        json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]}),
                    );
                }
                if let Some(m) = s.as_object_mut() {
                    m.insert("x-kubernetes-group-version-kind".into(), gvk);
                }
                s
            }
            None => json!({"type": "object", "x-kubernetes-group-version-kind": gvk}),
        };
        schemas.insert(schema_name(rt), schema);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// All group-version documents by index key (`api/v1`, `apis/apps/v1`), serialized.
fn documents(state: &ClusterState) -> BTreeMap<String, Vec<u8>> {
    let types = state.resource_types();
    let mut by_gv: BTreeMap<String, Vec<&Arc<ResourceType>>> = BTreeMap::new();
    for rt in &types {
        by_gv
            .entry(rt.group_version_path().trim_start_matches('/').to_string())
            .or_default()
            .push(rt);
    }
    by_gv
        .into_iter()
        .map(|(k, v)| (k, serde_json::to_vec(&document(&v)).unwrap_or_default()))
        .collect()
}

fn hash(body: &[u8]) -> String {
    hex_upper(&sha2::Sha512::digest(body))
}

/// `GET /openapi/v3`.
pub fn index(state: &ClusterState) -> Response {
    let paths: Map<String, Value> = documents(state)
        .into_iter()
        .map(|(k, body)| {
            let url = format!("/openapi/v3/{k}?hash={}", hash(&body));
            (k, json!({"serverRelativeURL": url}))
        })
        .collect();
    let body = serde_json::to_vec(&json!({"paths": paths})).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `GET /openapi/v3/<key>`.
pub fn gv_document(state: &ClusterState, key: &str) -> Result<Response, ApiError> {
    let docs = documents(state);
    let body = docs.get(key).ok_or(ApiError::PageNotFound)?;
    let etag = format!("\"{}\"", hash(body));
    let mut resp = Response::new(Body::from(body.clone()));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, immutable"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(e) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, e);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    Ok(resp)
}
