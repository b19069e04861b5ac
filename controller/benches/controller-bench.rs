//! The Protection Controller at scale: the real `protect-controller` binary, as its own process
//! under Lease leader election, against the lab's three clusters with the KubeVirt, DRBD and
//! provisioner simulators on a real-time clock and instant DRBD resync. Printed figures, not a
//! timed test.
//!
//! ```text
//! cargo bench -p protect-controller --bench controller-bench
//! ```
//!
//! For each size N (default 1, 100 and 1,000, each on a fresh world): N VMs, each on one
//! `ceph-rbd` PVC, are seeded and Running before the controller starts; then N
//! ProtectionRequests are created at once (16 in flight) and the bench measures
//! - the time from the first create to every request Protected, and each request's own
//!   create → Protected latency (when a watch of the requests first shows it Protected);
//! - the API requests the controller made, from the lab's request log (the controller is its
//!   own user on all three clusters), per request and by cluster, verb and resource;
//! - the requests it makes per minute once everything is Protected (a window of real time);
//! - its resident memory (`VmRSS`, `VmHWM`) and CPU time, and the CPU time of the bench
//!   process (the lab, the simulators and this client).
//!
//! Environment:
//! - `CONTROLLER_BENCH_SIZES=1,100` — the sizes (default `1,100,1000`);
//! - `CONTROLLER_BENCH_STEADY_SECS=60` — the steady-state window (default 60);
//! - `CONTROLLER_BENCH_SETTLE_SECS=10` — between all Protected and that window (default 10);
//! - `CONTROLLER_BENCH_TICK_MS=500` — interval between simulator passes (default 500, as
//!   `protect-lab up`); simulated time runs at real speed;
//! - `CONTROLLER_BENCH_TIMEOUT_SECS=1800` — give up on a size after this long (default 1800);
//! - `CONTROLLER_BENCH_KEEP=1` — keep the controller's log and kubeconfig (the path is printed);
//! - `CONTROLLER_BENCH_RUST_LOG` — the controller's `RUST_LOG` (default `info,kube=warn`).
//!
//! Figures: docs/controller-benchmark.md.

// A benchmark fails loudly on any unexpected answer.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use protect_api::kubevirt::VirtualMachineInstance;
use protect_api::{Phase, ProtectionRequest};
use protect_lab_apiserver::world::{
    self, Clock, DR, DR_KUBECONFIG_SECRET, PRIMARY, PRIMARY_KUBECONFIG_SECRET,
    PROTECTION_NAMESPACE, QUORUM, World, WorldOptions,
};
use protect_lab_apiserver::{RequestRecord, UserInfo};
use protect_lab_simulators::Bandwidth;
use protect_lab_simulators::seed;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The controller's user on all three clusters, so the request log tells its requests apart.
const CONTROLLER_USER: &str = "bench-protect-controller";
const CONTROLLER_TOKEN: &str = "bench-protect-controller-token";
/// Its identity in the Lease.
const IDENTITY: &str = "bench-controller";
/// The Lease (the binary's default name), in the protection namespace.
const LEASE: &str = "protection-controller";
/// Seconds the Lease is valid after a renewal (the binary's default).
const LEASE_SECONDS: u64 = 15;
const VM_NAMESPACE: &str = "production";
/// Creates in flight.
const CONCURRENCY: usize = 16;
/// How often the bench looks at the phases its watch saw.
const POLL: Duration = Duration::from_millis(200);
/// Simulated time per tick while the fleet is seeded (manual clock).
const SEED_TICK: Duration = Duration::from_secs(5);

struct Settings {
    sizes: Vec<usize>,
    steady: Duration,
    settle: Duration,
    tick: Duration,
    timeout: Duration,
    keep: bool,
}

