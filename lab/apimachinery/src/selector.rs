//! Label and field selectors, parsed and matched as `k8s.io/apimachinery/pkg/labels` and
//! `pkg/fields` do.

use serde_json::{Map, Value};

use crate::status::go_quote;
use crate::validation;

/// A selector that could not be parsed or names an unsupported field; the text is the
/// apiserver's (e.g. `unable to parse requirement: found '=', expected: identifier`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// `selection.Operator` of a label requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One `labels.Requirement`: key, operator and its (sorted, deduplicated) values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    /// `Requirement.Matches` (k8s.io/apimachinery/pkg/labels/selector.go).
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels.and_then(|l| l.get(&self.key)).map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        });
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.values.contains(&v))
            }
            Operator::NotIn | Operator::NotEquals => match value {
                None => true,
                Some(v) => !self.values.contains(&v),
            },
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(Ok(have)) = value.map(|v| v.parse::<i64>()) else {
                    return false;
                };
                let Some(Ok(want)) = self.values.first().map(|v| v.parse::<i64>()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

/// A parsed label selector: `=`, `==`, `!=`, `in`, `notin`, `key`, `!key`, comma-joined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// Requirements sorted by key, as `labels.Parse` returns them.
    pub requirements: Vec<Requirement>,
}

// ---- the lexer and parser of k8s.io/apimachinery/pkg/labels/selector.go ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn string2token(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosedPar,
        "," => Tok::Comma,
        "!" => Tok::DoesNotExist,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::GreaterThan,
        "in" => Tok::In,
        "<" => Tok::LessThan,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn lex(s: &str) -> Vec<(Tok, String)> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < b.len() && is_whitespace(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            out.push((Tok::End, String::new()));
            return out;
        }
        let c = b[pos];
        if is_special_symbol(c) {
            // scanSpecialSymbol: the longest run of symbols that is a token
            let mut buffer = String::new();
            let mut last: Option<(Tok, String)> = None;
            while pos < b.len() && is_special_symbol(b[pos]) {
                buffer.push(char::from(b[pos]));
                if let Some(t) = string2token(&buffer) {
                    last = Some((t, buffer.clone()));
                    pos += 1;
                } else if last.is_some() {
                    break;
                } else {
                    pos += 1;
                }
            }
            match last {
                Some(item) => out.push(item),
                None => out.push((
                    Tok::Error,
                    format!("error expected: keyword found '{buffer}'"),
                )),
            }
        } else {
            // scanIDOrKeyword
            let start = pos;
            while pos < b.len() && !is_whitespace(b[pos]) && !is_special_symbol(b[pos]) {
                pos += 1;
            }
            let word = String::from_utf8_lossy(&b[start..pos]).into_owned();
            match string2token(&word) {
                Some(t @ (Tok::In | Tok::NotIn)) => out.push((t, word)),
                _ => out.push((Tok::Identifier, word)),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Tok, String)>,
    position: usize,
}

type PResult<T> = Result<T, String>;

impl Parser {
    fn lookahead(&self, ctx: Ctx) -> (Tok, String) {
        let (mut tok, lit) = self
            .items
            .get(self.position)
            .cloned()
            .unwrap_or((Tok::End, String::new()));
        if ctx == Ctx::Values && matches!(tok, Tok::In | Tok::NotIn) {
            tok = Tok::Identifier;
        }
        (tok, lit)
    }

    fn consume(&mut self, ctx: Ctx) -> (Tok, String) {
        let r = self.lookahead(ctx);
        if self.position < self.items.len() {
            self.position += 1;
        }
        r
    }

