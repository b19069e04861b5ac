//! Structural schemas of CustomResourceDefinitions: pruning, defaulting and validation with
//! the apiserver's error texts, plus the checks a CRD itself must pass, and ObjectMeta rules.

use serde_json::{Map, Value};

use crate::selector::go_string_slice;
use crate::status::go_quote;
use crate::validation;

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

/// `field.Error.Error()`: `<field>: <message>` (k8s.io/apimachinery/pkg/util/validation/field/errors.go).
impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// How `field.Error.ErrorBody` prints a bad value: int64/float64/bool with `%v`, strings with
/// `%q`, null as `null`, anything else with Go's `%#v` of the decoded JSON.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Array(_) | Value::Object(_) => go_sharp_v(v),
    }
}

/// Go's `%#v` of a decoded JSON value (`map[string]interface {}{"a":1}`, `[]interface {}{…}`).
fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.to_string(),
        },
        Value::String(s) => go_quote(s),
        Value::Array(a) => format!(
            "[]interface {{}}{{{}}}",
            a.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            format!(
                "map[string]interface {{}}{{{}}}",
                keys.iter()
                    .map(|k| format!("{}:{}", go_quote(k), go_sharp_v(&m[*k])))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// Constructors for `field.ErrorList` entries with upstream bodies.
pub mod field {
    use super::{FieldError, go_value};
    use crate::status::go_quote;
    use serde_json::Value;

    /// `field.Required(path, detail)`.
    pub fn required(path: &str, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueRequired",
            field: path.into(),
            message: with_detail("Required value", detail),
        }
    }

    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(path: &str, value: &Value, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueInvalid",
            field: path.into(),
            message: with_detail(&format!("Invalid value: {}", go_value(value)), detail),
        }
    }

    /// `field.TypeInvalid(path, value, detail)`.
    pub fn type_invalid(path: &str, value: &Value, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueTypeInvalid",
            field: path.into(),
            message: with_detail(&format!("Invalid value: {}", go_value(value)), detail),
        }
    }

    /// `field.NotSupported(path, value, valid)`: `Unsupported value: "x": supported values:
    /// "a", "b"`.
    pub fn not_supported(path: &str, value: &Value, valid: &[String]) -> FieldError {
        let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
        let detail = if quoted.is_empty() {
            String::new()
        } else {
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError {
            reason: "FieldValueNotSupported",
            field: path.into(),
            message: with_detail(&format!("Unsupported value: {}", go_value(value)), &detail),
        }
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(path: &str, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueForbidden",
            field: path.into(),
            message: with_detail("Forbidden", detail),
        }
    }

    /// `field.Duplicate(path, value)`.
    pub fn duplicate(path: &str, value: &Value) -> FieldError {
        FieldError {
            reason: "FieldValueDuplicate",
            field: path.into(),
            message: format!("Duplicate value: {}", go_value(value)),
        }
    }

    /// `field.TooLong(path, value, max)`.
    pub fn too_long(path: &str, max: i64) -> FieldError {
        let unit = if max == 1 { "byte" } else { "bytes" };
        FieldError {
            reason: "FieldValueTooLong",
            field: path.into(),
            message: format!("Too long: may not be more than {max} {unit}"),
        }
    }

    /// `field.TooMany(path, actual, max)`.
    pub fn too_many(path: &str, actual: usize, max: i64) -> FieldError {
        FieldError {
            reason: "FieldValueTooMany",
            field: path.into(),
            message: format!("Too many: {actual}: must have at most {max} items"),
        }
    }

    fn with_detail(head: &str, detail: &str) -> String {
        if detail.is_empty() {
            head.to_string()
        } else {
            format!("{head}: {detail}")
        }
    }
}

/// The top-level ObjectMeta fields a resource's `metadata` may carry (json tags of
/// `metav1.ObjectMeta`), in the struct's field order.
pub const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn preserves_unknown(s: &Value) -> bool {
    s.get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn embedded(s: &Value) -> bool {
    s.get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        == Some(true)
}

/// `additionalProperties` as a schema (`true` / absent → None).
fn additional_properties(s: &Value) -> Option<&Value> {
    s.get("additionalProperties").filter(|a| a.is_object())
}

/// apiextensions-apiserver pkg/apiserver/schema/pruning/algorithm.go `prune`.
fn prune_value(
    x: &mut Value,
    s: Option<&Value>,
    path: &str,
    root: bool,
    unknown: &mut Vec<String>,
) {
    let Some(s) = s else {
        // no schema below here: report everything, the parent drops it
        match x {
            Value::Object(m) => {
                for k in m.keys() {
                    unknown.push(child(path, k));
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter_mut().enumerate() {
                    prune_value(v, None, &format!("{path}[{i}]"), false, unknown);
                }
            }
            _ => {}
        }
        return;
    };
    if preserves_unknown(s) {
        skip_prune(x, s, path, unknown);
        return;
    }
    let is_embedded = root || embedded(s);
    match x {
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let addl = additional_properties(s);
            let mut drop = Vec::new();
            for (k, v) in m.iter_mut() {
                if is_embedded && (k == "apiVersion" || k == "kind") {
                    continue;
                }
                if is_embedded && k == "metadata" {
                    prune_object_meta(v, &child(path, k), unknown);
                    continue;
                }
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    prune_value(v, Some(p), &child(path, k), false, unknown);
                } else if let Some(a) = addl {
                    prune_value(v, Some(a), &child(path, k), false, unknown);
                } else {
                    unknown.push(child(path, k));
                    drop.push(k.clone());
                }
            }
            for k in drop {
                m.shift_remove(&k);
            }
        }
        Value::Array(a) => {
            let items = s.get("items");
            for (i, v) in a.iter_mut().enumerate() {
                prune_value(v, items, &format!("{path}[{i}]"), false, unknown);
            }
        }
        _ => {}
    }
}