fn env_secs(name: &str, default: u64) -> Result<Duration> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            Ok(Duration::from_secs(v.trim().parse().with_context(
                || format!("{name}={v:?} is not a number of seconds"),
            )?))
        }
        _ => Ok(Duration::from_secs(default)),
    }
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let sizes = match std::env::var("CONTROLLER_BENCH_SIZES") {
            Ok(v) if !v.trim().is_empty() => v
                .split(',')
                .map(|s| {
                    s.trim()
                        .replace('_', "")
                        .parse::<usize>()
                        .with_context(|| format!("CONTROLLER_BENCH_SIZES: {s:?} is not a size"))
                })
                .collect::<Result<Vec<_>>>()?,
            _ => vec![1, 100, 1000],
        };
        if sizes.contains(&0) || sizes.iter().any(|n| *n > 9999) {
            bail!("CONTROLLER_BENCH_SIZES: sizes are 1 to 9999");
        }
        let tick_ms = match std::env::var("CONTROLLER_BENCH_TICK_MS") {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse::<u64>()
                .with_context(|| format!("CONTROLLER_BENCH_TICK_MS={v:?} is not a number"))?,
            _ => 500,
        };
        Ok(Settings {
            sizes,
            steady: env_secs("CONTROLLER_BENCH_STEADY_SECS", 60)?,
            settle: env_secs("CONTROLLER_BENCH_SETTLE_SECS", 10)?,
            tick: Duration::from_millis(tick_ms.max(10)),
            timeout: env_secs("CONTROLLER_BENCH_TIMEOUT_SECS", 1800)?,
            keep: std::env::var("CONTROLLER_BENCH_KEEP").is_ok_and(|v| v == "1"),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The request log

/// How a request is counted: cluster, verb (GET, LIST, WATCH, POST, PUT, PATCH, DELETE) and
/// resource (plural, with `/subresource`).
type Key = (String, String, String);

fn classify(r: &RequestRecord) -> (String, String) {
    let watch = r
        .query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let rest: &[&str] = match segments.first() {
        Some(&"api") if segments.len() >= 2 => &segments[2..],
        Some(&"apis") if segments.len() >= 3 => &segments[3..],
        _ => return (r.method.clone(), r.path.clone()),
    };
    if rest.is_empty() {
        return (r.method.clone(), "discovery".to_owned());
    }
    let rest = if rest.len() >= 3 && rest[0] == "namespaces" {
        &rest[2..]
    } else {
        rest
    };
    let resource = match rest.get(2) {
        Some(sub) => format!("{}/{sub}", rest[0]),
        None => rest[0].to_owned(),
    };
    let verb = match r.method.as_str() {
        "GET" if watch => "WATCH".to_owned(),
        "GET" if rest.len() == 1 => "LIST".to_owned(),
        m => m.to_owned(),
    };
    (verb, resource)
}

/// Where each cluster's request log stood at a moment.
#[derive(Clone)]
struct Mark(BTreeMap<String, usize>);

/// The controller's requests between two marks, by key; and how many of them failed (≥ 400).
struct Window {
    counts: BTreeMap<Key, usize>,
    errors: BTreeMap<(Key, u16), usize>,
}

impl Window {
    fn total(&self) -> usize {
        self.counts.values().sum()
    }

    fn errors_total(&self) -> usize {
        self.errors.values().sum()
    }

    fn by<F: Fn(&Key) -> String>(&self, f: F) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (k, n) in &self.counts {
            *out.entry(f(k)).or_default() += n;
        }
        out
    }

    fn writes(&self) -> usize {
        self.counts
            .iter()
            .filter(|((_, verb, _), _)| {
                matches!(verb.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            })
            .map(|(_, n)| n)
            .sum()
    }

    fn leases(&self) -> usize {
        self.counts
            .iter()
            .filter(|((_, _, resource), _)| resource == "leases")
            .map(|(_, n)| n)
            .sum()
    }
}

struct Log<'a> {
    world: &'a World,
}

impl Log<'_> {
    fn mark(&self) -> Mark {
        Mark(
            self.world
                .lab()
                .clusters()
                .iter()
                .map(|c| (c.name().to_owned(), c.requests().len()))
                .collect(),
        )
    }

    fn window(&self, from: &Mark, to: &Mark) -> Window {
        let mut counts = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for c in self.world.lab().clusters() {
            let records = c.requests();
            let start = from.0.get(c.name()).copied().unwrap_or(0);
            let end = to.0.get(c.name()).copied().unwrap_or(records.len());
            for r in records
                .iter()
                .take(end)
                .skip(start)
                .filter(|r| r.user == CONTROLLER_USER)
            {
                let (verb, resource) = classify(r);
                let key = (c.name().to_owned(), verb, resource);
                if r.status >= 400 {
                    *errors.entry((key.clone(), r.status)).or_default() += 1;
                }
                *counts.entry(key).or_default() += 1;
            }
        }
        Window { counts, errors }
    }
}

// ---------------------------------------------------------------------------------------------
// What the controller's writes changed

/// Every MODIFIED event of a kind on the quorum cluster, and what each one changed: the
/// controller's PATCHes that changed nothing make no event, so the difference between its
/// PATCHes and these events is its no-op writes.
#[derive(Clone, Debug, Default)]
struct Changes {
    events: usize,
    /// Field path → events that changed it.
    by_path: BTreeMap<String, usize>,
    /// Set of changed paths → events that changed exactly those.
    by_set: BTreeMap<String, usize>,
    /// `status.phase` moved backwards ("from → to") — phases only move forward.
    regressions: BTreeMap<String, usize>,
}

/// Paths where `a` and `b` differ, down to `depth` levels: list items are named by their
/// `type` (conditions) or `*`.
fn diff(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    depth: usize,
    out: &mut BTreeSet<String>,
) {
    use serde_json::Value;
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if depth > 0 => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    depth - 1,
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if depth > 0 => {
            if x.len() != y.len() {
                out.insert(format!("{path}[+]"));
            }
            for (i, j) in x.iter().zip(y) {
                let name = i
                    .get("type")
                    .and_then(Value::as_str)
                    .map_or("*".to_owned(), str::to_owned);
                diff(&format!("{path}[{name}]"), i, j, depth - 1, out);
            }
        }
        _ => {
            out.insert(path.to_owned());
        }
    }
}

/// The parts of an object a write may change (not resourceVersion or managedFields).
fn observed(v: &serde_json::Value) -> serde_json::Value {
    json!({
        "finalizers": v.pointer("/metadata/finalizers"),
        "labels": v.pointer("/metadata/labels"),
        "annotations": v.pointer("/metadata/annotations"),
        "deletionTimestamp": v.pointer("/metadata/deletionTimestamp"),
        "spec": v.get("spec"),
        "status": v.get("status"),
    })
}

/// The phase each request was last seen in, its message, and when it was first seen Protected.
type Phases = std::sync::Arc<std::sync::Mutex<BTreeMap<String, (String, String, Option<Instant>)>>>;

