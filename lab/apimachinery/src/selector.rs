//! Label and field selectors, parsed and matched as `k8s.io/apimachinery/pkg/labels` and
//! `pkg/fields` do.

use serde_json::{Map, Value};

/// A selector that could not be parsed or names an unsupported field; the text is the
/// apiserver's (e.g. `unable to parse requirement: found '=', expected: identifier`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// A parsed label selector: `=`, `==`, `!=`, `in`, `notin`, `key`, `!key`, comma-joined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter. The empty string selects everything.
    pub fn parse(_selector: &str) -> Result<Self, SelectorError> {
        todo!("protect-lab-apimachinery: LabelSelector::parse")
    }

    /// Whether an object's `metadata.labels` (absent = no labels) satisfies every requirement.
    pub fn matches(&self, _labels: Option<&Map<String, Value>>) -> bool {
        todo!("protect-lab-apimachinery: LabelSelector::matches")
    }
}

/// A parsed field selector (`a=b`, `a==b`, `a!=b`, comma-joined).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter. `supported` lists the field labels the
    /// resource allows besides `metadata.name` and `metadata.namespace` (always allowed), e.g.
    /// `involvedObject.name` for core/v1 Events; any other label is
    /// `field label not supported: <label>`.
    pub fn parse(_selector: &str, _supported: &[&str]) -> Result<Self, SelectorError> {
        todo!("protect-lab-apimachinery: FieldSelector::parse")
    }

    /// Whether the object satisfies every requirement (a missing field compares as "").
    pub fn matches(&self, _object: &Value) -> bool {
        todo!("protect-lab-apimachinery: FieldSelector::matches")
    }
}
