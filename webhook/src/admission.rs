//! The AdmissionReview wire format (admission.k8s.io/v1): reading a review defensively and
//! writing the answer exactly as kube-apiserver expects it.
//!
//! A well-formed review is read in two passes that build no tree, its objects kept as their
//! JSON text ([`ObjectJson`]) for each rule to read what it needs. Any other body is parsed by
//! hand from a `serde_json::Value` so that a malformed review still yields its `uid` when it has
//! one: the apiserver can then show our message instead of a decoding failure. The response
//! side is our own type because the shape matters: no `patch` or `patchType` unless there is a
//! patch, no `status` on an allowed review, `warnings` only when there are some.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `apiVersion` of the only AdmissionReview version served.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// `kind` of an AdmissionReview.
pub const KIND: &str = "AdmissionReview";

/// The operation under review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// A create (including server-side apply that creates).
    Create,
    /// An update or patch.
    Update,
    /// A delete.
    Delete,
    /// A connect (exec, proxy, …); not used for our kinds.
    Connect,
}

impl Operation {
    /// The wire spelling, also used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// `group`, `version`, `kind` of the object under review.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct GroupVersionKind {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
}

/// The part of `request` this webhook reads.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Echoed in the response.
    pub uid: String,
    /// Kind of the object.
    pub kind: GroupVersionKind,
    /// Subresource (`status`) when the write targets one.
    #[serde(default)]
    pub sub_resource: Option<String>,
    /// Object name; empty on a create with `generateName`.
    #[serde(default)]
    pub name: String,
    /// Object namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The operation.
    pub operation: Operation,
    /// The new object (null on DELETE).
    #[serde(default)]
    pub object: Option<ObjectJson>,
    /// The old object (null on CREATE).
    #[serde(default)]
    pub old_object: Option<ObjectJson>,
    /// A dry run: no side effects (this webhook has none anyway).
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// An object of a review (`object`, `oldObject`) as the JSON text the apiserver sent. Each
/// rule reads what it needs from it — a typed struct, or a `Value` — so that no review pays to
/// build parts that no rule reads.
///
/// The text always reads as a `Value`: the fast path checks the whole body as `Value` would,
/// and the `Value` path writes the text from a `Value`.
#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct ObjectJson(Box<serde_json::value::RawValue>);

impl ObjectJson {
    /// The JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// Read the object into `T`.
    ///
    /// # Errors
    /// When the object does not have the shape of `T`.
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// The object as a `Value`, for the rules that read it field by field.
    ///
    /// # Errors
    /// Never for an object of a parsed review (see the type's documentation).
    pub fn value(&self) -> Result<Value, serde_json::Error> {
        self.decode()
    }
}

/// Two objects are equal when they are the same JSON value, however written.
impl PartialEq for ObjectJson {
    fn eq(&self, other: &Self) -> bool {
        match (self.value(), other.value()) {
            (Ok(a), Ok(b)) => a == b,
            _ => self.text() == other.text(),
        }
    }
}

impl AdmissionRequest {
    /// `namespace/name`, or just the name for cluster-scoped objects, for messages.
    pub fn object_ref(&self) -> String {
        // Only a create with generateName has no name (rare): read the object for it then.
        let object;
        let name = if self.name.is_empty() {
            object = self.object.as_ref().and_then(|o| o.value().ok());
            object
                .as_ref()
                .and_then(|o| {
                    o.pointer("/metadata/name")
                        .or(o.pointer("/metadata/generateName"))
                })
                .and_then(Value::as_str)
                .unwrap_or("")
        } else {
            &self.name
        };
        match self.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
            _ => name.to_owned(),
        }
    }
}

/// Why a body is not a usable AdmissionReview.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// The body is not JSON (or is truncated).
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON but not an object.
    #[error("the request body is not a JSON object; expected an AdmissionReview")]
    NotAnObject,
    /// `apiVersion` is not admission.k8s.io/v1.
    #[error(
        "unsupported AdmissionReview apiVersion {0:?}; this webhook serves only admission.k8s.io/v1 (set admissionReviewVersions: [v1])"
    )]
    WrongApiVersion(String),
    /// `kind` is not AdmissionReview.
    #[error("expected kind AdmissionReview, got {0:?}")]
    WrongKind(String),
    /// No `request` in the review.
    #[error("the AdmissionReview has no request")]
    MissingRequest,
    /// `request` is present but does not have the required fields or types.
    #[error("the AdmissionReview request is invalid: {0}")]
    InvalidRequest(String),
}

