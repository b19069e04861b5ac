//! Encoding answers as the apiserver does: compact JSON with a trailing newline for API clients,
//! indented JSON for curl or `?pretty=true`, YAML on request, `metav1.Status` for every error,
//! and content negotiation of the `Accept` header (Table, PartialObjectMetadata).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use protect_lab_apimachinery::status;
use serde_json::{Value, json};

use crate::registry::ResourceType;

/// A failed request: a `metav1.Status` body (its `code` is the HTTP status), or the mux's
/// plain-text `404 page not found` for paths no handler serves.
#[derive(Debug, Clone)]
pub enum ApiError {
    Status { body: Value, warnings: Vec<String> },
    PageNotFound,
}

impl ApiError {
    pub fn status(body: Value) -> Self {
        ApiError::Status {
            body,
            warnings: Vec::new(),
        }
    }

    pub fn bad_request(message: &str) -> Self {
        Self::status(status::failure(400, Some("BadRequest"), message))
    }

    pub fn with_warnings(self, warnings: Vec<String>) -> Self {
        match self {
            ApiError::Status { body, .. } => ApiError::Status { body, warnings },
            other => other,
        }
    }

    /// Puts warnings given earlier in the request before this error's own.
    pub fn after_warnings(self, earlier: &[String]) -> Self {
        match self {
            ApiError::Status { body, warnings } => ApiError::Status {
                body,
                warnings: earlier.iter().cloned().chain(warnings).collect(),
            },
            other => other,
        }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiError::Status { body, .. } => body["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500),
            ApiError::PageNotFound => 404,
        }
    }
}

/// Adds `details` to a Status built by `status::failure`, keeping Go struct order (details
/// precede code).
pub fn with_details(mut body: Value, details: Value) -> Value {
    if let Some(map) = body.as_object_mut() {
        let code = map.shift_remove("code");
        map.insert("details".into(), details);
        if let Some(code) = code {
            map.insert("code".into(), code);
        }
    }
    body
}

/// `status::Target` for a resource type and name.
pub fn target<'a>(rt: &'a ResourceType, name: &'a str) -> status::Target<'a> {
    status::Target {
        resource: &rt.plural,
        group: &rt.group,
        kind: &rt.kind,
        name,
    }
}

/// What the client asked to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Json,
    Yaml,
    Table,
    PartialObjectMetadata,
    PartialObjectMetadataList,
}

/// How to encode a response body.
#[derive(Debug, Clone, Copy)]
pub struct Encoding {
    pub pretty: bool,
    pub yaml: bool,
}

/// One media range of an Accept header: type and parameters.
#[derive(Debug)]
pub struct MediaRange {
    pub mime: String,
    pub params: Vec<(String, String)>,
}

impl MediaRange {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub fn parse_accept(accept: &str) -> Vec<MediaRange> {
    accept
        .split(',')
        .map(|clause| {
            let mut parts = clause.split(';').map(str::trim);
            let mime = parts.next().unwrap_or_default().to_ascii_lowercase();
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                .collect();
            MediaRange { mime, params }
        })
        .filter(|m| !m.mime.is_empty())
        .collect()
}

fn is_json(mime: &str) -> bool {
    matches!(mime, "application/json" | "*/*" | "application/*")
}

/// Negotiates what a resource endpoint answers. `None`: nothing acceptable (406).
pub fn negotiate(headers: &HeaderMap) -> Option<Want> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Want::Json);
    };
    if accept.trim().is_empty() {
        return Some(Want::Json);
    }
    for range in parse_accept(accept) {
        if range.mime == "application/yaml" && range.param("as").is_none() {
            return Some(Want::Yaml);
        }
        if !is_json(&range.mime) {
            continue;
        }
        match (range.param("as"), range.param("g"), range.param("v")) {
            (None, _, _) => return Some(Want::Json),
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Some(Want::Table);
            }
            (Some("PartialObjectMetadata"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Some(Want::PartialObjectMetadata);
            }
            (Some("PartialObjectMetadataList"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Some(Want::PartialObjectMetadataList);
            }
            _ => continue,
        }
    }
    None
}

