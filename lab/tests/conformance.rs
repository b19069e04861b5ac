//! Conformance: requests captured from a real kube-apiserver
//! (shared/conformance/kube-apiserver/*.http) are replayed against the lab, and the answers
//! compared byte for byte after normalising uids, timestamps, resourceVersions and ages.

mod common;

use common::{Exchange, corpus_crd, normalize, parse_http, replay, send};
use protect_lab_apiserver::Lab;

/// Headers whose values must match the corpus exactly.
const COMPARED_HEADERS: &[&str] = &["Content-Type", "Cache-Control", "Vary"];

/// Compares one answer to the corpus; returns a description of each difference.
fn differences(ex: &Exchange, got: &common::Answer) -> Vec<String> {
    let mut diffs = Vec::new();
    let here = format!("{} {} {}", ex.file, ex.method, ex.path);
    if ex.status != Some(got.status) {
        diffs.push(format!(
            "{here}: status {} (corpus {:?})\n  body: {}",
            got.status, ex.status, got.body
        ));
        return diffs;
    }
    for name in COMPARED_HEADERS {
        let want: Vec<&str> = ex
            .response_headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if want != got.all(name) {
            diffs.push(format!(
                "{here}: header {name} {:?} (corpus {want:?})",
                got.all(name)
            ));
        }
    }
    let warnings: Vec<&str> = ex
        .response_headers
        .iter()
        .filter(|(k, _)| k == "Warning")
        .map(|(_, v)| v.as_str())
        .collect();
    if warnings != got.all("Warning") {
        diffs.push(format!(
            "{here}: warnings {:?} (corpus {warnings:?})",
            got.all("Warning")
        ));
    }
    if !ex.partial && normalize(&ex.response_body) != normalize(&got.body) {
        diffs.push(format!(
            "{here}: body differs\n  lab:    {}\n  corpus: {}",
            normalize(&got.body),
            normalize(&ex.response_body)
        ));
    }
    diffs
}

async fn replay_files(
    router: &axum::Router,
    files: &[&str],
    setup: impl AsyncFn(&str),
) -> Vec<String> {
    let mut diffs = Vec::new();
    for file in files {
        setup(file).await;
        for ex in parse_http(file) {
            // 21: upstream crashed without answering; 21b: a protobuf body we do not produce.
            if ex.status.is_none()
                || ex
                    .response_headers
                    .iter()
                    .any(|(_, v)| v.contains("protobuf"))
            {
                continue;
            }
            let got = replay(router, &ex).await;
            diffs.extend(differences(&ex, &got));
        }
    }
    diffs
}

/// Waits until the wall clock is in the next whole second (managedFields times have seconds
/// precision).
async fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    let rest = std::time::Duration::from_secs(1)
        - std::time::Duration::from_nanos(u64::from(now.subsec_nanos()));
    tokio::time::sleep(rest + std::time::Duration::from_millis(10)).await;
}

async fn lab_with_crd() -> (Lab, axum::Router) {
    let lab = Lab::start(&["corpus"]).await.expect("lab");
    let router = lab.cluster("corpus").expect("cluster").router();
    (lab, router)
}