impl ReviewError {
    /// Stable name for metric labels (never the message).
    pub fn label(&self) -> &'static str {
        match self {
            ReviewError::MalformedJson(_) => "MalformedJson",
            ReviewError::NotAnObject => "NotAnObject",
            ReviewError::WrongApiVersion(_) => "WrongApiVersion",
            ReviewError::WrongKind(_) => "WrongKind",
            ReviewError::MissingRequest => "MissingRequest",
            ReviewError::InvalidRequest(_) => "InvalidRequest",
        }
    }
}

/// A review that could not be read, with the uid when the body revealed one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableReview {
    /// `request.uid`, when it was a string.
    pub uid: Option<String>,
    /// What is wrong.
    pub error: ReviewError,
}

/// Read an AdmissionReview body. Never panics, whatever the bytes.
///
/// A well-formed review (what an apiserver sends) is read straight into [`AdmissionRequest`];
/// anything else takes the path through `serde_json::Value` that finds the uid and names what
/// is wrong. Both paths accept exactly the same bodies with the same result.
///
/// # Errors
/// [`UnreadableReview`] naming what is wrong, with the uid when one could be found.
pub fn parse_review(body: &[u8]) -> Result<AdmissionRequest, UnreadableReview> {
    match parse_well_formed(body) {
        Some(request) => Ok(request),
        None => parse_review_through_value(body),
    }
}

/// Any JSON value, checked as `serde_json::Value` would read it — every string decoded and
/// checked (UTF-8, escapes, surrogate pairs), every number range-checked, the same depth
/// limit — with nothing built: reading a body into `Checked` succeeds exactly when reading it
/// into a `Value` does.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

/// `T` read only from a JSON object: serde's derive also reads a struct from an array, which a
/// reading that looks at an object's fields (as `Value`-based code does) would not.
pub(crate) struct ObjectOnly<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
            type Value = ObjectOnly<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ObjectOnly)
            }
        }
        deserializer.deserialize_map(Fields(std::marker::PhantomData))
    }
}

/// The fast path: `None` unless the body is a JSON object that `serde_json::Value` would
/// accept, with apiVersion admission.k8s.io/v1, kind AdmissionReview and a request with a
/// non-empty uid, holding only the fields of admission.k8s.io/v1 — each once (the `Value` path
/// keeps the last of a duplicate) and each an object where one belongs.
///
/// One pass over the review builds no tree: the fields no rule reads are checked as `Value`
/// would check them ([`Checked`]) and dropped; the objects are kept as their JSON text and then
/// checked the same way. UTF-8 is checked once for the whole body.
fn parse_well_formed(body: &[u8]) -> Option<AdmissionRequest> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct WellFormed<'a> {
        #[serde(borrow)]
        api_version: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        kind: std::borrow::Cow<'a, str>,
        request: ObjectOnly<FastRequest>,
    }
    /// [`AdmissionRequest`] with every other field an apiserver sends.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct FastRequest {
        uid: String,
        kind: ObjectOnly<FastKind>,
        #[serde(default)]
        sub_resource: Option<String>,
        #[serde(default)]
        name: String,
        #[serde(default)]
        namespace: Option<String>,
        operation: Operation,
        #[serde(default)]
        object: Option<ObjectJson>,
        #[serde(default)]
        old_object: Option<ObjectJson>,
        #[serde(default)]
        dry_run: Option<bool>,
        // Read by no rule: checked, then dropped.
        #[serde(default, rename = "resource")]
        _resource: Option<Checked>,
        #[serde(default, rename = "requestKind")]
        _request_kind: Option<Checked>,
        #[serde(default, rename = "requestResource")]
        _request_resource: Option<Checked>,
        #[serde(default, rename = "requestSubResource")]
        _request_sub_resource: Option<Checked>,
        #[serde(default, rename = "userInfo")]
        _user_info: Option<Checked>,
        #[serde(default, rename = "options")]
        _options: Option<Checked>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FastKind {
        #[serde(default)]
        group: String,
        #[serde(default)]
        version: String,
        kind: String,
    }
    // Only a JSON object is a review (the `Value` path calls anything else NotAnObject).
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    // UTF-8 checked once for the whole body, not string by string: bytes that are not UTF-8
    // can only be inside a string in a body `Value` reads, which it refuses.
    let body = std::str::from_utf8(body).ok()?;
    let review: WellFormed<'_> = serde_json::from_str(body).ok()?;
    let ObjectOnly(request) = review.request;
    if review.api_version != API_VERSION || review.kind != KIND || request.uid.is_empty() {
        return None;
    }
    // The objects were skipped over, which checks their syntax only: check them as `Value`
    // would, at the depth they have in the body (in the review, in its request).
    for object in [&request.object, &request.old_object].into_iter().flatten() {
        serde_json::from_str::<Checked>(&format!("[[{}]]", object.text())).ok()?;
    }
    let ObjectOnly(FastKind {
        group,
        version,
        kind,
    }) = request.kind;
    // A struct literal, so that a field added to AdmissionRequest must be added here too.
    Some(AdmissionRequest {
        uid: request.uid,
        kind: GroupVersionKind {
            group,
            version,
            kind,
        },
        sub_resource: request.sub_resource,
        name: request.name,
        namespace: request.namespace,
        operation: request.operation,
        object: request.object,
        old_object: request.old_object,
        dry_run: request.dry_run,
    })
}