/// The 406 for an Accept header the lab cannot satisfy. Upstream encodes this Status in
/// protobuf when only protobuf was asked for (21b-accept-protobuf-only-406.http); the lab has no
/// protobuf encoder, so it answers the same Status as JSON, which clients accept for errors.
pub fn not_acceptable() -> ApiError {
    ApiError::status(status::failure(
        406,
        Some("NotAcceptable"),
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
    ))
}

/// Whether the apiserver would indent its JSON: `?pretty=true`, or a User-Agent of curl,
/// Wget or a browser (00-curl-user-agent-pretty-print.http).
pub fn wants_pretty(headers: &HeaderMap, query: &[(String, String)]) -> bool {
    if let Some((_, v)) = query.iter().find(|(k, _)| k == "pretty") {
        return v == "true" || v == "1";
    }
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ua.starts_with("curl") || ua.starts_with("Wget") || ua.starts_with("Mozilla/5.0")
}

/// Serializes a body: compact JSON plus a newline (Go's json.Encoder), indented JSON without
/// one, or YAML.
pub fn encode(value: &Value, enc: Encoding) -> Vec<u8> {
    if enc.yaml {
        return serde_saphyr::to_string(value)
            .unwrap_or_default()
            .into_bytes();
    }
    if enc.pretty {
        return serde_json::to_vec_pretty(value).unwrap_or_default();
    }
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Go's `Warning` header value for a message: `299 - "<escaped>"`.
pub fn warning_header(message: &str) -> String {
    let escaped = message.replace('\\', "\\\\").replace('"', "\\\"");
    format!("299 - \"{escaped}\"")
}

/// A JSON (or YAML) answer with the apiserver's headers.
pub fn object(code: StatusCode, value: &Value, enc: Encoding, warnings: &[String]) -> Response {
    let content_type = if enc.yaml {
        "application/yaml"
    } else {
        "application/json"
    };
    let mut resp = Response::new(Body::from(encode(value, enc)));
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&warning_header(w)) {
            h.append(header::WARNING, v);
        }
    }
    resp
}

/// The answer to a failed request.
pub fn error(err: ApiError, enc: Encoding) -> Response {
    match err {
        ApiError::PageNotFound => page_not_found(),
        ApiError::Status { body, warnings } => {
            let code = StatusCode::from_u16(
                body["code"]
                    .as_u64()
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(500),
            )
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            object(code, &body, Encoding { yaml: false, ..enc }, &warnings)
        }
    }
}

/// Go's `http.NotFound`: `text/plain` `404 page not found` (20-err-unknown-resource-404.http).
pub fn page_not_found() -> Response {
    let mut resp = Response::new(Body::from("404 page not found\n"));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The 405 for a verb a resource does not support (14b-err-post-status-405.http).
pub fn method_not_allowed(verb: &str, rt: &ResourceType) -> ApiError {
    let body = status::failure(
        405,
        Some("MethodNotAllowed"),
        &format!(
            "{verb} is not supported on resources of kind \"{}\"",
            rt.qualified_resource()
        ),
    );
    ApiError::status(with_details(
        body,
        json!({"group": rt.group, "kind": rt.plural}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn kubectl_get_negotiates_a_table() {
        // 07-pr-list-table.http
        let h = accept(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        assert_eq!(negotiate(&h), Some(Want::Table));
    }

    #[test]
    fn protobuf_only_is_not_acceptable_but_protobuf_then_json_is_json() {
        // 21b-accept-protobuf-only-406.http
        assert_eq!(
            negotiate(&accept("application/vnd.kubernetes.protobuf")),
            None
        );
        assert_eq!(
            negotiate(&accept(
                "application/vnd.kubernetes.protobuf,application/json"
            )),
            Some(Want::Json)
        );
    }

    #[test]
    fn warnings_are_quoted_like_go() {
        // 16b-unknown-field-warn-201.http
        assert_eq!(
            warning_header("unknown field \"spec.bogusField\""),
            r#"299 - "unknown field \"spec.bogusField\"""#
        );
    }
}
