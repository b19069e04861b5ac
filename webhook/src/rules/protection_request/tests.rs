//! The ProtectionRequest rules, decided from facts without any server.

use serde_json::json;

use super::*;
use crate::fixtures::{NS, guide_facts, policy, pvc, request, request_object, vm};

fn create_facts(pr: &ProtectionRequest) -> CreateFacts {
    let facts = guide_facts();
    let policies = facts.policies.get(NS).cloned().unwrap_or_default();
    let primary = select_policy(&policies, pr.spec.source_cluster.as_deref())
        .ok()
        .map(|p| facts.primary_view(p, &vm_ref(pr)));
    CreateFacts {
        policies: policies.into_iter().map(Arc::new).collect(),
        requests: vec![],
        primary,
    }
}

fn denial_message(decision: &Decision) -> &str {
    decision
        .denial
        .as_ref()
        .map(|d| d.message.as_str())
        .unwrap_or("(allowed)")
}

#[test]
fn the_guides_example_1_is_allowed_without_warnings() {
    let pr = request(
        "protect-web-server",
        "web-server",
        "production",
        Some("cluster1"),
    );
    let decision = validate_create(&pr, NS, &create_facts(&pr));
    assert_eq!(decision, Decision::allow());
}

#[test]
fn an_uncovered_storage_class_is_denied_naming_vm_pvc_class_mappings_and_fix() {
    let pr = request(
        "protect-legacy",
        "legacy-app",
        "production",
        Some("cluster1"),
    );
    let decision = validate_create(&pr, NS, &create_facts(&pr));
    assert_eq!(
        denial_message(&decision),
        "VirtualMachine production/legacy-app cannot be protected: PVC \"legacy-data\" uses storage class \"local-path\", which DRBDReplicationPolicy \"dr-policy\" does not map (it maps: ceph-rbd → ceph-rbd-dr); add a storageClassMappings entry for \"local-path\""
    );
    assert_eq!(decision.denial.as_ref().map(|d| d.code), Some(403));
}

#[test]
fn a_vm_missing_on_the_primary_cluster_is_denied_naming_it() {
    let pr = request("protect-ghost", "ghost", "production", Some("cluster1"));
    let decision = validate_create(&pr, NS, &create_facts(&pr));
    assert_eq!(
        denial_message(&decision),
        "VirtualMachine production/ghost does not exist on primary cluster \"cluster1\"; check spec.vmName and spec.vmNamespace (`kubectl get vm -n production ghost` on cluster1)"
    );
}

#[test]
fn a_source_cluster_without_policy_is_denied_with_protect_apis_message() {
    let pr = request(
        "protect-web-server",
        "web-server",
        "production",
        Some("cluster9"),
    );
    let decision = validate_create(&pr, NS, &create_facts(&pr));
    assert_eq!(
        denial_message(&decision),
        "VirtualMachine production/web-server cannot be protected: no DRBDReplicationPolicy has primaryCluster \"cluster9\" (policies in this namespace: \"dr-policy\" for cluster1 → cluster2); set spec.sourceCluster to one of those primary clusters or create a policy for \"cluster9\""
    );
}

#[test]
fn a_second_request_for_a_protected_vm_is_denied_naming_the_existing_request() {
    let pr = request(
        "protect-web-server-2",
        "web-server",
        "production",
        Some("cluster1"),
    );
    let mut facts = create_facts(&pr);
    facts.requests = vec![Arc::new(request(
        "protect-web-server",
        "web-server",
        "production",
        Some("cluster1"),
    ))];
    let decision = validate_create(&pr, NS, &facts);
    assert_eq!(
        denial_message(&decision),
        "VirtualMachine production/web-server is already protected by ProtectionRequest \"protect-web-server\" in namespace \"dr-deployment\"; a VM can have only one ProtectionRequest — inspect it with `kubectl get pr protect-web-server -n dr-deployment`"
    );
}

#[test]
fn with_several_requests_for_the_vm_the_denial_names_the_first_by_name_in_any_order() {
    let pr = request(
        "protect-again",
        "web-server",
        "production",
        Some("cluster1"),
    );
    let existing = ["zz-web-server", "aa-web-server", "mm-web-server"]
        .map(|name| Arc::new(request(name, "web-server", "production", Some("cluster1"))));
    let mut facts = create_facts(&pr);
    for rotation in 0..existing.len() {
        let mut others = existing.to_vec();
        others.rotate_left(rotation);
        facts.requests = others;
        let decision = validate_create(&pr, NS, &facts);
        let message = denial_message(&decision);
        assert!(
            message.contains("by ProtectionRequest \"aa-web-server\""),
            "{message}"
        );
    }
}