/// [`parse_review`] through `serde_json::Value`: every body, with the reason it is unreadable.
pub(crate) fn parse_review_through_value(
    body: &[u8],
) -> Result<AdmissionRequest, UnreadableReview> {
    let fail = |uid: Option<String>, error| UnreadableReview { uid, error };
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| fail(None, ReviewError::MalformedJson(e.to_string())))?;
    let Value::Object(mut review) = value else {
        return Err(fail(None, ReviewError::NotAnObject));
    };
    let uid = review
        .get("request")
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
        .filter(|uid| !uid.is_empty())
        .map(str::to_owned);
    match review.get("apiVersion") {
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(Value::String(v)) => return Err(fail(uid, ReviewError::WrongApiVersion(v.clone()))),
        other => {
            return Err(fail(
                uid,
                ReviewError::WrongApiVersion(other.map(Value::to_string).unwrap_or_default()),
            ));
        }
    }
    match review.get("kind") {
        Some(Value::String(k)) if k == KIND => {}
        other => {
            let got = match other {
                Some(Value::String(k)) => k.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            return Err(fail(uid, ReviewError::WrongKind(got)));
        }
    }
    let request = match review.remove("request") {
        None | Some(Value::Null) => return Err(fail(uid, ReviewError::MissingRequest)),
        Some(request) => request,
    };
    let request: AdmissionRequest = serde_json::from_value(request)
        .map_err(|e| fail(uid.clone(), ReviewError::InvalidRequest(e.to_string())))?;
    if request.uid.is_empty() {
        return Err(fail(
            None,
            ReviewError::InvalidRequest("request.uid is empty".to_owned()),
        ));
    }
    Ok(request)
}

/// Why a review was denied, as the apiserver shows it (`Status` subset).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DenialStatus {
    /// HTTP code the apiserver answers the client with; 400 when we leave it to the default
    /// would also work, but being explicit keeps kubectl's line stable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Machine-readable reason (`Forbidden`, `BadRequest`, …); kubectl prints it in parentheses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The message kubectl prints after `denied the request: `.
    pub message: String,
}

