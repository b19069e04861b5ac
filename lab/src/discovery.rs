//! API discovery: `/api`, `/apis` (aggregated v2 / v2beta1 or legacy, negotiated by Accept
//! with Etag and 304), `/api/v1`, `/apis/<group>` and `/apis/<group>/<version>`.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use sha2::Digest;

use crate::cluster::ClusterState;
use crate::registry::{BUILTIN_GROUP_ORDER, ResourceType};
use crate::respond::{self, ApiError, Encoding, parse_accept};

/// Kubernetes version priority: GA > beta > alpha, then by number (`v2` > `v1` > `v1beta2`).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn key(v: &str) -> (u8, u64, u64) {
        let Some(rest) = v.strip_prefix('v') else {
            return (0, 0, 0);
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major = digits.parse().unwrap_or(0);
        let tail = &rest[digits.len()..];
        let (level, n) = if let Some(n) = tail.strip_prefix("beta") {
            (2, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (1, n)
        } else if tail.is_empty() {
            (3, "0")
        } else {
            (0, "0")
        };
        (level, major, n.parse().unwrap_or(0))
    }
    key(a).cmp(&key(b))
}

/// Groups and their versions (preferred first), in the order `/apis` lists them.
fn groups(types: &[Arc<ResourceType>]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for rt in types.iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == rt.group) {
            Some((_, versions)) if !versions.contains(&rt.version) => {
                versions.push(rt.version.clone())
            }
            Some(_) => {}
            None => out.push((rt.group.clone(), vec![rt.version.clone()])),
        }
    }
    let rank = |g: &str| {
        BUILTIN_GROUP_ORDER
            .iter()
            .position(|b| *b == g)
            .unwrap_or(usize::MAX)
    };
    out.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    for (_, versions) in &mut out {
        versions.sort_by(|a, b| compare_versions(b, a));
    }
    out
}

fn gv(group: &str, version: &str) -> Value {
    json!({"groupVersion": format!("{group}/{version}"), "version": version})
}

