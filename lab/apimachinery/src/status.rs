//! `metav1.Status` errors with upstream reasons, codes and wording. Built-in kinds are written
//! in Go struct order (`kind, apiVersion, metadata, status, message, reason, details, code`).
//!
//! Upstream: `k8s.io/apimachinery/pkg/api/errors/errors.go` (`NewNotFound`, `NewAlreadyExists`,
//! `NewConflict`, `NewInvalid`, `NewBadRequest`, `NewMethodNotSupported`, `NewInternalError`,
//! `NewApplyConflict`, …) and `pkg/apis/meta/v1/types.go` (`Status`, `StatusDetails`,
//! `StatusCause`, every field `omitempty` except `metadata`).

use serde_json::{Map, Value, json};

use crate::schema::FieldError;

/// Names a resource as error messages do: plural resource, group (empty for core), object name.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub resource: &'a str,
    pub group: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
}

impl Target<'_> {
    /// `schema.GroupResource.String()`: `protectionrequests.siterecovery.trilio.io`, or just
    /// the resource for the core group.
    pub fn group_resource(&self) -> String {
        qualify(self.resource, self.group)
    }

    /// `schema.GroupKind.String()`: `ProtectionRequest.siterecovery.trilio.io`, or just the
    /// kind for the core group.
    pub fn group_kind(&self) -> String {
        qualify(self.kind, self.group)
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

/// Go's `%q` (`strconv.Quote`) of a string: double quotes, `\"`, `\\`, and escapes for
/// non-printable characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `metav1.StatusDetails` in Go struct order (`name, group, kind, uid, causes,
/// retryAfterSeconds`), every field omitted when empty.
fn details(name: &str, group: &str, kind: &str, uid: &str, causes: Vec<Value>) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        d.insert("kind".into(), json!(kind));
    }
    if !uid.is_empty() {
        d.insert("uid".into(), json!(uid));
    }
    if !causes.is_empty() {
        d.insert("causes".into(), Value::Array(causes));
    }
    Value::Object(d)
}

/// `metav1.StatusCause` in Go struct order (`reason, message, field`), omitting empty ones.
fn cause(reason: &str, message: &str, field: &str) -> Value {
    let mut c = Map::new();
    if !reason.is_empty() {
        c.insert("reason".into(), json!(reason));
    }
    if !message.is_empty() {
        c.insert("message".into(), json!(message));
    }
    if !field.is_empty() {
        c.insert("field".into(), json!(field));
    }
    Value::Object(c)
}

/// The general builder: a Failure `Status` with optional reason and details, in Go order.
pub fn failure_with_details(
    code: u16,
    reason: Option<&str>,
    message: &str,
    details: Option<Value>,
) -> Value {
    let mut s = Map::new();
    s.insert("kind".into(), json!("Status"));
    s.insert("apiVersion".into(), json!("v1"));
    s.insert("metadata".into(), json!({}));
    s.insert("status".into(), json!("Failure"));
    if !message.is_empty() {
        s.insert("message".into(), json!(message));
    }
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        s.insert("reason".into(), json!(reason));
    }
    if let Some(details) = details {
        s.insert("details".into(), details);
    }
    if code != 0 {
        s.insert("code".into(), json!(code));
    }
    Value::Object(s)
}

/// 404 `protectionrequests.siterecovery.trilio.io "x" not found` (details.kind is the plural).
// corpus 10-err-get-missing-404.http; errors.go NewNotFound(qualifiedResource, name)
pub fn not_found(target: Target<'_>) -> Value {
    failure_with_details(
        404,
        Some("NotFound"),
        &format!(
            "{} {} not found",
            target.group_resource(),
            go_quote(target.name)
        ),
        Some(details(
            target.name,
            target.group,
            target.resource,
            "",
            vec![],
        )),
    )
}

/// 409 `… "x" already exists`.
// corpus 11-err-post-duplicate-409.http; errors.go NewAlreadyExists(qualifiedResource, name)
pub fn already_exists(target: Target<'_>) -> Value {
    failure_with_details(
        409,
        Some("AlreadyExists"),
        &format!(
            "{} {} already exists",
            target.group_resource(),
            go_quote(target.name)
        ),
        Some(details(
            target.name,
            target.group,
            target.resource,
            "",
            vec![],
        )),
    )
}

/// The message of an optimistic-concurrency conflict (`registry.OptimisticLockErrorMsg`).
pub const OPTIMISTIC_LOCK_ERROR_MSG: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// 409 `Operation cannot be fulfilled on … "x": the object has been modified; …`.
// corpus 12-err-put-stale-rv-409.http; errors.go NewConflict(qualifiedResource, name, err)
pub fn conflict(target: Target<'_>) -> Value {
    conflict_with(target, OPTIMISTIC_LOCK_ERROR_MSG)
}

