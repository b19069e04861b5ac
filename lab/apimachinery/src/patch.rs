//! The three patch types a client may send to an update endpoint: JSON merge patch (RFC 7386),
//! JSON patch (RFC 6902, with the apiserver's quirks), and strategic merge patch for built-in
//! kinds.

use serde_json::Value;

/// Why a patch could not be applied; the variant decides the HTTP code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document itself is malformed (HTTP 400 BadRequest).
    #[error("{0}")]
    Malformed(String),
    /// The patch is well-formed but cannot be applied to this object (HTTP 422 Invalid).
    #[error("{0}")]
    Unprocessable(String),
}

/// RFC 7386 JSON merge patch (`application/merge-patch+json`).
pub fn merge_patch(_target: &Value, _patch: &Value) -> Result<Value, PatchError> {
    todo!("protect-lab-apimachinery: merge_patch")
}

/// RFC 6902 JSON patch (`application/json-patch+json`) as the apiserver's Go json-patch applies
/// it: `test` with value null succeeds on a missing path, `replace` on a missing path adds.
pub fn json_patch(_target: &Value, _patch: &Value) -> Result<Value, PatchError> {
    todo!("protect-lab-apimachinery: json_patch")
}

/// Strategic merge patch (`application/strategic-merge-patch+json`) for the built-in `kind`
/// (e.g. `Node`, `PersistentVolumeClaim`, `Secret`): lists merge by their Go `patchMergeKey`,
/// and the `$patch`, `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList`
/// directives that kubectl apply sends are honoured. Kinds without known patch metadata treat
/// every list as atomic.
pub fn strategic_merge_patch(
    _target: &Value,
    _patch: &Value,
    _kind: &str,
) -> Result<Value, PatchError> {
    todo!("protect-lab-apimachinery: strategic_merge_patch")
}