fn assert_no_differences(diffs: Vec<String>) {
    assert!(
        diffs.is_empty(),
        "{} differences from the corpus:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[tokio::test]
async fn custom_resource_lifecycle_replays_the_corpus_byte_for_byte() {
    // 05 … 45d: the CRD, then every create/read/update/patch/apply/delete exchange in capture order.
    let (_lab, router) = lab_with_crd().await;
    let files = [
        "05-crd-create.http",
        "06-pr-create.http",
        "06b-pr-get.http",
        "06c-pr-list.http",
        "07-pr-list-table.http",
        "07b-pr-list-table-includeObject.http",
        "07c-pr-list-table-cluster.http",
        "07d-pr-get-table.http",
        "08-pr-list-partialobjectmetadata.http",
        "08b-pr-get-partialobjectmetadata.http",
        "10-err-get-missing-404.http",
        "11-err-post-duplicate-409.http",
        "12-err-put-stale-rv-409.http",
        "12b-put-without-rv.http",
        "12c-put-name-mismatch.http",
        "12d-put-create-missing.http",
        "13-err-post-missing-required-422.http",
        "14-err-status-wrong-enum-422.http",
        "14b-err-post-status-405.http",
        "14c-err-create-with-bad-status-enum.http",
        "15-err-post-wrong-type-422.http",
        "16-unknown-field-strict-400.http",
        "16b-unknown-field-warn-201.http",
        "16c-unknown-field-default.http",
        "16d-unknown-field-ignore.http",
        "16e-duplicate-field-strict.http",
        "16f-unknown-field-bad-value.http",
        "17-err-strategic-merge-patch-415.http",
        "17b-err-patch-unknown-content-type-415.http",
        "18-err-fieldselector-400.http",
        "19-err-malformed-json-400.http",
        "20-err-unknown-resource-404.http",
        "21-err-wrong-content-type-415.http",
        "30-write-create-w1.http",
        "31-merge-patch-spec-generation.http",
        "32-merge-patch-status-subresource.http",
        "33-merge-patch-main-status-only.http",
        "34-noop-merge-patch.http",
        "34b-noop-put.http",
        "34c-noop-status-patch.http",
        "35-json-patch-test-null-missing.http",
        "35b-json-patch-test-null-present.http",
        "35c-json-patch-test-mismatch.http",
        "35d-json-patch-remove-finalizer.http",
        "36-ssa-create.http",
        "36b-ssa-missing-fieldmanager.http",
        "36c-ssa-conflict-409.http",
        "36d-ssa-force.http",
        "36e-ssa-managedfields-get.http",
        "36f-ssa-reapply-noop.http",
        "36g-ssa-json-body.http",
        "40-delete-finalizer-create.http",
        "41-delete-with-finalizer.http",
        "41b-delete-again-while-terminating.http",
        "42-add-finalizer-while-deleting.http",
        "42b-spec-change-while-deleting.http",
        "43-remove-finalizer.http",
        "44-get-after-finalizer-removed-404.http",
        "45-delete-no-finalizer.http",
        "45b-delete-missing-404.http",
        "45c-delete-with-preconditions.http",
        "45d-delete-dryrun.http",
        "70-event-create-events-v1.http",
        "70b-event-get-events-v1.http",
        "70c-event-get-core-v1.http",
        "70d-event-list-core-fieldselector.http",
        "70e-event-create-bad-eventtime.http",
        "70f-event-core-create-then-events-v1-view.http",
    ];
    let r = router.clone();
    let diffs = replay_files(&router, &files, async |file: &str| {
        let json = [("Content-Type", "application/json"), ("User-Agent", "corpus-capture/1.0")];
        match file {
            // The namespace the corpus was captured in.
            "06-pr-create.http" => {
                send(&r, "POST", "/api/v1/namespaces", &json, r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"dr"}}"#).await;
            }
            // pr2 was created between 06 and 06c without being captured.
            "06b-pr-get.http" => {
                send(&r, "POST", "/apis/siterecovery.trilio.io/v1alpha1/namespaces/dr/protectionrequests", &json,
                    r#"{"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest","metadata":{"name":"pr2"},"spec":{"vmName":"vm-2","vmNamespace":"vms"}}"#).await;
            }
            // The capture wrote 35 ten seconds after 32 (managedFields times 07:01:41 and
            // 07:01:51), and the entry order depends on it: managedfields.go sorts entries by
            // time in whole seconds before the subresource, so the /status entry comes first
            // only once the main entry's time is later. Replay that: 35 in a later second.
            "35-json-patch-test-null-missing.http" => next_second().await,
            _ => {}
        }
    })
    .await;
    assert_no_differences(diffs);
}

#[tokio::test]
async fn discovery_of_a_custom_resource_matches_the_corpus() {
    // 03d-apis-group-version.http, 03e-apis-group.http, 03b (304 on If-None-Match)
    let (_lab, router) = lab_with_crd().await;
    let crd = corpus_crd().to_string();
    let created = send(
        &router,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[("Content-Type", "application/json")],
        &crd,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_no_differences(
        replay_files(
            &router,
            &["03d-apis-group-version.http", "03e-apis-group.http"],
            async |_: &str| {},
        )
        .await,
    );

    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let apis = send(&router, "GET", "/apis", &[("Accept", accept)], "").await;
    assert_eq!(
        apis.header("Content-Type"),
        Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
    );
    // 03-apis-discovery-v2-trimmed.http: the siterecovery item, verbatim.
    let expected_item = r#"{"metadata":{"name":"siterecovery.trilio.io","creationTimestamp":null},"versions":[{"version":"v1alpha1","resources":[{"resource":"protectionrequests","responseKind":{"group":"siterecovery.trilio.io","version":"v1alpha1","kind":"ProtectionRequest"},"scope":"Namespaced","singularResource":"protectionrequest","verbs":["delete","deletecollection","get","list","patch","create","update","watch"],"shortNames":["pr","protect"],"categories":["siterecovery"],"subresources":[{"subresource":"status","responseKind":{"group":"siterecovery.trilio.io","version":"v1alpha1","kind":"ProtectionRequest"},"verbs":["get","patch","update"]}]}],"freshness":"Current"}]}"#;
    assert!(apis.body.contains(expected_item), "{}", apis.body);
    assert!(apis.body.starts_with(r#"{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","metadata":{},"items":["#));
    let etag = apis.header("Etag").expect("etag").to_string();
    let again = send(
        &router,
        "GET",
        "/apis",
        &[("Accept", accept), ("If-None-Match", &etag)],
        "",
    )
    .await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, "");
    // 90b: a client that only accepts v2beta1 gets it.
    let beta = send(
        &router,
        "GET",
        "/apis",
        &[(
            "Accept",
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
        )],
        "",
    )
    .await;
    assert_eq!(
        beta.header("Content-Type"),
        Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")
    );
}

#[tokio::test]
async fn version_is_indented_without_a_trailing_newline() {
    // 01-version.http
    let (_lab, router) = lab_with_crd().await;
    let got = send(
        &router,
        "GET",
        "/version",
        &[("User-Agent", "corpus-capture/1.0")],
        "",
    )
    .await;
    assert_eq!(got.status, 200);
    assert!(
        got.body
            .starts_with("{\n  \"major\": \"1\",\n  \"minor\": \"32\",\n"),
        "{}",
        got.body
    );
    assert!(got.body.ends_with('}'));
}

#[tokio::test]
async fn an_unknown_path_is_a_plain_text_404() {
    // 20-err-unknown-resource-404.http
    let (_lab, router) = lab_with_crd().await;
    let got = send(&router, "GET", "/apis/nosuch.example.com/v1/foos", &[], "").await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (404, "404 page not found\n")
    );
    assert_eq!(
        got.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
}

#[tokio::test]
async fn the_openapi_hash_changes_when_a_crd_is_installed() {
    // 04-openapi-v3-index.http, 04b: PATCH declares fieldValidation.
    let (_lab, router) = lab_with_crd().await;
    let before = send(&router, "GET", "/openapi/v3", &[], "").await.json();
    let crd = corpus_crd().to_string();
    send(
        &router,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[("Content-Type", "application/json")],
        &crd,
    )
    .await;
    let after = send(&router, "GET", "/openapi/v3", &[], "").await.json();
    let url = after["paths"]["apis/siterecovery.trilio.io/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .expect("group-version document listed")
        .to_string();
    assert!(before["paths"]["apis/siterecovery.trilio.io/v1alpha1"].is_null());
    let doc = send(&router, "GET", &url, &[], "").await;
    assert_eq!(doc.header("Cache-Control"), Some("public, immutable"));
    let doc = doc.json();
    let patch = &doc["paths"]["/apis/siterecovery.trilio.io/v1alpha1/namespaces/{namespace}/protectionrequests/{name}"]
        ["patch"];
    assert!(
        patch["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "ProtectionRequest"
    );
}

#[tokio::test]
async fn curl_user_agents_get_indented_json() {
    // 00-curl-user-agent-pretty-print.http
    let (_lab, router) = lab_with_crd().await;
    let got = send(
        &router,
        "GET",
        "/api/v1/namespaces/default",
        &[("User-Agent", "curl/7.88.1")],
        "",
    )
    .await;
    assert!(
        got.body.starts_with("{\n  \"kind\": \"Namespace\""),
        "{}",
        got.body
    );
    let got = send(
        &router,
        "GET",
        "/api/v1/namespaces/default",
        &[("User-Agent", "kubectl/v1.32.4")],
        "",
    )
    .await;
    assert!(
        got.body
            .starts_with(r#"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"default","#),
        "{}",
        got.body
    );
    assert!(got.body.ends_with("}\n"));
}

#[tokio::test]
async fn creating_in_a_missing_namespace_is_a_namespace_not_found() {
    let (_lab, router) = lab_with_crd().await;
    let got = send(
        &router,
        "POST",
        "/api/v1/namespaces/nope/configmaps",
        &[("Content-Type", "application/json")],
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
    )
    .await;
    assert_eq!(got.status, 404, "{}", got.body);
    assert!(
        got.body
            .contains(r#""message":"namespaces \"nope\" not found""#),
        "{}",
        got.body
    );
}

#[tokio::test]
async fn the_request_log_records_every_request() {
    let (lab, router) = lab_with_crd().await;
    send(&router, "GET", "/api/v1/namespaces?limit=1", &[], "").await;
    let log = lab.cluster("corpus").expect("cluster").requests();
    assert_eq!(
        log.last().map(|r| (
            r.method.as_str(),
            r.path.as_str(),
            r.query.as_str(),
            r.status
        )),
        Some(("GET", "/api/v1/namespaces", "limit=1", 200))
    );
}

#[tokio::test]
async fn a_list_pages_with_limit_and_continue() {
    let (_lab, router) = lab_with_crd().await;
    let first = send(&router, "GET", "/api/v1/namespaces?limit=3", &[], "")
        .await
        .json();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(3));
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    let second = send(
        &router,
        "GET",
        &format!("/api/v1/namespaces?limit=3&continue={token}"),
        &[],
        "",
    )
    .await
    .json();
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert!(second["metadata"]["continue"].is_null());
}

#[tokio::test]
async fn an_exact_list_at_an_expired_resource_version_is_an_http_410() {
    // 54c-list-exact-compacted-rv-410.http
    let (lab, router) = lab_with_crd().await;
    lab.cluster("corpus")
        .expect("cluster")
        .expire_watch_history();
    let got = send(
        &router,
        "GET",
        "/api/v1/namespaces?resourceVersion=1&resourceVersionMatch=Exact",
        &[],
        "",
    )
    .await;
    assert_eq!(got.status, 410);
    assert_eq!(
        got.body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"The resourceVersion for the provided list is too old.\",\"reason\":\"Expired\",\"code\":410}\n"
    );
}

#[tokio::test]
async fn a_yaml_body_creates_like_its_json() {
    // The apiserver decodes application/yaml request bodies for create (the YAML serializer is
    // among its accepted media types, as the 415 of 21 lists); the answer is the same JSON a
    // JSON body gets (06-pr-create.http).
    let (_lab, router) = lab_with_crd().await;
    let json = [
        ("Content-Type", "application/json"),
        ("User-Agent", "corpus-capture/1.0"),
    ];
    let crd = corpus_crd().to_string();
    let created = send(
        &router,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &json,
        &crd,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    send(
        &router,
        "POST",
        "/api/v1/namespaces",
        &json,
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"dr"}}"#,
    )
    .await;
    let prs = "/apis/siterecovery.trilio.io/v1alpha1/namespaces/dr/protectionrequests";
    let yaml = "apiVersion: siterecovery.trilio.io/v1alpha1\nkind: ProtectionRequest\nmetadata:\n  name: pr1\nspec:\n  sourceCluster: east\n  vmName: vm-1\n  vmNamespace: vms\n";
    let from_yaml = send(
        &router,
        "POST",
        prs,
        &[
            ("Content-Type", "application/yaml"),
            ("User-Agent", "corpus-capture/1.0"),
        ],
        yaml,
    )
    .await;
    assert_eq!(from_yaml.status, 201, "{}", from_yaml.body);
    assert_eq!(from_yaml.header("Content-Type"), Some("application/json"));
    let corpus = &common::parse_http("06-pr-create.http")[0];
    assert_eq!(normalize(&from_yaml.body), normalize(&corpus.response_body));
}
