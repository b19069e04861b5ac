//! Request bodies: JSON (noting duplicate keys, which strict field validation rejects and the
//! default mode warns about, last value winning as in Go — 16e) and YAML.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A body that is not valid JSON/YAML; the text is Go's (`unexpected end of JSON input`) where
/// we know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

struct Seed<'a> {
    path: String,
    dups: &'a RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or(Value::Null))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(v) = seq.next_element_seed(Seed {
            path: format!("{}[{i}]", self.path),
            dups: self.dups,
        })? {
            out.push(v);
            i += 1;
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let v = map.next_value_seed(Seed {
                path: path.clone(),
                dups: self.dups,
            })?;
            if out.contains_key(&key) {
                self.dups.borrow_mut().push(path);
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Parses JSON, returning the value and the paths of duplicated keys.
pub fn json(body: &[u8]) -> Result<(Value, Vec<String>), SyntaxError> {
    let dups = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Seed {
        path: String::new(),
        dups: &dups,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|_| v))
    .map_err(|e| {
        SyntaxError(if e.is_eof() {
            "unexpected end of JSON input".to_string()
        } else {
            e.to_string()
        })
    })?;
    Ok((value, dups.into_inner()))
}

/// Parses YAML (JSON is YAML too).
pub fn yaml(body: &[u8]) -> Result<Value, SyntaxError> {
    let text = std::str::from_utf8(body).map_err(|e| SyntaxError(e.to_string()))?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| SyntaxError(e.to_string()))
}

/// The start of a body as Go quotes it in decode errors: 30 bytes then ` ...`.
pub fn snippet(body: &[u8]) -> String {
    if body.len() > 30 {
        format!("{} ...", String::from_utf8_lossy(&body[..30]))
    } else {
        String::from_utf8_lossy(body).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_reported_and_the_last_value_wins() {
        // 16e-duplicate-field-strict.http
        let (v, dups) =
            json(br#"{"spec":{"vmName":"a","vmName":"b","vmNamespace":"n"}}"#).expect("json");
        assert_eq!(v["spec"]["vmName"], "b");
        assert_eq!(dups, ["spec.vmName"]);
    }

    #[test]
    fn truncated_json_is_reported_as_go_does() {
        // 19-err-malformed-json-400.http
        let body = br#"{"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest","metadata":{"name":"x""#;
        assert_eq!(
            json(body).map(|_| ()),
            Err(SyntaxError("unexpected end of JSON input".into()))
        );
        assert_eq!(snippet(body), r#"{"apiVersion":"siterecovery.tr ..."#);
    }

    #[test]
    fn yaml_bodies_parse_to_json() {
        let v = yaml(b"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"1\"\n").expect("yaml");
        assert_eq!(v["data"]["a"], "1");
    }
}
