//! The three patch types a client may send to an update endpoint: JSON merge patch (RFC 7386),
//! JSON patch (RFC 6902, with the apiserver's quirks), and strategic merge patch for built-in
//! kinds.

use serde_json::{Map, Value};

/// Why a patch could not be applied; the variant decides the HTTP code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document itself is malformed (HTTP 400 BadRequest).
    #[error("{0}")]
    Malformed(String),
    /// The patch is well-formed but cannot be applied to this object (HTTP 422 Invalid).
    /// For JSON patch the apiserver does not show this text: it answers
    /// `status::patch_unprocessable()` (corpus 35b/35c); the text is for logs.
    #[error("{0}")]
    Unprocessable(String),
}

/// Removes null members from objects, recursively (also inside arrays), as
/// evanphx/json-patch `pruneDocNulls`/`pruneAryNulls` do to values a merge patch introduces.
fn prune_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), prune_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(prune_nulls).collect()),
        other => other.clone(),
    }
}

fn merge_into(doc: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, pv) in patch {
        if pv.is_null() {
            doc.remove(k);
            continue;
        }
        match (doc.get_mut(k), pv) {
            (Some(Value::Object(dm)), Value::Object(pm)) => merge_into(dm, pm),
            _ => {
                doc.insert(k.clone(), prune_nulls(pv));
            }
        }
    }
}

/// RFC 7386 JSON merge patch (`application/merge-patch+json`).
// evanphx/json-patch merge.go MergePatch (what apiserver/pkg/endpoints/handlers/patch.go uses):
// null deletes, objects merge recursively, anything else (arrays included) replaces; a patch
// that is not an object is `Invalid JSON Patch`.
pub fn merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Object(pm) = patch else {
        return Err(PatchError::Malformed("Invalid JSON Patch".to_string()));
    };
    let mut doc = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    merge_into(&mut doc, pm);
    Ok(Value::Object(doc))
}

/// Go's `encoding/json` name of a JSON value's type in `UnmarshalTypeError`.
fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON pointer tokens of `path` (`/a/b~1c` → `["a", "b/c"]`); `None` if it does not start
/// with `/` (evanphx `findObject` needs at least one `/`).
fn pointer_tokens(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// Deep equality with numbers compared as float64, as Go does after decoding into
/// `interface{}`.
fn go_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| go_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| go_equal(v, w)))
        }
        _ => a == b,
    }
}

/// The container that holds the last token of `tokens`.
fn parent_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    let (_, parents) = tokens.split_last()?;
    let mut cur = doc;
    for t in parents {
        cur = match cur {
            Value::Object(m) => m.get_mut(t)?,
            Value::Array(a) => {
                let i = array_index(t, a.len(), false)?;
                a.get_mut(i)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// An array index token; negative indices count from the end (evanphx v4
/// `SupportNegativeIndices`). With `for_add`, `len` and `-` are allowed.
fn array_index(token: &str, len: usize, for_add: bool) -> Option<usize> {
    if token == "-" {
        return for_add.then_some(len);
    }
    let i: i64 = token.parse().ok()?;
    let len_i = i64::try_from(len).ok()?;
    let i = if i < 0 { len_i + i } else { i };
    let max = if for_add { len_i } else { len_i - 1 };
    if i < 0 || i > max {
        return None;
    }
    usize::try_from(i).ok()
}

fn op_get(doc: &Value, tokens: &[String]) -> Option<Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get(t)?,
            Value::Array(a) => a.get(array_index(t, a.len(), false)?)?,
            _ => return None,
        };
    }
    Some(cur.clone())
}

