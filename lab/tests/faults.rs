//! Fault injection (LAB.md item 17) as kube-rs 5 clients and kube-runtime watchers see it over
//! HTTPS: injected Status errors, conflicts, latency, pauses, dropped watches, forced 410
//! expiry and partitions, and recovery after `clear` / `heal`.
//!
//! No test sleeps in the hope that something happened: each waits for an observable event (a
//! fault counter, a watcher event, a request finishing) with a generous timeout that only
//! bounds failure.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use protect_lab_apiserver::{Lab, Rule};
use serde_json::json;
use tokio::sync::mpsc;

/// The failure bound of every wait.
const BOUND: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A kube client for a lab context; `retry` keeps kube's default retry of 429/503/504.
async fn client(lab: &Lab, context: &str, retry: bool) -> Client {
    let kc = kube::config::Kubeconfig::from_yaml(&lab.kubeconfig()).expect("kubeconfig");
    let opts = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .expect("config");
    config.default_retry = retry;
    Client::try_from(config).expect("client")
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "1"}}))
        .expect("configmap")
}

async fn configmaps(lab: &Lab, context: &str, retry: bool) -> Api<ConfigMap> {
    Api::namespaced(client(lab, context, retry).await, "default")
}

fn api_status(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API Status, got {other:?}"),
    }
}

/// What a watcher reported, reduced to comparable strings.
fn describe(ev: &watcher::Event<ConfigMap>) -> String {
    let name = |cm: &ConfigMap| cm.metadata.name.clone().unwrap_or_default();
    match ev {
        watcher::Event::Init => "init".into(),
        watcher::Event::InitApply(cm) => format!("init-apply {}", name(cm)),
        watcher::Event::InitDone => "init-done".into(),
        watcher::Event::Apply(cm) => format!("apply {}", name(cm)),
        watcher::Event::Delete(cm) => format!("delete {}", name(cm)),
    }
}

/// A kube-runtime watcher with the default backoff on default/configmaps, reporting its events
/// (errors as "error") on a channel.
fn spawn_watcher(api: Api<ConfigMap>) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            let line = match ev {
                Ok(ev) => describe(&ev),
                Err(_) => "error".into(),
            };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for the watcher to report `line`, returning what it reported before.
async fn seen(rx: &mut mpsc::UnboundedReceiver<String>, line: &str) -> Vec<String> {
    within(line, async {
        let mut before = Vec::new();
        loop {
            let got = rx.recv().await.expect("watcher running");
            if got == line {
                return before;
            }
            before.push(got);
        }
    })
    .await
}

#[tokio::test]
async fn injected_errors_are_upstream_status_answers() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let cluster = lab.cluster("c").expect("cluster");
    let api = configmaps(&lab, "c", false).await;
    api.create(&PostParams::default(), &configmap("x"))
        .await
        .expect("create");
    let faults = cluster.faults();
    cluster.clear_requests();

    faults.inject(Rule::error(&[500]).times(1));
    let s = api_status(api.get("x").await.expect_err("500"));
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (
            500,
            "InternalError",
            "Internal error occurred: protect-lab: injected fault"
        )
    );

    faults.inject(Rule::error(&[503]).times(1));
    let s = api_status(api.get("x").await.expect_err("503"));
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request"
        )
    );

    faults.retry_after(2).inject(Rule::error(&[429]).times(1));
    let s = api_status(api.get("x").await.expect_err("429"));
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (
            429,
            "TooManyRequests",
            "Too many requests, please try again later."
        )
    );
    assert_eq!(
        s.details.as_ref().map(|d| d.retry_after_seconds),
        Some(2),
        "retryAfterSeconds"
    );

    // The rules retired after one use each: the cluster answers again.
    assert!(faults.rules().is_empty());
    api.get("x").await.expect("served again");

    let counts = faults.counts();
    assert_eq!(counts.errors_with(500), 1);
    assert_eq!(counts.errors_with(503), 1);
    assert_eq!(counts.errors_with(429), 1);
    let log: Vec<(u16, bool)> = cluster
        .requests()
        .iter()
        .map(|r| (r.status, r.injected))
        .collect();
    assert_eq!(
        log,
        [(500, true), (503, true), (429, true), (200, false)],
        "the request log shows the injected answers"
    );
}

#[tokio::test]
async fn a_429_carries_retry_after_and_kube_retries_after_it() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let cluster = lab.cluster("c").expect("cluster");
    // kube's default client retries 429 and honours Retry-After (RetryPolicy::server_retry).
    let api = configmaps(&lab, "c", true).await;
    api.create(&PostParams::default(), &configmap("x"))
        .await
        .expect("create");
    cluster.clear_requests();
    cluster
        .faults()
        .retry_after(1)
        .inject(Rule::error(&[429]).verbs(&["get"]).times(1));
    let started = Instant::now();
    api.get("x").await.expect("retried to success");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry waited for Retry-After"
    );
    let statuses: Vec<u16> = cluster.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200]);
}