fn api_group(group: &str, versions: &[String]) -> Value {
    json!({
        "name": group,
        "versions": versions.iter().map(|v| gv(group, v)).collect::<Vec<_>>(),
        "preferredVersion": gv(group, versions.first().map(String::as_str).unwrap_or_default()),
    })
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

/// One resource of an aggregated discovery document.
fn discovery_resource(rt: &ResourceType) -> Value {
    let (g, v) = if rt.is_custom() {
        (rt.group.as_str(), rt.version.as_str())
    } else {
        ("", "")
    };
    let kind = json!({"group": g, "version": v, "kind": rt.kind});
    let mut m = Map::new();
    m.insert("resource".into(), json!(rt.plural));
    m.insert("responseKind".into(), kind.clone());
    m.insert(
        "scope".into(),
        json!(if rt.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }),
    );
    m.insert("singularResource".into(), json!(rt.singular));
    m.insert("verbs".into(), strings(&rt.verbs));
    if !rt.short_names.is_empty() {
        m.insert("shortNames".into(), strings(&rt.short_names));
    }
    if !rt.categories.is_empty() {
        m.insert("categories".into(), strings(&rt.categories));
    }
    if rt.status_subresource {
        m.insert(
            "subresources".into(),
            json!([{"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}]),
        );
    }
    Value::Object(m)
}

fn discovery_version(version: &str, types: &[&Arc<ResourceType>]) -> Value {
    let mut resources: Vec<&&Arc<ResourceType>> = types.iter().collect();
    resources.sort_by(|a, b| a.plural.cmp(&b.plural));
    json!({
        "version": version,
        "resources": resources.iter().map(|r| discovery_resource(r)).collect::<Vec<_>>(),
        "freshness": "Current",
    })
}

/// The aggregated discovery document of `/api` (legacy = true) or `/apis`.
fn aggregated(types: &[Arc<ResourceType>], legacy: bool, api_version: &str) -> Value {
    let items: Vec<Value> = if legacy {
        let core: Vec<&Arc<ResourceType>> = types.iter().filter(|r| r.group.is_empty()).collect();
        vec![
            json!({"metadata": {"creationTimestamp": null}, "versions": [discovery_version("v1", &core)]}),
        ]
    } else {
        groups(types)
            .into_iter()
            .map(|(group, versions)| {
                let versions: Vec<Value> = versions
                    .iter()
                    .map(|v| {
                        let of: Vec<&Arc<ResourceType>> =
                            types.iter().filter(|r| r.group == group && r.version == *v).collect();
                        discovery_version(v, &of)
                    })
                    .collect();
                json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
            })
            .collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items})
}

/// `/api` or `/apis`.
pub fn root(state: &ClusterState, legacy: bool, headers: &HeaderMap, enc: Encoding) -> Response {
    let types = state.resource_types();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    for range in parse_accept(accept) {
        if !matches!(
            range.mime.as_str(),
            "application/json" | "*/*" | "application/*"
        ) {
            continue;
        }
        match (range.param("g"), range.param("v"), range.param("as")) {
            (
                Some("apidiscovery.k8s.io"),
                Some(v @ ("v2" | "v2beta1")),
                Some("APIGroupDiscoveryList"),
            ) => {
                let doc = aggregated(&types, legacy, &format!("apidiscovery.k8s.io/{v}"));
                return aggregated_response(&doc, v, headers, enc);
            }
            (None, None, None) => break,
            _ => continue,
        }
    }
    let doc = if legacy {
        let address = state.address.lock().map(|a| a.clone()).unwrap_or_default();
        json!({"kind": "APIVersions", "versions": ["v1"],
               "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]})
    } else {
        json!({"kind": "APIGroupList", "apiVersion": "v1",
               "groups": groups(&types).iter().map(|(g, v)| api_group(g, v)).collect::<Vec<_>>()})
    };
    respond::object(StatusCode::OK, &doc, enc, &[])
}

fn aggregated_response(doc: &Value, version: &str, headers: &HeaderMap, enc: Encoding) -> Response {
    let body = respond::encode(doc, enc);
    let etag = format!("\"{}\"", hex_upper(&sha2::Sha512::digest(&body)));
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut resp = if not_modified {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::from(body));
        if let Ok(ct) = HeaderValue::from_str(&format!(
            "application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
        )) {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public"));
    if let Ok(e) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, e);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

pub fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// `/apis/<group>`.
pub fn group(state: &ClusterState, group: &str, enc: Encoding) -> Result<Response, ApiError> {
    let types = state.resource_types();
    let (g, versions) = groups(&types)
        .into_iter()
        .find(|(g, _)| g == group)
        .ok_or(ApiError::PageNotFound)?;
    let mut doc = json!({"kind": "APIGroup", "apiVersion": "v1"});
    if let (Some(m), Value::Object(rest)) = (doc.as_object_mut(), api_group(&g, &versions)) {
        m.extend(rest);
    }
    Ok(respond::object(StatusCode::OK, &doc, enc, &[]))
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(
    state: &ClusterState,
    group: &str,
    version: &str,
    enc: Encoding,
) -> Result<Response, ApiError> {
    let types: Vec<Arc<ResourceType>> = state
        .resource_types()
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if types.is_empty() {
        return Err(ApiError::PageNotFound);
    }
    let mut resources = Vec::new();
    let mut sorted = types.clone();
    sorted.sort_by(|a, b| a.plural.cmp(&b.plural));
    for rt in &sorted {
        let mut m = Map::new();
        m.insert("name".into(), json!(rt.plural));
        m.insert("singularName".into(), json!(rt.singular));
        m.insert("namespaced".into(), json!(rt.namespaced));
        m.insert("kind".into(), json!(rt.kind));
        m.insert("verbs".into(), strings(&rt.verbs));
        if !rt.short_names.is_empty() {
            m.insert("shortNames".into(), strings(&rt.short_names));
        }
        if !rt.categories.is_empty() {
            m.insert("categories".into(), strings(&rt.categories));
        }
        m.insert(
            "storageVersionHash".into(),
            json!(rt.storage_version_hash()),
        );
        resources.push(Value::Object(m));
        if rt.status_subresource {
            resources.push(
                json!({"name": format!("{}/status", rt.plural), "singularName": "",
                "namespaced": rt.namespaced, "kind": rt.kind, "verbs": ["get", "patch", "update"]}),
            );
        }
    }
    let doc = if group.is_empty() {
        json!({"kind": "APIResourceList", "groupVersion": version, "resources": resources})
    } else {
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/{version}"), "resources": resources})
    };
    Ok(respond::object(StatusCode::OK, &doc, enc, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_kubernetes_priority() {
        let mut v = vec!["v1alpha1", "v2", "v1beta1", "v1"];
        v.sort_by(|a, b| compare_versions(b, a));
        assert_eq!(v, ["v2", "v1", "v1beta1", "v1alpha1"]);
    }
}
