//! Rules for DRBDReplicationPolicies: two distinct clusters, mappings without duplicates or
//! conflicts, a sane port range and protocol C. Read from the raw object so that every problem
//! is reported at once, in the user's field names.

use std::collections::BTreeMap;
use std::sync::Arc;

use protect_api::DRBDReplicationPolicy;
use protect_api::well_known::{DEFAULT_PORT_RANGE_END, DEFAULT_PORT_RANGE_START, PROTOCOL_C};
use serde_json::Value;

use super::{Decision, Denial};

/// Lowest port a policy may use: below are the privileged ports.
pub const MIN_PORT: i64 = 1024;
/// Highest TCP port.
pub const MAX_PORT: i64 = 65535;

/// Decide a CREATE or UPDATE of a policy. `others` are the other policies in the namespace
/// (this one, by name, is ignored): a second policy for the same primary cluster is allowed
/// but makes `sourceCluster` ambiguous, so it is a warning.
pub fn validate(
    object: &Value,
    object_ref: &str,
    others: &[Arc<DRBDReplicationPolicy>],
) -> Decision {
    let spec = object.get("spec").and_then(Value::as_object);
    let Some(spec) = spec else {
        return Decision::deny(Denial::bad_request(
            "RequiredFields",
            format!(
                "DRBDReplicationPolicy {object_ref} has no spec; set primaryCluster, drCluster and storageClassMappings"
            ),
        ));
    };
    let mut problems = Vec::new();
    let text = |field: &str, problems: &mut Vec<String>| match spec.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => {
            problems.push(format!("spec.{field} is required (a cluster identifier)"));
            None
        }
    };
    let primary = text("primaryCluster", &mut problems);
    let dr = text("drCluster", &mut problems);
    if let (Some(p), Some(d)) = (&primary, &dr)
        && p == d
    {
        problems.push(format!(
            "primaryCluster and drCluster are both {p:?}; they must name two different clusters"
        ));
    }
    problems.extend(mapping_problems(spec.get("storageClassMappings")));
    problems.extend(port_range_problems(spec.get("portRange")));
    match spec.get("protocol") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if p == PROTOCOL_C => {}
        Some(other) => problems.push(format!(
            "protocol {other} is not supported; only \"C\" (synchronous replication, RPO 0) is"
        )),
    }
    if !problems.is_empty() {
        return Decision::deny(Denial::forbidden(
            "InvalidPolicy",
            format!(
                "DRBDReplicationPolicy {object_ref} is invalid: {}",
                problems.join("; ")
            ),
        ));
    }
    let own_name = object.pointer("/metadata/name").and_then(Value::as_str);
    let warnings = primary
        .iter()
        .flat_map(|p| {
            others
                .iter()
                .filter(move |o| {
                    o.metadata.name.as_deref() != own_name && &o.spec.primary_cluster == p
                })
                .map(move |o| {
                    format!(
                        "DRBDReplicationPolicy {:?} also has primaryCluster {p:?}; ProtectionRequests for {p:?} will be denied as ambiguous until one of them is changed",
                        o.metadata.name.as_deref().unwrap_or_default()
                    )
                })
        })
        .collect();
    Decision::allow().with_warnings(warnings)
}

fn mapping_problems(mappings: Option<&Value>) -> Vec<String> {
    let entries = match mappings {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(entries)) => entries,
        Some(_) => return vec!["storageClassMappings must be a list of {primary, dr}".to_owned()],
    };
    let mut problems = Vec::new();
    // primary class → the DR classes it is mapped to, in order of appearance.
    let mut targets: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        match (field("primary"), field("dr")) {
            (Some(p), Some(d)) => targets.entry(p).or_default().push(d),
            _ => problems.push(format!(
                "storageClassMappings[{i}] needs both primary and dr storage class names"
            )),
        }
    }
    for (primary, drs) in targets {
        if drs.len() < 2 {
            continue;
        }
        let distinct: Vec<&str> = drs.iter().fold(Vec::new(), |mut acc, d| {
            if !acc.contains(d) {
                acc.push(*d);
            }
            acc
        });
        if distinct.len() == 1 {
            problems.push(format!(
                "storageClassMappings maps {primary:?} → {:?} {} times; keep one entry",
                distinct[0],
                drs.len()
            ));
        } else {
            let list: Vec<String> = distinct.iter().map(|d| format!("{d:?}")).collect();
            problems.push(format!(
                "storageClassMappings maps {primary:?} to conflicting DR storage classes {}; keep exactly one entry for {primary:?}",
                list.join(" and ")
            ));
        }
    }
    problems
}

