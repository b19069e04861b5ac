//! The review handler without HTTP: captured kube-apiserver reviews, every verdict, unreadable
//! input, and a property test that throws 100,000 generated reviews at it.

use futures::executor::block_on;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::admission::{parse_review, parse_review_through_value};
use crate::facts::StaticFacts;
use crate::fixtures::{
    NS, captured, decoded_patch, guide_facts, policy, request_object, review_body, review_body_for,
    vm,
};

fn answer(endpoint: Endpoint, body: &[u8], facts: &StaticFacts) -> Reply {
    block_on(review(endpoint, body, facts))
}

/// The facts of the captured reviews: namespace `dr`, one policy for cluster `east`, and
/// VM vms/vm-wh1 with one covered PVC there.
fn capture_facts() -> StaticFacts {
    StaticFacts::default()
        .with_policy(
            "dr",
            policy("east-to-west", "dr", "east", "west", &[("fast", "fast-dr")]),
        )
        .with_vm(
            "east",
            vm("vm-wh1")
                .in_namespace("vms")
                .with_pvc("disk", "wh1-disk")
                .build(),
        )
        .with_pvc(
            "east",
            "vms",
            "wh1-disk",
            crate::fixtures::pvc("fast", "Bound"),
        )
}

#[test]
fn the_captured_create_is_mutated_with_source_cluster_and_labels() {
    let reply = answer(
        Endpoint::Mutate,
        &captured("68a-admreview-create.txt", 0),
        &capture_facts(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["response"]["uid"],
        "0505828f-c431-4136-b27f-fe2014f5b0e5"
    );
    assert_eq!(reply.json()["response"]["allowed"], true);
    assert_eq!(reply.json()["response"]["patchType"], "JSONPatch");
    assert_eq!(
        decoded_patch(&reply.json()),
        Some(json!([
            {"op": "add", "path": "/spec/sourceCluster", "value": "east"},
            {"op": "add", "path": "/metadata/labels", "value": {
                "siterecovery.trilio.io/protected-vm": "vm-wh1",
                "siterecovery.trilio.io/vm-namespace": "vms",
                "siterecovery.trilio.io/source-cluster": "east"}}
        ]))
    );
}

#[test]
fn the_captured_create_is_validated_against_the_primary_cluster_and_allowed() {
    let reply = answer(
        Endpoint::Validate,
        &captured("68a-admreview-create.txt", 1),
        &capture_facts(),
    );
    assert_eq!(
        reply.json(),
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "31f44648-1357-4e1b-bc5b-73d32c2e6cc0", "allowed": true}})
    );
}

#[test]
fn the_captured_update_that_sets_source_cluster_is_denied_naming_the_field() {
    let reply = answer(
        Endpoint::Validate,
        &captured("68b-admreview-update-merge-patch.txt", 1),
        &capture_facts(),
    );
    assert_eq!(
        reply.json()["response"],
        json!({"uid": "0b7d22b5-7d64-4c80-a8a4-ba56fe2613b5", "allowed": false,
            "status": {"code": 403, "reason": "Forbidden",
                "message": "the spec of ProtectionRequest dr/wh1 is immutable: spec.sourceCluster changed from (unset) to \"east\"; to protect a different VM or use another source cluster, delete this request and create a new one"}})
    );
}

#[test]
fn the_captured_update_gets_only_missing_labels_and_never_a_source_cluster() {
    let reply = answer(
        Endpoint::Mutate,
        &captured("68b-admreview-update-merge-patch.txt", 0),
        &capture_facts(),
    );
    assert_eq!(
        decoded_patch(&reply.json()),
        Some(json!([
            {"op": "add", "path": "/metadata/labels/siterecovery.trilio.io~1protected-vm", "value": "vm-wh1"},
            {"op": "add", "path": "/metadata/labels/siterecovery.trilio.io~1vm-namespace", "value": "vms"},
            {"op": "add", "path": "/metadata/labels/siterecovery.trilio.io~1source-cluster", "value": "east"}
        ]))
    );
}

