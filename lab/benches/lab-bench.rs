//! Throughput and watch fan-out of the lab, measured with kube-rs 5 clients over HTTPS on
//! loopback, with all three clusters (`quorum`, `cluster1`, `cluster2`) serving and loaded at
//! once. Bounded request counts; it stops by itself.
//!
//! ```text
//! cargo bench -p protect-lab-apiserver --bench lab-bench
//! ```
//!
//! Per cluster: create (ConfigMaps and a custom resource), GET, LIST of 100 and of 1,000
//! objects, merge patch, status merge patch (custom resource with the status subresource), and
//! the latency from a write to its event arriving at each of 100 open watches (p50 / p99 /
//! max, per watcher and for the last of the 100). Figures: docs/lab-benchmark.md.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::{Api, Client};
use protect_lab_apiserver::Lab;
use serde_json::json;
use tokio::sync::{Barrier, mpsc};

const CLUSTERS: [&str; 3] = ["quorum", "cluster1", "cluster2"];
/// Requests in flight per cluster.
const CONCURRENCY: usize = 16;
const GETS: usize = 3_000;
const LISTS_100: usize = 300;
const LISTS_1000: usize = 40;
const MERGE_PATCHES: usize = 1_500;
const ITEMS: usize = 200;
const STATUS_PATCHES: usize = 1_500;
const WATCHERS: usize = 100;
const WATCHED_WRITES: usize = 100;

/// One measured phase of one cluster.
struct Figure {
    op: &'static str,
    count: usize,
    took: Duration,
}

impl Figure {
    fn rate(&self) -> f64 {
        self.count as f64 / self.took.as_secs_f64()
    }
}

async fn client(lab: &Lab, context: &str) -> Result<Client> {
    let kc = kube::config::Kubeconfig::from_yaml(&lab.kubeconfig())?;
    let opts = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts).await?;
    Ok(Client::try_from(config)?)
}

/// Runs `count` calls of `op` with [`CONCURRENCY`] in flight; the time they took.
async fn timed<F, Fut>(count: usize, op: F) -> Result<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(op)
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await?;
    Ok(started.elapsed())
}

fn configmap(name: &str) -> Result<ConfigMap> {
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "data": {"payload": "x".repeat(256), "n": "0"}}),
    )?)
}

fn bench_crd() -> Result<CustomResourceDefinition> {
    let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    Ok(serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "benchitems.bench.protect-lab.io"},
        "spec": {
            "group": "bench.protect-lab.io",
            "names": {"kind": "BenchItem", "listKind": "BenchItemList",
                      "plural": "benchitems", "singular": "benchitem"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "properties": {"spec": open, "status": open}}}
            }]
        }
    }))?)
}

async fn namespace(client: &Client, name: &str) -> Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