#[test]
fn a_request_does_not_conflict_with_itself_or_with_another_vm() {
    let pr = request(
        "protect-web-server",
        "web-server",
        "production",
        Some("cluster1"),
    );
    let mut facts = create_facts(&pr);
    facts.requests = [
        request(
            "protect-web-server",
            "web-server",
            "production",
            Some("cluster1"),
        ),
        request(
            "protect-legacy",
            "legacy-app",
            "production",
            Some("cluster1"),
        ),
        request(
            "other-cluster",
            "web-server",
            "production",
            Some("cluster3"),
        ),
    ]
    .map(Arc::new)
    .into();
    assert!(validate_create(&pr, NS, &facts).is_allowed());
}

#[test]
fn an_unreachable_primary_cluster_is_a_denial_naming_the_cluster_and_the_secret() {
    let pr = request(
        "protect-web-server",
        "web-server",
        "production",
        Some("cluster1"),
    );
    let mut facts = create_facts(&pr);
    facts.primary = Some(Err(LookupError::Unreachable {
        cluster: "cluster1".into(),
        detail: "no answer within 2s".into(),
    }));
    let decision = validate_create(&pr, NS, &facts);
    assert_eq!(
        denial_message(&decision),
        "cannot reach primary cluster \"cluster1\" to look up VirtualMachine production/web-server: no answer within 2s; retry, or check the primary-kubeconfig Secret"
    );
    assert_eq!(decision.denial.as_ref().map(|d| d.code), Some(503));
}

#[test]
fn a_missing_kubeconfig_secret_is_a_denial_naming_secret_policy_and_key() {
    let pr = request(
        "protect-web-server",
        "web-server",
        "production",
        Some("cluster1"),
    );
    let mut facts = create_facts(&pr);
    facts.primary = Some(Err(LookupError::Kubeconfig {
        cluster: "cluster1".into(),
        namespace: NS.into(),
        secret: "primary-kubeconfig".into(),
        detail: "does not exist".into(),
    }));
    assert_eq!(
        denial_message(&validate_create(&pr, NS, &facts)),
        "cannot reach primary cluster \"cluster1\" to look up VirtualMachine production/web-server: Secret dr-deployment/primary-kubeconfig does not exist; DRBDReplicationPolicy \"dr-policy\" names it in spec.primaryKubeconfigSecret, and it needs key \"kubeconfig\" holding a kubeconfig for \"cluster1\""
    );
}

#[test]
fn a_manual_run_strategy_and_an_unbound_pvc_come_back_as_warnings() {
    let pr = request("protect-db", "db", "production", Some("cluster1"));
    let mut facts = create_facts(&pr);
    let mut view = PrimaryView {
        vm: Some(Arc::new(
            vm("db")
                .with_run_strategy("Manual")
                .with_pvc("disk", "db-data")
                .build(),
        )),
        ..PrimaryView::default()
    };
    view.pvcs
        .insert("db-data".into(), pvc("ceph-rbd", "Pending"));
    facts.primary = Some(Ok(view));
    let decision = validate_create(&pr, NS, &facts);
    assert!(decision.is_allowed());
    assert_eq!(
        decision.warnings,
        vec![
            "VirtualMachine production/db has runStrategy Manual, which activation cannot restore exactly (it stops and restarts the VM); check that the VM runs afterwards".to_owned(),
            "PVC \"db-data\" is not Bound (phase Pending); DRBD can replicate only a bound volume, so wait for it to bind or fix its storage".to_owned(),
        ]
    );
}

#[test]
fn missing_required_fields_are_all_named() {
    let object =
        json!({"metadata": {"name": "x"}, "spec": {"vmNamespace": "", "sourceCluster": 7}});
    let denial = read(&object, "dr-deployment/x").unwrap_err();
    assert_eq!(
        denial.message,
        "ProtectionRequest dr-deployment/x is incomplete: spec.vmName is required (the VirtualMachine's name on the primary cluster); spec.vmNamespace is required (the VirtualMachine's namespace on the primary cluster); spec.sourceCluster must be a non-empty string (the primaryCluster of a DRBDReplicationPolicy), or omitted when exactly one policy exists"
    );
    assert_eq!(denial.code, 400);
}