#[test]
fn a_status_update_is_allowed_untouched_by_both_webhooks() {
    for (endpoint, n) in [(Endpoint::Mutate, 0), (Endpoint::Validate, 1)] {
        let reply = answer(
            endpoint,
            &captured("68d-admreview-status-update.txt", n),
            &capture_facts(),
        );
        assert_eq!(reply.json()["response"]["allowed"], true);
        assert!(reply.json()["response"].get("patch").is_none());
    }
}

#[test]
fn the_captured_delete_is_allowed_by_both_webhooks_without_patch() {
    for (endpoint, n, uid) in [
        (Endpoint::Mutate, 0, "22c3920b-9c59-4a22-8399-ab67b9e05feb"),
        (
            Endpoint::Validate,
            1,
            "538a2ea1-0f39-4176-b812-f16ddeab458c",
        ),
    ] {
        // Even with no facts at all, and a primary cluster that cannot be reached.
        let facts = StaticFacts::default().with_unreachable("east");
        let reply = answer(endpoint, &captured("68e-admreview-delete.txt", n), &facts);
        assert_eq!(
            reply.json()["response"],
            json!({"uid": uid, "allowed": true}),
            "{endpoint:?}"
        );
    }
}

#[test]
fn a_delete_of_a_policy_is_allowed_too() {
    let old = json!({"metadata": {"name": "p"}, "spec": {"primaryCluster": "a", "drCluster": "a"}});
    let body = review_body_for(
        "DRBDReplicationPolicy",
        "drbdreplicationpolicies",
        "u",
        "DELETE",
        None,
        Some(&old),
    );
    assert_eq!(
        answer(Endpoint::Validate, &body, &guide_facts()).json()["response"],
        json!({"uid": "u", "allowed": true})
    );
}

#[test]
fn an_uncovered_vm_is_denied_with_the_coverage_message() {
    let object = request_object(
        "protect-legacy",
        "legacy-app",
        "production",
        Some("cluster1"),
    );
    let reply = answer(
        Endpoint::Validate,
        &review_body("u1", "CREATE", Some(&object), None),
        &guide_facts(),
    );
    assert_eq!(reply.outcome.verdict, "denied");
    assert_eq!(
        reply.json()["response"]["status"]["message"],
        "VirtualMachine production/legacy-app cannot be protected: PVC \"legacy-data\" uses storage class \"local-path\", which DRBDReplicationPolicy \"dr-policy\" does not map (it maps: ceph-rbd → ceph-rbd-dr); add a storageClassMappings entry for \"local-path\""
    );
}

#[test]
fn an_unreachable_primary_cluster_is_denied_naming_it() {
    let object = request_object(
        "protect-web-server",
        "web-server",
        "production",
        Some("cluster1"),
    );
    let reply = answer(
        Endpoint::Validate,
        &review_body("u1", "CREATE", Some(&object), None),
        &guide_facts().with_unreachable("cluster1"),
    );
    assert_eq!(
        reply.json()["response"]["status"],
        json!({"code": 503, "reason": "ServiceUnavailable",
            "message": "cannot reach primary cluster \"cluster1\" to look up VirtualMachine production/web-server: no answer within 2s; retry, or check the primary-kubeconfig Secret"})
    );
}

#[test]
fn a_fully_defaulted_request_gets_no_patch_field() {
    let mut object = request_object(
        "protect-web-server",
        "web-server",
        "production",
        Some("cluster1"),
    );
    object["metadata"]["labels"] = json!({
        "siterecovery.trilio.io/protected-vm": "web-server",
        "siterecovery.trilio.io/vm-namespace": "production",
        "siterecovery.trilio.io/source-cluster": "cluster1"});
    let reply = answer(
        Endpoint::Mutate,
        &review_body("u1", "CREATE", Some(&object), None),
        &guide_facts(),
    );
    assert_eq!(
        reply.json()["response"],
        json!({"uid": "u1", "allowed": true})
    );
    assert_eq!(reply.outcome.verdict, "allowed");
}

