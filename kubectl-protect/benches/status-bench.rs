//! `kubectl protect status` against `kubectl get pr` over the same 1,000 ProtectionRequests in
//! the lab, side by side in one run, output piped (not a terminal).
//!
//! ```text
//! cargo bench -p kubectl-protect --bench status-bench
//! ```
//!
//! The lab serves the quorum cluster in this process with the product's CRDs; 1,000 requests
//! are created in `dr-deployment` and given realistic statuses through the status subresource
//! (phases spread over Pending … Protected and Failed, 1–3 volumes each with sync percentages,
//! conditions and phase transitions). Then, after a warm-up, each round runs every command once,
//! in an order that rotates from round to round:
//!
//! - `kubectl get pr -n dr-deployment` and `kubectl get pr -A` (/usr/bin/kubectl);
//! - `kubectl protect status` and `kubectl protect status -A`: the real kubectl dispatching to
//!   the plugin, found on PATH, as a user runs it;
//! - `kubectl-protect status` and `kubectl-protect status -A`: the plugin binary directly.
//!
//! Every run's stdout goes to a pipe and is read to the end; every run is checked (exit code,
//! 1,001 lines). Wall time is from spawn to exit. It prints median and p90 per command, the
//! ratio plugin ÷ kubectl of the medians, and the API requests each command makes (the lab's
//! request log). `STATUS_BENCH_ROUNDS` sets the number of rounds (default 30). Figures:
//! docs/plugin-benchmark.md.
//!
//! `/usr/bin/kubectl` missing is an error: the comparison needs the real kubectl.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use protect_api::{ProtectionRequest, ProtectionRequestSpec};
use protect_lab_apiserver::Lab;
use protect_lab_apiserver::kubectl::KUBECTL;
use protect_lab_apiserver::world::{client_for, install_crds, product_crds};
use serde_json::{Value, json};

const NAMESPACE: &str = "dr-deployment";
const REQUESTS: usize = 1_000;
const WARMUP_ROUNDS: usize = 3;
const DEFAULT_ROUNDS: usize = 30;
/// Writes in flight while seeding.
const CONCURRENCY: usize = 16;

/// One command under measurement.
struct Case {
    label: &'static str,
    program: PathBuf,
    args: Vec<String>,
    /// The exit code it must end with.
    code: i32,
    times: Vec<Duration>,
}

