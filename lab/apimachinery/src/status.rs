//! `metav1.Status` errors with upstream reasons, codes and wording. Built-in kinds are written
//! in Go struct order (`kind, apiVersion, metadata, status, message, reason, details, code`).

use serde_json::Value;

use crate::schema::FieldError;

/// Names a resource as error messages do: plural resource, group (empty for core), object name.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub resource: &'a str,
    pub group: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
}

/// 404 `protectionrequests.siterecovery.trilio.io "x" not found` (details.kind is the plural).
pub fn not_found(_target: Target<'_>) -> Value {
    todo!("protect-lab-apimachinery: status::not_found")
}

/// 409 `… "x" already exists`.
pub fn already_exists(_target: Target<'_>) -> Value {
    todo!("protect-lab-apimachinery: status::already_exists")
}

/// 409 `Operation cannot be fulfilled on … "x": the object has been modified; …`.
pub fn conflict(_target: Target<'_>) -> Value {
    todo!("protect-lab-apimachinery: status::conflict")
}

/// 422 `Kind.group "x" is invalid: …` with one cause per error (details.kind is the Kind).
pub fn invalid(_target: Target<'_>, _errors: &[FieldError]) -> Value {
    todo!("protect-lab-apimachinery: status::invalid")
}

/// Any other failure: `code`, `reason` (None = omitted, as for webhook denials without a
/// code), and the message.
pub fn failure(_code: u16, _reason: Option<&str>, _message: &str) -> Value {
    todo!("protect-lab-apimachinery: status::failure")
}

/// 200 `Status` Success, as a DELETE without finalizers answers.
pub fn success(_target: Target<'_>, _uid: &str) -> Value {
    todo!("protect-lab-apimachinery: status::success")
}
