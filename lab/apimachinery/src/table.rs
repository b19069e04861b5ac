//! Server-side printing: `meta.k8s.io/v1` Tables from a CRD version's
//! `additionalPrinterColumns`, JSONPath cells, and humanized ages as
//! `k8s.io/apimachinery/pkg/util/duration.HumanDuration` prints them.

use serde_json::{Map, Value, json};

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

/// `swaggerMetadataDescriptions["name"]` — ObjectMeta.name's doc, the implicit Name column's
/// description (corpus 07-pr-list-table.http).
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `swaggerMetadataDescriptions["creationTimestamp"]`, the description of the Age column
/// served for a CRD version without printer columns.
pub const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn name_column() -> Column {
    Column {
        name: "Name".into(),
        type_: "string".into(),
        format: "name".into(),
        description: NAME_DESCRIPTION.into(),
        priority: 0,
        json_path: String::new(),
    }
}

/// The columns for a CRD version (`spec.versions[i]`), or the default Name/Age columns for
/// `None`.
// apiextensions-apiserver pkg/registry/customresource/tableconvertor/tableconvertor.go New;
// pkg/apiserver/customresource_handler.go serveDefaultColumnsIfEmpty
pub fn columns(crd_version: Option<&Value>) -> Vec<Column> {
    let mut cols = vec![name_column()];
    let crd_cols = crd_version
        .and_then(|v| v.get("additionalPrinterColumns"))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    match crd_cols {
        Some(defs) => {
            for d in defs {
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let json_path = s("jsonPath");
                let description = match s("description") {
                    d if d.is_empty() => format!(
                        "Custom resource definition column (in JSONPath format): {json_path}"
                    ),
                    d => d,
                };
                cols.push(Column {
                    name: s("name"),
                    type_: s("type"),
                    format: s("format"),
                    description,
                    priority: d.get("priority").and_then(Value::as_i64).unwrap_or(0),
                    json_path,
                });
            }
        }
        None => cols.push(Column {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: CREATION_TIMESTAMP_DESCRIPTION.into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }),
    }
    cols
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)` with Go's exponent form).
fn go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{}", f as i64);
    }
    let abs = f.abs();
    if !(1e-4..1e21).contains(&abs) {
        // Go: 1e+21, 1.5e-05
        let s = format!("{f:e}");
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("+", e),
            };
            return format!("{m}e{sign}{digits:0>2}");
        }
        return s;
    }
    format!("{f}")
}

/// The text a `string` column prints for a JSONPath result (jsonpath `PrintResults`): strings
/// as-is, maps and lists as compact JSON with sorted keys, numbers and booleans in Go `%v`.
fn print_result(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => go_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::Array(_) | Value::Object(_) => sorted(v).to_string(),
    })
}

/// A copy with every object's keys sorted (Go's `json.Marshal` of a map).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// `cellForJSONValue` for a non-string column.
fn cell_for_json_value(type_: &str, v: &Value, now: jiff::Timestamp) -> Value {
    match (type_, v) {
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => json!(i),
            None => json!(n.as_f64().unwrap_or(0.0) as i64),
        },
        ("number", Value::Number(n)) => json!(n.as_f64().unwrap_or(0.0)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("string", Value::String(s)) => json!(s),
        ("date", Value::String(s)) => match s.parse::<jiff::Timestamp>() {
            Ok(t) => json!(human_duration(now.duration_since(t))),
            Err(_) => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

/// One row's cells.
fn cells(columns: &[Column], object: &Value, now: jiff::Timestamp) -> Vec<Value> {
    columns
        .iter()
        .map(|c| {
            if c.json_path.is_empty() {
                return json!(
                    object
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                );
            }
            match json_path(object, &c.json_path) {
                None => Value::Null,
                Some(v) if c.type_ == "string" => {
                    print_result(&v).map_or(Value::Null, Value::String)
                }
                Some(v) => cell_for_json_value(&c.type_, &v, now),
            }
        })
        .collect()
}

/// A Table (Go struct order) of `objects`, ages measured at `now`. `with_definitions = false`
/// writes `"columnDefinitions":null`, as every event after the first of a Table watch does.
// corpus 07, 07b, 07c, 07d, 53; apiextensions tableconvertor.ConvertToTable,
// meta/v1 types.go Table{TypeMeta, ListMeta, ColumnDefinitions, Rows}, TableRow{Cells,
// Conditions(omitempty), Object}
pub fn table(
    columns: &[Column],
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
    now: jiff::Timestamp,
    with_definitions: bool,
) -> Value {
    let defs = if with_definitions {
        Value::Array(
            columns
                .iter()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "type": c.type_,
                        "format": c.format,
                        "description": c.description,
                        "priority": c.priority,
                    })
                })
                .collect(),
        )
    } else {
        Value::Null
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = match include {
                IncludeObject::Metadata => partial_object_metadata(o),
                IncludeObject::Object => o.clone(),
                IncludeObject::None => Value::Null,
            };
            json!({"cells": cells(columns, o, now), "object": object})
        })
        .collect();
    let mut t = Map::new();
    t.insert("kind".into(), json!("Table"));
    t.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    t.insert("metadata".into(), list_metadata);
    t.insert("columnDefinitions".into(), defs);
    t.insert("rows".into(), Value::Array(rows));
    Value::Object(t)
}

/// `HumanDuration`: "0s", "12s", "4m15s", "2d", "3y45d".
// k8s.io/apimachinery/pkg/util/duration/duration.go HumanDuration
pub fn human_duration(d: jiff::SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

/// One step of a simple JSONPath.
enum Step {
    Field(String),
    Index(i64),
    /// `[?(@.a.b=='v')]`: the first list element whose field path equals the string.
    Filter(Vec<String>, String),
}

fn parse_json_path(path: &str) -> Option<Vec<Step>> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut steps = Vec::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let mut name = String::new();
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    name.push(chars[i]);
                    i += 1;
                }
                if name.is_empty() {
                    return None;
                }
                steps.push(Step::Field(name));
            }
            '[' => {
                let end = chars[i..].iter().position(|c| *c == ']')? + i;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
                    steps.push(parse_filter(filter)?);
                } else if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    steps.push(Step::Field(q.to_string()));
                } else {
                    steps.push(Step::Index(inner.parse().ok()?));
                }
                i = end + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// `@.type=='Ready'` (or `"Ready"`): the equality filters printer columns use, e.g. KubeVirt's
/// `.status.conditions[?(@.type=='Ready')].status`.
fn parse_filter(filter: &str) -> Option<Step> {
    let (left, right) = filter.split_once("==")?;
    let fields: Vec<String> = left
        .trim()
        .strip_prefix("@.")?
        .split('.')
        .map(str::to_string)
        .collect();
    let right = right.trim();
    let value = right
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .or_else(|| right.strip_prefix('"').and_then(|v| v.strip_suffix('"')))?;
    Some(Step::Filter(fields, value.to_string()))
}

/// A `kubectl`-style JSONPath of the simple form CRD columns use (`.status.phase`,
/// `.spec.x[0].y`); `None` when absent.
// k8s.io/client-go/util/jsonpath (the subset CRD validation allows: fields, `\.`-escaped dots,
// `['name']`, and array indices, negative from the end)
pub fn json_path(object: &Value, path: &str) -> Option<Value> {
    let mut cur = object;
    for step in parse_json_path(path)? {
        cur = match (step, cur) {
            (Step::Field(f), Value::Object(m)) => m.get(&f)?,
            (Step::Index(i), Value::Array(a)) => {
                let len = i64::try_from(a.len()).ok()?;
                let i = if i < 0 { len + i } else { i };
                a.get(usize::try_from(i).ok()?)?
            }
            // The apiserver prints a column's first result (crd tableconvertor).
            (Step::Filter(fields, value), Value::Array(a)) => a.iter().find(|item| {
                fields
                    .iter()
                    .try_fold(*item, |v, f| v.get(f))
                    .and_then(Value::as_str)
                    == Some(value.as_str())
            })?,
            _ => return None,
        };
    }
    Some(cur.clone())
}

/// `ObjectMeta` in Go struct order, every field `omitempty` except `creationTimestamp` (a zero
/// `metav1.Time` prints `null`); `managedFields` and `ownerReferences` entries in their Go order.
pub fn object_meta_go_order(meta: &Value) -> Value {
    let mut out = Map::new();
    let copy = |out: &mut Map<String, Value>, k: &str, f: &dyn Fn(&Value) -> Value| {
        if let Some(v) = meta.get(k).filter(|v| !is_empty(v)) {
            out.insert(k.to_string(), f(v));
        }
    };
    let id = |v: &Value| v.clone();
    copy(&mut out, "name", &id);
    copy(&mut out, "generateName", &id);
    copy(&mut out, "namespace", &id);
    copy(&mut out, "selfLink", &id);
    copy(&mut out, "uid", &id);
    copy(&mut out, "resourceVersion", &id);
    copy(&mut out, "generation", &id);
    out.insert(
        "creationTimestamp".into(),
        meta.get("creationTimestamp")
            .cloned()
            .unwrap_or(Value::Null),
    );
    // pointers in Go: omitted only when nil (deletionGracePeriodSeconds: 0 is printed, 41)
    for k in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
        if let Some(v) = meta.get(k).filter(|v| !v.is_null()) {
            out.insert(k.to_string(), v.clone());
        }
    }
    copy(&mut out, "labels", &id);
    copy(&mut out, "annotations", &id);
    copy(&mut out, "ownerReferences", &|v| {
        reorder_each(
            v,
            &[
                "apiVersion",
                "kind",
                "name",
                "uid",
                "controller",
                "blockOwnerDeletion",
            ],
        )
    });
    copy(&mut out, "finalizers", &id);
    copy(&mut out, "managedFields", &|v| {
        reorder_each(
            v,
            &[
                "manager",
                "operation",
                "apiVersion",
                "time",
                "fieldsType",
                "fieldsV1",
                "subresource",
            ],
        )
    });
    Value::Object(out)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
    }
}

fn reorder_each(list: &Value, order: &[&str]) -> Value {
    match list {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| {
                    let mut m = Map::new();
                    for k in order {
                        if let Some(v) = item.get(*k) {
                            m.insert((*k).to_string(), v.clone());
                        }
                    }
                    Value::Object(m)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Wraps an object's metadata as `meta.k8s.io/v1` PartialObjectMetadata.
// corpus 08-pr-list-partialobjectmetadata.http, 08b
pub fn partial_object_metadata(object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or(json!({}));
    let mut m = Map::new();
    m.insert("kind".into(), json!("PartialObjectMetadata"));
    m.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    m.insert("metadata".into(), object_meta_go_order(&meta));
    Value::Object(m)
}

/// A `PartialObjectMetadataList` (Go order: kind, apiVersion, metadata, items).
// corpus 08-pr-list-partialobjectmetadata.http
pub fn partial_object_metadata_list(objects: &[Value], list_metadata: Value) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!("PartialObjectMetadataList"));
    m.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    m.insert("metadata".into(), list_metadata);
    m.insert(
        "items".into(),
        Value::Array(objects.iter().map(partial_object_metadata).collect()),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd_version() -> Value {
        // conformance/kube-apiserver/crd.yaml, spec.versions[0]
        json!({"name":"v1alpha1","additionalPrinterColumns":[
            {"name":"Phase","type":"string","jsonPath":".status.phase"},
            {"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"},
            {"name":"VM","type":"string","jsonPath":".spec.vmName","priority":1}]})
    }

    fn pr(name: &str, uid: &str, rv: &str, fields: Value, spec: Value) -> Value {
        json!({"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest",
            "metadata":{"creationTimestamp":"2026-11-24T07:00:25Z","generation":1,
            "managedFields":[{"apiVersion":"siterecovery.trilio.io/v1alpha1","fieldsType":"FieldsV1",
            "fieldsV1":fields,"manager":"corpus-capture","operation":"Update","time":"2026-11-24T07:00:25Z"}],
            "name":name,"namespace":"dr","resourceVersion":rv,"uid":uid},"spec":spec})
    }

    fn objects() -> Vec<Value> {
        vec![
            pr(
                "pr1",
                "f77b6e12-5568-4b5f-8cf8-4b8432fa8511",
                "208",
                json!({"f:spec":{".":{},"f:sourceCluster":{},"f:vmName":{},"f:vmNamespace":{}}}),
                json!({"sourceCluster":"east","vmName":"vm-1","vmNamespace":"vms"}),
            ),
            pr(
                "pr2",
                "125a7006-ddcf-41fe-9314-2787e54add8b",
                "209",
                json!({"f:spec":{".":{},"f:vmName":{},"f:vmNamespace":{}}}),
                json!({"vmName":"vm-2","vmNamespace":"vms"}),
            ),
        ]
    }

    fn now() -> jiff::Timestamp {
        "2026-11-24T07:00:37Z".parse().unwrap()
    }

    const COLS: &str = r#""columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names","priority":0},{"name":"Phase","type":"string","format":"","description":"Custom resource definition column (in JSONPath format): .status.phase","priority":0},{"name":"Age","type":"date","format":"","description":"Custom resource definition column (in JSONPath format): .metadata.creationTimestamp","priority":0},{"name":"VM","type":"string","format":"","description":"Custom resource definition column (in JSONPath format): .spec.vmName","priority":1}]"#;

    #[test]
    fn table_matches_corpus_07() {
        let v = crd_version();
        let t = table(
            &columns(Some(&v)),
            &objects(),
            IncludeObject::Metadata,
            json!({"resourceVersion":"210"}),
            now(),
            true,
        );
        let expected = format!(
            r#"{{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{{"resourceVersion":"210"}},{COLS},"rows":[{{"cells":["pr1",null,"12s","vm-1"],"object":{{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{{"name":"pr1","namespace":"dr","uid":"f77b6e12-5568-4b5f-8cf8-4b8432fa8511","resourceVersion":"208","generation":1,"creationTimestamp":"2026-11-24T07:00:25Z","managedFields":[{{"manager":"corpus-capture","operation":"Update","apiVersion":"siterecovery.trilio.io/v1alpha1","time":"2026-11-24T07:00:25Z","fieldsType":"FieldsV1","fieldsV1":{{"f:spec":{{".":{{}},"f:sourceCluster":{{}},"f:vmName":{{}},"f:vmNamespace":{{}}}}}}}}]}}}}}},{{"cells":["pr2",null,"12s","vm-2"],"object":{{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{{"name":"pr2","namespace":"dr","uid":"125a7006-ddcf-41fe-9314-2787e54add8b","resourceVersion":"209","generation":1,"creationTimestamp":"2026-11-24T07:00:25Z","managedFields":[{{"manager":"corpus-capture","operation":"Update","apiVersion":"siterecovery.trilio.io/v1alpha1","time":"2026-11-24T07:00:25Z","fieldsType":"FieldsV1","fieldsV1":{{"f:spec":{{".":{{}},"f:vmName":{{}},"f:vmNamespace":{{}}}}}}}}]}}}}}}]}}"#
        );
        assert_eq!(serde_json::to_string(&t).unwrap(), expected);
    }

    #[test]
    fn table_include_none_and_object_corpus_07b() {
        let v = crd_version();
        let t = table(
            &columns(Some(&v)),
            &objects(),
            IncludeObject::None,
            json!({"resourceVersion":"210"}),
            now(),
            true,
        );
        let expected = format!(
            r#"{{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{{"resourceVersion":"210"}},{COLS},"rows":[{{"cells":["pr1",null,"12s","vm-1"],"object":null}},{{"cells":["pr2",null,"12s","vm-2"],"object":null}}]}}"#
        );
        assert_eq!(serde_json::to_string(&t).unwrap(), expected);
        let t = table(
            &columns(Some(&v)),
            &objects(),
            IncludeObject::Object,
            json!({"resourceVersion":"210"}),
            now(),
            true,
        );
        assert_eq!(t["rows"][1]["object"], objects()[1]);
    }

    #[test]
    fn table_watch_event_without_definitions_corpus_53() {
        let v = crd_version();
        let mut o = objects()[0].clone();
        o["status"] = json!({"phase":"Syncing"});
        let later: jiff::Timestamp = "2026-11-24T07:04:56Z".parse().unwrap();
        let t = table(
            &columns(Some(&v)),
            &[o],
            IncludeObject::None,
            json!({"resourceVersion":"261"}),
            later,
            false,
        );
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"261"},"columnDefinitions":null,"rows":[{"cells":["pr1","Syncing","4m31s","vm-1"],"object":null}]}"#
        );
        let empty = table(
            &columns(Some(&v)),
            &[],
            IncludeObject::Metadata,
            json!({}),
            later,
            true,
        );
        assert_eq!(empty["rows"], json!([]));
    }

    #[test]
    fn default_columns_without_printer_columns() {
        let cols = columns(None);
        assert_eq!(cols.len(), 2);
        assert_eq!(cols[1].name, "Age");
        assert_eq!(cols[1].type_, "date");
        assert_eq!(cols[1].json_path, ".metadata.creationTimestamp");
        assert_eq!(columns(Some(&json!({"name":"v1"}))), cols);
    }

    #[test]
    fn cells_by_type() {
        let cols: Vec<Column> = columns(Some(&json!({"additionalPrinterColumns":[
            {"name":"I","type":"integer","jsonPath":".a"},
            {"name":"N","type":"number","jsonPath":".a"},
            {"name":"B","type":"boolean","jsonPath":".b"},
            {"name":"S","type":"string","jsonPath":".m"},
            {"name":"D","type":"date","jsonPath":".d"},
            {"name":"X","type":"string","jsonPath":".l[-1]"}]})));
        let o = json!({"metadata":{"name":"x"},"a":2,"b":true,"m":{"z":1,"a":[1]},"d":"bogus","l":[1,2.5]});
        assert_eq!(
            cells(&cols, &o, now()),
            vec![
                json!("x"),
                json!(2),
                json!(2.0),
                json!(true),
                json!(r#"{"a":[1],"z":1}"#),
                json!("<invalid>"),
                json!("2.5")
            ]
        );
    }

    #[test]
    fn human_duration_upstream_cases() {
        // duration_test.go TestHumanDuration
        let d = jiff::SignedDuration::from_secs;
        let cases = [
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (12, "12s"),
            (119, "119s"),
            (120, "2m"),
            (255, "4m15s"),
            (271, "4m31s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (49 * 3600, "2d1h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (775 * 86400, "2y45d"),
            (1095 * 86400 + 45 * 86400, "3y45d"),
            (8 * 365 * 86400, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(d(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn json_path_forms() {
        let o = json!({"metadata":{"annotations":{"a.b/c":"v"}},"spec":{"x":[{"y":1},{"y":2}]}});
        assert_eq!(json_path(&o, ".spec.x[1].y"), Some(json!(2)));
        assert_eq!(json_path(&o, ".spec.x[-1].y"), Some(json!(2)));
        assert_eq!(
            json_path(&o, ".metadata.annotations.a\\.b/c"),
            Some(json!("v"))
        );
        assert_eq!(
            json_path(&o, ".metadata.annotations['a.b/c']"),
            Some(json!("v"))
        );
        assert_eq!(json_path(&o, "{.spec.x[0].y}"), Some(json!(1)));
        assert_eq!(json_path(&o, ".status.phase"), None);
        // client-go jsonpath filters, as KubeVirt's READY column uses them.
        let vm = json!({"status":{"conditions":[{"type":"Paused","status":"False"},{"type":"Ready","status":"True"}]}});
        assert_eq!(
            json_path(&vm, ".status.conditions[?(@.type=='Ready')].status"),
            Some(json!("True"))
        );
        assert_eq!(
            json_path(&vm, r#".status.conditions[?(@.type=="Paused")].status"#),
            Some(json!("False"))
        );
        assert_eq!(
            json_path(&vm, ".status.conditions[?(@.type=='Gone')].status"),
            None
        );
    }

    #[test]
    fn partial_object_metadata_matches_corpus_08b() {
        assert_eq!(
            serde_json::to_string(&partial_object_metadata(&objects()[0])).unwrap(),
            r#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"pr1","namespace":"dr","uid":"f77b6e12-5568-4b5f-8cf8-4b8432fa8511","resourceVersion":"208","generation":1,"creationTimestamp":"2026-11-24T07:00:25Z","managedFields":[{"manager":"corpus-capture","operation":"Update","apiVersion":"siterecovery.trilio.io/v1alpha1","time":"2026-11-24T07:00:25Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{".":{},"f:sourceCluster":{},"f:vmName":{},"f:vmNamespace":{}}}}]}}"#
        );
        let list = partial_object_metadata_list(&objects(), json!({"resourceVersion":"210"}));
        let s = serde_json::to_string(&list).unwrap();
        assert!(s.starts_with(r#"{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"210"},"items":[{"kind":"PartialObjectMetadata""#));
    }
}