/// The phase, message, sync progress, conditions and volumes request `i` is given: most are
/// Protected, a fifth are syncing, the rest spread over the other phases, 2 % Failed and 1 %
/// Protected but degraded.
fn status_of(i: usize, created: jiff::Timestamp) -> Value {
    let phase = match i % 100 {
        0..=54 => "Protected",
        55..=74 => "Syncing",
        75..=79 => "Pending",
        80..=84 => "Validating",
        85..=89 => "CreatingDRBD",
        90..=93 => "ReadyToActivate",
        94..=96 => "Activating",
        97 => "Protected", // degraded below
        _ => "Failed",
    };
    let order = [
        "Pending",
        "Validating",
        "CreatingDRBD",
        "Syncing",
        "ReadyToActivate",
        "Activating",
        "Protected",
    ];
    let reached = order.iter().position(|p| *p == phase).unwrap_or(1);
    let at = |step: usize| {
        (created + jiff::SignedDuration::from_secs(30 * step as i64))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let mut transitions: Vec<Value> = (0..=reached)
        .map(|s| json!({"phase": order[s], "time": at(s)}))
        .collect();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastTransitionTime": at(reached)})
    };
    let mut conditions = vec![
        condition("PrimaryReachable", "True", "Reachable", "cluster1 answers"),
        condition("DRReachable", "True", "Reachable", "cluster2 answers"),
    ];
    let vm = format!("vm-{i:04}");
    let pvcs: Vec<String> = ["root", "data", "logs"][..=(i % 3)]
        .iter()
        .map(|d| format!("{vm}-{d}"))
        .collect();
    let percent = |v: usize| ((i * 37 + v * 211) % 1000) as f64 / 10.0;
    let volume = |v: usize, pvc: &str, sync: Option<f64>, state: &str| {
        let mut volume = json!({"pvc": pvc, "storageClass": "ceph-rbd",
            "drStorageClass": "ceph-rbd-dr", "capacity": format!("{}Gi", 20 * (v + 1)),
            "drbdVolume": pvc, "port": 7000 + (i * 3 + v) % 1000, "state": state});
        if let Some(sync) = sync {
            volume["syncPercent"] = json!(sync);
            if sync < 100.0 {
                volume["etaSeconds"] = json!(((100.0 - sync) * 6.0).round() as i64);
                volume["syncRate"] = json!(104_857_600);
                volume["outOfSyncBytes"] = json!(((100.0 - sync) * 1e8) as i64);
            }
        }
        volume
    };
    let mut sync_progress = None;
    let (message, volumes): (String, Vec<Value>) = match phase {
        "Pending" => (String::new(), Vec::new()),
        "Validating" => (
            format!("validating VM production/{vm} and its PVCs on cluster1"),
            Vec::new(),
        ),
        "CreatingDRBD" => (
            "creating DRBDVolumes on cluster1 and cluster2".to_owned(),
            pvcs.iter()
                .enumerate()
                .map(|(v, p)| volume(v, p, None, "Connecting"))
                .collect(),
        ),
        "Syncing" => {
            let volumes: Vec<Value> = pvcs
                .iter()
                .enumerate()
                .map(|(v, p)| volume(v, p, Some(percent(v)), "SyncSource"))
                .collect();
            let mean = (0..pvcs.len()).map(percent).sum::<f64>() / pvcs.len() as f64;
            sync_progress = Some(format!("{mean:.0}%"));
            conditions.push(condition(
                "Synced",
                "False",
                "SyncInProgress",
                &format!("{mean:.0}% done"),
            ));
            (
                format!("DRBD initial sync in progress for {} volumes", pvcs.len()),
                volumes,
            )
        }
        "Failed" => {
            transitions.push(json!({"phase": "Failed", "time": at(reached + 1)}));
            conditions.push(condition(
                "Validated",
                "False",
                "VMNotFound",
                &format!("VirtualMachine production/{vm} not found on cluster1"),
            ));
            (
                format!("VirtualMachine production/{vm} not found on cluster1"),
                Vec::new(),
            )
        }
        _ => {
            sync_progress = Some("100%".to_owned());
            conditions.push(condition(
                "Synced",
                "True",
                "InitialSyncComplete",
                "all volumes UpToDate",
            ));
            let degraded = i % 100 == 97;
            let message = if phase == "Protected" {
                conditions.push(condition(
                    "Replicating",
                    if degraded { "False" } else { "True" },
                    if degraded {
                        "PeerDisconnected"
                    } else {
                        "Connected"
                    },
                    if degraded {
                        "cluster2 peer is StandAlone"
                    } else {
                        "replication Connected"
                    },
                ));
                conditions.push(condition("Ready", "True", "Protected", "VM protected"));
                "VM runs on DRBD-backed PVCs; replication Connected".to_owned()
            } else if phase == "Activating" {
                "stopping the VM and switching it to DRBD-backed PVCs".to_owned()
            } else {
                "initial sync complete".to_owned()
            };
            let state = if degraded {
                "StandAlone"
            } else {
                "Established"
            };
            (
                message,
                pvcs.iter()
                    .enumerate()
                    .map(|(v, p)| volume(v, p, Some(100.0), state))
                    .collect(),
            )
        }
    };
    let mut status = json!({"phase": phase, "message": message, "policy": "dr-policy",
        "drCluster": "cluster2", "observedGeneration": 1, "phaseTransitions": transitions,
        "conditions": conditions, "volumes": volumes});
    if let Some(progress) = sync_progress {
        status["syncProgress"] = json!(progress);
    }
    status
}

/// The lab's quorum cluster with the CRDs, the namespace and 1,000 requests with statuses.
async fn seed(lab: &Lab) -> Result<()> {
    let client = client_for(&lab.kubeconfig(), "quorum").await?;
    install_crds(&client, "quorum", &product_crds()?).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?,
        )
        .await?;
    let api: Api<ProtectionRequest> = Api::namespaced(client, NAMESPACE);
    futures::stream::iter(0..REQUESTS)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("protect-vm-{i:04}");
                let mut request = ProtectionRequest::new(
                    &name,
                    ProtectionRequestSpec {
                        vm_name: format!("vm-{i:04}"),
                        vm_namespace: ["production", "staging", "finance"][i % 3].to_owned(),
                        source_cluster: Some("cluster1".to_owned()),
                    },
                );
                request.metadata.labels = Some(
                    [
                        ("siterecovery.trilio.io/protected-vm", format!("vm-{i:04}")),
                        (
                            "siterecovery.trilio.io/vm-namespace",
                            request.spec.vm_namespace.clone(),
                        ),
                        (
                            "siterecovery.trilio.io/source-cluster",
                            "cluster1".to_owned(),
                        ),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                );
                let created = api.create(&PostParams::default(), &request).await?;
                let at = created
                    .metadata
                    .creation_timestamp
                    .map(|t| t.0)
                    .unwrap_or_else(jiff::Timestamp::now);
                let patch = json!({"status": status_of(i, at)});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await
}