fn port_range_problems(range: Option<&Value>) -> Vec<String> {
    let range = match range {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Object(range)) => range,
        Some(_) => return vec!["portRange must be {start, end}".to_owned()],
    };
    let bound = |name: &str| match range.get(name) {
        None | Some(Value::Null) => Err(format!("portRange.{name} is required")),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| format!("portRange.{name} must be an integer, got {v}")),
    };
    let (start, end) = match (bound("start"), bound("end")) {
        (Ok(s), Ok(e)) => (s, e),
        (s, e) => return [s.err(), e.err()].into_iter().flatten().collect(),
    };
    let fix = format!("e.g. {DEFAULT_PORT_RANGE_START}-{DEFAULT_PORT_RANGE_END}");
    let mut problems = Vec::new();
    if start > end {
        problems.push(format!(
            "portRange {start}-{end} is inverted: start must be at most end ({fix})"
        ));
    }
    if start < MIN_PORT || end > MAX_PORT || start > MAX_PORT || end < MIN_PORT {
        problems.push(format!(
            "portRange {start}-{end} must lie within {MIN_PORT}-{MAX_PORT} ({fix})"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: Value) -> Value {
        json!({"apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "DRBDReplicationPolicy",
            "metadata": {"name": "dr-policy", "namespace": "dr-deployment"}, "spec": spec})
    }

    fn message(decision: &Decision) -> &str {
        decision
            .denial
            .as_ref()
            .map(|d| d.message.as_str())
            .unwrap_or("")
    }

    #[test]
    fn a_well_formed_policy_is_allowed_without_warnings() {
        let d = validate(
            &policy(
                json!({"primaryCluster": "cluster1", "drCluster": "cluster2",
                "storageClassMappings": [{"primary": "ceph-rbd", "dr": "ceph-rbd-dr"}],
                "portRange": {"start": 7000, "end": 7999}, "protocol": "C"}),
            ),
            "dr-deployment/dr-policy",
            &[],
        );
        assert_eq!(d, Decision::allow());
    }

    #[test]
    fn a_policy_replicating_a_cluster_to_itself_is_denied() {
        let d = validate(
            &policy(json!({"primaryCluster": "cluster1", "drCluster": "cluster1"})),
            "dr-deployment/dr-policy",
            &[],
        );
        assert_eq!(
            message(&d),
            "DRBDReplicationPolicy dr-deployment/dr-policy is invalid: primaryCluster and drCluster are both \"cluster1\"; they must name two different clusters"
        );
    }

    #[test]
    fn duplicate_and_conflicting_mappings_are_both_reported() {
        let d = validate(
            &policy(
                json!({"primaryCluster": "cluster1", "drCluster": "cluster2",
                "storageClassMappings": [
                    {"primary": "ceph-rbd", "dr": "ceph-rbd-dr"},
                    {"primary": "ceph-rbd", "dr": "ceph-rbd-dr"},
                    {"primary": "local", "dr": "a"},
                    {"primary": "local", "dr": "b"}]}),
            ),
            "dr-deployment/dr-policy",
            &[],
        );
        assert_eq!(
            message(&d),
            "DRBDReplicationPolicy dr-deployment/dr-policy is invalid: storageClassMappings maps \"ceph-rbd\" → \"ceph-rbd-dr\" 2 times; keep one entry; storageClassMappings maps \"local\" to conflicting DR storage classes \"a\" and \"b\"; keep exactly one entry for \"local\""
        );
    }

    #[test]
    fn inverted_and_privileged_port_ranges_are_denied() {
        let d = validate(
            &policy(json!({"primaryCluster": "c1", "drCluster": "c2",
                "portRange": {"start": 8000, "end": 80}})),
            "ns/p",
            &[],
        );
        assert_eq!(
            message(&d),
            "DRBDReplicationPolicy ns/p is invalid: portRange 8000-80 is inverted: start must be at most end (e.g. 7000-7999); portRange 8000-80 must lie within 1024-65535 (e.g. 7000-7999)"
        );
    }

    #[test]
    fn a_protocol_other_than_c_is_denied() {
        let d = validate(
            &policy(json!({"primaryCluster": "c1", "drCluster": "c2", "protocol": "A"})),
            "ns/p",
            &[],
        );
        assert_eq!(
            message(&d),
            "DRBDReplicationPolicy ns/p is invalid: protocol \"A\" is not supported; only \"C\" (synchronous replication, RPO 0) is"
        );
    }

    #[test]
    fn a_second_policy_for_the_same_primary_cluster_is_allowed_with_a_warning() {
        let other: DRBDReplicationPolicy = serde_json::from_value(json!({
            "apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "DRBDReplicationPolicy",
            "metadata": {"name": "older", "namespace": "ns"},
            "spec": {"primaryCluster": "c1", "drCluster": "c3"}}))
        .unwrap();
        let d = validate(
            &policy(json!({"primaryCluster": "c1", "drCluster": "c2"})),
            "ns/dr-policy",
            &[Arc::new(other)],
        );
        assert!(d.is_allowed());
        assert_eq!(
            d.warnings,
            vec![
                "DRBDReplicationPolicy \"older\" also has primaryCluster \"c1\"; ProtectionRequests for \"c1\" will be denied as ambiguous until one of them is changed"
            ]
        );
    }
}