/// Every throughput phase of one cluster; each phase starts on all clusters together.
async fn throughput(client: Client, phase: Arc<Barrier>) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for ns in ["bench-100", "bench-1000"] {
        namespace(&client, ns).await?;
    }
    let small: Api<ConfigMap> = Api::namespaced(client.clone(), "bench-100");
    let large: Api<ConfigMap> = Api::namespaced(client.clone(), "bench-1000");

    phase.wait().await;

    let took = timed(1_100, |i| {
        let (api, name) = if i < 100 {
            (&small, format!("cm-{i}"))
        } else {
            (&large, format!("cm-{}", i - 100))
        };
        async move {
            api.create(&PostParams::default(), &configmap(&name)?)
                .await?;
            Ok(())
        }
    })
    .await?;
    figures.push(Figure {
        op: "create ConfigMap",
        count: 1_100,
        took,
    });

    phase.wait().await;

    let took = timed(GETS, |i| {
        let api = &large;
        async move {
            api.get(&format!("cm-{}", i % 1_000)).await?;
            Ok(())
        }
    })
    .await?;
    figures.push(Figure {
        op: "GET ConfigMap",
        count: GETS,
        took,
    });

    for (api, op, count, expect) in [
        (&small, "LIST 100 ConfigMaps", LISTS_100, 100),
        (&large, "LIST 1,000 ConfigMaps", LISTS_1000, 1_000),
    ] {
        phase.wait().await;
        let took = timed(count, |_| async move {
            let got = api.list(&ListParams::default()).await?.items.len();
            if got != expect {
                bail!("listed {got} ConfigMaps, expected {expect}");
            }
            Ok(())
        })
        .await?;
        figures.push(Figure { op, count, took });
    }

    phase.wait().await;

    let took = timed(MERGE_PATCHES, |i| {
        let api = &large;
        async move {
            let patch = Patch::Merge(json!({"data": {"n": i.to_string()}}));
            api.patch(
                &format!("cm-{}", i % 1_000),
                &PatchParams::default(),
                &patch,
            )
            .await?;
            Ok(())
        }
    })
    .await?;
    figures.push(Figure {
        op: "merge patch ConfigMap",
        count: MERGE_PATCHES,
        took,
    });

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bench.protect-lab.io", "v1", "BenchItem"),
        "benchitems",
    );
    let items: Api<DynamicObject> = Api::namespaced_with(client.clone(), "bench-100", &resource);
    phase.wait().await;
    let took = timed(ITEMS, |i| {
        let (items, resource) = (&items, &resource);
        async move {
            let mut item = DynamicObject::new(&format!("item-{i}"), resource);
            item.data = json!({"spec": {"n": i}});
            items.create(&PostParams::default(), &item).await?;
            Ok(())
        }
    })
    .await?;
    figures.push(Figure {
        op: "create custom resource",
        count: ITEMS,
        took,
    });

    phase.wait().await;

    let took = timed(STATUS_PATCHES, |i| {
        let items = &items;
        async move {
            let patch = Patch::Merge(json!({"status": {"observed": i, "phase": "Protected"}}));
            items
                .patch_status(
                    &format!("item-{}", i % ITEMS),
                    &PatchParams::default(),
                    &patch,
                )
                .await?;
            Ok(())
        }
    })
    .await?;
    figures.push(Figure {
        op: "status merge patch (CR)",
        count: STATUS_PATCHES,
        took,
    });
    Ok(figures)
}

/// Latencies of one cluster's fan-out: per watcher, and until the last watcher had it.
struct FanOut {
    each: Vec<Duration>,
    all: Vec<Duration>,
}