/// Runs `case` once with stdout and stderr piped, reads both to the end, checks it, and
/// returns the wall time from spawn to exit.
fn run_once(case: &Case, env: &Env) -> Result<Duration> {
    let mut command = Command::new(&case.program);
    command
        .args(&case.args)
        .env("PATH", &env.path)
        .env("HOME", env.home.path())
        .env("KUBECACHEDIR", env.home.path().join("cache"))
        .env_remove("KUBECONFIG")
        .env_remove("KUBECTL_PROTECT_NAMESPACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let out = command
        .output()
        .with_context(|| format!("starting {}", case.label))?;
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.code() == Some(case.code),
        "{} exited {:?}, expected {}: {}",
        case.label,
        out.status.code(),
        case.code,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout.lines().count();
    ensure!(
        lines == REQUESTS + 1,
        "{} printed {lines} lines, expected a header and {REQUESTS} rows",
        case.label
    );
    ensure!(
        !stdout.contains('\u{1b}'),
        "{}: escape codes in piped output",
        case.label
    );
    Ok(took)
}

/// What every command runs with: PATH with the plugin first, a private HOME and kubectl cache.
struct Env {
    path: std::ffi::OsString,
    home: tempfile::TempDir,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and p90 (nearest rank) of `times`.
fn median_p90(times: &[Duration]) -> (Duration, Duration) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    };
    let rank = (n * 9).div_ceil(10).max(1);
    (median, sorted[rank - 1])
}

