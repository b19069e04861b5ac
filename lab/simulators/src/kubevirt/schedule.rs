//! Node selection for a virt-launcher pod, as kube-scheduler's NodeUnschedulable and
//! TaintToleration filters decide it, with the scheduler's own failure message.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Taint, Toleration};

/// Whether `toleration` tolerates `taint` (`k8s.io/api/core/v1` `Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        _ => {
            key == taint.key
                && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// Why a node cannot take the pod, in the scheduler's words; `None` when it can.
fn filter(node: &Node, tolerations: &[Toleration]) -> Option<String> {
    let spec = node.spec.as_ref();
    if spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        return Some("node(s) were unschedulable".to_owned());
    }
    // Only NoSchedule and NoExecute taints filter; the first untolerated one is reported.
    spec.and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
        .map(|t| {
            format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )
        })
}

/// Pick a node for the pod: the first feasible node by name. Otherwise the `FailedScheduling`
/// message kube-scheduler writes into the pod's `PodScheduled=False/Unschedulable` condition.
pub fn schedule(nodes: &[Node], tolerations: &[Toleration]) -> Result<String, String> {
    if nodes.is_empty() {
        return Err("no nodes available to schedule pods".to_owned());
    }
    let mut names: Vec<(&str, &Node)> = nodes
        .iter()
        .map(|n| (n.metadata.name.as_deref().unwrap_or(""), n))
        .collect();
    names.sort_by_key(|(name, _)| *name);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (name, node) in names {
        match filter(node, tolerations) {
            None => return Ok(name.to_owned()),
            Some(reason) => *reasons.entry(reason).or_default() += 1,
        }
    }
    // framework.FitError.Error(): "<count> <reason>" strings, sorted, joined with ", ".
    let mut parts: Vec<String> = reasons
        .into_iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    parts.sort();
    let n = nodes.len();
    Err(format!(
        "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::NodeSpec;
    use kube::api::ObjectMeta;

    use super::*;

    fn node(name: &str, taints: &[(&str, &str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: Some(
                    taints
                        .iter()
                        .map(|(k, v, e)| Taint {
                            key: (*k).into(),
                            value: (!v.is_empty()).then(|| (*v).into()),
                            effect: (*e).into(),
                            time_added: None,
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            status: None,
        }
    }

    const NOT_READY: (&str, &str, &str) = ("siterecovery.trilio.io/not-ready", "", "NoSchedule");

    #[test]
    fn the_first_untainted_node_by_name_is_chosen() {
        let nodes = [
            node("node-b", &[]),
            node("node-a", &[NOT_READY]),
            node("node-c", &[]),
        ];
        assert_eq!(schedule(&nodes, &[]), Ok("node-b".to_owned()));
    }

    #[test]
    fn prefer_no_schedule_does_not_filter() {
        let nodes = [node("node-a", &[("soft", "", "PreferNoSchedule")])];
        assert_eq!(schedule(&nodes, &[]), Ok("node-a".to_owned()));
    }

    #[test]
    fn all_nodes_tainted_gives_the_upstream_message_naming_the_taint() {
        let nodes = [
            node("node-a", &[NOT_READY]),
            node("node-b", &[NOT_READY]),
            node("node-c", &[NOT_READY]),
        ];
        assert_eq!(
            schedule(&nodes, &[]),
            Err("0/3 nodes are available: 3 node(s) had untolerated taint {siterecovery.trilio.io/not-ready: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.".to_owned())
        );
    }

    #[test]
    fn distinct_reasons_are_counted_and_sorted() {
        let mut cordoned = node("node-c", &[]);
        if let Some(spec) = cordoned.spec.as_mut() {
            spec.unschedulable = Some(true);
        }
        let nodes = [
            node("node-a", &[NOT_READY]),
            node("node-b", &[("dedicated", "gpu", "NoExecute")]),
            cordoned,
        ];
        let message = schedule(&nodes, &[]).unwrap_err();
        assert_eq!(
            message,
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {siterecovery.trilio.io/not-ready: }, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn tolerations_follow_the_core_matching_rules() {
        let taint = Taint {
            key: "k".into(),
            value: Some("v".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let tol = |key: Option<&str>,
                   op: Option<&str>,
                   value: Option<&str>,
                   effect: Option<&str>| Toleration {
            key: key.map(Into::into),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        };
        let table = [
            (tol(Some("k"), None, Some("v"), None), true),
            (tol(Some("k"), Some("Equal"), Some("w"), None), false),
            (
                tol(Some("k"), Some("Exists"), None, Some("NoSchedule")),
                true,
            ),
            (tol(None, Some("Exists"), None, None), true),
            (
                tol(Some("k"), Some("Exists"), None, Some("NoExecute")),
                false,
            ),
            (tol(Some("x"), Some("Exists"), None, None), false),
        ];
        for (i, (toleration, expected)) in table.into_iter().enumerate() {
            assert_eq!(tolerates(&toleration, &taint), expected, "row {i}");
        }
    }

    #[test]
    fn a_toleration_lets_the_pod_onto_a_tainted_node() {
        let nodes = [node("node-a", &[NOT_READY])];
        let tol = Toleration {
            key: Some("siterecovery.trilio.io/not-ready".into()),
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert_eq!(schedule(&nodes, &[tol]), Ok("node-a".to_owned()));
    }

    #[test]
    fn no_nodes_at_all_is_reported_as_such() {
        assert_eq!(
            schedule(&[], &[]),
            Err("no nodes available to schedule pods".to_owned())
        );
    }
}