fn op_add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let tokens = pointer_tokens(path)
        .ok_or_else(|| format!("add operation does not apply: doc is missing path: \"{path}\""))?;
    let missing = || format!("add operation does not apply: doc is missing path: \"{path}\"");
    let key = tokens.last().cloned().unwrap_or_default();
    match parent_mut(doc, &tokens).ok_or_else(missing)? {
        Value::Object(m) => {
            m.insert(key, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(&key, a.len(), true)
                .ok_or_else(|| format!("Unable to access invalid index: {key}"))?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn op_remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\"");
    let tokens = pointer_tokens(path).ok_or_else(missing)?;
    let key = tokens.last().cloned().unwrap_or_default();
    match parent_mut(doc, &tokens).ok_or_else(missing)? {
        Value::Object(m) => m
            .shift_remove(&key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: missing value")),
        Value::Array(a) => {
            let i = array_index(&key, a.len(), false)
                .ok_or_else(|| format!("Unable to access invalid index: {key}"))?;
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

fn op_replace(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let missing = || format!("replace operation does not apply: doc is missing path: {path}");
    let tokens = pointer_tokens(path).ok_or_else(missing)?;
    let key = tokens.last().cloned().unwrap_or_default();
    match parent_mut(doc, &tokens).ok_or_else(missing)? {
        // evanphx v4 partialDoc.get returns (nil, nil) for a missing key, so replace adds it
        // (corpus 35c: replace on a missing path answers 200).
        Value::Object(m) => {
            m.insert(key, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(&key, a.len(), false).ok_or_else(|| {
                format!("replace operation does not apply: doc is missing key: {path}")
            })?;
            a[i] = value;
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn op_test(doc: &mut Value, path: &str, value: &Value) -> Result<(), String> {
    let failed = || format!("testing value {path} failed: test failed");
    let tokens = pointer_tokens(path)
        .ok_or_else(|| format!("test operation does not apply: is missing path: {path}"))?;
    let parent = parent_mut(doc, &tokens)
        .ok_or_else(|| format!("test operation does not apply: is missing path: {path}"))?;
    let key = tokens.last().cloned().unwrap_or_default();
    let current = match parent {
        Value::Object(m) => m.get(&key).cloned(),
        Value::Array(a) => Some(
            array_index(&key, a.len(), false)
                .and_then(|i| a.get(i).cloned())
                .ok_or_else(|| format!("error in test for path: '{path}'"))?,
        ),
        _ => {
            return Err(format!(
                "test operation does not apply: is missing path: {path}"
            ));
        }
    };
    // evanphx v4 test: a missing (or null) value equals a null/absent "value" (corpus 35).
    match current {
        None | Some(Value::Null) if value.is_null() => Ok(()),
        None | Some(Value::Null) => Err(failed()),
        Some(_) if value.is_null() => Err(failed()),
        Some(cur) if go_equal(&cur, value) => Ok(()),
        Some(_) => Err(failed()),
    }
}

/// RFC 6902 JSON patch (`application/json-patch+json`) as the apiserver's Go json-patch applies
/// it: `test` with value null succeeds on a missing path, `replace` on a missing path adds.
// apiserver/pkg/endpoints/handlers/patch.go applyJSPatch + gopkg.in/evanphx/json-patch.v4
// patch.go; corpus 35, 35b, 35c, 35d. A body that is not an array of objects is Malformed
// (400 `error decoding patch: json: cannot unmarshal object into Go value of type
// []handlers.jsonPatchOp`); an operation that does not apply is Unprocessable (422).
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        Value::Null => return Ok(target.clone()),
        Value::Array(ops) => ops,
        other => {
            return Err(PatchError::Malformed(format!(
                "error decoding patch: json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                go_json_type(other)
            )));
        }
    };
    for op in ops {
        let Value::Object(o) = op else {
            if op.is_null() {
                continue;
            }
            return Err(PatchError::Malformed(format!(
                "error decoding patch: json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                go_json_type(op)
            )));
        };
        for field in ["op", "path", "from"] {
            if let Some(v) = o.get(field).filter(|v| !v.is_string() && !v.is_null()) {
                return Err(PatchError::Malformed(format!(
                    "error decoding patch: json: cannot unmarshal {} into Go struct field jsonPatchOp.{field} of type string",
                    go_json_type(v)
                )));
            }
        }
    }
    let mut doc = target.clone();
    for op in ops {
        let Value::Object(o) = op else { continue };
        let kind = o.get("op").and_then(Value::as_str).unwrap_or("unknown");
        let path = o.get("path").and_then(Value::as_str);
        let value = o.get("value").cloned().unwrap_or(Value::Null);
        let need_path = || "operation missing path field".to_string();
        let r = match kind {
            "add" => path
                .ok_or_else(need_path)
                .and_then(|p| op_add(&mut doc, p, value)),
            "remove" => path
                .ok_or_else(need_path)
                .and_then(|p| op_remove(&mut doc, p).map(|_| ())),
            "replace" => path
                .ok_or_else(need_path)
                .and_then(|p| op_replace(&mut doc, p, value)),
            "test" => path
                .ok_or_else(need_path)
                .and_then(|p| op_test(&mut doc, p, &value)),
            "move" | "copy" => {
                let from = o.get("from").and_then(Value::as_str);
                match (from, path) {
                    (Some(from), Some(p)) => {
                        let got = if kind == "move" {
                            op_remove(&mut doc, from)
                        } else {
                            pointer_tokens(from)
                                .and_then(|t| op_get(&doc, &t))
                                .ok_or_else(|| format!("copy operation does not apply: doc is missing from path: {from}"))
                        };
                        got.and_then(|v| op_add(&mut doc, p, v))
                    }
                    _ => Err(format!("{kind} operation missing from or path field")),
                }
            }
            other => Err(format!("Unexpected kind: {other}")),
        };
        r.map_err(PatchError::Unprocessable)?;
    }
    Ok(doc)
}

// ---- strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch/patch.go) ----

/// How a list field of a built-in merges, from its Go `patchStrategy`/`patchMergeKey` tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// No `patchStrategy:"merge"`: the patch's list replaces the live one.
    Replace,
    /// `patchStrategy:"merge"` on a list of scalars: union (`finalizers`).
    MergePrimitive,
    /// `patchStrategy:"merge"` with `patchMergeKey`.
    MergeByKey(&'static str),
}

/// Pod spec lists (core/v1 types.go tags), relative to a PodSpec.
fn pod_spec_list(rest: &[&str]) -> ListStrategy {
    use ListStrategy::*;
    match rest {
        ["containers"] | ["initContainers"] | ["ephemeralContainers"] => MergeByKey("name"),
        ["volumes"] | ["imagePullSecrets"] | ["resourceClaims"] | ["schedulingGates"] => {
            MergeByKey("name")
        }
        ["hostAliases"] => MergeByKey("ip"),
        ["topologySpreadConstraints"] => MergeByKey("topologyKey"),
        [c, "env"] if is_container_list(c) => MergeByKey("name"),
        [c, "ports"] if is_container_list(c) => MergeByKey("containerPort"),
        [c, "volumeMounts"] if is_container_list(c) => MergeByKey("mountPath"),
        [c, "volumeDevices"] if is_container_list(c) => MergeByKey("devicePath"),
        _ => Replace,
    }
}

fn is_container_list(s: &str) -> bool {
    matches!(s, "containers" | "initContainers" | "ephemeralContainers")
}

/// The strategy of the list at `path` (field names from the object root; list elements are
/// named by their list) in the built-in `kind`.
pub(crate) fn list_strategy(kind: &str, path: &[&str]) -> ListStrategy {
    use ListStrategy::*;
    match path {
        // ObjectMeta: finalizers `patchStrategy:"merge"`, ownerReferences `patchMergeKey:"uid"`
        ["metadata", "finalizers"] => return MergePrimitive,
        ["metadata", "ownerReferences"] => return MergeByKey("uid"),
        // every built-in status condition list we serve uses `patchMergeKey:"type"`
        ["status", "conditions"] => return MergeByKey("type"),
        _ => {}
    }
    match (kind, path) {
        ("Node", ["status", "addresses"]) => MergeByKey("type"),
        ("Pod", ["spec", rest @ ..]) => pod_spec_list(rest),
        ("Pod", ["status", "podIPs"]) => MergeByKey("ip"),
        (
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job",
            ["spec", "template", "spec", rest @ ..],
        ) => pod_spec_list(rest),
        ("Service", ["spec", "ports"]) => MergeByKey("port"),
        // k8s.io/api/admissionregistration/v1 types.go: `Webhooks … patchStrategy:"merge"
        // patchMergeKey:"name"`
        ("MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration", ["webhooks"]) => {
            MergeByKey("name")
        }
        // k8s.io/api/core/v1 types.go ServiceAccount: `Secrets … patchMergeKey:"name"`
        ("ServiceAccount", ["secrets"]) => MergeByKey("name"),
        _ => Replace,
    }
}

const PATCH_DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

struct Smp<'a> {
    kind: &'a str,
}

impl Smp<'_> {
    /// `mergeMap`: merges `patch` into `original` at `path`.
    fn merge_map(
        &self,
        original: &Map<String, Value>,
        patch: &Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        match patch.get(PATCH_DIRECTIVE) {
            None => {}
            Some(Value::String(d)) if d == "replace" => {
                let mut p = patch.clone();
                p.shift_remove(PATCH_DIRECTIVE);
                return self
                    .merge_map(&Map::new(), &p, path)
                    .map(|m| Some(m.unwrap_or_default()));
            }
            Some(Value::String(d)) if d == "delete" => return Ok(None),
            Some(Value::String(d)) if d == "merge" => {}
            Some(other) => {
                return Err(PatchError::Malformed(format!(
                    "Unknown patch type: {}, Patch directive: {}",
                    other.as_str().unwrap_or(&other.to_string()),
                    other.as_str().unwrap_or(&other.to_string())
                )));
            }
        }
        let mut out = original.clone();
        // $retainKeys: drop every field of the original the list does not name
        if let Some(retain) = patch.get(RETAIN_KEYS) {
            let Value::Array(keys) = retain else {
                return Err(PatchError::Malformed(
                    "invalid patch: $retainKeys must be a list".to_string(),
                ));
            };
            let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
            out.retain(|k, _| keys.contains(&k.as_str()));
        }
        // $deleteFromPrimitiveList/<field>
        for (k, v) in patch {
            if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                let Value::Array(del) = v else {
                    return Err(PatchError::Malformed(format!(
                        "invalid patch: {k} must be a list"
                    )));
                };
                if let Some(Value::Array(list)) = out.get_mut(field) {
                    list.retain(|item| !del.contains(item));
                }
            }
        }
        for (k, pv) in patch {
            if k == PATCH_DIRECTIVE
                || k == RETAIN_KEYS
                || k.starts_with(SET_ELEMENT_ORDER)
                || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            {
                continue;
            }
            if pv.is_null() {
                out.shift_remove(k);
                continue;
            }
            path.push(k.clone());
            let merged = match (out.get(k), pv) {
                (orig, Value::Object(pm)) => {
                    let empty = Map::new();
                    let om = match orig {
                        Some(Value::Object(om)) => om,
                        _ => &empty,
                    };
                    self.merge_map(om, pm, path)?.map(Value::Object)
                }
                (orig, Value::Array(pl)) => {
                    let empty = Vec::new();
                    let ol = match orig {
                        Some(Value::Array(ol)) => ol,
                        _ => &empty,
                    };
                    let order = patch
                        .get(&format!("{SET_ELEMENT_ORDER}{k}"))
                        .and_then(Value::as_array);
                    Some(Value::Array(self.merge_list(ol, pl, order, path)?))
                }
                (_, other) => Some(other.clone()),
            };
            path.pop();
            match merged {
                Some(v) => {
                    out.insert(k.clone(), v);
                }
                None => {
                    out.shift_remove(k);
                }
            }
        }
        // a $setElementOrder for a list the patch does not otherwise touch still reorders it
        for (k, v) in patch {
            if let Some(field) = k.strip_prefix(SET_ELEMENT_ORDER)
                && !patch.contains_key(field)
                && let (Some(Value::Array(list)), Value::Array(order)) = (out.get_mut(field), v)
            {
                path.push(field.to_string());
                let strategy = self.strategy(path);
                path.pop();
                let sorted = sort_by_order(std::mem::take(list), order, strategy);
                *list = sorted;
            }
        }
        Ok(Some(out))
    }

    fn strategy(&self, path: &[String]) -> ListStrategy {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        list_strategy(self.kind, &p)
    }

    fn merge_list(
        &self,
        original: &[Value],
        patch: &[Value],
        order: Option<&Vec<Value>>,
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        let strategy = self.strategy(path);
        // `$patch: replace` as a list element replaces the whole list
        let replace = patch
            .iter()
            .any(|e| e.get(PATCH_DIRECTIVE).and_then(Value::as_str) == Some("replace"));
        let strip = |e: &Value| -> Result<Value, PatchError> {
            match e {
                Value::Object(m) => {
                    let mut m = m.clone();
                    m.shift_remove(PATCH_DIRECTIVE);
                    Ok(Value::Object(
                        self.merge_map(&Map::new(), &m, &mut path.clone())?
                            .unwrap_or_default(),
                    ))
                }
                other => Ok(other.clone()),
            }
        };
        let merged = match strategy {
            _ if replace => patch
                .iter()
                .filter(|e| e.get(PATCH_DIRECTIVE).and_then(Value::as_str) != Some("replace"))
                .map(strip)
                .collect::<Result<Vec<_>, _>>()?,
            ListStrategy::Replace => patch.iter().map(strip).collect::<Result<Vec<_>, _>>()?,
            ListStrategy::MergePrimitive => {
                let mut out = original.to_vec();
                for e in patch {
                    if !out.contains(e) {
                        out.push(e.clone());
                    }
                }
                out
            }
            ListStrategy::MergeByKey(key) => {
                let mut out = original.to_vec();
                for e in patch {
                    let Value::Object(pm) = e else {
                        return Err(PatchError::Malformed(format!(
                            "invalid patch: list {} of {} must contain maps",
                            path.join("."),
                            self.kind
                        )));
                    };
                    let Some(kv) = pm.get(key) else {
                        return Err(PatchError::Malformed(format!(
                            "map: {} does not contain declared merge key: {key}",
                            Value::Object(pm.clone())
                        )));
                    };
                    let pos = out.iter().position(|o| o.get(key) == Some(kv));
                    let directive = pm.get(PATCH_DIRECTIVE).and_then(Value::as_str);
                    if directive == Some("delete") {
                        out.retain(|o| o.get(key) != Some(kv));
                        continue;
                    }
                    match pos {
                        Some(i) => {
                            let om = out[i].as_object().cloned().unwrap_or_default();
                            match self.merge_map(&om, pm, path)? {
                                Some(m) => out[i] = Value::Object(m),
                                None => {
                                    out.remove(i);
                                }
                            }
                        }
                        None => {
                            if let Some(m) = self.merge_map(&Map::new(), pm, path)? {
                                out.push(Value::Object(m));
                            }
                        }
                    }
                }
                out
            }
        };
        Ok(match order {
            Some(order) => sort_by_order(merged, order, strategy),
            None => merged,
        })
    }
}

/// `$setElementOrder`: elements named in `order` first, in that order; the others (server-only
/// elements) after them in their current order.
fn sort_by_order(list: Vec<Value>, order: &[Value], strategy: ListStrategy) -> Vec<Value> {
    let ident = |e: &Value| -> Value {
        match strategy {
            ListStrategy::MergeByKey(k) => e.get(k).cloned().unwrap_or(Value::Null),
            _ => e.clone(),
        }
    };
    let order_ids: Vec<Value> = order.iter().map(&ident).collect();
    let mut known: Vec<(usize, Value)> = Vec::new();
    let mut rest = Vec::new();
    for e in list {
        match order_ids.iter().position(|o| *o == ident(&e)) {
            Some(i) => known.push((i, e)),
            None => rest.push(e),
        }
    }
    known.sort_by_key(|(i, _)| *i);
    known.into_iter().map(|(_, e)| e).chain(rest).collect()
}

/// Strategic merge patch (`application/strategic-merge-patch+json`) for the built-in `kind`
/// (e.g. `Node`, `PersistentVolumeClaim`, `Secret`): lists merge by their Go `patchMergeKey`,
/// and the `$patch`, `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList`
/// directives that kubectl apply sends are honoured. Kinds without known patch metadata treat
/// every list as atomic.
// k8s.io/apimachinery/pkg/util/strategicpatch/patch.go StrategicMergePatch / mergeMap /
// mergeSlice; list strategies from the `patchStrategy`/`patchMergeKey` tags of
// k8s.io/api/core/v1/types.go and meta/v1/types.go (Node.spec.taints and
// Namespace.spec.finalizers carry no strategy, so they are replaced).
pub fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    kind: &str,
) -> Result<Value, PatchError> {
    let Value::Object(pm) = patch else {
        return Err(PatchError::Malformed(
            "invalid JSON document: the patch must be a JSON object".to_string(),
        ));
    };
    let empty = Map::new();
    let om = target.as_object().unwrap_or(&empty);
    let smp = Smp { kind };
    let out = smp.merge_map(om, pm, &mut Vec::new())?;
    Ok(Value::Object(out.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn w1() -> Value {
        // corpus 30-write-create-w1.http (managedFields elided)
        json!({"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest",
            "metadata":{"creationTimestamp":"2026-11-24T07:01:41Z","generation":1,"name":"w1",
            "namespace":"dr","resourceVersion":"223","uid":"e7f8ae4a-8c0e-4f42-8eb0-8d468a2f427b"},
            "spec":{"sourceCluster":"east","vmName":"vm-w1","vmNamespace":"vms"}})
    }

    #[test]
    fn merge_patch_corpus_31() {
        let out = merge_patch(&w1(), &json!({"spec":{"sourceCluster":"west"}})).unwrap();
        assert_eq!(
            out["spec"],
            json!({"sourceCluster":"west","vmName":"vm-w1","vmNamespace":"vms"})
        );
    }

    #[test]
    fn merge_patch_rfc7386() {
        let t = json!({"a":{"b":1,"c":[1,2]},"d":"x"});
        let out = merge_patch(
            &t,
            &json!({"a":{"b":null,"c":[3],"e":{"f":null,"g":1}},"d":null}),
        )
        .unwrap();
        assert_eq!(out, json!({"a":{"c":[3],"e":{"g":1}}}));
        assert_eq!(
            merge_patch(&t, &json!("x")),
            Err(PatchError::Malformed("Invalid JSON Patch".into()))
        );
    }

    #[test]
    fn json_patch_test_null_on_missing_corpus_35() {
        let p = json!([{"op":"test","path":"/metadata/finalizers","value":null},
                       {"op":"add","path":"/metadata/finalizers","value":["x/y"]}]);
        let out = json_patch(&w1(), &p).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["x/y"]));
        // corpus 35b: same patch once finalizers exist → 422
        assert!(matches!(
            json_patch(&out, &p),
            Err(PatchError::Unprocessable(_))
        ));
        // corpus 35d: remove the finalizers again
        let back = json_patch(
            &out,
            &json!([{"op":"remove","path":"/metadata/finalizers"}]),
        )
        .unwrap();
        assert_eq!(back, w1());
    }

    #[test]
    fn json_patch_quirks_corpus_35c() {
        // test mismatch → 422
        assert!(matches!(
            json_patch(
                &w1(),
                &json!([{"op":"test","path":"/spec/vmName","value":"nope"}])
            ),
            Err(PatchError::Unprocessable(_))
        ));
        assert_eq!(
            json_patch(
                &w1(),
                &json!([{"op":"test","path":"/spec/vmName","value":"vm-w1"}])
            )
            .unwrap(),
            w1()
        );
        // replace on a missing path → adds (200; the field is then pruned by the schema)
        let out = json_patch(
            &w1(),
            &json!([{"op":"replace","path":"/spec/doesNotExist","value":"x"}]),
        )
        .unwrap();
        assert_eq!(out["spec"]["doesNotExist"], json!("x"));
        // remove on a missing path → 422
        assert!(matches!(
            json_patch(
                &w1(),
                &json!([{"op":"remove","path":"/metadata/labels/nope"}])
            ),
            Err(PatchError::Unprocessable(_))
        ));
        // body that is not an array → 400 with Go's decoding error
        assert_eq!(
            json_patch(&w1(), &json!({"op":"add"})),
            Err(PatchError::Malformed(
                "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp".into()
            ))
        );
    }

    #[test]
    fn json_patch_arrays_move_copy() {
        let t = json!({"a":[1,2,3],"b":{"c":1}});
        let out = json_patch(
            &t,
            &json!([
                {"op":"add","path":"/a/-","value":4},
                {"op":"add","path":"/a/0","value":0},
                {"op":"remove","path":"/a/1"},
                {"op":"replace","path":"/a/0","value":9},
                {"op":"copy","from":"/b/c","path":"/d"},
                {"op":"move","from":"/b","path":"/e"},
                {"op":"test","path":"/d","value":1.0}
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"a":[9,2,3,4],"d":1,"e":{"c":1}}));
        assert!(json_patch(&t, &json!([{"op":"add","path":"/a/7","value":1}])).is_err());
        assert!(json_patch(&t, &json!([{"op":"bogus","path":"/a"}])).is_err());
        assert!(json_patch(&t, &json!([{"op":"add","path":"/x/y","value":1}])).is_err());
    }

    #[test]
    fn smp_metadata_maps_sets_and_owner_refs() {
        let t = json!({"metadata":{"name":"n","labels":{"a":"1","b":"2"},"finalizers":["x"],
            "ownerReferences":[{"uid":"u1","name":"o1"},{"uid":"u2","name":"o2"}]},
            "data":{"k":"v","k2":"v2"}});
        let out = strategic_merge_patch(&t, &json!({"metadata":{"labels":{"a":null,"c":"3"},
            "finalizers":["y","x"],"ownerReferences":[{"uid":"u2","name":"o2b"},{"uid":"u3","name":"o3"},{"uid":"u1","$patch":"delete"}]},
            "data":{"k":null,"k3":"v3"}}), "ConfigMap").unwrap();
        assert_eq!(
            out,
            json!({"metadata":{"name":"n","labels":{"b":"2","c":"3"},"finalizers":["x","y"],
            "ownerReferences":[{"uid":"u2","name":"o2b"},{"uid":"u3","name":"o3"}]},
            "data":{"k2":"v2","k3":"v3"}})
        );
    }

    #[test]
    fn smp_merges_webhooks_by_name_as_kubectl_apply_expects() {
        // What `kubectl apply` sends when one webhook's caBundle changes: only that field,
        // keyed by the webhook's name; everything else of the webhook stays.
        let live = json!({"webhooks":[
            {"name":"v","clientConfig":{"url":"https://x/validate","caBundle":"old"},"rules":[]},
            {"name":"w","clientConfig":{"url":"https://y"}}]});
        let patch = json!({"$setElementOrder/webhooks":[{"name":"v"},{"name":"w"}],
            "webhooks":[{"name":"v","clientConfig":{"caBundle":"new"}}]});
        let out = strategic_merge_patch(&live, &patch, "ValidatingWebhookConfiguration").unwrap();
        assert_eq!(
            out,
            json!({"webhooks":[
                {"name":"v","clientConfig":{"url":"https://x/validate","caBundle":"new"},"rules":[]},
                {"name":"w","clientConfig":{"url":"https://y"}}]})
        );
    }

    #[test]
    fn smp_node_taints_are_replaced() {
        // core/v1 NodeSpec.Taints has no patchStrategy tag
        let t = json!({"spec":{"taints":[{"key":"a","effect":"NoSchedule"}],"unschedulable":true}});
        let out = strategic_merge_patch(
            &t,
            &json!({"spec":{"taints":[{"key":"b","effect":"NoExecute"}]}}),
            "Node",
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"spec":{"taints":[{"key":"b","effect":"NoExecute"}],"unschedulable":true}})
        );
    }

    #[test]
    fn smp_directives() {
        let t = json!({"metadata":{"finalizers":["a","b","c"]},
            "spec":{"containers":[{"name":"x","image":"1"},{"name":"y","image":"2"}],
                    "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}});
        let p = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["b"]},
            "spec":{"$setElementOrder/containers":[{"name":"y"},{"name":"x"}],
                    "containers":[{"name":"x","image":"3"}],
                    "strategy":{"$retainKeys":["type"],"type":"Recreate"}}});
        let out = strategic_merge_patch(&t, &p, "Pod").unwrap();
        assert_eq!(
            out,
            json!({"metadata":{"finalizers":["a","c"]},
            "spec":{"containers":[{"name":"y","image":"2"},{"name":"x","image":"3"}],
                    "strategy":{"type":"Recreate"}}})
        );
        // $patch: replace on a map, $patch: delete on a map
        let out = strategic_merge_patch(
            &json!({"data":{"a":"1"},"x":{"y":1}}),
            &json!({"data":{"$patch":"replace","b":"2"},"x":{"$patch":"delete"}}),
            "ConfigMap",
        )
        .unwrap();
        assert_eq!(out, json!({"data":{"b":"2"}}));
        // $patch: replace inside a merging list
        let out = strategic_merge_patch(
            &json!({"status":{"conditions":[{"type":"A"},{"type":"B"}]}}),
            &json!({"status":{"conditions":[{"$patch":"replace"},{"type":"C"}]}}),
            "Node",
        )
        .unwrap();
        assert_eq!(out, json!({"status":{"conditions":[{"type":"C"}]}}));
    }
}
