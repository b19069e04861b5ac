//! Server-side printing: `meta.k8s.io/v1` Tables from a CRD version's
//! `additionalPrinterColumns`, JSONPath cells, and humanized ages as
//! `k8s.io/apimachinery/pkg/util/duration.HumanDuration` prints them.

use serde_json::Value;

/// One printer column (the implicit `Name` first, then the CRD's, `Age` when it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    /// `.status.phase`; empty for `Name`.
    pub json_path: String,
}

/// What each row carries in `object`: PartialObjectMetadata (kubectl's default), the whole
/// object, or null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    Metadata,
    Object,
    None,
}

/// The columns for a CRD version (`spec.versions[i]`), or the default Name/Age columns for
/// `None`.
pub fn columns(_crd_version: Option<&Value>) -> Vec<Column> {
    todo!("protect-lab-apimachinery: table::columns")
}

/// A Table (Go struct order) of `objects`, ages measured at `now`. `with_definitions = false`
/// writes `"columnDefinitions":null`, as every event after the first of a Table watch does.
pub fn table(
    _columns: &[Column],
    _objects: &[Value],
    _include: IncludeObject,
    _list_metadata: Value,
    _now: jiff::Timestamp,
    _with_definitions: bool,
) -> Value {
    todo!("protect-lab-apimachinery: table::table")
}

/// `HumanDuration`: "0s", "12s", "4m15s", "2d", "3y45d".
pub fn human_duration(_d: jiff::SignedDuration) -> String {
    todo!("protect-lab-apimachinery: table::human_duration")
}

/// A `kubectl`-style JSONPath of the simple form CRD columns use (`.status.phase`,
/// `.spec.x[0].y`); `None` when absent.
pub fn json_path(_object: &Value, _path: &str) -> Option<Value> {
    todo!("protect-lab-apimachinery: table::json_path")
}

/// Wraps an object's metadata as `meta.k8s.io/v1` PartialObjectMetadata.
pub fn partial_object_metadata(_object: &Value) -> Value {
    todo!("protect-lab-apimachinery: table::partial_object_metadata")
}
