//! `/validate` latency and throughput over TLS, against a floor measured in the same run.
//!
//! ```text
//! cargo bench -p protect-webhook --bench validate-bench
//! ```
//!
//! - **webhook**: the real server ([`Server::with_facts`] with the real watch-fed
//!   [`ClusterFacts`]) reading the lab's seeded world — quorum `dr-deployment` with policy
//!   `dr-policy`, its kubeconfig Secret and [`EXISTING_REQUESTS`] other ProtectionRequests;
//!   `cluster1` with VM `production/web-server` on two `ceph-rbd` PVCs — with warm caches: it
//!   starts measuring only once every cache, including the primary cluster's, has synced, and
//!   checks afterwards that no review fell back to a direct lookup on the primary cluster.
//! - **floor**: a bare axum + rustls server that allows everything (it reads only
//!   `request.uid` to echo it), with the same certificate, rustls configuration, accept loop and
//!   hyper connection builder as the webhook.
//!
//! The client posts the guide's Example 1 as the apiserver sends it to the validating webhook
//! (CREATE, after the mutating webhook's labels; a fresh uid per review) over HTTP/1.1
//! keep-alive TLS connections, one per concurrent worker, with TCP_NODELAY as Go's client sets
//! it. For each concurrency (1, 16, 64) it runs [`ROUNDS`] timed rounds per server, alternating
//! webhook and floor (ABBA order), and prints p50, p99, p99.9, max and throughput per server and
//! the webhook/floor ratios. The client and the servers (with the lab) share one tokio runtime;
//! with `BENCH_RUNTIME=separate` they run on two, of one worker per CPU each, as two processes
//! would, and it also prints the servers' CPU time per review. Figures:
//! docs/webhook-benchmark.md.
//!
//! Environment: `BENCH_ROUND_MS` (default 1500) and `BENCH_ROUNDS` (default 6) change the
//! length of a run, `BENCH_HANDLER_REVIEWS` (default 20000) that of the handler-alone loop;
//! `RUST_LOG` the log filter (default `info,kube=warn`, the Deployment's).
//! Without `--bench` (`cargo test --benches`) it only prints how to run it.

#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Api;
use kube::api::{Patch, PatchParams};
use protect_api::ProtectionRequest;
use protect_lab_apiserver::world::{PRIMARY, PROTECTION_NAMESPACE, QUORUM, World, WorldOptions};
use protect_webhook::Facts as _;
use protect_webhook::admission::parse_review;
use protect_webhook::cache::ClusterFacts;
use protect_webhook::facts::VmRef;
use protect_webhook::review::{Endpoint, review};
use protect_webhook::server::{Config, Server};
use protect_webhook::tls::ReloadingCertificate;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const CONCURRENCIES: [usize; 3] = [1, 16, 64];
/// Timed rounds per server and concurrency (webhook and floor alternate).
const ROUNDS: usize = 6;
/// Length of one timed round.
const ROUND: Duration = Duration::from_millis(1500);
/// ProtectionRequests for other VMs already in the quorum namespace (the webhook reads them
/// all for the one-request-per-VM rule).
const EXISTING_REQUESTS: usize = 100;
/// The name the certificate is for and the client verifies.
const SERVER_NAME: &str = "protect-webhook.dr-deployment.svc";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Webhook,
    Floor,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Webhook => "webhook",
            Target::Floor => "floor",
        }
    }
}

// ---- the floor ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct ReviewUid<'a> {
    #[serde(borrow)]
    request: RequestUid<'a>,
}

#[derive(Deserialize)]
struct RequestUid<'a> {
    #[serde(borrow)]
    uid: Cow<'a, str>,
}

/// Allow everything: echo the uid, as the shortest correct AdmissionReview answer.
async fn allow_everything(body: Bytes) -> Response {
    let uid = serde_json::from_slice::<ReviewUid<'_>>(&body)
        .map(|r| r.request.uid.into_owned())
        .unwrap_or_default();
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": true}});
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&review).unwrap_or_default(),
    )
        .into_response()
}