fn skip_prune(x: &mut Value, s: &Value, path: &str, unknown: &mut Vec<String>) {
    let is_embedded = embedded(s);
    match x {
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let addl = additional_properties(s);
            for (k, v) in m.iter_mut() {
                if is_embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    if k == "metadata" {
                        prune_object_meta(v, &child(path, k), unknown);
                    }
                    continue;
                }
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    prune_value(v, Some(p), &child(path, k), false, unknown);
                } else if let Some(a) = addl {
                    prune_value(v, Some(a), &child(path, k), false, unknown);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items") {
                for (i, v) in a.iter_mut().enumerate() {
                    skip_prune(v, items, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// ObjectMeta decoding drops (and the strict decoder reports) unknown `metadata` fields.
fn prune_object_meta(meta: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if let Value::Object(m) = meta {
        let drop: Vec<String> = m
            .keys()
            .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in drop {
            unknown.push(child(path, &k));
            m.shift_remove(&k);
        }
    }
}

/// Drops fields the schema does not declare (honouring `x-kubernetes-preserve-unknown-fields`
/// and `x-kubernetes-embedded-resource`) and returns their paths as the strict decoder names
/// them (`spec.bogusField`, `topLevelBogus`), in the order upstream reports them.
// apiextensions-apiserver pkg/apiserver/schema/pruning/algorithm.go PruneWithOptions (paths
// sorted); corpus 16, 16b, 16c (`spec.bogusField`, `topLevelBogus`), 35c (`spec.doesNotExist`)
pub fn prune(object: &mut Value, schema: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    prune_value(object, Some(schema), "", true, &mut unknown);
    unknown.sort();
    unknown
}

fn nullable(s: &Value) -> bool {
    s.get("nullable").and_then(Value::as_bool) == Some(true)
}

/// Applies `default` values from the schema where fields are absent.
// apiextensions-apiserver pkg/apiserver/schema/defaulting/algorithm.go Default: absent fields
// (and nulls of non-nullable ones) get their default, then every value is defaulted below.
pub fn apply_defaults(object: &mut Value, schema: &Value) {
    match object {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, p) in props {
                    let Some(d) = p.get("default") else { continue };
                    let absent = match m.get(k) {
                        None => true,
                        Some(Value::Null) => !nullable(p),
                        Some(_) => false,
                    };
                    if absent {
                        m.insert(k.clone(), d.clone());
                    }
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let addl = additional_properties(schema);
            for (k, v) in m.iter_mut() {
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    apply_defaults(v, p);
                } else if let Some(a) = addl {
                    if v.is_null()
                        && !nullable(a)
                        && let Some(d) = a.get("default")
                    {
                        *v = d.clone();
                    }
                    apply_defaults(v, a);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for v in a.iter_mut() {
                    if v.is_null()
                        && !nullable(items)
                        && let Some(d) = items.get("default")
                    {
                        *v = d.clone();
                    }
                    apply_defaults(v, items);
                }
            }
        }
        _ => {}
    }
}

/// The OpenAPI type name of a JSON value as kube-openapi reports it.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) {
                "integer"
            } else {
                "number"
            }
        }
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(want: &str, v: &Value) -> bool {
    match want {
        "string" => v.is_string(),
        "integer" => type_name(v) == "integer",
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => true,
    }
}

/// An RFC 3339 date-time with an offset or `Z` (kube-openapi strfmt `date-time`, approximated by
/// jiff's RFC 3339 parser).
fn is_date_time(s: &str) -> bool {
    s.parse::<jiff::Timestamp>().is_ok()
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Go `%v` of a schema bound (int-valued floats print without a fraction).
fn bound(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => v.to_string(),
    }
}

fn validate_value(v: &Value, s: &Value, path: &str, errs: &mut Vec<FieldError>) {
    // x-kubernetes-int-or-string: integer or string
    if s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        let ok = v.is_string() || type_name(v) == "integer" || (v.is_null() && nullable(s));
        if !ok {
            errs.push(field::type_invalid(
                path,
                &Value::String(type_name(v).into()),
                &format!(
                    "{path} in body must be of type integer,string: {}",
                    go_quote(type_name(v))
                ),
            ));
        }
        return;
    }
    if v.is_null() {
        if nullable(s) || s.get("type").is_none() {
            return;
        }
        let want = s.get("type").and_then(Value::as_str).unwrap_or("");
        errs.push(field::type_invalid(
            path,
            &Value::String("null".into()),
            &format!("{path} in body must be of type {want}: \"null\""),
        ));
        return;
    }
    // kube-openapi type validator: a wrong type stops the checks of this node
    if let Some(want) = s.get("type").and_then(Value::as_str)
        && !type_ok(want, v)
    {
        errs.push(field::type_invalid(
            path,
            &Value::String(type_name(v).into()),
            &format!(
                "{path} in body must be of type {want}: {}",
                go_quote(type_name(v))
            ),
        ));
        return;
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        let values: Vec<String> = e
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect();
        errs.push(field::not_supported(path, v, &values));
    }
    match v {
        Value::String(st) => {
            let len = i64::try_from(st.chars().count()).unwrap_or(i64::MAX);
            if let Some(max) = s.get("maxLength").and_then(Value::as_i64)
                && len > max
            {
                errs.push(field::too_long(path, max));
            }
            if let Some(min) = s.get("minLength").and_then(Value::as_i64)
                && len < min
            {
                errs.push(field::invalid(
                    path,
                    v,
                    &format!("{path} in body should be at least {min} chars long"),
                ));
            }
            // kube-openapi validate (string validator: maxLength, minLength, then pattern):
            // errors.FailedPattern `"%s in %s should match '%s'"`, which apiextensions turns
            // into field.Invalid (kubeOpenAPIResultToFieldErrors, default case). Go's regexp
            // matches anywhere in the string, as Regex::is_match does. A pattern that does not
            // compile never gets here upstream (CRD validation refuses it).
            if let Some(pattern) = s.get("pattern").and_then(Value::as_str)
                && regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(st))
            {
                errs.push(field::invalid(
                    path,
                    v,
                    &format!("{path} in body should match '{pattern}'"),
                ));
            }
            // strfmt date-time (RFC 3339): errors.InvalidType, a FieldValueTypeInvalid.
            if s.get("format").and_then(Value::as_str) == Some("date-time") && !is_date_time(st) {
                errs.push(field::type_invalid(
                    path,
                    v,
                    &format!("{path} in body must be of type date-time: {}", go_quote(st)),
                ));
            }
        }
        Value::Number(_) => {
            let x = num(v).unwrap_or(0.0);
            if let Some(max) = s.get("maximum") {
                let excl = s.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
                let m = num(max).unwrap_or(f64::MAX);
                if (excl && x >= m) || (!excl && x > m) {
                    let rel = if excl {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    errs.push(field::invalid(
                        path,
                        v,
                        &format!("{path} in body should be {rel} {}", bound(max)),
                    ));
                }
            }
            if let Some(min) = s.get("minimum") {
                let excl = s.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
                let m = num(min).unwrap_or(f64::MIN);
                if (excl && x <= m) || (!excl && x < m) {
                    let rel = if excl {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    errs.push(field::invalid(
                        path,
                        v,
                        &format!("{path} in body should be {rel} {}", bound(min)),
                    ));
                }
            }
        }
        Value::Array(a) => {
            if let Some(max) = s.get("maxItems").and_then(Value::as_i64)
                && i64::try_from(a.len()).unwrap_or(i64::MAX) > max
            {
                errs.push(field::too_many(path, a.len(), max));
            }
            if let Some(min) = s.get("minItems").and_then(Value::as_i64)
                && i64::try_from(a.len()).unwrap_or(0) < min
            {
                errs.push(field::invalid(
                    path,
                    v,
                    &format!("{path} in body should have at least {min} items"),
                ));
            }
            if let Some(items) = s.get("items") {
                for (i, item) in a.iter().enumerate() {
                    validate_value(item, items, &format!("{path}[{i}]"), errs);
                }
            }
            validate_list_type(a, s, path, errs);
        }
        Value::Object(m) => {
            for r in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !m.contains_key(r) {
                    errs.push(field::required(&child(path, r), ""));
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            let addl = additional_properties(s);
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let is_embedded = path.is_empty() || embedded(s);
            for k in keys {
                if is_embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(p) = props.and_then(|p| p.get(k.as_str())) {
                    validate_value(&m[k], p, &child(path, k), errs);
                } else if let Some(a) = addl {
                    validate_value(&m[k], a, &child(path, k), errs);
                }
            }
            if let Some(max) = s.get("maxProperties").and_then(Value::as_i64)
                && i64::try_from(m.len()).unwrap_or(i64::MAX) > max
            {
                errs.push(field::too_many(path, m.len(), max));
            }
        }
        _ => {}
    }
}

/// `x-kubernetes-list-type: map|set` uniqueness (apiextensions-apiserver
/// pkg/apiserver/schema/listtype/validation.go): `Duplicate value: …` at the second element.
fn validate_list_type(a: &[Value], s: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for (i, v) in a.iter().enumerate() {
                if a[..i].contains(v) {
                    errs.push(field::duplicate(&format!("{path}[{i}]"), v));
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = s
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let key_of = |v: &Value| -> Value {
                let mut m = Map::new();
                for k in &keys {
                    if let Some(x) = v.get(*k) {
                        m.insert((*k).to_string(), x.clone());
                    }
                }
                Value::Object(m)
            };
            let seen: Vec<Value> = a.iter().map(key_of).collect();
            for (i, k) in seen.iter().enumerate() {
                if seen[..i].contains(k) {
                    errs.push(field::duplicate(&format!("{path}[{i}]"), k));
                }
            }
        }
        _ => {}
    }
}

/// Validates an object against its version's schema: type, required, enum, format, min/max,
/// pattern, list-map key uniqueness. Errors in upstream order.
// apiextensions-apiserver pkg/apiserver/validation/validation.go ValidateCustomResource +
// kubeOpenAPIResultToFieldErrors; corpus 13 (Required), 14 (NotSupported), 15 (TypeInvalid).
// `pattern` is not checked (no regex engine in this crate) and `format` is not checked.
pub fn validate(object: &Value, schema: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_value(object, schema, "", &mut errs);
    errs
}

/// Validates ObjectMeta as `ValidateObjectMeta` does: name (DNS-1123 subdomain), namespace,
/// labels and annotations keys/values, finalizer names.
// k8s.io/apimachinery/pkg/api/validation/objectmeta.go ValidateObjectMetaAccessor,
// ValidateNamespaceName; pkg/apis/meta/v1/validation ValidateLabels; corpus 19 (Bad_Name)
pub fn validate_object_meta(object: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let empty = Value::Object(Map::new());
    let meta = object.get("metadata").unwrap_or(&empty);
    let s = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or("");
    let name = s("name");
    let generate_name = s("generateName");
    if !generate_name.is_empty() {
        let base = generate_name.strip_suffix('-').unwrap_or(generate_name);
        let base = if base.is_empty() { "a" } else { base };
        for m in validation::is_dns1123_subdomain(base) {
            errs.push(field::invalid(
                "metadata.generateName",
                &Value::String(generate_name.into()),
                &m,
            ));
        }
    }
    if name.is_empty() {
        if generate_name.is_empty() {
            errs.push(field::required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    } else {
        for m in validation::is_dns1123_subdomain(name) {
            errs.push(field::invalid(
                "metadata.name",
                &Value::String(name.into()),
                &m,
            ));
        }
    }
    let ns = s("namespace");
    if namespaced {
        if ns.is_empty() {
            errs.push(field::required("metadata.namespace", ""));
        } else {
            for m in validation::is_dns1123_label(ns) {
                errs.push(field::invalid(
                    "metadata.namespace",
                    &Value::String(ns.into()),
                    &m,
                ));
            }
        }
    } else if !ns.is_empty() {
        errs.push(field::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(Value::Object(labels)) = meta.get("labels") {
        for (k, v) in labels {
            for m in validation::is_qualified_name(k) {
                errs.push(field::invalid(
                    "metadata.labels",
                    &Value::String(k.clone()),
                    &m,
                ));
            }
            let v = v.as_str().unwrap_or("");
            for m in validation::is_valid_label_value(v) {
                errs.push(field::invalid(
                    "metadata.labels",
                    &Value::String(v.into()),
                    &m,
                ));
            }
        }
    }
    if let Some(Value::Object(annotations)) = meta.get("annotations") {
        let mut total = 0usize;
        for (k, v) in annotations {
            for m in validation::is_qualified_name(&k.to_lowercase()) {
                errs.push(field::invalid(
                    "metadata.annotations",
                    &Value::String(k.clone()),
                    &m,
                ));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > 256 * 1024 {
            errs.push(FieldError {
                reason: "FieldValueTooLong",
                field: "metadata.annotations".into(),
                message: format!("Too long: must have at most {} bytes", 256 * 1024),
            });
        }
    }
    if let Some(Value::Array(finalizers)) = meta.get("finalizers") {
        for f in finalizers {
            let f = f.as_str().unwrap_or("");
            for m in validation::is_qualified_name(f) {
                errs.push(field::invalid(
                    "metadata.finalizers",
                    &Value::String(f.into()),
                    &m,
                ));
            }
        }
    }
    if let Some(Value::Array(refs)) = meta.get("ownerReferences") {
        let mut controllers = 0;
        for r in refs {
            let g = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
            if g("apiVersion").is_empty() {
                errs.push(field::invalid(
                    "metadata.ownerReferences.apiVersion",
                    &Value::String(String::new()),
                    "version must not be empty",
                ));
            }
            if g("kind").is_empty() {
                errs.push(field::invalid(
                    "metadata.ownerReferences.kind",
                    &Value::String(String::new()),
                    "kind must not be empty",
                ));
            }
            if g("name").is_empty() {
                errs.push(field::invalid(
                    "metadata.ownerReferences.name",
                    &Value::String(String::new()),
                    "name must not be empty",
                ));
            }
            if g("uid").is_empty() {
                errs.push(field::invalid(
                    "metadata.ownerReferences.uid",
                    &Value::String(String::new()),
                    "uid must not be empty",
                ));
            }
            if r.get("controller").and_then(Value::as_bool) == Some(true) {
                controllers += 1;
            }
        }
        if controllers > 1 {
            errs.push(field::invalid(
                "metadata.ownerReferences",
                &Value::Array(refs.clone()),
                "Only one reference can have Controller set to true",
            ));
        }
    }
    errs
}

/// 422 cause for adding finalizers to an object being deleted, as the registry words it
/// (`found new finalizers []string{"a"}`).
// corpus 42-add-finalizer-while-deleting.http; apiserver registry/rest/update.go
pub fn no_new_finalizers(new_finalizers: &[String]) -> FieldError {
    field::forbidden(
        "metadata.finalizers",
        &format!(
            "no new finalizers can be added if the object is being deleted, found new finalizers {}",
            go_string_slice(new_finalizers)
        ),
    )
}

/// The path of a schema node as CRD validation prints it: `properties[a].items.properties[b]`.
fn schema_child(path: &str, seg: &str) -> String {
    format!("{path}.{seg}")
}

fn validate_crd_schema(s: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(m) = s.as_object() else { return };
    // structural: every specified node needs a type (apiextensions structural validation)
    let has_type = m
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    let exempt = m.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true)
        || preserves_unknown(s);
    if !has_type && !exempt && !path.ends_with("openAPIV3Schema") {
        errs.push(field::required(
            &format!("{path}.type"),
            "must not be empty for specified object fields",
        ));
    }
    if let Some(t) = m.get("type").and_then(Value::as_str)
        && ![
            "", "object", "array", "string", "integer", "number", "boolean",
        ]
        .contains(&t)
    {
        errs.push(field::not_supported(
            &format!("{path}.type"),
            &Value::String(t.into()),
            &["array", "boolean", "integer", "number", "object", "string"].map(String::from),
        ));
    }
    if m.get("type").and_then(Value::as_str) == Some("array") && m.get("items").is_none() {
        errs.push(field::required(
            &format!("{path}.items"),
            "must be specified",
        ));
    }
    if m.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
        let items = m.get("items");
        let keys: Vec<&str> = m
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if keys.is_empty() {
            errs.push(field::required(
                &format!("{path}.x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        if let Some(items) = items {
            let required: Vec<&str> = items
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for k in &keys {
                let prop = items.get("properties").and_then(|p| p.get(*k));
                let item_path = schema_child(path, "items");
                match prop {
                    None => errs.push(field::required(
                        &format!("{item_path}.properties[{k}]"),
                        "entries in x-kubernetes-list-map-keys must correspond to required or defaulted properties of the items",
                    )),
                    Some(p) => {
                        if !required.contains(k) && p.get("default").is_none() {
                            errs.push(field::required(
                                &format!("{item_path}.properties[{k}].default"),
                                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                            ));
                        }
                    }
                }
            }
        }
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            validate_crd_schema(p, &schema_child(path, &format!("properties[{k}]")), errs);
        }
    }
    if let Some(items) = m.get("items") {
        validate_crd_schema(items, &schema_child(path, "items"), errs);
    }
    if let Some(a) = additional_properties(s) {
        validate_crd_schema(a, &schema_child(path, "additionalProperties"), errs);
    }
}

/// The checks the apiserver makes on a CustomResourceDefinition before accepting it
/// (structural schema, list-map keys required or defaulted, names, versions).
// apiextensions-apiserver pkg/apis/apiextensions/validation/validation.go
// ValidateCustomResourceDefinition (subset); corpus 05c (list-map key text). A single schema (or
// identical schemas in every version) is reported under `spec.validation.openAPIV3Schema`,
// as the internal version hoists it.
pub fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = crd.get("spec").cloned().unwrap_or(Value::Null);
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let group = s(&spec, "group");
    let names = spec.get("names").cloned().unwrap_or(Value::Null);
    let plural = s(&names, "plural");
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name != format!("{plural}.{group}") {
        errs.push(field::invalid(
            "metadata.name",
            &Value::String(name.into()),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(field::required("spec.group", ""));
    } else {
        for m in validation::is_dns1123_subdomain(&group) {
            errs.push(field::invalid(
                "spec.group",
                &Value::String(group.clone()),
                &m,
            ));
        }
        if !group.contains('.') {
            errs.push(field::invalid(
                "spec.group",
                &Value::String(group.clone()),
                "should be a domain with at least one dot",
            ));
        }
    }
    match s(&spec, "scope").as_str() {
        "Cluster" | "Namespaced" => {}
        "" => errs.push(field::required("spec.scope", "")),
        other => errs.push(field::not_supported(
            "spec.scope",
            &Value::String(other.into()),
            &["Cluster".into(), "Namespaced".into()],
        )),
    }
    for k in ["plural", "singular", "kind", "listKind"] {
        let v = s(&names, k);
        if v.is_empty() && k != "singular" {
            errs.push(field::required(&format!("spec.names.{k}"), ""));
        }
        if !v.is_empty() && (k == "plural" || k == "singular") {
            for m in validation::is_dns1123_label(&v) {
                errs.push(field::invalid(
                    &format!("spec.names.{k}"),
                    &Value::String(v.clone()),
                    &m,
                ));
            }
        }
    }
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errs.push(field::invalid(
            "spec.versions",
            &Value::Null,
            "must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions
            .iter()
            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .count();
        if storage != 1 {
            errs.push(field::invalid(
                "spec.versions",
                &Value::Array(versions.clone()),
                "must have exactly one version marked as storage version",
            ));
        }
    }
    let schemas: Vec<Option<&Value>> = versions
        .iter()
        .map(|v| v.pointer("/schema/openAPIV3Schema"))
        .collect();
    let identical = schemas.windows(2).all(|w| w[0] == w[1]);
    if identical {
        if let Some(Some(schema)) = schemas.first() {
            validate_crd_schema(schema, "spec.validation.openAPIV3Schema", &mut errs);
        }
    } else {
        for (i, schema) in schemas.iter().enumerate() {
            if let Some(schema) = schema {
                validate_crd_schema(
                    schema,
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    &mut errs,
                );
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{self, Target};
    use serde_json::json;

    /// conformance/kube-apiserver/crd.yaml, openAPIV3Schema.
    fn schema() -> Value {
        json!({"type":"object","properties":{
          "spec":{"type":"object","required":["vmName","vmNamespace"],"properties":{
            "vmName":{"type":"string"},"vmNamespace":{"type":"string"},"sourceCluster":{"type":"string"}}},
          "status":{"type":"object","properties":{
            "phase":{"type":"string","enum":["Pending","Validating","CreatingDRBD","Syncing","ReadyToActivate","Activating","Protected","Failed"]},
            "message":{"type":"string"},
            "observedGeneration":{"type":"integer","format":"int64"},
            "conditions":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["type"],
              "items":{"type":"object","required":["type"],"properties":{
                "type":{"type":"string"},"status":{"type":"string"},"reason":{"type":"string"},
                "message":{"type":"string"},"lastTransitionTime":{"type":"string","format":"date-time"},
                "observedGeneration":{"type":"integer","format":"int64"}}}}}}}})
    }

    fn target(name: &'static str) -> Target<'static> {
        Target {
            resource: "protectionrequests",
            group: "siterecovery.trilio.io",
            kind: "ProtectionRequest",
            name,
        }
    }

    #[test]
    fn prune_reports_sorted_paths_corpus_16() {
        let mut o = json!({"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest",
            "metadata":{"name":"unk-strict","namespace":"dr"},
            "spec":{"vmName":"v","vmNamespace":"n","bogusField":1},"topLevelBogus":true});
        assert_eq!(
            prune(&mut o, &schema()),
            vec!["spec.bogusField", "topLevelBogus"]
        );
        assert_eq!(
            o,
            json!({"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest",
            "metadata":{"name":"unk-strict","namespace":"dr"},"spec":{"vmName":"v","vmNamespace":"n"}})
        );
        let msgs: Vec<String> = ["spec.bogusField", "topLevelBogus"]
            .iter()
            .map(|p| status::unknown_field(p))
            .collect();
        assert_eq!(
            serde_json::to_string(&status::strict_decoding(
                "ProtectionRequest",
                "v1alpha1",
                &msgs
            ))
            .unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ProtectionRequest in version \"v1alpha1\" cannot be handled as a ProtectionRequest: strict decoding error: unknown field \"spec.bogusField\", unknown field \"topLevelBogus\"","reason":"BadRequest","code":400}"#
        );
    }

    #[test]
    fn prune_nested_lists_metadata_and_preserve() {
        let s = json!({"type":"object","properties":{
            "a":{"type":"array","items":{"type":"object","properties":{"x":{"type":"string"}}}},
            "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true,
                    "properties":{"typed":{"type":"object","properties":{}}}},
            "m":{"type":"object","additionalProperties":{"type":"object","properties":{"k":{"type":"string"}}}}}});
        let mut o = json!({"metadata":{"name":"x","bogus":1},"a":[{"x":"1","y":2}],
            "free":{"anything":1,"typed":{"gone":1}},"m":{"e":{"k":"v","z":1}}});
        assert_eq!(
            prune(&mut o, &s),
            vec!["a[0].y", "free.typed.gone", "m.e.z", "metadata.bogus"]
        );
        assert_eq!(
            o,
            json!({"metadata":{"name":"x"},"a":[{"x":"1"}],
            "free":{"anything":1,"typed":{}},"m":{"e":{"k":"v"}}})
        );
    }

    #[test]
    fn defaults_apply_recursively() {
        let s = json!({"type":"object","properties":{"spec":{"type":"object","default":{},
            "properties":{"replicas":{"type":"integer","default":1},
                          "mode":{"type":"string","default":"a"},
                          "items":{"type":"array","items":{"type":"object","properties":{"p":{"type":"string","default":"d"}}}}}}}});
        let mut o = json!({"spec":null});
        apply_defaults(&mut o, &s);
        assert_eq!(o, json!({"spec":{"replicas":1,"mode":"a"}}));
        let mut o = json!({"spec":{"mode":"b","items":[{},{"p":"x"}]}});
        apply_defaults(&mut o, &s);
        assert_eq!(
            o,
            json!({"spec":{"mode":"b","items":[{"p":"d"},{"p":"x"}],"replicas":1}})
        );
    }

    #[test]
    fn required_matches_corpus_13() {
        let o = json!({"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest",
            "metadata":{"name":"bad-req","namespace":"dr"},"spec":{"sourceCluster":"east"}});
        let errs = validate(&o, &schema());
        assert_eq!(
            serde_json::to_string(&status::invalid(target("bad-req"), &errs)).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ProtectionRequest.siterecovery.trilio.io \"bad-req\" is invalid: [spec.vmName: Required value, spec.vmNamespace: Required value]","reason":"Invalid","details":{"name":"bad-req","group":"siterecovery.trilio.io","kind":"ProtectionRequest","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.vmName"},{"reason":"FieldValueRequired","message":"Required value","field":"spec.vmNamespace"}]},"code":422}"#
        );
        // no spec at all is fine (13, second exchange)
        assert!(validate(&json!({"metadata":{"name":"bad-req2"}}), &schema()).is_empty());
    }

    #[test]
    fn enum_matches_corpus_14() {
        let o = json!({"spec":{"vmName":"vm-1","vmNamespace":"vms"},"status":{"phase":"Bogus"}});
        let errs = validate(&o, &schema());
        assert_eq!(
            serde_json::to_string(&status::invalid(target("pr1"), &errs)).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ProtectionRequest.siterecovery.trilio.io \"pr1\" is invalid: status.phase: Unsupported value: \"Bogus\": supported values: \"Pending\", \"Validating\", \"CreatingDRBD\", \"Syncing\", \"ReadyToActivate\", \"Activating\", \"Protected\", \"Failed\"","reason":"Invalid","details":{"name":"pr1","group":"siterecovery.trilio.io","kind":"ProtectionRequest","causes":[{"reason":"FieldValueNotSupported","message":"Unsupported value: \"Bogus\": supported values: \"Pending\", \"Validating\", \"CreatingDRBD\", \"Syncing\", \"ReadyToActivate\", \"Activating\", \"Protected\", \"Failed\"","field":"status.phase"}]},"code":422}"#
        );
    }

    #[test]
    fn type_matches_corpus_15() {
        let o = json!({"spec":{"vmName":5,"vmNamespace":"vms"}});
        let errs = validate(&o, &schema());
        assert_eq!(
            serde_json::to_string(&status::invalid(target("bad-type"), &errs)).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ProtectionRequest.siterecovery.trilio.io \"bad-type\" is invalid: spec.vmName: Invalid value: \"integer\": spec.vmName in body must be of type string: \"integer\"","reason":"Invalid","details":{"name":"bad-type","group":"siterecovery.trilio.io","kind":"ProtectionRequest","causes":[{"reason":"FieldValueTypeInvalid","message":"Invalid value: \"integer\": spec.vmName in body must be of type string: \"integer\"","field":"spec.vmName"}]},"code":422}"#
        );
    }

    #[test]
    fn list_map_duplicates_and_bounds() {
        let o = json!({"status":{"conditions":[{"type":"Ready"},{"type":"Ready"},{"status":"x"}]}});
        let errs = validate(&o, &schema());
        assert_eq!(
            errs,
            vec![
                field::required("status.conditions[2].type", ""),
                FieldError {
                    reason: "FieldValueDuplicate",
                    field: "status.conditions[1]".into(),
                    message: "Duplicate value: map[string]interface {}{\"type\":\"Ready\"}".into()
                },
            ]
        );
        let s = json!({"type":"object","properties":{"n":{"type":"integer","maximum":10,"minimum":1},
            "s":{"type":"string","maxLength":2}}});
        let errs = validate(&json!({"n":11,"s":"abc"}), &s);
        assert_eq!(
            errs[0].message,
            "Invalid value: 11: n in body should be less than or equal to 10"
        );
        assert_eq!(errs[1].message, "Too long: may not be more than 2 bytes");
    }

    /// kube-openapi validate: errors.FailedPattern `"%s in %s should match '%s'"` (unanchored
    /// Go regexp match), reported by apiextensions as field.Invalid (FieldValueInvalid); a
    /// `date-time` string that is not RFC 3339 is errors.InvalidType (FieldValueTypeInvalid).
    /// No corpus exchange has a pattern; the texts follow the upstream formats.
    #[test]
    fn pattern_and_date_time_formats() {
        let s = json!({"type":"object","properties":{"spec":{"type":"object","properties":{
            "x":{"type":"string","pattern":"^[a-z]+$"},
            "y":{"type":"string","pattern":"[0-9]"},
            "t":{"type":"string","format":"date-time"}}}}});
        let ok = json!({"spec":{"x":"abc","y":"v1","t":"2026-11-24T07:01:41Z"}});
        assert_eq!(validate(&ok, &s), vec![]);
        let bad = json!({"spec":{"x":"Abc","y":"vx","t":"yesterday"}});
        let errs = validate(&bad, &s);
        let got: Vec<(&str, &str, &str)> = errs
            .iter()
            .map(|e| (e.reason, e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "FieldValueTypeInvalid",
                    "spec.t",
                    "Invalid value: \"yesterday\": spec.t in body must be of type date-time: \"yesterday\""
                ),
                (
                    "FieldValueInvalid",
                    "spec.x",
                    "Invalid value: \"Abc\": spec.x in body should match '^[a-z]+$'"
                ),
                (
                    "FieldValueInvalid",
                    "spec.y",
                    "Invalid value: \"vx\": spec.y in body should match '[0-9]'"
                ),
            ]
        );
    }

    #[test]
    fn invalid_name_matches_corpus_19() {
        let o = json!({"metadata":{"name":"Bad_Name","namespace":"dr"}});
        let errs = validate_object_meta(&o, true);
        assert_eq!(
            serde_json::to_string(&status::invalid(target("Bad_Name"), &errs)).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ProtectionRequest.siterecovery.trilio.io \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')","reason":"Invalid","details":{"name":"Bad_Name","group":"siterecovery.trilio.io","kind":"ProtectionRequest","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')","field":"metadata.name"}]},"code":422}"#
        );
        assert!(
            validate_object_meta(
                &json!({"metadata":{"name":"ok","namespace":"dr",
            "labels":{"app.kubernetes.io/name":"x"},"finalizers":["x/y"]}}),
                true
            )
            .is_empty()
        );
        assert_eq!(
            validate_object_meta(&json!({"metadata":{"name":"ok","namespace":"dr"}}), false)[0]
                .message,
            "Forbidden: not allowed on this type"
        );
    }

    #[test]
    fn no_new_finalizers_matches_corpus_42() {
        let e = no_new_finalizers(&["siterecovery.trilio.io/another".to_string()]);
        assert_eq!(
            e.to_string(),
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"siterecovery.trilio.io/another\"}"
        );
        assert_eq!(e.reason, "FieldValueForbidden");
    }

    fn crd(schema: Value) -> Value {
        json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
            "metadata":{"name":"protectionrequests.nolistkeyreq.trilio.io"},
            "spec":{"group":"nolistkeyreq.trilio.io","names":{"kind":"ProtectionRequest","listKind":"ProtectionRequestList",
              "plural":"protectionrequests","singular":"protectionrequest"},"scope":"Namespaced",
              "versions":[{"name":"v1alpha1","served":true,"storage":true,"schema":{"openAPIV3Schema":schema}}]}})
    }

    #[test]
    fn crd_list_map_key_must_be_required_corpus_05c() {
        assert!(validate_crd(&crd(schema())).is_empty());
        let mut s = schema();
        s["properties"]["status"]["properties"]["conditions"]["items"]
            .as_object_mut()
            .unwrap()
            .shift_remove("required");
        let errs = validate_crd(&crd(s));
        let t = Target {
            resource: "customresourcedefinitions",
            group: "apiextensions.k8s.io",
            kind: "CustomResourceDefinition",
            name: "protectionrequests.nolistkeyreq.trilio.io",
        };
        assert_eq!(
            serde_json::to_string(&status::invalid(t, &errs)).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"CustomResourceDefinition.apiextensions.k8s.io \"protectionrequests.nolistkeyreq.trilio.io\" is invalid: spec.validation.openAPIV3Schema.properties[status].properties[conditions].items.properties[type].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property","reason":"Invalid","details":{"name":"protectionrequests.nolistkeyreq.trilio.io","group":"apiextensions.k8s.io","kind":"CustomResourceDefinition","causes":[{"reason":"FieldValueRequired","message":"Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property","field":"spec.validation.openAPIV3Schema.properties[status].properties[conditions].items.properties[type].default"}]},"code":422}"#
        );
    }

    #[test]
    fn crd_names_and_structure() {
        let mut c = crd(json!({"type":"object","properties":{"spec":{"properties":{}}}}));
        c["metadata"]["name"] = json!("wrong");
        let fields: Vec<String> = validate_crd(&c)
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            fields,
            vec![
                "metadata.name: Invalid value: \"wrong\": must be spec.names.plural+\".\"+spec.group",
                "spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
            ]
        );
    }
}