/// Watch a kind on the quorum cluster (as the administrator) and count what each change
/// changed, until the returned task is aborted; with `phases`, also note each object's
/// `status.phase` as the event arrives (the bench's clock for "Protected").
fn count_changes(
    client: Client,
    resource: kube::core::ApiResource,
    changes: std::sync::Arc<std::sync::Mutex<Changes>>,
    phases: Option<Phases>,
) -> tokio::task::JoinHandle<()> {
    use kube::runtime::{WatchStreamExt, watcher};
    let api: Api<kube::core::DynamicObject> =
        Api::namespaced_with(client, PROTECTION_NAMESPACE, &resource);
    tokio::spawn(async move {
        let mut last: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = stream.next().await {
            let (obj, deleted) = match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => (o, false),
                Ok(watcher::Event::Delete(o)) => (o, true),
                _ => continue,
            };
            let name = obj.name_any();
            if deleted {
                last.remove(&name);
                continue;
            }
            let value = serde_json::to_value(&obj).unwrap_or_default();
            if let Some(phases) = &phases {
                let at = Instant::now();
                let text = |p: &str| {
                    value
                        .pointer(p)
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                let phase = text("/status/phase");
                let mut phases = phases.lock().unwrap();
                let seen =
                    phases
                        .entry(name.clone())
                        .or_insert((String::new(), String::new(), None));
                if phase == Phase::Protected.as_str() && seen.2.is_none() {
                    seen.2 = Some(at);
                }
                seen.0 = phase;
                // What it waits for: the message of its first condition that is not True.
                let waiting = value
                    .pointer("/status/conditions")
                    .and_then(serde_json::Value::as_array)
                    .and_then(|cs| {
                        cs.iter().find(|c| {
                            c.get("status").and_then(serde_json::Value::as_str) == Some("False")
                        })
                    })
                    .and_then(|c| c.get("message").and_then(serde_json::Value::as_str))
                    .map(str::to_owned);
                seen.1 = waiting.unwrap_or_else(|| text("/status/message"));
            }
            let now = observed(&value);
            if let Some(before) = last.insert(name, now.clone()) {
                let mut paths = BTreeSet::new();
                diff("", &before, &now, 4, &mut paths);
                let phase_of = |v: &serde_json::Value| {
                    v.pointer("/status/phase")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                let (from, to) = (phase_of(&before), phase_of(&now));
                let mut c = changes.lock().unwrap();
                // Phase's order is the forward order (Failed last); no phase sorts first.
                let rank =
                    |p: &str| serde_json::from_value::<Phase>(serde_json::Value::from(p)).ok();
                if rank(&to) < rank(&from) {
                    *c.regressions.entry(format!("{from} → {to}")).or_default() += 1;
                }
                c.events += 1;
                for p in &paths {
                    *c.by_path
                        .entry(p.trim_start_matches('.').to_owned())
                        .or_default() += 1;
                }
                let set: Vec<&str> = paths.iter().map(|p| p.trim_start_matches('.')).collect();
                *c.by_set.entry(set.join(" + ")).or_default() += 1;
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The controller process

/// Resident memory and CPU of a process, from /proc.
#[derive(Clone, Copy, Debug, Default)]
struct ProcStat {
    rss_kib: u64,
    hwm_kib: u64,
    cpu: Duration,
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn proc_stat(pid: &str, ticks: u64) -> ProcStat {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let jiffies = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    ProcStat {
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
        cpu: Duration::from_millis(jiffies * 1000 / ticks.max(1)),
    }
}

/// A free loopback port for the controller's /metrics.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `GET path` on the controller's metrics server (HTTP/1.0, so the server closes).
async fn http_get(port: u16, path: &str) -> Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    Ok(body)
}

/// The controller's counters: reconciles, and reconcile errors by category.
#[derive(Clone, Debug, Default)]
struct Counters {
    reconciles: u64,
    errors: BTreeMap<String, u64>,
}

async fn counters(port: u16) -> Counters {
    let Ok(text) = http_get(port, "/metrics").await else {
        return Counters::default();
    };
    let mut c = Counters::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: u64 = value.parse::<f64>().map_or(0, |v| v as u64);
        if name == "protect_controller_reconciles_total" {
            c.reconciles = value;
        } else if let Some(labels) = name.strip_prefix("protect_controller_reconcile_errors_total")
        {
            let category = labels
                .trim_start_matches("{category=\"")
                .trim_end_matches("\"}")
                .to_owned();
            c.errors.insert(category, value);
        }
    }
    c
}

/// Lines of the controller's log that contain `what`.
fn count_lines(path: &Path, what: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

/// Warnings and errors of the controller's log, grouped by their message (fields stripped).
fn log_warnings(path: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = strip_ansi(line);
        let Some(pos) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) else {
            continue;
        };
        let rest = line[pos..].trim();
        // "WARN target: message key=value …" → "WARN target: message"
        let message: Vec<&str> = rest
            .split_whitespace()
            .take_while(|w| !w.contains('='))
            .collect();
        *out.entry(message.join(" ")).or_default() += 1;
    }
    out
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The world

/// Give the controller its own user on every cluster: a token, the kubeconfig Secrets rewritten
/// to use it (the world seeds them with the administrator's token, which the simulators use
/// too), and a kubeconfig of the quorum cluster for it. Returns that kubeconfig.
async fn identify_controller(world: &World, quorum: &Client) -> Result<String> {
    let lab = world.lab();
    for c in lab.clusters() {
        c.add_user(
            CONTROLLER_TOKEN,
            UserInfo {
                username: CONTROLLER_USER.to_owned(),
                uid: "bench-controller".to_owned(),
                groups: vec!["system:authenticated".to_owned()],
            },
        );
    }
    let secrets: Api<Secret> = Api::namespaced(quorum.clone(), PROTECTION_NAMESPACE);
    for (secret, cluster) in [
        (PRIMARY_KUBECONFIG_SECRET, PRIMARY),
        (DR_KUBECONFIG_SECRET, DR),
    ] {
        let c = lab.cluster(cluster).context("the world has the cluster")?;
        let kubeconfig = world::cluster_kubeconfig(c).replace(c.token(), CONTROLLER_TOKEN);
        let mut s = secrets.get(secret).await?;
        s.data = Some(
            [(
                "kubeconfig".to_owned(),
                k8s_openapi::ByteString(kubeconfig.into_bytes()),
            )]
            .into(),
        );
        s.string_data = None;
        secrets.replace(secret, &PostParams::default(), &s).await?;
    }
    let q = lab.cluster(QUORUM).context("the world has quorum")?;
    Ok(world::cluster_kubeconfig(q).replace(q.token(), CONTROLLER_TOKEN))
}

/// Seed `vms` on the primary cluster, one 1Gi `ceph-rbd` PVC each, and tick the manual clock
/// until every one of them is Running.
async fn seed_fleet(world: &World, primary: &Client, vms: &[String]) -> Result<usize> {
    seed::seed_cluster(primary, &seed::fleet(vms)).await?;
    let vmis: Api<VirtualMachineInstance> = Api::namespaced(primary.clone(), VM_NAMESPACE);
    let wanted: BTreeSet<&str> = vms.iter().map(String::as_str).collect();
    for tick in 0..60 {
        let running = vmis
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|v| wanted.contains(v.name_any().as_str()) && v.is_running_and_ready())
            .count();
        if running == vms.len() {
            return Ok(tick);
        }
        tokio::time::timeout(Duration::from_secs(120), world.clock().tick(SEED_TICK))
            .await
            .context("a simulator pass took over 120 s while seeding")?;
    }
    bail!("the seeded VMs were not all Running after 60 ticks")
}

fn request_manifest(vm: &str) -> ProtectionRequest {
    serde_json::from_value(json!({
        "apiVersion": "siterecovery.trilio.io/v1alpha1",
        "kind": "ProtectionRequest",
        "metadata": {"name": format!("protect-{vm}"), "namespace": PROTECTION_NAMESPACE},
        "spec": {"vmName": vm, "vmNamespace": VM_NAMESPACE, "sourceCluster": PRIMARY},
    }))
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// One size

struct Figures {
    n: usize,
    /// Phases at the timeout, when not every request became Protected.
    unfinished: Option<BTreeMap<String, usize>>,
    /// "phase transition" lines in the controller's log: each one a status write that changed
    /// the phase (as the controller saw it) and an Event.
    transitions_logged: usize,
    seed: Duration,
    startup: Duration,
    startup_requests: Window,
    /// First create → every request Protected.
    all_protected: Duration,
    /// Creating the N requests (the bench's client).
    creating: Duration,
    /// Each request's create → first seen Protected, sorted.
    latencies: Vec<Duration>,
    /// Mean seconds in each phase before Protected (from status.phaseTransitions).
    phase_means: Vec<(String, f64)>,
    /// Simulator passes during creation → all Protected, and their mean real interval.
    ticks: f64,
    protecting: Window,
    tail: Window,
    steady: Window,
    steady_secs: f64,
    controller_after_protect: ProcStat,
    controller_end: ProcStat,
    controller_cpu_protecting: Duration,
    controller_cpu_steady: Duration,
    bench_cpu_protecting: Duration,
    reconciles_protecting: u64,
    reconciles_steady: u64,
    reconcile_errors: BTreeMap<String, u64>,
    warnings: BTreeMap<String, usize>,
    /// What the changes of ProtectionRequests and quorum DRBDVolumes changed: while
    /// protecting (up to the end of the settle time), and in the steady window.
    request_changes: (Changes, Changes),
    volume_changes: (Changes, Changes),
}

/// Mean time spent in each phase before Protected, over the requests.
fn phase_means(requests: &[ProtectionRequest]) -> Vec<(String, f64)> {
    let mut sums: BTreeMap<usize, (String, f64, usize)> = BTreeMap::new();
    for pr in requests {
        let Some(status) = &pr.status else { continue };
        let created = pr.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let mut previous: Option<(String, jiff::Timestamp)> =
            created.map(|t| ("(created)".to_owned(), t));
        for (i, t) in status.phase_transitions.iter().enumerate() {
            if let Some((name, since)) = &previous {
                let secs = t.time.0.duration_since(*since).as_secs_f64().max(0.0);
                let e = sums.entry(i).or_insert_with(|| (name.clone(), 0.0, 0));
                e.1 += secs;
                e.2 += 1;
            }
            previous = Some((t.phase.as_str().to_owned(), t.time.0));
        }
    }
    sums.into_values()
        .map(|(name, sum, n)| (name, sum / n.max(1) as f64))
        .collect()
}

async fn run_size(n: usize, settings: &Settings, ticks_per_sec: u64) -> Result<Figures> {
    eprintln!("== {n} request(s): starting the lab's world");
    let world = World::start(WorldOptions {
        bandwidth: Bandwidth::Instant,
        clock: Clock::Manual,
    })
    .await?;
    let client = |c: &str| {
        world
            .client(c)
            .context("the world has a client per cluster")
    };
    let (quorum, primary) = (client(QUORUM)?, client(PRIMARY)?);
    let log = Log { world: &world };

    let seed_started = Instant::now();
    let vms: Vec<String> = (0..n).map(|i| format!("vm-{i:04}")).collect();
    let seed_ticks = seed_fleet(&world, &primary, &vms).await?;
    let seed = seed_started.elapsed();
    eprintln!(
        "   {n} VMs Running after {seed_ticks} manual ticks, {:.1} s",
        seed.as_secs_f64()
    );

    let dir = std::env::temp_dir().join(format!(
        "controller-bench-{}-{n}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_millisecond()
    ));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig_path = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig_path,
        identify_controller(&world, &quorum).await?,
    )?;

    // From now on simulated time runs at real speed, one simulator pass per tick.
    let clock_task = world.clock().run_realtime(settings.tick, 1);

    let result = measure(
        n,
        settings,
        ticks_per_sec,
        &world,
        &quorum,
        &log,
        &dir,
        &kubeconfig_path,
    )
    .await;
    clock_task.abort();
    let _ = clock_task.await;
    world.shutdown().await;
    if settings.keep {
        eprintln!("   kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(Figures { seed, ..result? })
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    n: usize,
    settings: &Settings,
    ticks_per_sec: u64,
    world: &World,
    quorum: &Client,
    log: &Log<'_>,
    dir: &Path,
    kubeconfig: &Path,
) -> Result<Figures> {
    let port = free_port()?;
    let log_path = dir.join("controller.log");
    let out = std::fs::File::create(&log_path)?;
    let before_start = log.mark();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_protect-controller"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--context", QUORUM])
        .args(["--lease-namespace", PROTECTION_NAMESPACE])
        .args(["--lease-name", LEASE])
        .args(["--lease-duration", &LEASE_SECONDS.to_string()])
        .args(["--identity", IDENTITY])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .env(
            "RUST_LOG",
            std::env::var("CONTROLLER_BENCH_RUST_LOG").unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG_QUORUM")
        .env_remove("POD_NAME")
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .context("starting protect-controller")?;
    let pid = child.id().context("the controller has a pid")?.to_string();
    let result = protect(
        n,
        settings,
        ticks_per_sec,
        world,
        quorum,
        log,
        &pid,
        port,
        started,
        &before_start,
        &log_path,
    )
    .await;
    // Our own child, by its handle.
    let _ = child.start_kill();
    let _ = child.wait().await;
    if result.is_err() {
        eprintln!("   controller log: {}", log_path.display());
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        for line in text
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            eprintln!("   | {}", strip_ansi(line));
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn protect(
    n: usize,
    settings: &Settings,
    ticks_per_sec: u64,
    world: &World,
    quorum: &Client,
    log: &Log<'_>,
    pid: &str,
    port: u16,
    started: Instant,
    before_start: &Mark,
    log_path: &Path,
) -> Result<Figures> {
    // Leadership, then the three quorum watches (requests, volumes, policies) are open.
    let leases: Api<Lease> = Api::namespaced(quorum.clone(), PROTECTION_NAMESPACE);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let holder = leases
            .get_opt(LEASE)
            .await?
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity);
        let watching: BTreeSet<String> = log
            .window(before_start, &log.mark())
            .counts
            .keys()
            .filter(|(c, verb, _)| c == QUORUM && verb == "WATCH")
            .map(|(_, _, r)| r.clone())
            .collect();
        let ready = [
            "protectionrequests",
            "drbdvolumes",
            "drbdreplicationpolicies",
        ]
        .iter()
        .all(|r| watching.contains(*r));
        if holder.as_deref() == Some(IDENTITY) && ready {
            break;
        }
        if Instant::now() > deadline {
            bail!("the controller did not lead and watch within 60 s (holder {holder:?})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let startup = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mark0 = log.mark();
    let startup_requests = log.window(before_start, &mark0);
    let counters0 = counters(port).await;
    let controller0 = proc_stat(pid, ticks_per_sec);
    let bench0 = proc_stat("self", ticks_per_sec);
    eprintln!(
        "   controller leads after {:.2} s ({} requests at startup); creating {n} requests",
        startup.as_secs_f64(),
        startup_requests.total()
    );

    // Count what every change of a request or a quorum DRBDVolume changed, and note when each
    // request is first seen Protected (a watch: no polling load on the lab).
    let phases: Phases = std::sync::Arc::default();
    let request_changes = std::sync::Arc::new(std::sync::Mutex::new(Changes::default()));
    let volume_changes = std::sync::Arc::new(std::sync::Mutex::new(Changes::default()));
    let watches = [
        count_changes(
            quorum.clone(),
            kube::core::ApiResource::erase::<ProtectionRequest>(&()),
            request_changes.clone(),
            Some(phases.clone()),
        ),
        count_changes(
            quorum.clone(),
            kube::core::ApiResource::erase::<protect_api::DRBDVolume>(&()),
            volume_changes.clone(),
            None,
        ),
    ];
    let take =
        |c: &std::sync::Arc<std::sync::Mutex<Changes>>| std::mem::take(&mut *c.lock().unwrap());

    // Create the N requests, CONCURRENCY in flight.
    let api: Api<ProtectionRequest> = Api::namespaced(quorum.clone(), PROTECTION_NAMESPACE);
    let vms: Vec<String> = (0..n).map(|i| format!("vm-{i:04}")).collect();
    let sim0 = world.clock().now();
    let t0 = Instant::now();
    let created: Vec<(String, Instant)> = futures::stream::iter(vms.iter())
        .map(|vm| {
            let api = api.clone();
            async move {
                let pr = request_manifest(vm);
                let at = Instant::now();
                api.create(&PostParams::default(), &pr).await?;
                anyhow::Ok((pr.name_any(), at))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let creating = t0.elapsed();
    let created: BTreeMap<String, Instant> = created.into_iter().collect();

    // Until every request is Protected (checked every POLL against what the watch saw).
    let mut last_report = Instant::now();
    let mut last_reconciles = counters0.reconciles;
    let mut unfinished: Option<BTreeMap<String, usize>> = None;
    let protected_at: BTreeMap<String, Instant> = loop {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut protected = BTreeMap::new();
        for (name, (phase, message, at)) in phases.lock().unwrap().iter() {
            if phase == Phase::Failed.as_str() {
                bail!("{name} Failed: {message}");
            }
            let phase = if phase.is_empty() { "(none)" } else { phase };
            *counts.entry(phase.to_owned()).or_default() += 1;
            if let Some(at) = at {
                protected.insert(name.clone(), *at);
            }
        }
        if protected.len() >= n {
            break protected;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            let c = proc_stat(pid, ticks_per_sec);
            let reconciles = counters(port).await.reconciles;
            eprintln!(
                "   {:>6.1} s: {counts:?}; controller RSS {} MiB, CPU {:.1} s, {} reconciles started in the last 10 s",
                t0.elapsed().as_secs_f64(),
                c.rss_kib / 1024,
                c.cpu.saturating_sub(controller0.cpu).as_secs_f64(),
                reconciles.saturating_sub(last_reconciles)
            );
            last_reconciles = reconciles;
            // What the unfinished requests wait for (VM names folded), most common first.
            let mut waiting: BTreeMap<String, usize> = BTreeMap::new();
            for (phase, message, at) in phases.lock().unwrap().values() {
                if at.is_none() {
                    let folded: String = message
                        .split_whitespace()
                        .map(|w| if w.contains("vm-") { "vm-…" } else { w })
                        .collect::<Vec<_>>()
                        .join(" ");
                    *waiting.entry(format!("{phase}: {folded}")).or_default() += 1;
                }
            }
            let mut waiting: Vec<_> = waiting.into_iter().collect();
            waiting.sort_by_key(|w| std::cmp::Reverse(w.1));
            for (what, count) in waiting.into_iter().take(3) {
                eprintln!("            {count:>5} × {what}");
            }
        }
        if t0.elapsed() > settings.timeout {
            // Report what there is: the figures then cover the requests so far.
            eprintln!(
                "   not all {n} requests Protected within {} s: {counts:?}",
                settings.timeout.as_secs()
            );
            unfinished = Some(counts);
            break protected;
        }
        tokio::time::sleep(POLL).await;
    };
    let all_protected = match unfinished {
        Some(_) => t0.elapsed(),
        None => protected_at
            .values()
            .max()
            .map_or(t0.elapsed(), |last| last.duration_since(t0)),
    };
    let all = api.list(&ListParams::default()).await?.items;
    let sim_elapsed = world
        .clock()
        .now()
        .duration_since(sim0)
        .as_secs_f64()
        .max(0.0);
    let mark1 = log.mark();
    let counters1 = counters(port).await;
    let controller1 = proc_stat(pid, ticks_per_sec);
    let bench1 = proc_stat("self", ticks_per_sec);
    let mut latencies: Vec<Duration> = created
        .iter()
        .filter_map(|(name, at)| protected_at.get(name).map(|p| p.duration_since(*at)))
        .collect();
    latencies.sort();
    eprintln!(
        "   all {n} Protected after {:.1} s; settling {} s, then counting for {} s",
        all_protected.as_secs_f64(),
        settings.settle.as_secs(),
        settings.steady.as_secs()
    );

    // Unfinished: there is no steady state to measure.
    let (settle, steady) = match unfinished {
        Some(_) => (Duration::ZERO, Duration::ZERO),
        None => (settings.settle, settings.steady),
    };
    tokio::time::sleep(settle).await;
    let mark2 = log.mark();
    let changes_protecting = (take(&request_changes), take(&volume_changes));
    let counters2 = counters(port).await;
    let controller2 = proc_stat(pid, ticks_per_sec);
    let steady_started = Instant::now();
    tokio::time::sleep(steady).await;
    let mark3 = log.mark();
    let steady_secs = steady_started.elapsed().as_secs_f64();
    let counters3 = counters(port).await;
    let controller3 = proc_stat(pid, ticks_per_sec);
    let changes_steady = (take(&request_changes), take(&volume_changes));
    for w in watches {
        w.abort();
    }

    let figures = Figures {
        n,
        unfinished,
        transitions_logged: count_lines(log_path, "phase transition"),
        seed: Duration::ZERO,
        startup,
        startup_requests,
        all_protected,
        creating,
        latencies,
        phase_means: phase_means(&all),
        ticks: sim_elapsed / settings.tick.as_secs_f64(),
        protecting: log.window(&mark0, &mark1),
        tail: log.window(&mark1, &mark2),
        steady: log.window(&mark2, &mark3),
        steady_secs,
        controller_after_protect: controller1,
        controller_end: controller3,
        controller_cpu_protecting: controller1.cpu.saturating_sub(controller0.cpu),
        controller_cpu_steady: controller3.cpu.saturating_sub(controller2.cpu),
        bench_cpu_protecting: bench1.cpu.saturating_sub(bench0.cpu),
        reconciles_protecting: counters1.reconciles.saturating_sub(counters0.reconciles),
        reconciles_steady: counters3.reconciles.saturating_sub(counters2.reconciles),
        reconcile_errors: counters3.errors,
        warnings: log_warnings(log_path),
        request_changes: (changes_protecting.0, changes_steady.0),
        volume_changes: (changes_protecting.1, changes_steady.1),
    };
    Ok(figures)
}

// ---------------------------------------------------------------------------------------------
// Report

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64()
}

fn per_minute(count: usize, secs: f64) -> f64 {
    count as f64 * 60.0 / secs.max(0.001)
}

fn print_window(title: &str, w: &Window, divide: Option<usize>) {
    let per = |v: usize| match divide {
        Some(n) => format!("{v:>7}  {:>8.2}", v as f64 / n.max(1) as f64),
        None => format!("{v:>7}"),
    };
    println!("{title}: {} requests", w.total());
    let verbs = ["GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE"];
    print!("    {:<9}", "cluster");
    for v in verbs {
        print!("{v:>8}");
    }
    println!("{:>8}", "total");
    for cluster in [QUORUM, PRIMARY, DR] {
        let of = |verb: &str| {
            w.counts
                .iter()
                .filter(|((c, v, _), _)| c == cluster && v == verb)
                .map(|(_, n)| n)
                .sum::<usize>()
        };
        print!("    {cluster:<9}");
        let mut total = 0;
        for v in verbs {
            let n = of(v);
            total += n;
            print!("{n:>8}");
        }
        println!("{total:>8}");
    }
    let mut rows: Vec<(&Key, &usize)> = w.counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    match divide {
        Some(_) => println!(
            "    {:<9} {:<7} {:<32} {:>7}  {:>8}",
            "cluster", "verb", "resource", "count", "per req"
        ),
        None => println!(
            "    {:<9} {:<7} {:<32} {:>7}",
            "cluster", "verb", "resource", "count"
        ),
    }
    for ((c, v, r), n) in rows {
        println!("    {c:<9} {v:<7} {r:<32} {}", per(*n));
    }
    if w.errors_total() > 0 {
        println!("    answered with an error:");
        for (((c, v, r), code), n) in &w.errors {
            println!("      {c} {v} {r} -> {code}: {n}");
        }
    }
}

/// The controller's PATCHes of a quorum resource (and its subresources) in a window.
/// Only those the API server accepted: a rejected one (409, 422) changes nothing, but it is not
/// a no-op write either.
fn patches(w: &Window, resource: &str) -> usize {
    let ours =
        |(c, v, r): &Key| c == QUORUM && v == "PATCH" && r.split('/').next() == Some(resource);
    let all: usize = w
        .counts
        .iter()
        .filter(|(k, _)| ours(k))
        .map(|(_, n)| n)
        .sum();
    let rejected: usize = w
        .errors
        .iter()
        .filter(|((k, _), _)| ours(k))
        .map(|(_, n)| n)
        .sum();
    all - rejected
}

fn print_changes(title: &str, c: &Changes, n: usize, patches: usize) {
    println!(
        "{title}: {} ({:.2} per request); the controller's accepted PATCHes of them: {patches} ({} changed nothing)",
        c.events,
        c.events as f64 / n.max(1) as f64,
        patches.saturating_sub(c.events)
    );
    if !c.regressions.is_empty() {
        println!(
            "    status.phase moved BACKWARDS {} times: {:?}",
            c.regressions.values().sum::<usize>(),
            c.regressions
        );
    }
    if c.events == 0 {
        return;
    }
    let mut paths: Vec<_> = c.by_path.iter().collect();
    paths.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!(
        "    changed field                                                     events  per req"
    );
    for (p, k) in paths.into_iter().take(20) {
        println!("    {p:<64} {k:>7}  {:>7.2}", *k as f64 / n.max(1) as f64);
    }
    let mut sets: Vec<_> = c.by_set.iter().collect();
    sets.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!("    most frequent changes (exactly these fields):");
    for (set, k) in sets.into_iter().take(8) {
        let set = if set.is_empty() {
            "(nothing but resourceVersion)"
        } else {
            set
        };
        println!("    {k:>7}  {set}");
    }
}

/// The figures of one size, printed as soon as it is done.
fn print_size(f: &Figures, settings: &Settings) {
    println!();
    println!("=== {} request(s) ===", f.n);
    println!(
        "seeding {} VMs: {:.1} s; controller start → leader and watching: {:.2} s ({} requests)",
        f.n,
        f.seed.as_secs_f64(),
        f.startup.as_secs_f64(),
        f.startup_requests.total()
    );
    println!(
        "creating the {} requests: {:.2} s; first create → all Protected: {:.1} s ({:.0} simulator passes, {:.2} s apart on average)",
        f.n,
        f.creating.as_secs_f64(),
        f.all_protected.as_secs_f64(),
        f.ticks,
        f.all_protected.as_secs_f64() / f.ticks.max(1.0)
    );
    if let Some(phases) = &f.unfinished {
        println!(
            "UNFINISHED: only {} of {} requests Protected after {:.0} s (timeout); phases then: {phases:?}; the figures below cover that time",
            f.latencies.len(),
            f.n,
            f.all_protected.as_secs_f64()
        );
    }
    println!(
        "phase transitions the controller logged (each a status write and an Event): {} ({:.1} per request; 6 each would do)",
        f.transitions_logged,
        f.transitions_logged as f64 / f.n.max(1) as f64
    );
    println!(
        "each request, create → Protected: p50 {:.1} s, p90 {:.1} s, p99 {:.1} s, max {:.1} s",
        percentile(&f.latencies, 0.5),
        percentile(&f.latencies, 0.9),
        percentile(&f.latencies, 0.99),
        percentile(&f.latencies, 1.0)
    );
    let phases: Vec<String> = f
        .phase_means
        .iter()
        .map(|(p, s)| format!("{p} {s:.1}"))
        .collect();
    println!(
        "mean seconds in each phase (status.phaseTransitions, 1 s resolution): {}",
        phases.join(", ")
    );
    print_window(
        "controller API requests, first create → all Protected",
        &f.protecting,
        Some(f.n),
    );
    print_changes(
        "ProtectionRequest changes (watch MODIFIED events) while protecting",
        &f.request_changes.0,
        f.n,
        patches(&f.protecting, "protectionrequests") + patches(&f.tail, "protectionrequests"),
    );
    print_changes(
        "quorum DRBDVolume changes while protecting",
        &f.volume_changes.0,
        f.n,
        patches(&f.protecting, "drbdvolumes") + patches(&f.tail, "drbdvolumes"),
    );
    if f.unfinished.is_none() {
        print_window(
            &format!(
                "controller API requests in the {} s after all Protected",
                settings.settle.as_secs()
            ),
            &f.tail,
            None,
        );
        print_window(
            &format!(
                "steady state: controller API requests in {:.0} s ({:.1} per minute)",
                f.steady_secs,
                per_minute(f.steady.total(), f.steady_secs)
            ),
            &f.steady,
            None,
        );
        print_changes(
            "ProtectionRequest changes in the steady window",
            &f.request_changes.1,
            f.n,
            patches(&f.steady, "protectionrequests"),
        );
        print_changes(
            "quorum DRBDVolume changes in the steady window",
            &f.volume_changes.1,
            f.n,
            patches(&f.steady, "drbdvolumes"),
        );
    }
    println!(
        "reconciles: {} while protecting ({:.1} per request), {} in the steady window; reconcile errors by category: {:?}",
        f.reconciles_protecting,
        f.reconciles_protecting as f64 / f.n.max(1) as f64,
        f.reconciles_steady,
        f.reconcile_errors
    );
    println!(
        "CPU while protecting: controller {:.1} s, bench process (lab + simulators + this client) {:.1} s; controller CPU in the steady window {:.2} s",
        f.controller_cpu_protecting.as_secs_f64(),
        f.bench_cpu_protecting.as_secs_f64(),
        f.controller_cpu_steady.as_secs_f64()
    );
    println!(
        "controller memory: VmRSS {:.1} MiB when all Protected, {:.1} MiB at the end; VmHWM {:.1} MiB",
        f.controller_after_protect.rss_kib as f64 / 1024.0,
        f.controller_end.rss_kib as f64 / 1024.0,
        f.controller_end.hwm_kib as f64 / 1024.0
    );
    if !f.warnings.is_empty() {
        println!("controller log warnings/errors:");
        let mut w: Vec<_> = f.warnings.iter().collect();
        w.sort_by(|a, b| b.1.cmp(a.1));
        for (message, count) in w.into_iter().take(10) {
            println!("    {count:>6}  {message}");
        }
    }
}

/// The summary tables of every size done.
fn print_summary(results: &[Figures], settings: &Settings) {
    println!();
    println!("Summary: protecting");
    println!(
        "| requests | all Protected (s) | each request p50 / p99 (s) | simulator pass interval (s) | API requests per request | of which writes | rejected (4xx) per request | phase transitions written per request | reconciles per request | controller CPU (s) | lab process CPU (s) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for f in results {
        let protecting = f.protecting.total() + f.tail.total();
        let writes = f.protecting.writes() + f.tail.writes();
        let rejected = f.protecting.errors_total() + f.tail.errors_total();
        let all = match &f.unfinished {
            Some(_) => format!(
                "> {:.0} (unfinished: {} of {} Protected)",
                f.all_protected.as_secs_f64(),
                f.latencies.len(),
                f.n
            ),
            None => format!("{:.1}", f.all_protected.as_secs_f64()),
        };
        let per = |v: usize| v as f64 / f.n.max(1) as f64;
        println!(
            "| {} | {all} | {:.1} / {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            f.n,
            percentile(&f.latencies, 0.5),
            percentile(&f.latencies, 0.99),
            f.all_protected.as_secs_f64() / f.ticks.max(1.0),
            per(protecting),
            per(writes),
            per(rejected),
            per(f.transitions_logged),
            f.reconciles_protecting as f64 / f.n.max(1) as f64,
            f.controller_cpu_protecting.as_secs_f64(),
            f.bench_cpu_protecting.as_secs_f64(),
        );
    }
    println!();
    println!("Summary: once every request is Protected");
    println!(
        "| requests | controller API requests per minute | of which Lease | reconciles per second | controller CPU (% of a core) | controller VmRSS / VmHWM (MiB) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for f in results {
        let (steady, lease, reconciles, cpu) = match &f.unfinished {
            Some(_) => (
                "–".to_owned(),
                "–".to_owned(),
                "–".to_owned(),
                "–".to_owned(),
            ),
            None => (
                format!("{:.1}", per_minute(f.steady.total(), f.steady_secs)),
                format!("{:.1}", per_minute(f.steady.leases(), f.steady_secs)),
                format!(
                    "{:.0}",
                    f.reconciles_steady as f64 / f.steady_secs.max(0.001)
                ),
                format!(
                    "{:.0}",
                    100.0 * f.controller_cpu_steady.as_secs_f64() / f.steady_secs.max(0.001)
                ),
            ),
        };
        println!(
            "| {} | {steady} | {lease} | {reconciles} | {cpu} | {:.1} / {:.1} |",
            f.n,
            f.controller_end.rss_kib as f64 / 1024.0,
            f.controller_end.hwm_kib as f64 / 1024.0,
        );
    }
    let by_cluster: Vec<String> = results
        .iter()
        .map(|f| {
            let mut all = f.protecting.by(|(c, _, _)| c.clone());
            for (k, v) in f.tail.by(|(c, _, _)| c.clone()) {
                *all.entry(k).or_default() += v;
            }
            let parts: Vec<String> = all
                .iter()
                .map(|(c, v)| format!("{c} {:.1}", *v as f64 / f.n as f64))
                .collect();
            format!("{}: {}", f.n, parts.join(", "))
        })
        .collect();
    println!(
        "(API requests per request include the {} s after all Protected; by cluster: {})",
        settings.settle.as_secs(),
        by_cluster.join("; ")
    );
}

fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "controller-bench prints figures; run it with `cargo bench -p protect-controller --bench controller-bench`"
        );
        return Ok(());
    }
    let settings = Settings::from_env()?;
    let ticks = clock_ticks_per_second();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "protect-controller benchmark: real binary, Lease leader election, instant DRBD resync, a simulator pass every {} ms",
        settings.tick.as_millis()
    );
    let mut results = Vec::new();
    for &n in &settings.sizes {
        match runtime.block_on(run_size(n, &settings, ticks)) {
            Ok(f) => {
                print_size(&f, &settings);
                results.push(f);
            }
            Err(e) => {
                eprintln!("{n} request(s): {e:#}");
                print_summary(&results, &settings);
                return Err(e);
            }
        }
    }
    print_summary(&results, &settings);
    Ok(())
}
