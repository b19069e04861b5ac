//! Field ownership: `metadata.managedFields` (FieldsV1) for Update operations and server-side
//! apply with per-manager merge and conflicts, as `sigs.k8s.io/structured-merge-diff` does it.

use serde_json::Value;

/// How lists and maps of an object merge: a CRD version's structural `openAPIV3Schema`
/// (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`), or the
/// known shape of a built-in kind.
#[derive(Debug, Clone, Copy)]
pub enum TypeInfo<'a> {
    /// A custom resource: the version's `schema.openAPIV3Schema`.
    Structural(&'a Value),
    /// A built-in kind, by name (`Lease`, `Node`, `ConfigMap`, …).
    Builtin(&'a str),
}

/// One write, as the apiserver records it in `managedFields`.
#[derive(Debug, Clone)]
pub struct Write<'a> {
    /// The field manager (`fieldManager`, or the User-Agent up to its first `/`).
    pub manager: &'a str,
    /// `None` for the main resource, `Some("status")` for `/status`.
    pub subresource: Option<&'a str>,
    /// RFC 3339 time of the write, seconds precision.
    pub time: &'a str,
    /// `apiVersion` of the object written.
    pub api_version: &'a str,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (HTTP 409); each cause is
    /// `(manager, field path like ".spec.vmName")`. The message is
    /// `Apply failed with N conflict(s): conflict with "a": .spec.vmName…`.
    #[error("{message}")]
    Conflict {
        message: String,
        causes: Vec<(String, String)>,
    },
    /// The applied configuration is unusable (HTTP 422 or 400, by the upstream text).
    #[error("{0}")]
    Invalid(String),
}

/// Records an Update (create, PUT or patch) by `write.manager` in `new`'s `managedFields`:
/// the manager gains the fields that differ from `old` (all set fields on create), other
/// managers lose them, empty entries are dropped. Leaves `new` untouched when nothing but
/// timestamps would change.
pub fn record_update(_old: Option<&Value>, _new: &mut Value, _write: &Write<'_>, _types: TypeInfo<'_>) {
    todo!("protect-lab-apimachinery: record_update")
}

/// Server-side apply (`application/apply-patch+yaml`, already parsed to JSON) of `applied` by
/// `write.manager` onto `live` (`None` creates). Returns the new object with `managedFields`
/// updated. Without `force`, fields owned by another manager with a different value are a
/// conflict; with it, ownership moves to this manager.
pub fn server_side_apply(
    _live: Option<&Value>,
    _applied: &Value,
    _write: &Write<'_>,
    _force: bool,
    _types: TypeInfo<'_>,
) -> Result<Value, ApplyError> {
    todo!("protect-lab-apimachinery: server_side_apply")
}