#[tokio::test]
async fn conflicts_answer_writes_with_the_upstream_409_and_change_nothing() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let cluster = lab.cluster("c").expect("cluster");
    let api = configmaps(&lab, "c", false).await;
    let created = api
        .create(&PostParams::default(), &configmap("x"))
        .await
        .expect("create");
    cluster.faults().conflicts(1.0);
    let s = api_status(
        api.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "2"}})),
        )
        .await
        .expect_err("conflict"),
    );
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (
            409,
            "Conflict",
            "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; \
             please apply your changes to the latest version and try again"
        )
    );
    let mut replaced = created.clone();
    replaced.data = Some([("a".to_string(), "3".to_string())].into());
    let s = api_status(
        api.replace("x", &PostParams::default(), &replaced)
            .await
            .expect_err("conflict"),
    );
    assert_eq!(s.code, 409);
    // Reads and creates are not conflicted, and the refused writes changed nothing.
    let now = api.get("x").await.expect("get");
    assert_eq!(
        now.metadata.resource_version,
        created.metadata.resource_version
    );
    api.create(&PostParams::default(), &configmap("y"))
        .await
        .expect("create is not a conflict");
    assert_eq!(cluster.faults().counts().errors_with(409), 2);

    cluster.faults().clear();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "2"}})),
    )
    .await
    .expect("patch after clear");
}

#[tokio::test]
async fn filters_select_verbs_and_resources() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let cluster = lab.cluster("c").expect("cluster");
    let client = client(&lab, "c", false).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &configmap("x"))
        .await
        .expect("create");
    cluster.faults().inject(
        Rule::error(&[503])
            .verbs(&["list"])
            .resources(&["configmaps"]),
    );
    let s = api_status(cms.list(&ListParams::default()).await.expect_err("listed"));
    assert_eq!(s.code, 503);
    cms.get("x").await.expect("get is not filtered");
    secrets
        .list(&ListParams::default())
        .await
        .expect("secrets are not filtered");
    assert_eq!(cluster.faults().counts().errors_total(), 1);
}

/// Issues 60 sequential GETs and returns the code each got.
async fn outcomes(api: &Api<ConfigMap>) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..60 {
        out.push(match api.get("x").await {
            Ok(_) => 200,
            Err(err) => api_status(err).code,
        });
    }
    out
}

#[tokio::test]
async fn a_seeded_error_rate_is_reproducible() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let faults = lab.cluster("c").expect("cluster").faults();
    let api = configmaps(&lab, "c", false).await;
    api.create(&PostParams::default(), &configmap("x"))
        .await
        .expect("create");

    faults.seed(42).error_rate(0.3, &[500, 503]);
    let first = outcomes(&api).await;
    faults.clear().seed(42).error_rate(0.3, &[500, 503]);
    let second = outcomes(&api).await;
    assert_eq!(first, second, "same seed, same faults");
    let failed = first.iter().filter(|c| **c != 200).count();
    assert!(
        (5..=35).contains(&failed),
        "about 30% of 60 failed: {failed}"
    );
    assert!(first.contains(&500) && first.contains(&503));

    faults.clear().seed(7).error_rate(0.3, &[500, 503]);
    assert_ne!(outcomes(&api).await, first, "another seed, other faults");
}

#[tokio::test]
async fn latency_delays_answers() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let faults = lab.cluster("c").expect("cluster").faults();
    let api = configmaps(&lab, "c", false).await;
    api.create(&PostParams::default(), &configmap("x"))
        .await
        .expect("create");
    faults.latency(Duration::from_millis(300));
    let started = Instant::now();
    api.get("x").await.expect("get");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(faults.counts().delayed, 1);
}

#[tokio::test]
async fn a_paused_cluster_holds_requests_until_resumed() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let faults = lab.cluster("c").expect("cluster").faults();
    let api = configmaps(&lab, "c", false).await;
    faults.pause();
    let held = tokio::spawn({
        let api = api.clone();
        async move { api.create(&PostParams::default(), &configmap("x")).await }
    });
    within("the request to be held", faults.until(|c| c.waiting == 1)).await;
    assert!(!held.is_finished(), "held while paused");
    faults.resume();
    within("the held request", held)
        .await
        .expect("task")
        .expect("created after resume");
    api.get("x").await.expect("served");
    let counts = faults.counts();
    assert_eq!((counts.held, counts.waiting), (1, 0));
}