fn main() -> Result<()> {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("status-bench: run with `cargo bench -p kubectl-protect --bench status-bench`");
        return Ok(());
    }
    if !Path::new(KUBECTL).is_file() {
        bail!(
            "{KUBECTL} is missing: this benchmark compares the plugin with the real kubectl 1.32 (README, Before you start)"
        );
    }
    let rounds: usize = match std::env::var("STATUS_BENCH_ROUNDS") {
        Ok(v) => v
            .parse()
            .with_context(|| format!("STATUS_BENCH_ROUNDS={v:?}"))?,
        Err(_) => DEFAULT_ROUNDS,
    };
    ensure!(rounds > 0, "STATUS_BENCH_ROUNDS must be at least 1");

    // The lab runs on its own runtime threads; the commands are spawned from this thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let lab = runtime.block_on(Lab::start(&["quorum"]))?;
    let seeding = Instant::now();
    runtime.block_on(seed(&lab))?;
    let seeded_in = seeding.elapsed();
    let home = tempfile::tempdir()?;
    let kubeconfig = home.path().join("kubeconfig");
    lab.write_kubeconfig(&kubeconfig)?;

    // A directory holding only the plugin, first on PATH, as a krew install leaves it.
    let plugin_dir = tempfile::tempdir()?;
    let plugin = plugin_dir.path().join("kubectl-protect");
    std::fs::copy(env!("CARGO_BIN_EXE_kubectl-protect"), &plugin)?;
    let mut paths = vec![plugin_dir.path().to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let env = Env {
        path: std::env::join_paths(paths)?,
        home,
    };

    let common = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|s| (*s).to_owned())
            .chain([
                "--kubeconfig".to_owned(),
                kubeconfig.display().to_string(),
                "--context".to_owned(),
                "quorum".to_owned(),
            ])
            .collect()
    };
    // The worst request is Failed: `status` exits 4 (documented), kubectl 0.
    let case = |label, program: &Path, args: &[&str], code| Case {
        label,
        program: program.to_path_buf(),
        args: common(args),
        code,
        times: Vec::new(),
    };
    let kubectl = Path::new(KUBECTL);
    let mut cases = vec![
        case(
            "kubectl get pr -n dr-deployment",
            kubectl,
            &["get", "pr", "-n", NAMESPACE],
            0,
        ),
        case("kubectl protect status", kubectl, &["protect", "status"], 4),
        case("kubectl-protect status", &plugin, &["status"], 4),
        case("kubectl get pr -A", kubectl, &["get", "pr", "-A"], 0),
        case(
            "kubectl protect status -A",
            kubectl,
            &["protect", "status", "-A"],
            4,
        ),
        case("kubectl-protect status -A", &plugin, &["status", "-A"], 4),
    ];

    let quorum = lab.cluster("quorum").context("the quorum cluster")?;
    println!(
        "kubectl-protect status benchmark: {REQUESTS} ProtectionRequests in {NAMESPACE} (seeded in {:.1} s), {} CPUs, {} (stdout piped)",
        seeded_in.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, usize::from),
        kubectl_version(&env)?,
    );

    // Warm-up (kubectl's discovery cache, page cache), then one run each with the lab's
    // request log cleared before it: what each command asks the API server.
    for _ in 0..WARMUP_ROUNDS {
        for c in &cases {
            run_once(c, &env)?;
        }
    }
    println!("\nAPI requests per run (warm kubectl cache):");
    for c in &cases {
        quorum.clear_requests();
        run_once(c, &env)?;
        let requests: Vec<String> = quorum
            .requests()
            .iter()
            .map(|r| {
                if r.query.is_empty() {
                    format!("{} {}", r.method, r.path)
                } else {
                    format!("{} {}?{}", r.method, r.path, r.query)
                }
            })
            .collect();
        println!("  {:<32} {}", c.label, requests.join(", "));
    }

    // The LIST alone, from a client already connected in this process: the share of the
    // server, TLS and decoding, without any process start.
    let client = runtime.block_on(client_for(&lab.kubeconfig(), "quorum"))?;
    let api: Api<ProtectionRequest> = Api::namespaced(client, NAMESPACE);
    let list_once = || -> Result<Duration> {
        let started = Instant::now();
        let list = runtime.block_on(api.list(&ListParams::default()))?;
        let took = started.elapsed();
        ensure!(list.items.len() == REQUESTS, "listed {}", list.items.len());
        Ok(took)
    };
    list_once()?;
    let mut list_times = Vec::new();

    println!("\n{rounds} rounds, each command once per round, order rotating:");
    for round in 0..rounds {
        let n = cases.len();
        for k in 0..n {
            let c = &mut cases[(round + k) % n];
            let took = run_once(c, &env)?;
            c.times.push(took);
        }
        list_times.push(list_once()?);
    }

    println!(
        "\n{:<32} {:>10} {:>10} {:>10}",
        "command", "median ms", "p90 ms", "min ms"
    );
    let mut medians = Vec::new();
    for c in &cases {
        let (median, p90) = median_p90(&c.times);
        let min = c.times.iter().min().copied().unwrap_or_default();
        println!(
            "{:<32} {:>10.1} {:>10.1} {:>10.1}",
            c.label,
            millis(median),
            millis(p90),
            millis(min)
        );
        medians.push((c.label, median, p90));
    }
    let (median, p90) = median_p90(&list_times);
    println!(
        "{:<32} {:>10.1} {:>10.1} {:>10.1}",
        "(in-process kube-rs LIST -n)",
        millis(median),
        millis(p90),
        millis(list_times.iter().min().copied().unwrap_or_default())
    );
    let ratio = |plugin: usize, kubectl: usize| {
        let (pl, pm, pp) = medians[plugin];
        let (kl, km, kp) = medians[kubectl];
        println!(
            "{pl:<32} ÷ {kl:<32} median {:.2}  p90 {:.2}",
            pm.as_secs_f64() / km.as_secs_f64(),
            pp.as_secs_f64() / kp.as_secs_f64()
        );
    };
    println!("\nratio plugin ÷ kubectl (below 1: the plugin is faster):");
    ratio(1, 0);
    ratio(2, 0);
    ratio(4, 3);
    ratio(5, 3);

    runtime.block_on(lab.shutdown());
    Ok(())
}

/// `kubectl version --client`, one line.
fn kubectl_version(env: &Env) -> Result<String> {
    let out = Command::new(KUBECTL)
        .args(["version", "--client"])
        .env("HOME", env.home.path())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .find(|l| l.starts_with("Client Version"))
        .map(|l| format!("kubectl {}", l.trim_start_matches("Client Version: ")))
        .unwrap_or_else(|| "kubectl (version unknown)".to_owned()))
}