/// The floor server: same certificate, rustls configuration, accept loop and connection
/// builder as `Server::run`.
async fn start_floor(dir: &Path) -> Result<SocketAddr> {
    let certificate = Arc::new(ReloadingCertificate::load(
        dir.join("tls.crt"),
        dir.join("tls.key"),
        None,
    )?);
    let acceptor = TlsAcceptor::from(Arc::new(certificate.server_config()?));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = Router::new().route("/validate", post(allow_everything));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let service = TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

// ---- the webhook and its world ------------------------------------------------------------

/// Other VMs' requests, so the caches hold what a running deployment holds.
async fn seed_requests(world: &World) -> Result<()> {
    let api: Api<ProtectionRequest> = Api::namespaced(
        world.client(QUORUM).context("quorum client")?,
        PROTECTION_NAMESPACE,
    );
    for i in 0..EXISTING_REQUESTS {
        let request: ProtectionRequest = serde_json::from_value(json!({
            "apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "ProtectionRequest",
            "metadata": {"name": format!("protect-vm-{i:03}"), "namespace": PROTECTION_NAMESPACE,
                "labels": {"siterecovery.trilio.io/protected-vm": format!("vm-{i:03}"),
                           "siterecovery.trilio.io/vm-namespace": "production",
                           "siterecovery.trilio.io/source-cluster": PRIMARY}},
            "spec": {"vmName": format!("vm-{i:03}"), "vmNamespace": "production",
                     "sourceCluster": PRIMARY}
        }))?;
        api.create(&Default::default(), &request).await?;
    }
    Ok(())
}

/// What a provisioner would have done by the time a user protects the VM: its PVCs are Bound
/// (the world's simulators run on a clock this benchmark never advances).
async fn bind_pvcs(world: &World) -> Result<()> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(
        world.client(PRIMARY).context("primary client")?,
        "production",
    );
    for claim in ["web-server-root", "web-server-data"] {
        api.patch_status(
            claim,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Bound"}})),
        )
        .await
        .with_context(|| format!("binding PVC {claim}"))?;
    }
    Ok(())
}

/// Wait until every cache — quorum and primary — has synced and holds the seeded requests.
async fn wait_warm(facts: &ClusterFacts) -> Result<()> {
    let warm = async {
        loop {
            let states = facts.cache_states();
            let primary_synced = states
                .iter()
                .filter(|s| s.cache.starts_with(PRIMARY))
                .count()
                == 2;
            if facts.synced()
                && primary_synced
                && states.iter().all(|s| s.synced)
                && (0..EXISTING_REQUESTS).all(|i| {
                    let vm = VmRef {
                        namespace: "production".to_owned(),
                        name: format!("vm-{i:03}"),
                    };
                    facts.requests_for(PROTECTION_NAMESPACE, &vm).len() == 1
                })
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), warm)
        .await
        .context("the webhook's caches did not sync within 60 s")
}

/// Named GETs of VMs or PVCs on the primary cluster: direct lookups after a cache miss.
fn primary_lookups(world: &World) -> usize {
    world
        .lab()
        .cluster(PRIMARY)
        .map(|c| {
            c.requests()
                .iter()
                .filter(|r| {
                    r.method == "GET"
                        && r.query.is_empty()
                        && (r.path.contains("/virtualmachines/")
                            || r.path.contains("/persistentvolumeclaims/"))
                })
                .count()
        })
        .unwrap_or_default()
}

// ---- the client ----------------------------------------------------------------------------

/// The guide's Example 1 as kube-apiserver 1.32 posts it to the validating webhook (shape of
/// `tests/fixtures/kube-apiserver/68a-admreview-create.txt`), split around the uid.
fn example_1_review() -> (String, String) {
    let review = json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {"uid": "UID",
        "kind": {"group": "siterecovery.trilio.io", "version": "v1alpha1", "kind": "ProtectionRequest"},
        "resource": {"group": "siterecovery.trilio.io", "version": "v1alpha1", "resource": "protectionrequests"},
        "requestKind": {"group": "siterecovery.trilio.io", "version": "v1alpha1", "kind": "ProtectionRequest"},
        "requestResource": {"group": "siterecovery.trilio.io", "version": "v1alpha1", "resource": "protectionrequests"},
        "name": "protect-web-server", "namespace": "dr-deployment", "operation": "CREATE",
        "userInfo": {"username": "admin-token-user", "uid": "admin-token-uid",
                     "groups": ["system:masters", "system:authenticated"]},
        "object": {"apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "ProtectionRequest",
            "metadata": {"creationTimestamp": "2026-11-24T07:07:28Z", "generation": 1,
                "labels": {"siterecovery.trilio.io/protected-vm": "web-server",
                           "siterecovery.trilio.io/source-cluster": "cluster1",
                           "siterecovery.trilio.io/vm-namespace": "production"},
                "managedFields": [{"apiVersion": "siterecovery.trilio.io/v1alpha1", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {".": {}, "f:sourceCluster": {}, "f:vmName": {}, "f:vmNamespace": {}}},
                    "manager": "kubectl-client-side-apply", "operation": "Update", "time": "2026-11-24T07:07:28Z"}],
                "name": "protect-web-server", "namespace": "dr-deployment",
                "uid": "4f0a4bd5-7c0e-4d53-9a35-2f1c8e0b6a11"},
            "spec": {"sourceCluster": "cluster1", "vmName": "web-server", "vmNamespace": "production"}},
        "oldObject": null, "dryRun": false,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-client-side-apply"}}});
    let text = review.to_string();
    let (before, after) = text.split_once("UID").unwrap();
    (before.to_owned(), after.to_owned())
}

