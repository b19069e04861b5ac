//! Watches through the router: NDJSON framing, the in-stream 410, timeouts, initial events,
//! bookmarks and per-event selectors (50-54d of the corpus).

mod common;

use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use protect_lab_apiserver::Lab;
use serde_json::Value;
use tower::ServiceExt;

/// Opens a watch and collects its lines until the stream ends or `max` passes.
async fn watch_lines(
    router: &axum::Router,
    path: &str,
    max: Duration,
    during: impl AsyncFnOnce(),
) -> (u16, Vec<String>) {
    let req = axum::http::Request::get(path)
        .body(Body::empty())
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let collect = async {
        let mut text = String::new();
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
        text
    };
    let (text, _) = tokio::join!(tokio::time::timeout(max, collect), during());
    let text = text.unwrap_or_default();
    (status, text.lines().map(str::to_string).collect())
}

fn types(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("one JSON per line")["type"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

async fn lab() -> (Lab, axum::Router) {
    let lab = Lab::start(&["w"]).await.expect("lab");
    let router = lab.cluster("w").expect("cluster").router();
    (lab, router)
}

#[tokio::test]
async fn watch_from_a_too_old_resource_version_gets_an_in_stream_410() {
    // 54-watch-too-old-rv-410.http: HTTP 200, one ERROR event, then EOF.
    let (lab, router) = lab().await;
    let cluster = lab.cluster("w").expect("cluster");
    cluster.expire_watch_history();
    let oldest = cluster.resource_version();
    let (status, lines) = watch_lines(
        &router,
        "/api/v1/namespaces?watch=true&resourceVersion=1&timeoutSeconds=3",
        Duration::from_secs(5),
        async || {},
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        lines,
        [format!(
            r#"{{"type":"ERROR","object":{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"too old resource version: 1 ({oldest})","reason":"Expired","code":410}}}}"#
        )]
    );
}

#[tokio::test]
async fn a_watch_with_a_timeout_and_no_events_ends_with_an_empty_body() {
    // 51-watch-timeout-3s.http
    let (lab, router) = lab().await;
    let rv = lab.cluster("w").expect("cluster").resource_version();
    let started = std::time::Instant::now();
    let (status, lines) = watch_lines(
        &router,
        &format!("/api/v1/namespaces?watch=true&resourceVersion={rv}&timeoutSeconds=1"),
        Duration::from_secs(5),
        async || {},
    )
    .await;
    assert_eq!((status, lines.len()), (200, 0));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_watch_from_resource_version_zero_starts_with_synthetic_added_events() {
    // 51b-watch-rv0.http: ADDED for every object, no bookmark.
    let (_lab, router) = lab().await;
    let (_, lines) = watch_lines(
        &router,
        "/api/v1/namespaces?watch=true&resourceVersion=0&timeoutSeconds=1",
        Duration::from_secs(5),
        async || {},
    )
    .await;
    assert_eq!(types(&lines), ["ADDED"; 4]);
}

#[tokio::test]
async fn send_initial_events_ends_the_initial_list_with_an_annotated_bookmark() {
    // 52-watch-sendInitialEvents-rv-empty.http
    let (_lab, router) = lab().await;
    let (_, lines) = watch_lines(
        &router,
        "/api/v1/namespaces?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=&allowWatchBookmarks=true&timeoutSeconds=1",
        Duration::from_secs(5),
        async || {},
    )
    .await;
    assert_eq!(
        types(&lines)[..5],
        ["ADDED", "ADDED", "ADDED", "ADDED", "BOOKMARK"]
    );
    let bookmark: Value = serde_json::from_str(&lines[4]).expect("json");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert!(bookmark["object"]["metadata"]["annotations"]["kubernetes.io/initial-events-list-blueprint"].is_string());
}

#[tokio::test]
async fn a_watch_from_a_list_resource_version_sees_added_modified_and_deleted() {
    // 50-watch-from-list-rv.http: the DELETED event carries the deletion's resourceVersion.
    let (lab, router) = lab().await;
    let rv = lab.cluster("w").expect("cluster").resource_version();
    let r = router.clone();
    let json = [("Content-Type", "application/json")];
    let (_, lines) = watch_lines(
        &router,
        &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=2"),
        Duration::from_secs(5),
        async || {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let created = common::send(&r, "POST", "/api/v1/namespaces/default/configmaps", &json,
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"wt1"},"data":{"a":"1"}}"#).await;
            assert_eq!(created.status, 201, "{}", created.body);
            let patched = common::send(&r, "PATCH", "/api/v1/namespaces/default/configmaps/wt1", &[("Content-Type", "application/merge-patch+json")], r#"{"data":{"a":"2"}}"#).await;
            assert_eq!(patched.status, 200, "{}", patched.body);
            let deleted = common::send(&r, "DELETE", "/api/v1/namespaces/default/configmaps/wt1", &[], "").await;
            assert_eq!(deleted.status, 200, "{}", deleted.body);
        },
    )
    .await;
    assert_eq!(types(&lines), ["ADDED", "MODIFIED", "DELETED"]);
    let rvs: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["object"]["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("rv")
        })
        .collect();
    assert!(rvs[2] > rvs[1] && rvs[1] > rvs[0]);
}

#[tokio::test]
async fn an_object_leaving_the_label_selection_is_deleted_for_the_watcher() {
    let (lab, router) = lab().await;
    let rv = lab.cluster("w").expect("cluster").resource_version();
    let r = router.clone();
    let (_, lines) = watch_lines(
        &router,
        &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&labelSelector=app%3Dweb&timeoutSeconds=2"),
        Duration::from_secs(5),
        async || {
            tokio::time::sleep(Duration::from_millis(100)).await;
            common::send(&r, "POST", "/api/v1/namespaces/default/configmaps", &[("Content-Type", "application/json")],
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sel","labels":{"app":"web"}}}"#).await;
            common::send(&r, "PATCH", "/api/v1/namespaces/default/configmaps/sel", &[("Content-Type", "application/merge-patch+json")],
                r#"{"metadata":{"labels":{"app":"db"}}}"#).await;
        },
    )
    .await;
    assert_eq!(types(&lines), ["ADDED", "DELETED"]);
}

#[tokio::test]
async fn a_table_watch_sends_column_definitions_only_in_its_first_event() {
    // 53-watch-as-table.http: each event's object is a one-row Table; the first carries the
    // columnDefinitions, every later one `"columnDefinitions":null`.
    let (lab, router) = lab().await;
    let json = [("Content-Type", "application/json")];
    let merge = [("Content-Type", "application/merge-patch+json")];
    let crd = common::corpus_crd().to_string();
    let created = common::send(
        &router,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &json,
        &crd,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    common::send(
        &router,
        "POST",
        "/api/v1/namespaces",
        &json,
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"dr"}}"#,
    )
    .await;
    let prs = "/apis/siterecovery.trilio.io/v1alpha1/namespaces/dr/protectionrequests";
    for (name, vm) in [("pr1", "vm-1"), ("w1", "vm-w1")] {
        let body = format!(
            r#"{{"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest","metadata":{{"name":"{name}"}},"spec":{{"vmName":"{vm}","vmNamespace":"vms"}}}}"#
        );
        let got = common::send(&router, "POST", prs, &json, &body).await;
        assert_eq!(got.status, 201, "{}", got.body);
    }
    let rv = lab.cluster("w").expect("cluster").resource_version();
    let req = axum::http::Request::get(format!(
        "{prs}?watch=true&resourceVersion={rv}&timeoutSeconds=2"
    ))
    .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .header("User-Agent", "corpus-capture/1.0")
    .body(Body::empty())
    .expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let mut body = resp.into_body();
    let collect = async {
        let mut text = String::new();
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
        text
    };
    let r = router.clone();
    let writes = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = common::send(
            &r,
            "PATCH",
            &format!("{prs}/pr1"),
            &merge,
            r#"{"spec":{"sourceCluster":"table-watch-2"}}"#,
        )
        .await;
        assert_eq!(got.status, 200, "{}", got.body);
        let got = common::send(
            &r,
            "PATCH",
            &format!("{prs}/w1/status"),
            &merge,
            r#"{"status":{"phase":"Syncing"}}"#,
        )
        .await;
        assert_eq!(got.status, 200, "{}", got.body);
    };
    let (text, _) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(5), collect),
        writes
    );
    let lines: Vec<String> = text
        .expect("stream ends at timeoutSeconds")
        .lines()
        .map(common::normalize)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");

    let corpus = common::parse_http("53-watch-as-table.http");
    let want: Vec<String> = corpus[0]
        .response_body
        .lines()
        .map(common::normalize)
        .collect();
    // The first event: the Table envelope and columnDefinitions exactly as upstream sends them.
    let until_rows = |l: &str| l[..l.find(r#","rows":"#).expect("rows")].to_string();
    assert_eq!(until_rows(&lines[0]), until_rows(&want[0]));
    // Later events: `"columnDefinitions":null`, then the row of the changed object.
    assert_eq!(until_rows(&lines[1]), until_rows(&want[1]));
    assert!(
        lines[1].contains(r#""rows":[{"cells":["w1","Syncing","<age>","vm-w1"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"w1","namespace":"dr""#),
        "{}",
        lines[1]
    );
}