/// 409 `Operation cannot be fulfilled on <resource.group> "x": <reason>` (NewConflict with
/// any error text), details.kind the plural resource.
pub fn conflict_with(target: Target<'_>, reason_text: &str) -> Value {
    failure_with_details(
        409,
        Some("Conflict"),
        &format!(
            "Operation cannot be fulfilled on {} {}: {}",
            target.group_resource(),
            go_quote(target.name),
            reason_text
        ),
        Some(details(
            target.name,
            target.group,
            target.resource,
            "",
            vec![],
        )),
    )
}

/// 409 for a DELETE whose `preconditions.resourceVersion` is stale. The registry passes the
/// Kind (not the resource) as the "resource", so the message and details name
/// `ProtectionRequest.siterecovery.trilio.io`.
// corpus 45c-delete-with-preconditions.http; staging/src/k8s.io/apiserver/pkg/registry/generic/
// registry/store.go deleteWithoutFinalizers / storage.NewResourceVersionConflictsError
pub fn precondition_resource_version_conflict(
    target: Target<'_>,
    precondition_rv: &str,
    record_rv: &str,
) -> Value {
    let kind_target = Target {
        resource: target.kind,
        ..target
    };
    conflict_with(
        kind_target,
        &format!(
            "the ResourceVersion in the precondition ({precondition_rv}) does not match the \
             ResourceVersion in record ({record_rv}). The object might have been modified"
        ),
    )
}

/// 409 for a stale `preconditions.uid` (storage `NewInvalidObjError` text wrapped in
/// NewConflict, as the registry does).
pub fn precondition_uid_conflict(target: Target<'_>, precondition_uid: &str, uid: &str) -> Value {
    let kind_target = Target {
        resource: target.kind,
        ..target
    };
    conflict_with(
        kind_target,
        &format!(
            "Precondition failed: UID in precondition: {precondition_uid}, UID in object meta: {uid}"
        ),
    )
}

/// `field.ErrorList.ToAggregate().Error()`: one message alone, several as `[a, b]`, identical
/// messages printed once (k8s.io/apimachinery/pkg/util/errors/errors.go aggregate.Error).
pub fn aggregate_message(errors: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let msg = e.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    if seen.len() == 1 {
        seen.remove(0)
    } else {
        format!("[{}]", seen.join(", "))
    }
}

/// 422 `Kind.group "x" is invalid: …` with one cause per error (details.kind is the Kind).
// corpus 13, 14, 15, 19, 42; errors.go NewInvalid(qualifiedKind, name, errs)
pub fn invalid(target: Target<'_>, errors: &[FieldError]) -> Value {
    invalid_kind(target.group, target.kind, target.name, errors)
}