#[test]
fn reading_from_the_object_text_answers_as_reading_through_value() {
    let spec =
        r#""spec":{"vmName":"web-server","vmNamespace":"production","sourceCluster":"cluster1"}"#;
    let cases = [
        // Read straight from the text.
        format!(
            r#"{{"metadata":{{"name":"pr","labels":{{"a":"b"}},"managedFields":[{{"fieldsV1":{{"f:spec":{{}}}}}}]}},{spec},"status":{{"phase":"Syncing"}}}}"#
        ),
        r#"{"metadata":{"generateName":"pr-"},"spec":{"vmName":"v","vmNamespace":"n"}}"#.to_owned(),
        r#"{"spec":{"vmName":"v","vmNamespace":"n","sourceCluster":null}}"#.to_owned(),
        // Through `Value`: a required field missing, empty, null or of another type…
        r#"{"metadata":{"name":"pr"},"spec":{"vmNamespace":"n"}}"#.to_owned(),
        r#"{"metadata":{"name":"pr"},"spec":{"vmName":"","vmNamespace":"n"}}"#.to_owned(),
        r#"{"metadata":{"name":"pr"},"spec":{"vmName":null,"vmNamespace":"n"}}"#.to_owned(),
        r#"{"metadata":{"name":"pr"},"spec":{"vmName":"v","vmNamespace":"n","sourceCluster":""}}"#
            .to_owned(),
        r#"{"metadata":{"name":"pr"},"spec":{"vmName":"v","vmNamespace":"n","sourceCluster":3}}"#
            .to_owned(),
        r#"{"metadata":{"name":"pr"},"spec":"web-server"}"#.to_owned(),
        r#"{"metadata":{"name":"pr"}}"#.to_owned(),
        // …a name that is not a string, or a field given twice (`Value` keeps the last).
        format!(r#"{{"metadata":{{"name":7}},{spec}}}"#),
        format!(r#"{{"metadata":{{"name":"a","name":"b"}},{spec}}}"#),
        r#"{"spec":{"vmName":"","vmName":"v","vmNamespace":"n"}}"#.to_owned(),
        r#"{"spec":{"vmName":"v","vmNamespace":"n"},"spec":{"vmName":"w","vmNamespace":"n"}}"#
            .to_owned(),
        // …or arrays where `read` looks for fields (serde reads a struct from either).
        "[]".to_owned(),
        r#"[{"name":"pr"},{"vmName":"v","vmNamespace":"n"}]"#.to_owned(),
        r#"{"metadata":{"name":"pr"},"spec":["v","n"]}"#.to_owned(),
        format!(r#"{{"metadata":["pr"],{spec}}}"#),
    ];
    for text in cases {
        let object: crate::admission::ObjectJson = serde_json::from_str(&text).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            read_json(&object, || "dr-deployment/pr".to_owned()),
            read(&value, "dr-deployment/pr"),
            "{text}"
        );
    }
}

#[test]
fn a_spec_change_is_denied_naming_the_field_and_metadata_changes_are_allowed() {
    let old = request_object("pr", "web-server", "production", Some("cluster1"));
    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"] = json!({"team": "a"});
    relabelled["status"] = json!({"phase": "Syncing"});
    assert!(validate_update(&old, &relabelled, "dr-deployment/pr").is_allowed());

    let moved = request_object("pr", "web-server", "staging", Some("cluster1"));
    assert_eq!(
        denial_message(&validate_update(&old, &moved, "dr-deployment/pr")),
        "the spec of ProtectionRequest dr-deployment/pr is immutable: spec.vmNamespace changed from \"production\" to \"staging\"; to protect a different VM or use another source cluster, delete this request and create a new one"
    );
}

#[test]
fn several_policies_and_no_source_cluster_is_denied_asking_for_it() {
    let pr = request("protect-web-server", "web-server", "production", None);
    let facts = CreateFacts {
        policies: vec![
            policy("a", NS, "cluster1", "cluster2", &[]).into(),
            policy("b", NS, "cluster3", "cluster2", &[]).into(),
        ],
        ..CreateFacts::default()
    };
    assert_eq!(
        denial_message(&validate_create(&pr, NS, &facts)),
        "VirtualMachine production/web-server cannot be protected: spec.sourceCluster is not set and 2 DRBDReplicationPolicies exist (\"a\" for cluster1 → cluster2, \"b\" for cluster3 → cluster2); set spec.sourceCluster to the VM's primary cluster"
    );
}