#[tokio::test]
async fn a_watcher_resumes_after_dropped_watches() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let cluster = lab.cluster("c").expect("cluster");
    let faults = cluster.faults();
    let api = configmaps(&lab, "c", false).await;
    let mut events = spawn_watcher(api.clone());
    seen(&mut events, "init-done").await;
    within("the watch to open", faults.until(|c| c.watches_open == 1)).await;

    // Cut the open watch now: the watcher resumes from the resourceVersion it saw, without
    // relisting, and sees what changes next.
    faults.drop_watches();
    within(
        "the watch to drop",
        faults.until(|c| c.watches_dropped == 1),
    )
    .await;
    api.create(&PostParams::default(), &configmap("a"))
        .await
        .expect("create");
    let before = seen(&mut events, "apply a").await;
    assert!(
        !before.contains(&"init".to_string()),
        "no relist: {before:?}"
    );

    // Every stream ends after one event from now on: each change still arrives.
    faults.drop_watches_after(Some(1));
    for name in ["b", "c", "d"] {
        api.create(&PostParams::default(), &configmap(name))
            .await
            .expect("create");
        seen(&mut events, &format!("apply {name}")).await;
    }
    within(
        "the streams to end after one event",
        faults.until(|c| c.watches_dropped >= 3),
    )
    .await;
    let watches = cluster
        .requests()
        .iter()
        .filter(|r| r.query.contains("watch=true"))
        .count();
    assert!(watches >= 4, "the watcher re-watched: {watches}");
}

#[tokio::test]
async fn forced_expiry_makes_a_watcher_relist() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let cluster = lab.cluster("c").expect("cluster");
    let faults = cluster.faults();
    let api = configmaps(&lab, "c", false).await;
    api.create(&PostParams::default(), &configmap("a"))
        .await
        .expect("create");
    let mut events = spawn_watcher(api.clone());
    seen(&mut events, "init-done").await;
    api.create(&PostParams::default(), &configmap("b"))
        .await
        .expect("create");
    seen(&mut events, "apply b").await;
    within("the watch to open", faults.until(|c| c.watches_open == 1)).await;

    faults.expire_watches();
    // The resumed watch gets the in-stream 410 and the watcher relists everything.
    seen(&mut events, "init").await;
    seen(&mut events, "init-apply a").await;
    seen(&mut events, "init-apply b").await;
    seen(&mut events, "init-done").await;
    api.create(&PostParams::default(), &configmap("c"))
        .await
        .expect("create");
    seen(&mut events, "apply c").await;
    assert_eq!(faults.counts().expiries, 1);
}

#[tokio::test]
async fn a_partition_gives_transport_errors_and_heal_restores_service() {
    let lab = Lab::start(&["cluster1", "cluster2"]).await.expect("lab");
    let faults = lab.cluster("cluster2").expect("cluster").faults();
    let dr = configmaps(&lab, "cluster2", false).await;
    let primary = configmaps(&lab, "cluster1", false).await;
    dr.create(&PostParams::default(), &configmap("x"))
        .await
        .expect("create");

    faults.partition();
    // The client's pooled connection is cut, a new one is reset: a transport error, not a
    // Status.
    within(
        "the open connection to be cut",
        faults.until(|c| c.connections_severed >= 1),
    )
    .await;
    let err = dr.get("x").await.expect_err("partitioned");
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a transport error, not an answer: {err:?}"
    );
    assert!(faults.counts().connections_refused >= 1);
    // Only cluster2 is cut off.
    primary
        .create(&PostParams::default(), &configmap("y"))
        .await
        .expect("cluster1 serves");

    faults.heal();
    dr.get("x").await.expect("served after heal");
}

#[tokio::test]
async fn a_watcher_survives_a_partition_and_sees_changes_made_after_healing() {
    let lab = Lab::start(&["cluster2"]).await.expect("lab");
    let faults = lab.cluster("cluster2").expect("cluster").faults();
    let api = configmaps(&lab, "cluster2", false).await;
    let mut events = spawn_watcher(api.clone());
    seen(&mut events, "init-done").await;
    within("the watch to open", faults.until(|c| c.watches_open == 1)).await;

    faults.partition();
    // The watch stream is cut mid-stream (the watcher reports an error) and its reconnection
    // attempt is reset.
    seen(&mut events, "error").await;
    within(
        "the watcher's reconnection to be refused",
        faults.until(|c| c.connections_severed >= 1 && c.connections_refused >= 1),
    )
    .await;

    faults.heal();
    api.create(&PostParams::default(), &configmap("after-heal"))
        .await
        .expect("create after heal");
    seen(&mut events, "apply after-heal").await;
}

#[tokio::test]
async fn clear_removes_every_fault() {
    let lab = Lab::start(&["c"]).await.expect("lab");
    let faults = lab.cluster("c").expect("cluster").faults();
    let api = configmaps(&lab, "c", false).await;
    faults
        .error_rate(1.0, &[500])
        .latency(Duration::from_secs(3600))
        .drop_watches_after(Some(1))
        .pause()
        .partition();
    faults.clear();
    assert!(!faults.is_paused() && !faults.is_partitioned() && faults.rules().is_empty());
    api.create(&PostParams::default(), &configmap("x"))
        .await
        .expect("served");
}