/// `NewInvalid` for any GroupKind: `invalid_kind("meta.k8s.io", "CreateOptions", "", …)` gives
/// 16f's `CreateOptions.meta.k8s.io "" is invalid: …`; passing the plural resource as `kind`
/// gives 12b's `protectionrequests.siterecovery.trilio.io "pr2" is invalid: …` (the CR update
/// path reports the resource there).
pub fn invalid_kind(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Value {
    let causes = errors
        .iter()
        .map(|e| cause(e.reason, &e.message, &e.field))
        .collect();
    let qualified = qualify(kind, group);
    let message = if errors.is_empty() {
        format!("{qualified} {} is invalid", go_quote(name))
    } else {
        format!(
            "{qualified} {} is invalid: {}",
            go_quote(name),
            aggregate_message(errors)
        )
    };
    failure_with_details(
        422,
        Some("Invalid"),
        &message,
        Some(details(name, group, kind, "", causes)),
    )
}

/// Any other failure: `code`, `reason` (None = omitted, as for webhook denials without a
/// code), and the message.
// corpus 65-webhook-deny-no-code.http (no reason), 18 (BadRequest)
pub fn failure(code: u16, reason: Option<&str>, message: &str) -> Value {
    failure_with_details(code, reason, message, None)
}

/// 200 `Status` Success, as a DELETE without finalizers answers.
// corpus 45-delete-no-finalizer.http, 45d-delete-dryrun.http
pub fn success(target: Target<'_>, uid: &str) -> Value {
    let mut s = Map::new();
    s.insert("kind".into(), json!("Status"));
    s.insert("apiVersion".into(), json!("v1"));
    s.insert("metadata".into(), json!({}));
    s.insert("status".into(), json!("Success"));
    s.insert(
        "details".into(),
        details(target.name, target.group, target.resource, uid, vec![]),
    );
    Value::Object(s)
}

/// 400 BadRequest with `message` (`errors.NewBadRequest`).
pub fn bad_request(message: &str) -> Value {
    failure(400, Some("BadRequest"), message)
}

/// 400 `the name of the object (pr2) does not match the name on the URL (pr1)`.
// corpus 12c-put-name-mismatch.http; handlers/rest.go checkName
pub fn name_mismatch(body_name: &str, url_name: &str) -> Value {
    bad_request(&format!(
        "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
    ))
}

/// 400 `the namespace of the provided object does not match the namespace sent on the request`.
// corpus 19-err-malformed-json-400.http; rest.EnsureObjectNamespaceMatchesRequestNamespace
pub fn namespace_mismatch() -> Value {
    bad_request(
        "the namespace of the provided object does not match the namespace sent on the request",
    )
}

/// 400 `the API version in the data (…) does not match the expected API version (…)`.
// corpus 19-err-malformed-json-400.http
pub fn api_version_mismatch(got: &str, expected: &str) -> Value {
    bad_request(&format!(
        "the API version in the data ({got}) does not match the expected API version ({expected})"
    ))
}

/// 400 for a body that is not a decodable object: `the object provided is unrecognized (must
/// be of type Kind): <err> (<first 30 bytes> ...)`. `decode_error` is the Go-side error, e.g.
/// `couldn't get version/kind; json parse error: unexpected end of JSON input`; see
/// [`go_json_parse_error`].
// corpus 19; handlers/create.go transformDecodeError + summarizeData(body, 30)
pub fn unrecognized_object(kind: &str, decode_error: &str, body: &[u8]) -> Value {
    let summary = if body.is_empty() {
        "<empty>".to_string()
    } else if body.len() > 30 {
        format!("{} ...", String::from_utf8_lossy(&body[..30]))
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    bad_request(&format!(
        "the object provided is unrecognized (must be of type {kind}): {decode_error} ({summary})"
    ))
}

/// The error text Go's `encoding/json` gives for a body serde_json could not parse, as far as
/// it can be mapped: truncated input is `unexpected end of JSON input`; other syntax errors
/// become `invalid character …` forms approximately.
pub fn go_json_parse_error(body: &[u8]) -> String {
    let err = match serde_json::from_slice::<Value>(body) {
        Ok(_) => return String::new(),
        Err(e) => e,
    };
    let text = if err.is_eof() {
        "unexpected end of JSON input".to_string()
    } else {
        // Go: `invalid character 'x' looking for beginning of value`; find the offending byte.
        let line = err.line();
        let column = err.column();
        let offset = body
            .split(|b| *b == b'\n')
            .take(line.saturating_sub(1))
            .map(|l| l.len() + 1)
            .sum::<usize>()
            + column.saturating_sub(1);
        match body.get(offset) {
            Some(b) => format!(
                "invalid character '{}' looking for beginning of value",
                char::from(*b)
            ),
            None => "unexpected end of JSON input".to_string(),
        }
    };
    format!("couldn't get version/kind; json parse error: {text}")
}

/// 400 for a strict-decoding failure (`fieldValidation=Strict`): `ProtectionRequest in version
/// "v1alpha1" cannot be handled as a ProtectionRequest: strict decoding error: unknown field
/// "spec.bogusField", unknown field "topLevelBogus"`. `problems` are the texts of
/// [`unknown_field`] / [`duplicate_field`].
// corpus 16-unknown-field-strict-400.http, 16e; handlers/create.go transformDecodeError,
// runtime.NewStrictDecodingError ("strict decoding error: " + strings.Join(errs, ", "))
pub fn strict_decoding(kind: &str, version: &str, problems: &[String]) -> Value {
    bad_request(&format!(
        "{kind} in version {} cannot be handled as a {kind}: strict decoding error: {}",
        go_quote(version),
        problems.join(", ")
    ))
}

/// `unknown field "spec.bogusField"` (also the text of the Warn-mode warning).
pub fn unknown_field(path: &str) -> String {
    format!("unknown field {}", go_quote(path))
}

/// `duplicate field "spec.vmName"` (also the text of the Warn-mode warning).
pub fn duplicate_field(path: &str) -> String {
    format!("duplicate field {}", go_quote(path))
}

/// The value of one `Warning` response header: `299 - "unknown field \"spec.bogusField\""`.
// corpus 16b-unknown-field-warn-201.http; apiserver/pkg/endpoints/filters/warning.go
// (net/http/httpguts-style quoting: `"` and `\` are backslash-escaped)
pub fn warning_header(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '"' || c == '\\' {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("299 - \"{escaped}\"")
}

/// Media types a PATCH to a custom resource accepts (17).
pub const CR_PATCH_MEDIA_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

/// Media types a PATCH to a built-in accepts.
pub const BUILTIN_PATCH_MEDIA_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// Media types a POST/PUT body may have (21).
pub const BODY_MEDIA_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// 415 `the body of the request was in an unknown format - accepted media types include: …`.
// corpus 17, 17b, 21; errors.go NewUnsupportedMediaType... handlers/rest.go negotiation
pub fn unsupported_media_type(accepted: &[&str]) -> Value {
    failure(
        415,
        Some("UnsupportedMediaType"),
        &format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        ),
    )
}

/// 406 `only the following media types are accepted: …` (negotiation.NewNotAcceptableError).
// corpus 21b-accept-protobuf-only-406.http (upstream answers in protobuf; see [`protobuf`])
pub fn not_acceptable(accepted: &[&str]) -> Value {
    failure(
        406,
        Some("NotAcceptable"),
        &format!(
            "only the following media types are accepted: {}",
            accepted.join(", ")
        ),
    )
}

/// 405 `create is not supported on resources of kind "protectionrequests.siterecovery.trilio.io"`,
/// details without a name.
// corpus 14b-err-post-status-405.http; errors.go NewMethodNotSupported(qualifiedResource, action)
pub fn method_not_allowed(target: Target<'_>, action: &str) -> Value {
    failure_with_details(
        405,
        Some("MethodNotAllowed"),
        &format!(
            "{action} is not supported on resources of kind {}",
            go_quote(&target.group_resource())
        ),
        Some(details("", target.group, target.resource, "", vec![])),
    )
}

/// 410 Expired with the given message (`errors.NewResourceExpired`).
pub fn expired(message: &str) -> Value {
    failure(410, Some("Expired"), message)
}

/// The in-stream watch ERROR object for a too-old resourceVersion:
/// `too old resource version: 2 (197)`.
// corpus 54-watch-too-old-rv-410.http; apiserver/pkg/storage/cacher/watch_cache.go
pub fn too_old_resource_version(requested: u64, oldest: u64) -> Value {
    expired(&format!("too old resource version: {requested} ({oldest})"))
}

/// HTTP 410 for LIST `resourceVersionMatch=Exact` on a compacted revision.
// corpus 54c-list-exact-compacted-rv-410.http
pub fn list_too_old() -> Value {
    expired("The resourceVersion for the provided list is too old.")
}

/// 500 `Internal error occurred: <err>` with the error as the only cause.
// corpus 67-webhook-down-failurepolicy-fail.http; errors.go NewInternalError
pub fn internal_error(err: &str) -> Value {
    failure_with_details(
        500,
        Some("InternalError"),
        &format!("Internal error occurred: {err}"),
        Some(details("", "", "", "", vec![cause("", err, "")])),
    )
}

/// 500 for a webhook that could not be called with `failurePolicy: Fail`:
/// `failed calling webhook "<name>": failed to call webhook: <err>`, where `err` is e.g.
/// `Post "https://127.0.0.1:47515/mutate?timeout=5s": dial tcp 127.0.0.1:47515: connect:
/// connection refused`.
// corpus 67; apiserver/pkg/admission/plugin/webhook/errors ErrCallingWebhook.Error
pub fn webhook_call_failed(webhook: &str, err: &str) -> Value {
    internal_error(&format!(
        "failed calling webhook {}: failed to call webhook: {err}",
        go_quote(webhook)
    ))
}

/// A webhook denial: the webhook's `response.status` (may be absent) turned into the error the
/// client sees. Code < 400 becomes 400; the reason and details are passed on as given (none →
/// omitted); the message is `admission webhook "<name>" denied the request: <msg>` (or `…:
/// <reason>`, or `… denied the request without explanation`).
// corpus 65, 65b; apiserver/pkg/admission/plugin/webhook/errors/statuserror.go ToStatusErr
pub fn webhook_denied(webhook: &str, result: Option<&Value>) -> Value {
    let empty = Value::Null;
    let result = result.unwrap_or(&empty);
    let code = result
        .get("code")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(u64::from(u16::MAX));
    let code = u16::try_from(code).unwrap_or(400).max(400);
    let reason = result.get("reason").and_then(Value::as_str).unwrap_or("");
    let message = result.get("message").and_then(Value::as_str).unwrap_or("");
    let denied_by = format!("admission webhook {} denied the request", go_quote(webhook));
    let text = if !message.is_empty() {
        format!("{denied_by}: {message}")
    } else if !reason.is_empty() {
        format!("{denied_by}: {reason}")
    } else {
        format!("{denied_by} without explanation")
    };
    let details = result.get("details").filter(|d| !d.is_null()).cloned();
    failure_with_details(code, Some(reason), &text, details)
}

/// 409 for a server-side apply conflict: message as given (see
/// `apply::ApplyError::Conflict`), one `FieldManagerConflict` cause per `(manager text,
/// field)`, no name/group/kind.
// corpus 36c-ssa-conflict-409.http; errors.go NewApplyConflict,
// managedfields/internal/conflict.go NewConflictError
pub fn apply_conflict(message: &str, causes: &[(String, String)]) -> Value {
    let causes = causes
        .iter()
        .map(|(manager, field)| {
            cause(
                "FieldManagerConflict",
                &format!("conflict with {manager}"),
                field,
            )
        })
        .collect();
    failure_with_details(
        409,
        Some("Conflict"),
        message,
        Some(details("", "", "", "", causes)),
    )
}

/// 422 for an apply patch without `fieldManager`.
// corpus 36b-ssa-missing-fieldmanager.http
pub fn apply_missing_field_manager() -> Value {
    invalid_kind(
        "meta.k8s.io",
        "PatchOptions",
        "",
        &[FieldError {
            reason: "FieldValueRequired",
            field: "fieldManager".into(),
            message: "Required value: is required for apply patch".into(),
        }],
    )
}

/// 422 for a bad `fieldValidation` query value; `options_kind` is `CreateOptions`,
/// `UpdateOptions` or `PatchOptions`.
// corpus 16f-unknown-field-bad-value.http; apimachinery/pkg/apis/meta/v1/validation
pub fn invalid_field_validation(options_kind: &str, value: &str) -> Value {
    invalid_kind(
        "meta.k8s.io",
        options_kind,
        "",
        &[FieldError {
            reason: "FieldValueNotSupported",
            field: "fieldValidation".into(),
            message: format!(
                "Unsupported value: {}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"",
                go_quote(value)
            ),
        }],
    )
}

/// 422 `metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`, named
/// by the plural resource as the CR update path does.
// corpus 12b-put-without-rv.http
pub fn resource_version_required(target: Target<'_>) -> Value {
    invalid_kind(
        target.group,
        target.resource,
        target.name,
        &[FieldError {
            reason: "FieldValueInvalid",
            field: "metadata.resourceVersion".into(),
            message: "Invalid value: 0x0: must be specified for an update".into(),
        }],
    )
}

/// 422 for JSON-patch operations that cannot be applied (test mismatch, remove on a missing
/// path): generic message, `details: {}`.
// corpus 35b, 35c; errors.go NewGenericServerResponse(422, …) via interpretPatchError
pub fn patch_unprocessable() -> Value {
    failure_with_details(
        422,
        Some("Invalid"),
        "the server rejected our request due to an error in our request",
        Some(json!({})),
    )
}

/// 500 `content is not a list` (the pretty-printing is the server's business).
// corpus 08b-get-partialobjectmetadata.http
pub fn not_a_list() -> Value {
    failure(500, None, "content is not a list")
}

/// The in-stream ERROR a watch-list request gets when the storage cannot do it (52c).
pub fn watch_list_unsupported() -> Value {
    failure(
        500,
        Some("InternalError"),
        "a watch stream was requested by the client but the required storage feature RequestWatchProgress is disabled",
    )
}

/// Protobuf encoding of a `Status`, as the apiserver answers a client that accepts only
/// `application/vnd.kubernetes.protobuf` (21b): the `k8s\0` magic, then a `runtime.Unknown`
/// whose raw bytes are the gogo-protobuf `metav1.Status`.
// corpus 21b-accept-protobuf-only-406.http (byte-exact); apimachinery/pkg/runtime/serializer/
// protobuf/protobuf.go, pkg/apis/meta/v1/generated.proto
pub fn protobuf(status: &Value) -> Vec<u8> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut raw = Vec::new();
    // 1: ListMeta {selfLink, resourceVersion, continue} (gogo writes empty strings)
    let meta = status.get("metadata").cloned().unwrap_or(json!({}));
    let mut lm = Vec::new();
    pb_string(&mut lm, 1, &s(&meta, "selfLink"));
    pb_string(&mut lm, 2, &s(&meta, "resourceVersion"));
    pb_string(&mut lm, 3, &s(&meta, "continue"));
    pb_bytes(&mut raw, 1, &lm);
    pb_string(&mut raw, 2, &s(status, "status"));
    pb_string(&mut raw, 3, &s(status, "message"));
    pb_string(&mut raw, 4, &s(status, "reason"));
    if let Some(d) = status.get("details").filter(|d| d.is_object()) {
        let mut db = Vec::new();
        pb_string(&mut db, 1, &s(d, "name"));
        pb_string(&mut db, 2, &s(d, "group"));
        pb_string(&mut db, 3, &s(d, "kind"));
        for c in d
            .get("causes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut cb = Vec::new();
            pb_string(&mut cb, 1, &s(c, "reason"));
            pb_string(&mut cb, 2, &s(c, "message"));
            pb_string(&mut cb, 3, &s(c, "field"));
            pb_bytes(&mut db, 4, &cb);
        }
        let retry = d
            .get("retryAfterSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        pb_varint_field(&mut db, 5, retry);
        pb_string(&mut db, 6, &s(d, "uid"));
        pb_bytes(&mut raw, 5, &db);
    }
    let code = status.get("code").and_then(Value::as_u64).unwrap_or(0);
    pb_varint_field(&mut raw, 6, code);

    let mut type_meta = Vec::new();
    pb_string(&mut type_meta, 1, &s(status, "apiVersion"));
    pb_string(&mut type_meta, 2, &s(status, "kind"));
    let mut out = b"k8s\0".to_vec();
    pb_bytes(&mut out, 1, &type_meta);
    pb_bytes(&mut out, 2, &raw);
    pb_string(&mut out, 3, "");
    pb_string(&mut out, 4, "");
    out
}

fn pb_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn pb_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    pb_varint(out, (field << 3) | 2);
    pb_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn pb_string(out: &mut Vec<u8>, field: u64, s: &str) {
    pb_bytes(out, field, s.as_bytes());
}

fn pb_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    pb_varint(out, field << 3);
    pb_varint(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    const PR: Target<'static> = Target {
        resource: "protectionrequests",
        group: "siterecovery.trilio.io",
        kind: "ProtectionRequest",
        name: "nope",
    };

    fn named(name: &'static str) -> Target<'static> {
        Target { name, ..PR }
    }

    fn s(v: &Value) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn not_found_matches_corpus_10() {
        assert_eq!(
            s(&not_found(PR)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"protectionrequests.siterecovery.trilio.io \"nope\" not found","reason":"NotFound","details":{"name":"nope","group":"siterecovery.trilio.io","kind":"protectionrequests"},"code":404}"#
        );
    }

    #[test]
    fn not_found_core_group_has_no_group() {
        let t = Target {
            resource: "configmaps",
            group: "",
            kind: "ConfigMap",
            name: "x",
        };
        assert_eq!(
            s(&not_found(t)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"configmaps"},"code":404}"#
        );
    }

    #[test]
    fn already_exists_matches_corpus_11() {
        assert_eq!(
            s(&already_exists(named("pr1"))),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"protectionrequests.siterecovery.trilio.io \"pr1\" already exists","reason":"AlreadyExists","details":{"name":"pr1","group":"siterecovery.trilio.io","kind":"protectionrequests"},"code":409}"#
        );
    }

    #[test]
    fn conflict_matches_corpus_12() {
        assert_eq!(
            s(&conflict(named("pr1"))),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on protectionrequests.siterecovery.trilio.io \"pr1\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"pr1","group":"siterecovery.trilio.io","kind":"protectionrequests"},"code":409}"#
        );
    }

    #[test]
    fn resource_version_required_matches_corpus_12b() {
        assert_eq!(
            s(&resource_version_required(named("pr2"))),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"protectionrequests.siterecovery.trilio.io \"pr2\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update","reason":"Invalid","details":{"name":"pr2","group":"siterecovery.trilio.io","kind":"protectionrequests","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 0x0: must be specified for an update","field":"metadata.resourceVersion"}]},"code":422}"#
        );
    }

    #[test]
    fn name_mismatch_matches_corpus_12c() {
        assert_eq!(
            s(&name_mismatch("pr2", "pr1")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the name of the object (pr2) does not match the name on the URL (pr1)","reason":"BadRequest","code":400}"#
        );
    }

    #[test]
    fn invalid_two_causes_matches_corpus_13() {
        let errs = [
            FieldError {
                reason: "FieldValueRequired",
                field: "spec.vmName".into(),
                message: "Required value".into(),
            },
            FieldError {
                reason: "FieldValueRequired",
                field: "spec.vmNamespace".into(),
                message: "Required value".into(),
            },
        ];
        assert_eq!(
            s(&invalid(named("bad-req"), &errs)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ProtectionRequest.siterecovery.trilio.io \"bad-req\" is invalid: [spec.vmName: Required value, spec.vmNamespace: Required value]","reason":"Invalid","details":{"name":"bad-req","group":"siterecovery.trilio.io","kind":"ProtectionRequest","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.vmName"},{"reason":"FieldValueRequired","message":"Required value","field":"spec.vmNamespace"}]},"code":422}"#
        );
    }

    #[test]
    fn invalid_duplicate_causes_print_once_corpus_42() {
        let e = FieldError {
            reason: "FieldValueForbidden",
            field: "metadata.finalizers".into(),
            message: "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"siterecovery.trilio.io/another\"}".into(),
        };
        assert_eq!(
            s(&invalid(named("d1"), &[e.clone(), e])),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ProtectionRequest.siterecovery.trilio.io \"d1\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"siterecovery.trilio.io/another\"}","reason":"Invalid","details":{"name":"d1","group":"siterecovery.trilio.io","kind":"ProtectionRequest","causes":[{"reason":"FieldValueForbidden","message":"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"siterecovery.trilio.io/another\"}","field":"metadata.finalizers"},{"reason":"FieldValueForbidden","message":"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"siterecovery.trilio.io/another\"}","field":"metadata.finalizers"}]},"code":422}"#
        );
    }

    #[test]
    fn method_not_allowed_matches_corpus_14b() {
        assert_eq!(
            s(&method_not_allowed(named("pr1"), "create")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"create is not supported on resources of kind \"protectionrequests.siterecovery.trilio.io\"","reason":"MethodNotAllowed","details":{"group":"siterecovery.trilio.io","kind":"protectionrequests"},"code":405}"#
        );
    }

    #[test]
    fn strict_decoding_matches_corpus_16_and_16e() {
        assert_eq!(
            s(&strict_decoding(
                "ProtectionRequest",
                "v1alpha1",
                &[
                    unknown_field("spec.bogusField"),
                    unknown_field("topLevelBogus")
                ]
            )),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ProtectionRequest in version \"v1alpha1\" cannot be handled as a ProtectionRequest: strict decoding error: unknown field \"spec.bogusField\", unknown field \"topLevelBogus\"","reason":"BadRequest","code":400}"#
        );
        assert_eq!(
            s(&strict_decoding(
                "ProtectionRequest",
                "v1alpha1",
                &[duplicate_field("spec.vmName")]
            )),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ProtectionRequest in version \"v1alpha1\" cannot be handled as a ProtectionRequest: strict decoding error: duplicate field \"spec.vmName\"","reason":"BadRequest","code":400}"#
        );
    }

    #[test]
    fn warning_header_matches_corpus_16b() {
        assert_eq!(
            warning_header(&unknown_field("spec.bogusField")),
            r#"299 - "unknown field \"spec.bogusField\"""#
        );
        assert_eq!(
            warning_header(&duplicate_field("spec.vmName")),
            r#"299 - "duplicate field \"spec.vmName\"""#
        );
    }

    #[test]
    fn invalid_field_validation_matches_corpus_16f() {
        assert_eq!(
            s(&invalid_field_validation("CreateOptions", "Bogus")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Bogus\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"","reason":"Invalid","details":{"group":"meta.k8s.io","kind":"CreateOptions","causes":[{"reason":"FieldValueNotSupported","message":"Unsupported value: \"Bogus\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"","field":"fieldValidation"}]},"code":422}"#
        );
    }

    #[test]
    fn unsupported_media_type_matches_corpus_17_and_21() {
        assert_eq!(
            s(&unsupported_media_type(CR_PATCH_MEDIA_TYPES)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml","reason":"UnsupportedMediaType","code":415}"#
        );
        assert_eq!(
            s(&unsupported_media_type(BODY_MEDIA_TYPES)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf","reason":"UnsupportedMediaType","code":415}"#
        );
    }

    #[test]
    fn bad_request_matches_corpus_18() {
        assert_eq!(
            s(&bad_request("field label not supported: spec.vmName")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"field label not supported: spec.vmName","reason":"BadRequest","code":400}"#
        );
    }

    #[test]
    fn decode_errors_match_corpus_19() {
        let body = br#"{"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest","metadata":{"name":"x""#;
        assert_eq!(
            s(&unrecognized_object(
                "ProtectionRequest",
                &go_json_parse_error(body),
                body
            )),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the object provided is unrecognized (must be of type ProtectionRequest): couldn't get version/kind; json parse error: unexpected end of JSON input ({\"apiVersion\":\"siterecovery.tr ...)","reason":"BadRequest","code":400}"#
        );
        assert_eq!(
            s(&api_version_mismatch("", "siterecovery.trilio.io/v1alpha1")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the API version in the data () does not match the expected API version (siterecovery.trilio.io/v1alpha1)","reason":"BadRequest","code":400}"#
        );
        assert_eq!(
            s(&namespace_mismatch()),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the namespace of the provided object does not match the namespace sent on the request","reason":"BadRequest","code":400}"#
        );
    }

    #[test]
    fn patch_unprocessable_matches_corpus_35b() {
        assert_eq!(
            s(&patch_unprocessable()),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server rejected our request due to an error in our request","reason":"Invalid","details":{},"code":422}"#
        );
    }

    #[test]
    fn apply_errors_match_corpus_36b_36c() {
        assert_eq!(
            s(&apply_missing_field_manager()),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch","reason":"Invalid","details":{"group":"meta.k8s.io","kind":"PatchOptions","causes":[{"reason":"FieldValueRequired","message":"Required value: is required for apply patch","field":"fieldManager"}]},"code":422}"#
        );
        assert_eq!(
            s(&apply_conflict(
                "Apply failed with 1 conflict: conflict with \"a\": .spec.vmName",
                &[("\"a\"".into(), ".spec.vmName".into())]
            )),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Apply failed with 1 conflict: conflict with \"a\": .spec.vmName","reason":"Conflict","details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with \"a\"","field":".spec.vmName"}]},"code":409}"#
        );
    }

    #[test]
    fn success_matches_corpus_45() {
        assert_eq!(
            s(&success(
                named("pr2"),
                "125a7006-ddcf-41fe-9314-2787e54add8b"
            )),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"pr2","group":"siterecovery.trilio.io","kind":"protectionrequests","uid":"125a7006-ddcf-41fe-9314-2787e54add8b"}}"#
        );
    }

    #[test]
    fn precondition_conflict_matches_corpus_45c() {
        assert_eq!(
            s(&precondition_resource_version_conflict(
                named("pr1"),
                "1",
                "208"
            )),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on ProtectionRequest.siterecovery.trilio.io \"pr1\": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (208). The object might have been modified","reason":"Conflict","details":{"name":"pr1","group":"siterecovery.trilio.io","kind":"ProtectionRequest"},"code":409}"#
        );
    }

    #[test]
    fn expired_matches_corpus_54_54c() {
        assert_eq!(
            s(&too_old_resource_version(2, 197)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 2 (197)","reason":"Expired","code":410}"#
        );
        assert_eq!(
            s(&list_too_old()),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"The resourceVersion for the provided list is too old.","reason":"Expired","code":410}"#
        );
        assert_eq!(
            s(&watch_list_unsupported()),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"a watch stream was requested by the client but the required storage feature RequestWatchProgress is disabled","reason":"InternalError","code":500}"#
        );
    }

    #[test]
    fn webhook_denials_match_corpus_65_65b() {
        assert_eq!(
            s(&webhook_denied(
                "validate.pr.corpus.test",
                Some(
                    &json!({"message":"ProtectionRequest name deny-me is not allowed by corpus policy"})
                )
            )),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"admission webhook \"validate.pr.corpus.test\" denied the request: ProtectionRequest name deny-me is not allowed by corpus policy","code":400}"#
        );
        assert_eq!(
            s(&webhook_denied(
                "validate.pr.corpus.test",
                Some(
                    &json!({"code":403,"reason":"Forbidden","message":"deny-403 is forbidden by corpus policy"})
                )
            )),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"admission webhook \"validate.pr.corpus.test\" denied the request: deny-403 is forbidden by corpus policy","reason":"Forbidden","code":403}"#
        );
        assert_eq!(
            s(&failure(400, None, "x")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"x","code":400}"#
        );
    }

    #[test]
    fn webhook_call_failed_matches_corpus_67() {
        assert_eq!(
            s(&webhook_call_failed(
                "mutate.pr.corpus.test",
                "Post \"https://127.0.0.1:47515/mutate?timeout=5s\": dial tcp 127.0.0.1:47515: connect: connection refused"
            )),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: failed calling webhook \"mutate.pr.corpus.test\": failed to call webhook: Post \"https://127.0.0.1:47515/mutate?timeout=5s\": dial tcp 127.0.0.1:47515: connect: connection refused","reason":"InternalError","details":{"causes":[{"message":"failed calling webhook \"mutate.pr.corpus.test\": failed to call webhook: Post \"https://127.0.0.1:47515/mutate?timeout=5s\": dial tcp 127.0.0.1:47515: connect: connection refused"}]},"code":500}"#
        );
    }

    #[test]
    fn not_a_list_matches_corpus_08b() {
        assert_eq!(
            s(&not_a_list()),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"content is not a list","code":500}"#
        );
    }

    #[test]
    fn protobuf_406_is_byte_exact_corpus_21b() {
        let st = not_acceptable(BODY_MEDIA_TYPES);
        let bytes = protobuf(&st);
        let mut expected = b"k8s\0\x0a\x0c\x0a\x02v1\x12\x06Status\x12\x99\x01\x0a\x06\x0a\x00\x12\x00\x1a\x00\x12\x07Failure\x1a\x74".to_vec();
        expected.extend_from_slice(b"only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf");
        expected.extend_from_slice(b"\x22\x0dNotAcceptable\x30\x96\x03\x1a\x00\x22\x00");
        assert_eq!(bytes.len(), 178);
        assert_eq!(bytes, expected);
    }
}