#[test]
fn an_unexpected_kind_is_denied_as_a_misconfiguration() {
    let body = review_body_for(
        "Pod",
        "pods",
        "u9",
        "CREATE",
        Some(&json!({"metadata": {"name": "p"}})),
        None,
    );
    let reply = answer(Endpoint::Validate, &body, &guide_facts());
    assert_eq!(reply.json()["response"]["allowed"], false);
    assert_eq!(reply.json()["response"]["status"]["code"], 400);
}

#[test]
fn garbage_without_uid_gets_a_400_status_and_with_uid_a_denied_review() {
    let reply = answer(
        Endpoint::Validate,
        b"{\"kind\": \"AdmissionRev",
        &guide_facts(),
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["kind"], "Status");
    assert!(reply.json()["message"].as_str().unwrap().starts_with(
        "protect-webhook cannot process this AdmissionReview: the request body is not valid JSON"
    ));

    let reply = answer(
        Endpoint::Validate,
        br#"{"kind":"ConfigMap","apiVersion":"admission.k8s.io/v1","request":{"uid":"u5"}}"#,
        &guide_facts(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["response"],
        json!({"uid": "u5", "allowed": false, "status": {"code": 400, "reason": "BadRequest",
            "message": "protect-webhook cannot process this AdmissionReview: expected kind AdmissionReview, got \"ConfigMap\""}})
    );
}

/// Bodies on which reading straight into the request and reading through `serde_json::Value`
/// could part ways: each must give the same request, or the same error.
#[test]
fn the_fast_and_the_value_reading_of_a_review_agree_on_edge_cases() {
    let valid = String::from_utf8(captured("68a-admreview-create.txt", 1)).unwrap();
    let with = |from: &str, to: &str| {
        assert!(valid.contains(from), "{from}");
        valid.replacen(from, to, 1).into_bytes()
    };
    let request = &valid[valid.find(r#""request":"#).unwrap() + 10..valid.len() - 1];
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("as captured", valid.clone().into_bytes(), true),
        (
            "a lone surrogate in a part no rule reads",
            with(r#""username":"admin-token-user""#, r#""username":"\ud800""#),
            false,
        ),
        (
            "an escaped pair in a part no rule reads",
            with(r#""username":"admin-token-user""#, r#""username":"\ud83d\ude00""#),
            true,
        ),
        (
            "a number out of range in a part no rule reads",
            with(r#""dryRun":false"#, r#""dryRun":false,"x":1e400"#),
            false,
        ),
        (
            "a 400-digit integer (beyond f64) in a part no rule reads",
            with(r#""dryRun":false"#, &format!(r#""dryRun":false,"x":{}"#, "9".repeat(400))),
            false,
        ),
        (
            "a 300-digit integer (within f64) in a part no rule reads",
            with(r#""dryRun":false"#, &format!(r#""dryRun":false,"x":{}"#, "9".repeat(300))),
            true,
        ),
        (
            "nesting deeper than 128 in a part no rule reads",
            with(r#""dryRun":false"#, &format!(r#""dryRun":false,"x":{}{}"#, "[".repeat(130), "]".repeat(130))),
            false,
        ),
        (
            "nesting deeper than 128 in the object",
            with(r#""spec":{"#, &format!(r#""deep":{}{},"spec":{{"#, "[".repeat(126), "]".repeat(126))),
            false,
        ),
        (
            "nesting of 120 in the object",
            with(r#""spec":{"#, &format!(r#""deep":{}{},"spec":{{"#, "[".repeat(120), "]".repeat(120))),
            true,
        ),
        (
            "a lone surrogate in the object",
            with(r#""spec":{"#, r#""x":"\udfff","spec":{"#),
            false,
        ),
        (
            "a number in range with an exponent",
            with(r#""dryRun":false"#, r#""dryRun":false,"x":[1.5e300,-2E-300,0e5]"#),
            true,
        ),
        (
            "a lone surrogate beside the request",
            with(r#""apiVersion":"#, r#""extra":"\udc00","apiVersion":"#),
            false,
        ),
        (
            "a number out of range in the request's kind",
            with(r#""kind":{"group":"#, r#""kind":{"x":-1e999,"group":"#),
            false,
        ),
        (
            "an unknown field in the request's kind",
            with(r#""kind":{"group":"#, r#""kind":{"x":[1,{"y":"z"}],"group":"#),
            true,
        ),
        (
            "invalid UTF-8 in a part no rule reads",
            {
                let mut body = valid.clone().into_bytes();
                let at = valid.find("admin-token-user").unwrap();
                body[at + 5] = 0xff;
                body
            },
            false,
        ),
        (
            "a duplicate uid (the last one counts)",
            with(r#""uid":"#, r#""uid":"first","uid":"#),
            true,
        ),
        (
            "a duplicate apiVersion",
            with(
                r#""apiVersion":"admission.k8s.io/v1""#,
                r#""apiVersion":"admission.k8s.io/v1beta1","apiVersion":"admission.k8s.io/v1""#,
            ),
            true,
        ),
        (
            "a duplicate request",
            format!(r#"{{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{{"uid":"x"}},"request":{request}}}"#).into_bytes(),
            true,
        ),
        (
            "an array instead of the review",
            format!(r#"["admission.k8s.io/v1","AdmissionReview",{request}]"#).into_bytes(),
            false,
        ),
        ("an empty uid", with(r#""uid":"31f44648-1357-4e1b-bc5b-73d32c2e6cc0""#, r#""uid":"""#), false),
        ("trailing garbage", [valid.as_bytes(), b" x"].concat(), false),
        ("leading whitespace", [b" \n\t".as_slice(), valid.as_bytes()].concat(), true),
    ];
    for (what, body, readable) in cases {
        let fast = parse_review(&body);
        assert_eq!(fast, parse_review_through_value(&body), "{what}");
        assert_eq!(fast.is_ok(), readable, "{what}: {fast:?}");
    }
}

// ---- property test --------------------------------------------------------------------

/// A string strategy compiled once (a `&str` strategy re-parses its regex for every value).
fn regex(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).unwrap()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        regex("[a-zA-Z0-9/._ -]{0,10}").prop_map(Value::from),
    ];
    // Recursive strategies rebuild this closure's strategy for every value: compile once.
    let key = regex("[a-zA-Z]{1,8}").boxed();
    leaf.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn maybe_text(choices: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => proptest::sample::select(choices).prop_map(|s| Some(Value::from(s))),
        1 => json_value().prop_map(Some),
        1 => Just(None),
    ]
}

fn object() -> impl Strategy<Value = Value> {
    let spec = (
        maybe_text(&["web-server", "legacy-app", "ghost", ""]),
        maybe_text(&["production", "staging"]),
        maybe_text(&["cluster1", "cluster2"]),
        maybe_text(&["cluster1", "cluster2"]),
        prop_oneof![Just(None), json_value().prop_map(Some)],
    );
    prop_oneof![
        4 => (spec, maybe_text(&["protect-web-server", "x"])).prop_map(|((vm, vm_ns, src, dr, extra), name)| {
            let mut spec = serde_json::Map::new();
            for (k, v) in [("vmName", vm), ("vmNamespace", vm_ns), ("sourceCluster", src.clone()),
                           ("primaryCluster", src), ("drCluster", dr), ("portRange", extra)] {
                if let Some(v) = v {
                    spec.insert(k.to_owned(), v);
                }
            }
            json!({"metadata": {"name": name}, "spec": spec})
        }),
        1 => json_value(),
    ]
}

fn structured_review() -> impl Strategy<Value = (Value, Option<String>)> {
    let uid = prop_oneof![
        4 => regex("[a-f0-9-]{1,36}").prop_map(Value::from),
        1 => json_value(),
    ];
    let api_version = maybe_text(&[
        "admission.k8s.io/v1",
        "admission.k8s.io/v1",
        "admission.k8s.io/v1beta1",
    ]);
    let kind = maybe_text(&["AdmissionReview", "AdmissionReview", "Status"]);
    let operation = maybe_text(&["CREATE", "UPDATE", "DELETE", "CONNECT", "create"]);
    let object_kind = maybe_text(&["ProtectionRequest", "DRBDReplicationPolicy", "Pod"]);
    let group = maybe_text(&["siterecovery.trilio.io", "siterecovery.trilio.io", ""]);
    let sub = maybe_text(&["status", ""]);
    (
        uid,
        (api_version, kind),
        (operation, object_kind, group, sub),
        prop_oneof![Just(None), object().prop_map(Some)],
        prop_oneof![Just(None), object().prop_map(Some)],
    )
        .prop_map(
            |(uid, (api_version, kind), (operation, object_kind, group, sub), object, old)| {
                let given = uid.as_str().filter(|u| !u.is_empty()).map(str::to_owned);
                let mut request = serde_json::Map::new();
                request.insert("uid".into(), uid);
                let mut gvk = serde_json::Map::new();
                gvk.insert("version".into(), json!("v1alpha1"));
                if let Some(k) = object_kind {
                    gvk.insert("kind".into(), k);
                }
                if let Some(g) = group {
                    gvk.insert("group".into(), g);
                }
                request.insert("kind".into(), Value::Object(gvk));
                request.insert("namespace".into(), json!(NS));
                for (key, value) in [
                    ("operation", operation),
                    ("subResource", sub),
                    ("object", object),
                    ("oldObject", old),
                ] {
                    if let Some(value) = value {
                        request.insert(key.into(), value);
                    }
                }
                let mut review = serde_json::Map::new();
                for (key, value) in [("apiVersion", api_version), ("kind", kind)] {
                    if let Some(value) = value {
                        review.insert(key.into(), value);
                    }
                }
                review.insert("request".into(), Value::Object(request));
                (Value::Object(review), given)
            },
        )
}

/// Built once: the property tests measure the handler, not fixture construction.
static FACTS: std::sync::LazyLock<StaticFacts> = std::sync::LazyLock::new(guide_facts);

fn check_answer(reply: &Reply, uid: Option<&str>) -> Result<(), TestCaseError> {
    let body = reply.json();
    match uid {
        Some(uid) => {
            prop_assert_eq!(reply.status, 200);
            prop_assert_eq!(body["response"]["uid"].as_str(), Some(uid));
            prop_assert!(body["response"]["allowed"].is_boolean());
        }
        None => {
            prop_assert_eq!(reply.status, 400);
            prop_assert_eq!(body["kind"].as_str(), Some("Status"));
        }
    }
    Ok(())
}

/// The uid the handler must echo: `request.uid` when the body is a JSON object whose
/// `request.uid` is a non-empty string.
fn given_uid(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .get("request")?
        .get("uid")?
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60_000, failure_persistence: None, rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift, ..ProptestConfig::default() })]

    #[test]
    fn structured_reviews_with_random_fields_never_panic_and_echo_their_uid(
        (review, uid) in structured_review(),
        endpoint in prop_oneof![Just(Endpoint::Validate), Just(Endpoint::Mutate)],
    ) {
        let body = serde_json::to_vec(&review).unwrap();
        prop_assert_eq!(parse_review(&body), parse_review_through_value(&body));
        let reply = answer(endpoint, &body, &FACTS);
        check_answer(&reply, uid.as_deref())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40_000, failure_persistence: None, rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift, ..ProptestConfig::default() })]

    #[test]
    fn garbled_and_truncated_reviews_never_panic_and_echo_a_readable_uid(
        (review, _) in structured_review(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        mode in 0..4u8,
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut body = serde_json::to_vec(&review).unwrap();
        match mode {
            0 => body.truncate(cut.index(body.len() + 1)),
            1 => { let i = flip.index(body.len()); body[i] = byte; }
            2 => body = noise,
            _ => body.extend_from_slice(&noise),
        }
        prop_assert_eq!(parse_review(&body), parse_review_through_value(&body));
        let reply = answer(Endpoint::Validate, &body, &FACTS);
        check_answer(&reply, given_uid(&body).as_deref())?;
    }
}