#[derive(Clone)]
struct Client {
    connector: TlsConnector,
    before: Arc<str>,
    after: Arc<str>,
}

impl Client {
    async fn connect(&self, addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let tls = self
            .connector
            .connect(ServerName::try_from(SERVER_NAME)?, tcp)
            .await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }

    fn body(&self, n: u64) -> Bytes {
        let uid = format!("00000000-0000-4000-8000-{n:012x}");
        Bytes::from(format!("{}{uid}{}", self.before, self.after))
    }

    /// One review: the answer's body, after checking it is a 200 that allows.
    async fn review(&self, sender: &mut SendRequest<Full<Bytes>>, n: u64) -> Result<Bytes> {
        let request = http::Request::post("/validate?timeout=5s")
            .header(header::HOST, "protect-webhook.dr-deployment.svc:443")
            .header(header::USER_AGENT, "kube-apiserver-admission")
            .header(header::ACCEPT, "application/json, */*")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(self.body(n)))?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        ensure!(
            status == http::StatusCode::OK && contains(&body, b"\"allowed\":true"),
            "unexpected answer {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(body)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One timed round: `connections.len()` workers, each on its own connection, sending reviews
/// back to back until `length` has passed. Latencies in nanoseconds, and the round's length.
async fn round(
    client: &Client,
    connections: &mut Vec<SendRequest<Full<Bytes>>>,
    length: Duration,
    uid_base: u64,
) -> Result<(Vec<u64>, Duration)> {
    let started = Instant::now();
    let deadline = started + length;
    let mut workers = Vec::new();
    for (w, mut sender) in connections.drain(..).enumerate() {
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut n = uid_base + ((w as u64) << 32);
            while Instant::now() < deadline {
                let sent = Instant::now();
                client.review(&mut sender, n).await?;
                latencies.push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
                n += 1;
            }
            Ok::<_, anyhow::Error>((latencies, sender))
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        let (latencies, sender) = worker.await??;
        all.extend(latencies);
        connections.push(sender);
    }
    Ok((all, started.elapsed()))
}

/// Open `n` connections and send a few reviews on each, so handshakes and first-use costs are
/// not measured.
async fn open(
    client: &Client,
    addr: SocketAddr,
    n: usize,
) -> Result<Vec<SendRequest<Full<Bytes>>>> {
    let mut connections = Vec::with_capacity(n);
    for _ in 0..n {
        connections.push(client.connect(addr).await?);
    }
    let mut warm = Vec::new();
    for (i, mut sender) in connections.into_iter().enumerate() {
        let client = client.clone();
        warm.push(tokio::spawn(async move {
            for k in 0..20 {
                client.review(&mut sender, (i as u64) << 40 | k).await?;
            }
            Ok::<_, anyhow::Error>(sender)
        }));
    }
    let mut connections = Vec::with_capacity(n);
    for w in warm {
        connections.push(w.await??);
    }
    Ok(connections)
}

// ---- figures -------------------------------------------------------------------------------

/// webhook / floor at one concurrency.
struct Ratio {
    concurrency: usize,
    server_cpu: f64,
    p50: f64,
    p99: f64,
    median_round_p99: f64,
    throughput: f64,
    webhook_p99: f64,
    webhook_median_round_p99: f64,
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
    sorted[rank.min(n) - 1] as f64 / 1e6
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    elapsed: Duration,
    round_rates: Vec<f64>,
    round_p99s: Vec<f64>,
    server_ticks: u64,
}

impl Tally {
    fn add(&mut self, mut latencies: Vec<u64>, elapsed: Duration, server_ticks: u64) {
        self.server_ticks += server_ticks;
        self.round_rates
            .push(latencies.len() as f64 / elapsed.as_secs_f64());
        latencies.sort_unstable();
        self.round_p99s.push(percentile(&latencies, 99.0));
        self.latencies.extend(latencies);
        self.elapsed += elapsed;
    }

    fn finish(&mut self) {
        self.latencies.sort_unstable();
    }

    /// Percentile over every round's reviews, in milliseconds.
    fn percentile(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
    }

    /// The median of the rounds' p99s: one noisy round (another process taking the CPU) moves
    /// it less than the p99 over all rounds.
    fn median_round_p99(&self) -> f64 {
        median(&self.round_p99s)
    }

    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU time per review, in microseconds (NaN without a server runtime).
    fn server_cpu_per_review(&self) -> f64 {
        if self.server_ticks == 0 {
            return f64::NAN;
        }
        self.server_ticks as f64 * 10_000.0 / self.latencies.len() as f64
    }
}

/// CPU time of the servers' runtime threads (named `server`), in /proc's USER_HZ ticks (100 per
/// second on Linux): what the webhook or the floor spent, without the client.
fn server_cpu_ticks() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .filter_map(|stat| {
            let (head, tail) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1;
            if !comm.starts_with("server") {
                return None;
            }
            // After "pid (comm)": state is field 3, utime 14, stime 15.
            let fields: Vec<&str> = tail.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .sum()
}

/// `x` with one decimal, `-` when unknown.
fn one_decimal(x: f64) -> String {
    if x.is_nan() {
        "-".to_owned()
    } else {
        format!("{x:.1}")
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The handler without HTTP or TLS, on the warm caches: `review` (read, decide, answer) and,
/// of that, reading the body alone, in µs per review. Serial, on one thread, so the figures
/// are CPU time per review; they say how much of the server's cost is the webhook's own.
async fn handler_alone(facts: &ClusterFacts, client_body: impl Fn(u64) -> Bytes) -> Result<()> {
    let n = env_number("BENCH_HANDLER_REVIEWS", 20_000);
    let bodies: Vec<Bytes> = (0..n).map(&client_body).collect();
    let mut answered = 0usize;
    let started = Instant::now();
    for body in &bodies {
        let reply = review(Endpoint::Validate, body, facts).await;
        answered += usize::from(reply.outcome.verdict == "allowed");
    }
    let handler = started.elapsed();
    ensure!(
        answered == bodies.len(),
        "the handler did not allow every review"
    );
    let started = Instant::now();
    for body in &bodies {
        std::hint::black_box(parse_review(body).ok());
    }
    let parse = started.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "handler alone (no HTTP, no TLS, one thread): {:.1} µs per review, of which reading the body {:.1} µs",
        per(handler),
        per(parse)
    );
    Ok(())
}

/// The servers' side, running on its own runtime.
struct Servers {
    world: World,
    webhook_addr: SocketAddr,
    floor_addr: SocketAddr,
    ca_pem: String,
    stop: tokio::sync::oneshot::Sender<()>,
    webhook: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// The world, the webhook reading it with warm caches, and the floor.
async fn start_servers() -> Result<Servers> {
    let world = World::start(WorldOptions::default())
        .await
        .context("starting the lab's world")?;
    seed_requests(&world).await?;
    bind_pvcs(&world).await?;
    let dir = tempfile::tempdir()?;
    let bundle = protect_webhook::self_signed::generate("protect-webhook", "dr-deployment", 1)?;
    protect_webhook::self_signed::write(&bundle, dir.path(), false)?;
    let facts = ClusterFacts::start(
        world.client(QUORUM).context("quorum client")?,
        Some(PROTECTION_NAMESPACE),
        Duration::from_secs(2),
    );
    let server = Server::with_facts(
        Config {
            listen: "127.0.0.1:0".parse()?,
            tls_cert: dir.path().join("tls.crt"),
            tls_key: dir.path().join("tls.key"),
            kubeconfig: None,
            context: None,
            namespace: Some(PROTECTION_NAMESPACE.to_owned()),
            cache_miss_timeout: Duration::from_secs(2),
            cert_check_interval: Duration::from_secs(3600),
            drain_timeout: Duration::from_secs(5),
        },
        facts.clone(),
    )
    .await?;
    let webhook_addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let webhook = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    wait_warm(&facts).await?;
    let (before, after) = example_1_review();
    handler_alone(&facts, |n| {
        Bytes::from(format!("{before}00000000-0000-4000-8000-{n:012x}{after}"))
    })
    .await?;
    let floor_addr = start_floor(dir.path()).await?;
    Ok(Servers {
        world,
        webhook_addr,
        floor_addr,
        ca_pem: bundle.ca_pem,
        stop,
        webhook,
        _dir: dir,
    })
}

impl Servers {
    async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(());
        self.webhook.await?;
        self.world.shutdown().await;
        Ok(())
    }
}

/// The client's side: drive both servers and print the figures.
async fn measure(servers: &Servers) -> Result<()> {
    let round_length = Duration::from_millis(env_number(
        "BENCH_ROUND_MS",
        u64::try_from(ROUND.as_millis())?,
    ));
    let rounds = usize::try_from(env_number("BENCH_ROUNDS", ROUNDS as u64))?;
    let (world, webhook_addr, floor_addr) =
        (&servers.world, servers.webhook_addr, servers.floor_addr);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(servers.ca_pem.as_bytes())?)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(protect_webhook::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let (before, after) = example_1_review();
    let client = Client {
        connector: TlsConnector::from(Arc::new(tls)),
        before: before.into(),
        after: after.into(),
    };
    println!(
        "review: Example 1 ProtectionRequest CREATE, {} bytes; {EXISTING_REQUESTS} other ProtectionRequests in {PROTECTION_NAMESPACE}",
        client.body(0).len()
    );
    for (target, addr) in [(Target::Webhook, webhook_addr), (Target::Floor, floor_addr)] {
        let mut sender = client.connect(addr).await?;
        let answer = client.review(&mut sender, 0xfeed).await?;
        println!(
            "{:<7} answers {}",
            target.name(),
            String::from_utf8_lossy(&answer)
        );
        ensure!(
            contains(&answer, b"00000000-0000-4000-8000-00000000feed"),
            "{} does not echo the uid",
            target.name()
        );
    }
    let lookups_before = primary_lookups(world);

    // Warm-up: a round at 16 on each, discarded.
    for addr in [webhook_addr, floor_addr] {
        let mut connections = open(&client, addr, 16).await?;
        round(&client, &mut connections, Duration::from_secs(1), 1 << 60).await?;
    }

    println!(
        "method: HTTP/1.1 keep-alive over TLS 1.3, one connection per worker, closed loop; {rounds} rounds of {} ms per server and concurrency, alternating webhook and floor (ABBA)",
        round_length.as_millis()
    );
    println!();
    println!(
        "{:>4}  {:<7}  {:>9}  {:>7}  {:>7}  {:>8}  {:>7}  {:>7}  {:>6}  {:>11}",
        "conc",
        "server",
        "requests",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "req/s",
        "mrp99",
        "srv µs/req"
    );
    let mut rounds_text = Vec::new();
    let mut summary = Vec::new();
    let mut uid_base = 0u64;
    for concurrency in CONCURRENCIES {
        let mut webhook_connections = open(&client, webhook_addr, concurrency).await?;
        let mut floor_connections = open(&client, floor_addr, concurrency).await?;
        let (mut webhook_tally, mut floor_tally) = (Tally::default(), Tally::default());
        for r in 0..rounds {
            let order = if r % 2 == 0 {
                [Target::Webhook, Target::Floor]
            } else {
                [Target::Floor, Target::Webhook]
            };
            for target in order {
                uid_base += 1 << 48;
                let (connections, tally) = match target {
                    Target::Webhook => (&mut webhook_connections, &mut webhook_tally),
                    Target::Floor => (&mut floor_connections, &mut floor_tally),
                };
                let ticks = server_cpu_ticks();
                let (latencies, elapsed) =
                    round(&client, connections, round_length, uid_base).await?;
                tally.add(latencies, elapsed, server_cpu_ticks() - ticks);
            }
        }
        for (target, tally) in [
            (Target::Webhook, &mut webhook_tally),
            (Target::Floor, &mut floor_tally),
        ] {
            tally.finish();
            let rates: Vec<String> = tally
                .round_rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect();
            let p99s: Vec<String> = tally.round_p99s.iter().map(|p| format!("{p:.2}")).collect();
            println!(
                "{concurrency:>4}  {:<7}  {:>9}  {:>7.3}  {:>7.3}  {:>8.3}  {:>7.2}  {:>7.0}  {:>6.3}  {:>11}",
                target.name(),
                tally.latencies.len(),
                tally.percentile(50.0),
                tally.percentile(99.0),
                tally.percentile(99.9),
                tally.percentile(100.0),
                tally.throughput(),
                tally.median_round_p99(),
                one_decimal(tally.server_cpu_per_review()),
            );
            rounds_text.push(format!(
                "{concurrency:>4}  {:<7}  req/s {}; p99 ms {}",
                target.name(),
                rates.join(" "),
                p99s.join(" ")
            ));
        }
        summary.push(Ratio {
            concurrency,
            p50: webhook_tally.percentile(50.0) / floor_tally.percentile(50.0),
            p99: webhook_tally.percentile(99.0) / floor_tally.percentile(99.0),
            median_round_p99: webhook_tally.median_round_p99() / floor_tally.median_round_p99(),
            throughput: webhook_tally.throughput() / floor_tally.throughput(),
            server_cpu: webhook_tally.server_cpu_per_review() / floor_tally.server_cpu_per_review(),
            webhook_p99: webhook_tally.percentile(99.0),
            webhook_median_round_p99: webhook_tally.median_round_p99(),
        });
    }
    println!(
        "(mrp99: median over the rounds of each round's p99; srv µs/req: CPU time of the servers' threads per review)"
    );
    println!();
    println!("per round:");
    for line in &rounds_text {
        println!("{line}");
    }
    println!();
    println!("webhook / floor:");
    for r in &summary {
        println!(
            "{:>4}  p50 ×{:.2}  p99 ×{:.2}  mrp99 ×{:.2}  throughput ×{:.2}{}",
            r.concurrency,
            r.p50,
            r.p99,
            r.median_round_p99,
            r.throughput,
            if r.server_cpu.is_nan() {
                String::new()
            } else {
                format!("  server CPU per review ×{:.2}", r.server_cpu)
            }
        );
    }
    if let Some(r) = summary.iter().find(|r| r.concurrency == 64) {
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        println!(
            "target at 64: p99 < 2 ms {} (p99 {:.3} ms, mrp99 {:.3} ms); p99 within 1.5× of the floor {} (×{:.2}, mrp99 ×{:.2})",
            verdict(r.webhook_p99 < 2.0),
            r.webhook_p99,
            r.webhook_median_round_p99,
            verdict(r.p99 <= 1.5),
            r.p99,
            r.median_round_p99
        );
    }
    let lookups = primary_lookups(world) - lookups_before;
    println!(
        "direct lookups on {PRIMARY} during the run: {lookups} (0: every review answered from the caches)"
    );
    println!("load average at end: {}", load_average());
    if lookups != 0 {
        bail!("{lookups} reviews missed the warm caches");
    }
    Ok(())
}

fn main() -> Result<()> {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "validate-bench: run with `cargo bench -p protect-webhook --bench validate-bench`"
        );
        return Ok(());
    }
    use tracing_subscriber::EnvFilter;
    // As the binary logs (info, the Deployment's RUST_LOG), to stderr so figures stay readable.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    println!("protect-webhook /validate benchmark");
    println!(
        "machine: {cpus} CPUs available, load average {} at start",
        load_average()
    );
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cpus)
            .thread_name(name)
            .enable_all()
            .build()
    };
    if std::env::var("BENCH_RUNTIME").as_deref() != Ok("separate") {
        // One runtime for everything: tokio interleaves client and server tasks on the same
        // workers at the granularity of a task, rather than the OS time-slicing four busy
        // threads on two CPUs, whose slices of milliseconds would be the p99s at 16 and 64.
        println!(
            "runtime: one, shared by the client and the servers (BENCH_RUNTIME=separate for two, and the servers' CPU time)"
        );
        let shared = runtime("shared")?;
        let servers = shared.block_on(start_servers())?;
        let measured = shared.block_on(measure(&servers));
        shared.block_on(servers.shutdown())?;
        return measured;
    }
    // The servers (and the lab) and the client on separate runtimes, one worker per CPU each,
    // as the apiserver is a separate process: client tasks never queue behind server tasks on
    // a tokio worker, only the OS shares the CPUs between them; and the servers' threads can
    // be told apart, so their CPU time per review is measured.
    println!("runtime: two, the servers' and the client's");
    let (server_runtime, client_runtime) = (runtime("server")?, runtime("client")?);
    let servers = server_runtime.block_on(start_servers())?;
    let measured = client_runtime.block_on(measure(&servers));
    server_runtime.block_on(servers.shutdown())?;
    measured
}