/// `response` of an AdmissionReview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The request's uid.
    pub uid: String,
    /// The verdict.
    pub allowed: bool,
    /// Why it was denied; absent when allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<DenialStatus>,
    /// Base64 of an RFC 6902 patch; absent when there is nothing to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// `JSONPatch` exactly when `patch` is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// Soft concerns shown by kubectl as `Warning: …`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl AdmissionResponse {
    /// Allow, with nothing to change.
    pub fn allow(uid: impl Into<String>) -> Self {
        Self {
            uid: uid.into(),
            allowed: true,
            status: None,
            patch: None,
            patch_type: None,
            warnings: Vec::new(),
        }
    }

    /// Deny with `message` (code 403 Forbidden: the object is well-formed but not admissible).
    pub fn deny(uid: impl Into<String>, message: impl Into<String>) -> Self {
        Self::deny_with(uid, 403, "Forbidden", message)
    }

    /// Deny with an explicit code and reason.
    pub fn deny_with(
        uid: impl Into<String>,
        code: u16,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status: Some(DenialStatus {
                code: Some(code),
                reason: Some(reason.to_owned()),
                message: message.into(),
            }),
            allowed: false,
            ..Self::allow(uid)
        }
    }

    /// Attach an RFC 6902 patch; an empty patch attaches nothing, so an object that needs no
    /// change gets no `patch` field at all.
    #[must_use]
    pub fn with_patch(mut self, patch: &json_patch::Patch) -> Self {
        if patch.0.is_empty() {
            return self;
        }
        // Serializing a Patch of string paths and JSON values cannot fail; should it ever,
        // answering without a patch is safer than a panic (validation still runs).
        if let Ok(bytes) = serde_json::to_vec(patch) {
            self.patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
            self.patch_type = Some("JSONPatch");
        }
        self
    }

    /// Attach warnings.
    #[must_use]
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    /// The full AdmissionReview carrying this response, as the JSON sent to the apiserver.
    pub fn review_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Review<'a> {
            api_version: &'static str,
            kind: &'static str,
            response: &'a AdmissionResponse,
        }
        // Writing strings, booleans and numbers to memory cannot fail; should it ever, an
        // empty body is refused by the apiserver as a failed call (failurePolicy applies).
        serde_json::to_vec(&Review {
            api_version: API_VERSION,
            kind: KIND,
            response: self,
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reviews_the_apiserver_sends_take_the_fast_path() {
        for (file, n) in [
            ("68a-admreview-create.txt", 0),
            ("68a-admreview-create.txt", 1),
            ("68b-admreview-update-merge-patch.txt", 0),
            ("68d-admreview-status-update.txt", 0),
            ("68e-admreview-delete.txt", 0),
        ] {
            let body = crate::fixtures::captured(file, n);
            let fast = parse_well_formed(&body);
            assert!(fast.is_some(), "{file} #{n} fell back to the Value path");
            assert_eq!(
                fast.map(Ok),
                Some(parse_review_through_value(&body)),
                "{file} #{n}"
            );
        }
    }

    #[test]
    fn objects_are_kept_as_sent_and_equal_when_they_are_the_same_json() {
        let object = |text: &str| serde_json::from_str::<ObjectJson>(text).unwrap();
        let sent = object(r#"{ "metadata": {"name": "a"}, "n": 1.5e-3 }"#);
        assert_eq!(sent.text(), r#"{ "metadata": {"name": "a"}, "n": 1.5e-3 }"#);
        assert_eq!(sent, object(r#"{"n":0.0015,"metadata":{"name":"a"}}"#));
        assert_ne!(sent, object(r#"{"metadata":{"name":"b"},"n":0.0015}"#));
        assert_eq!(
            sent.value().unwrap(),
            serde_json::json!({"metadata": {"name": "a"}, "n": 0.0015})
        );
        // The `Value` path writes the object from its `Value`.
        let through_value: AdmissionRequest = serde_json::from_value(serde_json::json!({
            "uid": "u", "kind": {"kind": "X"}, "operation": "CREATE",
            "object": {"metadata": {"name": "a"}, "n": 0.0015}}))
        .unwrap();
        assert_eq!(through_value.object, Some(sent));
    }

    #[test]
    fn a_truncated_body_is_malformed_json_without_uid() {
        let err = parse_review(br#"{"kind":"AdmissionReview","request":{"uid":"abc""#).unwrap_err();
        assert_eq!(err.uid, None);
        assert!(matches!(err.error, ReviewError::MalformedJson(_)));
    }

    #[test]
    fn a_v1beta1_review_is_refused_with_its_uid() {
        let err = parse_review(
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u1"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.uid.as_deref(), Some("u1"));
        assert_eq!(
            err.error,
            ReviewError::WrongApiVersion("admission.k8s.io/v1beta1".into())
        );
    }

    #[test]
    fn a_request_missing_its_operation_is_invalid_but_keeps_its_uid() {
        let err = parse_review(
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u2","kind":{"kind":"X"}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.uid.as_deref(), Some("u2"));
        assert!(matches!(err.error, ReviewError::InvalidRequest(_)));
    }

    #[test]
    fn an_allowed_response_without_patch_has_no_patch_status_or_warnings_fields() {
        let review = AdmissionResponse::allow("u")
            .with_patch(&json_patch::Patch(vec![]))
            .review_json();
        assert_eq!(
            serde_json::from_slice::<Value>(&review).unwrap(),
            serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": "u", "allowed": true}})
        );
    }
}
