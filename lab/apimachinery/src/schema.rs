//! Structural schemas of CustomResourceDefinitions: pruning, defaulting and validation with
//! the apiserver's error texts, plus the checks a CRD itself must pass, and ObjectMeta rules.

use serde_json::Value;

/// One field error, as a `StatusCause` of a 422 Invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueTypeInvalid`, `FieldValueNotSupported`,
    /// `FieldValueInvalid`, `FieldValueForbidden`, `FieldValueDuplicate`, `FieldValueTooLong`…
    pub reason: &'static str,
    /// The path as upstream prints it, e.g. `spec.vmName`, `status.conditions[0].type`.
    pub field: String,
    /// The cause message, e.g. `Required value`.
    pub message: String,
}

/// Drops fields the schema does not declare (honouring `x-kubernetes-preserve-unknown-fields`
/// and `x-kubernetes-embedded-resource`) and returns their paths as the strict decoder names
/// them (`spec.bogusField`, `topLevelBogus`), in the order upstream reports them.
pub fn prune(_object: &mut Value, _schema: &Value) -> Vec<String> {
    todo!("protect-lab-apimachinery: prune")
}

/// Applies `default` values from the schema where fields are absent.
pub fn apply_defaults(_object: &mut Value, _schema: &Value) {
    todo!("protect-lab-apimachinery: apply_defaults")
}

/// Validates an object against its version's schema: type, required, enum, format, min/max,
/// pattern, list-map key uniqueness. Errors in upstream order.
pub fn validate(_object: &Value, _schema: &Value) -> Vec<FieldError> {
    todo!("protect-lab-apimachinery: validate")
}

/// Validates ObjectMeta as `ValidateObjectMeta` does: name (DNS-1123 subdomain), namespace,
/// labels and annotations keys/values, finalizer names.
pub fn validate_object_meta(_object: &Value, _namespaced: bool) -> Vec<FieldError> {
    todo!("protect-lab-apimachinery: validate_object_meta")
}

/// The checks the apiserver makes on a CustomResourceDefinition before accepting it
/// (structural schema, list-map keys required or defaulted, names, versions).
pub fn validate_crd(_crd: &Value) -> Vec<FieldError> {
    todo!("protect-lab-apimachinery: validate_crd")
}