/// Opens [`WATCHERS`] watches on one ConfigMap, then patches it [`WATCHED_WRITES`] times,
/// one write at a time, timing each event's arrival at every watcher.
async fn fan_out(client: Client) -> Result<FanOut> {
    namespace(&client, "bench-watch").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "bench-watch");
    api.create(&PostParams::default(), &configmap("watched")?)
        .await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let (ready_tx, mut ready) = mpsc::unbounded_channel::<()>();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..WATCHERS {
        // Each open watch holds its own HTTP/1.1 connection of the client's pool.
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "bench-watch");
        let (tx, ready_tx) = (tx.clone(), ready_tx.clone());
        tasks.spawn(async move {
            let params = WatchParams::default().timeout(290);
            let Ok(stream) = api.watch(&params, "0").await else {
                return;
            };
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(event)) = stream.next().await {
                let now = Instant::now();
                match event {
                    WatchEvent::Added(_) => {
                        let _ = ready_tx.send(());
                    }
                    WatchEvent::Modified(cm) => {
                        let seq = cm
                            .data
                            .as_ref()
                            .and_then(|d| d.get("n"))
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0);
                        if tx.send((seq, now)).is_err() {
                            return;
                        }
                    }
                    _ => {}
                }
            }
        });
    }
    drop((tx, ready_tx));
    for _ in 0..WATCHERS {
        tokio::time::timeout(Duration::from_secs(60), ready.recv())
            .await
            .context("waiting for the watches to open")?
            .context("a watch failed to open")?;
    }
    let mut fan = FanOut {
        each: Vec::new(),
        all: Vec::new(),
    };
    for seq in 1..=WATCHED_WRITES {
        let patch = Patch::Merge(json!({"data": {"n": seq.to_string()}}));
        let written = Instant::now();
        api.patch("watched", &PatchParams::default(), &patch)
            .await?;
        let mut arrived = 0;
        let mut last = Duration::ZERO;
        while arrived < WATCHERS {
            let (got, at) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
                .await
                .context("waiting for watch events")?
                .context("the watchers ended")?;
            if got != seq {
                bail!("event {got} arrived while waiting for {seq}");
            }
            let latency = at.saturating_duration_since(written);
            fan.each.push(latency);
            last = last.max(latency);
            arrived += 1;
        }
        fan.all.push(last);
    }
    tasks.abort_all();
    Ok(fan)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1_000.0)
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "p50 {} ms  p99 {} ms  max {} ms  ({} samples)",
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        ms(samples.last().copied().unwrap_or_default()),
        samples.len()
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("lab-bench: run with `cargo bench -p protect-lab-apiserver --bench lab-bench`");
        return Ok(());
    }
    let started = Instant::now();
    let lab = Lab::start(&CLUSTERS).await?;
    let mut clients = BTreeMap::new();
    for name in CLUSTERS {
        let client = client(&lab, name).await?;
        Api::<CustomResourceDefinition>::all(client.clone())
            .create(&PostParams::default(), &bench_crd()?)
            .await?;
        clients.insert(name, client);
    }
    println!(
        "protect-lab benchmark: {} clusters serving at once, {} CPUs, {CONCURRENCY} requests in flight per cluster\n",
        CLUSTERS.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let load_started = Instant::now();
    let phase = Arc::new(Barrier::new(CLUSTERS.len()));
    let results = futures::future::try_join_all(
        CLUSTERS
            .iter()
            .map(|name| throughput(clients[name].clone(), phase.clone())),
    )
    .await?;
    let load_took = load_started.elapsed();
    println!(
        "{:<10} {:<26} {:>7} {:>9} {:>10}",
        "cluster", "operation", "count", "seconds", "req/s"
    );
    // Per phase: requests of all clusters, and the longest any cluster took.
    let mut totals: Vec<(&str, usize, Duration)> = Vec::new();
    for (name, figures) in CLUSTERS.iter().zip(&results) {
        for f in figures {
            println!(
                "{:<10} {:<26} {:>7} {:>9.2} {:>10.0}",
                name,
                f.op,
                f.count,
                f.took.as_secs_f64(),
                f.rate()
            );
            match totals.iter_mut().find(|t| t.0 == f.op) {
                Some(t) => {
                    t.1 += f.count;
                    t.2 = t.2.max(f.took);
                }
                None => totals.push((f.op, f.count, f.took)),
            }
        }
    }
    println!("\nall three clusters together (each phase runs on all of them at once):");
    for (op, count, took) in &totals {
        println!(
            "  {op:<26} {count:>7} requests in {:>5.2} s  {:>8.0} req/s",
            took.as_secs_f64(),
            *count as f64 / took.as_secs_f64()
        );
    }
    println!(
        "throughput phases took {:.1} s in all\n",
        load_took.as_secs_f64()
    );

    let fan_started = Instant::now();
    let fans =
        futures::future::try_join_all(CLUSTERS.iter().map(|name| fan_out(clients[name].clone())))
            .await?;
    println!(
        "watch fan-out: {WATCHERS} open watches per cluster, {WATCHED_WRITES} sequential writes per cluster, all clusters at once ({:.1} s)",
        fan_started.elapsed().as_secs_f64()
    );
    for (name, fan) in CLUSTERS.iter().zip(fans) {
        println!("  {name:<9} write → each watcher:    {}", summary(fan.each));
        println!(
            "  {name:<9} write → all {WATCHERS} watchers: {}",
            summary(fan.all)
        );
    }
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
    lab.shutdown().await;
    Ok(())
}