    fn parse(&mut self) -> PResult<Vec<Requirement>> {
        let mut reqs = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Ctx::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    let (t, l) = self.consume(Ctx::Values);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(Ctx::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!("found '{l}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                Tok::End => return Ok(reqs),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> PResult<Requirement> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = op {
            return new_requirement(key, op, vec![]);
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        new_requirement(key, op, values)
    }

    fn parse_key_and_infer_operator(&mut self) -> PResult<(String, Option<Operator>)> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Ctx::Values);
        if tok == Tok::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Ctx::Values);
        }
        if tok != Tok::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        // validateLabelKey(literal, p.path) with a nil path prints "<nil>"
        let errs = validation::is_qualified_name(&lit);
        if !errs.is_empty() {
            return Err(format!(
                "<nil>: Invalid value: {}: {}",
                go_quote(&lit),
                errs.join("; ")
            ));
        }
        let (t, _) = self.lookahead(Ctx::Values);
        if (t == Tok::End || t == Tok::Comma) && op != Some(Operator::DoesNotExist) {
            op = Some(Operator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> PResult<Operator> {
        let (tok, lit) = self.consume(Ctx::KeyAndOperator);
        Ok(match tok {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    fn parse_values(&mut self) -> PResult<Vec<String>> {
        let (tok, lit) = self.consume(Ctx::Values);
        if tok != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Ctx::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let s = self.parse_identifiers_list()?;
                let (t, _) = self.consume(Ctx::Values);
                if t != Tok::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(s)
            }
            Tok::ClosedPar => {
                self.consume(Ctx::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> PResult<Vec<String>> {
        let mut s: Vec<String> = Vec::new();
        let insert = |s: &mut Vec<String>, v: String| {
            if !s.contains(&v) {
                s.push(v);
            }
        };
        loop {
            let (tok, lit) = self.consume(Ctx::Values);
            match tok {
                Tok::Identifier => {
                    insert(&mut s, lit);
                    let (t2, l2) = self.lookahead(Ctx::Values);
                    match t2 {
                        Tok::Comma => continue,
                        Tok::ClosedPar => return Ok(s),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if s.is_empty() {
                        insert(&mut s, String::new());
                    }
                    let (t2, _) = self.lookahead(Ctx::Values);
                    if t2 == Tok::ClosedPar {
                        insert(&mut s, String::new());
                        return Ok(s);
                    }
                    if t2 == Tok::Comma {
                        self.consume(Ctx::Values);
                        insert(&mut s, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> PResult<Vec<String>> {
        let (tok, _) = self.lookahead(Ctx::Values);
        if tok == Tok::End || tok == Tok::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Ctx::Values);
        if tok == Tok::Identifier {
            return Ok(vec![lit]);
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

/// `labels.NewRequirement`: values validated as label values (`values[i][key]: Invalid value:
/// …`), Gt/Lt values as integers.
fn new_requirement(key: String, op: Operator, mut values: Vec<String>) -> PResult<Requirement> {
    values.sort();
    let mut errs: Vec<String> = Vec::new();
    match op {
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 {
                errs.push(format!(
                    "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                    go_string_slice(&values)
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(format!(
                        "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                        go_quote(v)
                    ));
                }
            }
        }
        Operator::In | Operator::NotIn if values.is_empty() => {
            errs.push(format!(
                "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
                go_string_slice(&values)
            ));
        }
        _ => {}
    }
    for (i, v) in values.iter().enumerate() {
        let e = validation::is_valid_label_value(v);
        if !e.is_empty() {
            errs.push(format!(
                "values[{i}][{key}]: Invalid value: {}: {}",
                go_quote(v),
                e.join("; ")
            ));
        }
    }
    match errs.len() {
        0 => Ok(Requirement {
            key,
            operator: op,
            values,
        }),
        1 => Err(errs.remove(0)),
        _ => Err(format!("[{}]", errs.join(", "))),
    }
}

/// Go's `%v` of a `[]string` inside field.Invalid: `[]string{"a", "b"}` (`%#v`).
pub fn go_string_slice(values: &[String]) -> String {
    let inner: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    format!("[]string{{{}}}", inner.join(", "))
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter. The empty string selects everything.
    // k8s.io/apimachinery/pkg/labels/selector.go Parse; corpus 18-err-fieldselector-400.http
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut p = Parser {
            items: lex(selector),
            position: 0,
        };
        let mut requirements = p.parse().map_err(SelectorError)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// Whether an object's `metadata.labels` (absent = no labels) satisfies every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether this selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// One field requirement: `field=value` (`=`/`==`) or `field!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub equal: bool,
}

/// A parsed field selector (`a=b`, `a==b`, `a!=b`, comma-joined).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// Requirements in the order `fields.ParseSelector` keeps them (terms sorted as strings).
    pub requirements: Vec<FieldRequirement>,
}

/// `splitTerms`: split on commas not escaped by a backslash.
fn split_terms(s: &str) -> Vec<String> {
    if s.is_empty() {
        return vec![];
    }
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == ',' {
            terms.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    terms.push(cur);
    terms
}

/// `UnescapeValue`: `\\`, `\,`, `\=` only; bare `,`/`=` are errors.
fn unescape_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::new();
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{c}"
                    ));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {c}"
                ));
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter. `supported` lists the field labels the
    /// resource allows besides `metadata.name` and `metadata.namespace` (always allowed), e.g.
    /// `involvedObject.name` for core/v1 Events; any other label is
    /// `field label not supported: <label>`.
    // k8s.io/apimachinery/pkg/fields/selector.go parseSelector; corpus 18
    pub fn parse(selector: &str, supported: &[&str]) -> Result<Self, SelectorError> {
        let mut parts = split_terms(selector);
        parts.sort();
        let mut requirements = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = part.char_indices().find_map(|(i, _)| {
                let rest = &part[i..];
                ["!=", "==", "="]
                    .iter()
                    .find(|op| rest.starts_with(**op))
                    .map(|op| (&part[..i], *op, &rest[op.len()..]))
            }) else {
                return Err(SelectorError(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            let value = unescape_value(rhs).map_err(SelectorError)?;
            requirements.push(FieldRequirement {
                field: lhs.to_string(),
                value,
                equal: op != "!=",
            });
        }
        for r in &requirements {
            let f = r.field.as_str();
            if f != "metadata.name" && f != "metadata.namespace" && !supported.contains(&f) {
                return Err(SelectorError(format!("field label not supported: {f}")));
            }
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the object satisfies every requirement (a missing field compares as "").
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let mut cur = Some(object);
            for seg in r.field.split('.') {
                cur = cur.and_then(|v| v.get(seg));
            }
            let have = match cur {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            (have == r.value) == r.equal
        })
    }

    /// Whether this selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn err(s: &str) -> String {
        LabelSelector::parse(s).unwrap_err().0
    }

    #[test]
    fn triple_equals_matches_corpus_18() {
        // corpus 18-err-fieldselector-400.http: labelSelector=a===b
        assert_eq!(
            err("a===b"),
            "unable to parse requirement: found '=', expected: identifier"
        );
    }

    #[test]
    fn every_operator_matches() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&l));
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web"));
        assert!(!m("app!=web"));
        assert!(m("app!=db"));
        assert!(m("missing!=x"));
        assert!(m("app in (web, db)"));
        assert!(!m("app notin (web,db)"));
        assert!(m("missing notin (web)"));
        assert!(m("app"));
        assert!(!m("!app"));
        assert!(m("!missing"));
        assert!(m("app=web,tier=front"));
        assert!(!m("app=web,tier=back"));
        assert!(m("n>4"));
        assert!(!m("n<4"));
        assert!(!m("app=")); // empty value: app must be ""
        assert!(!LabelSelector::parse("app").unwrap().matches(None));
        assert!(LabelSelector::parse("!app").unwrap().matches(None));
    }

    #[test]
    fn parse_errors_use_upstream_text() {
        // labels/selector.go parseOperator, parseValues, parse
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
        assert_eq!(
            err("=a"),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(
            err("a=b_"),
            "unable to parse requirement: values[0][a]: Invalid value: \"b_\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
    }

    #[test]
    fn field_selector_matches_corpus_18() {
        assert_eq!(
            FieldSelector::parse("spec.vmName=x", &[]).unwrap_err().0,
            "field label not supported: spec.vmName"
        );
        let obj = json!({"metadata": {"name": "pr1", "namespace": "dr"}});
        let fs = FieldSelector::parse("metadata.name=pr1", &[]).unwrap();
        assert!(fs.matches(&obj));
        assert!(
            !FieldSelector::parse("metadata.name!=pr1", &[])
                .unwrap()
                .matches(&obj)
        );
        assert!(
            FieldSelector::parse("metadata.namespace==dr,metadata.name=pr1", &[])
                .unwrap()
                .matches(&obj)
        );
        assert!(FieldSelector::parse("", &[]).unwrap().matches(&obj));
    }

    #[test]
    fn field_selector_events_and_errors() {
        // corpus 70d-event-list-core-fieldselector.http style (kubectl describe)
        let ev =
            json!({"involvedObject": {"kind": "ProtectionRequest", "name": "pr1", "uid": "u"}});
        let fs = FieldSelector::parse(
            "involvedObject.name=pr1,involvedObject.kind=ProtectionRequest,involvedObject.uid=u,involvedObject.namespace=",
            &["involvedObject.name", "involvedObject.kind", "involvedObject.uid", "involvedObject.namespace"],
        )
        .unwrap();
        assert!(fs.matches(&ev));
        assert_eq!(
            FieldSelector::parse("abc", &[]).unwrap_err().0,
            "invalid selector: 'abc'; can't understand 'abc'"
        );
    }
}
