//! `protect-lab demo`: the guide's Example 1 end to end in one process, then the
//! uncovered-class VM denied at admission, then unprotect. Each step checks what it shows; the
//! first that does not hold ends the demo with a line naming it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::{StreamExt as _, TryStreamExt as _};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Client, ResourceExt};
use protect_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use protect_api::well_known::LABEL_PROTECTED_VM;
use protect_api::{DRBDVolume, Phase, ProtectionRequest};
use protect_lab_apiserver::world::{DR, PRIMARY, PROTECTION_NAMESPACE, QUORUM};
use protect_lab_simulators::Bandwidth;
use serde_json::json;

use crate::age::age;
use crate::commands::EXAMPLE_1;
use crate::stack::{self, Stack, StackOptions, VALIDATE};

/// Resync bandwidth of the demo: the guide's 100Gi data disk takes about 6 s, so Syncing shows
/// for a few seconds and the whole demo stays well under a minute.
pub const DEFAULT_DEMO_BANDWIDTH: &str = "16Gi";

/// The phases of the guide's Example 1 table, in order.
pub const GUIDE_PHASES: [Phase; 7] = [
    Phase::Pending,
    Phase::Validating,
    Phase::CreatingDRBD,
    Phase::Syncing,
    Phase::ReadyToActivate,
    Phase::Activating,
    Phase::Protected,
];

const REQUEST: &str = "protect-web-server";
const VM: &str = "web-server";
const VM_NAMESPACE: &str = "production";
const UNCOVERED_VM: &str = "analytics";
const UNCOVERED_REQUEST: &str = "protect-analytics";
const K: &str = "kubectl --kubeconfig $KUBECONFIG_QUORUM";

/// The longest a single wait inside a step may take (the overall timeout still applies).
const WAIT: Duration = Duration::from_secs(60);

/// Arguments of `protect-lab demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// DRBD resync bandwidth per volume, bytes per second as a Kubernetes quantity, or
    /// `instant`.
    #[arg(long, default_value = DEFAULT_DEMO_BANDWIDTH, value_parser = stack::parse_bandwidth)]
    pub sync_bandwidth: Bandwidth,

    /// Interval between simulator passes, in milliseconds (simulated time runs at real speed).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub tick_ms: u64,

    /// Give up (and fail) when the whole demo takes longer than this many seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

/// The parts of the demo, for progress and failure lines.
const STEPS: [&str; 5] = [
    "setup (lab, protect-webhook, protect-controller)",
    "step 1/3 (the guide's Example 1: protect web-server)",
    "step 2/3 (admission denies the uncovered VM analytics)",
    "step 3/3 (unprotect web-server)",
    "shutdown",
];

/// Which part is running, shared with the overall timeout.
#[derive(Clone, Default)]
struct Progress(Arc<AtomicUsize>);

impl Progress {
    fn enter(&self, step: usize) -> &'static str {
        self.0.store(step, Ordering::SeqCst);
        STEPS[step]
    }

    fn current(&self) -> &'static str {
        STEPS[self.0.load(Ordering::SeqCst).min(STEPS.len() - 1)]
    }
}

/// Run the demo; `Err` names the step that failed.
///
/// # Errors
/// When a step does not happen as the guide says, or the overall timeout passes.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let budget = Duration::from_secs(args.timeout);
    let dir = tempfile::tempdir().context("creating a directory for the demo's state")?;
    let progress = Progress::default();
    let setup = progress.enter(0);
    println!(
        "protect-lab: the guide's three clusters, protect-webhook and protect-controller in one process"
    );
    let stack = match tokio::time::timeout(
        budget,
        Stack::start(StackOptions {
            dir: dir.path().to_path_buf(),
            bandwidth: args.sync_bandwidth,
            tick: Duration::from_millis(args.tick_ms),
        }),
    )
    .await
    {
        Ok(Ok(stack)) => stack,
        Ok(Err(error)) => return Err(error.context(format!("{setup} failed"))),
        Err(_) => bail!(
            "{setup} failed: not done within the demo's {} s timeout",
            args.timeout
        ),
    };
    for line in stack::describe(&stack, args.sync_bandwidth) {
        println!("  {line}");
    }

    let remaining = budget.saturating_sub(started.elapsed());
    let outcome = tokio::time::timeout(remaining, steps(&stack, &progress)).await;
    let step = progress.current();
    progress.enter(4);
    if tokio::time::timeout(Duration::from_secs(20), stack.shutdown())
        .await
        .is_err()
    {
        eprintln!("protect-lab: shutdown did not finish within 20 s");
    }
    match outcome {
        Ok(Ok(())) => {
            println!();
            println!(
                "demo passed in {} s: web-server protected (Pending → Protected), analytics denied at admission, web-server unprotected",
                started.elapsed().as_secs()
            );
            Ok(())
        }
        Ok(Err(error)) => Err(error),
        Err(_) => bail!(
            "{step} failed: not done within the demo's {} s timeout",
            args.timeout
        ),
    }
}

async fn steps(stack: &Stack, progress: &Progress) -> anyhow::Result<()> {
    let clients = Clients {
        quorum: stack.client(QUORUM)?,
        primary: stack.client(PRIMARY)?,
        dr: stack.client(DR)?,
    };
    let step = progress.enter(1);
    let original = protect(&clients)
        .await
        .with_context(|| format!("{step} failed"))?;
    let step = progress.enter(2);
    deny(&clients)
        .await
        .with_context(|| format!("{step} failed"))?;
    let step = progress.enter(3);
    unprotect(&clients, &original)
        .await
        .with_context(|| format!("{step} failed"))?;
    Ok(())
}

struct Clients {
    quorum: Client,
    primary: Client,
    dr: Client,
}

impl Clients {
    fn requests(&self) -> Api<ProtectionRequest> {
        Api::namespaced(self.quorum.clone(), PROTECTION_NAMESPACE)
    }

    async fn vm_claims(&self) -> anyhow::Result<Vec<String>> {
        let vm = Api::<VirtualMachine>::namespaced(self.primary.clone(), VM_NAMESPACE)
            .get(VM)
            .await
            .context("reading VM production/web-server on cluster1")?;
        Ok(vm
            .volumes()
            .iter()
            .filter_map(|v| v.claim().map(|c| c.pvc_name().to_owned()))
            .collect())
    }

    /// The claims of the running VMI, when it is Running and Ready.
    async fn running_on(&self) -> anyhow::Result<Option<Vec<String>>> {
        let vmi = Api::<VirtualMachineInstance>::namespaced(self.primary.clone(), VM_NAMESPACE)
            .get_opt(VM)
            .await
            .context("reading VMI production/web-server on cluster1")?;
        Ok(vmi.filter(|v| v.is_running_and_ready()).map(|v| {
            v.spec
                .volumes
                .iter()
                .filter_map(|v| v.claim().map(|c| c.pvc_name().to_owned()))
                .collect()
        }))
    }

    /// DRBDVolume names on each cluster (all namespaces).
    async fn drbd_volumes(&self) -> anyhow::Result<Vec<(&'static str, Vec<String>)>> {
        let mut all = Vec::new();
        for (cluster, client) in [
            (QUORUM, &self.quorum),
            (PRIMARY, &self.primary),
            (DR, &self.dr),
        ] {
            let names = Api::<DRBDVolume>::all(client.clone())
                .list(&ListParams::default())
                .await
                .with_context(|| format!("listing DRBDVolumes on {cluster}"))?
                .items
                .iter()
                .map(|v| format!("{}/{}", v.namespace().unwrap_or_default(), v.name_any()))
                .collect();
            all.push((cluster, names));
        }
        Ok(all)
    }
}

/// Probe every 100 ms until it answers `Some`, at most `limit`.
async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe().await? {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            bail!("{what}: not within {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn row(name: &str, phase: &str, age: &str) -> String {
    format!("{name:<23}{phase:<17}{age}")
}

/// Step 1: apply Example 1 and print each phase change as `kubectl get pr -w` would; returns
/// the VM's original claims.
async fn protect(clients: &Clients) -> anyhow::Result<Vec<String>> {
    println!();
    println!("== 1/3  The guide's Example 1: protect VM production/web-server on cluster1");
    let original = clients.vm_claims().await?;
    println!(
        "VM production/web-server runs on PVCs {}",
        original.join(", ")
    );
    let requests = clients.requests();
    let request: ProtectionRequest =
        serde_saphyr::from_str(EXAMPLE_1).context("parsing the guide's Example 1 manifest")?;

    // The watch is established (its initial list done) before the request exists, so it sees
    // every phase the controller writes, Pending included.
    let mut events = watcher(requests.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    loop {
        match events.try_next().await {
            Ok(Some(Event::InitDone)) => break,
            Ok(Some(_)) => {}
            Ok(None) => bail!("the watch of ProtectionRequests ended"),
            Err(error) => tracing::warn!(%error, "watching ProtectionRequests"),
        }
    }

    println!("$ {K} apply -f protect-web-server.yaml");
    requests
        .create(&PostParams::default(), &request)
        .await
        .context("creating ProtectionRequest dr-deployment/protect-web-server")?;
    println!("protectionrequest.siterecovery.trilio.io/{REQUEST} created");
    println!();
    println!("$ {K} get pr -n {PROTECTION_NAMESPACE} -w");
    println!("{}", row("NAME", "PHASE", "AGE"));

    let mut seen: Vec<Phase> = Vec::new();
    let watched = async {
        while let Some(event) = events.next().await {
            let object = match event {
                Ok(Event::Apply(o) | Event::InitApply(o)) => o,
                Ok(Event::Delete(o)) if o.name_any() == REQUEST => {
                    bail!("the request was deleted while being protected")
                }
                Ok(_) => continue,
                Err(error) => {
                    tracing::warn!(%error, "watching ProtectionRequests");
                    continue;
                }
            };
            if object.name_any() != REQUEST {
                continue;
            }
            let status = object.status.as_ref();
            let Some(phase) = status.and_then(|s| s.phase) else {
                continue;
            };
            if seen.last() == Some(&phase) {
                continue;
            }
            let now = jiff::Timestamp::now();
            let created = object
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(now, |t| t.0);
            println!("{}", row(REQUEST, phase.as_str(), &age(created, now)));
            seen.push(phase);
            match phase {
                Phase::Protected => return Ok(()),
                Phase::Failed => bail!(
                    "the request is Failed: {}",
                    status.and_then(|s| s.message.clone()).unwrap_or_default()
                ),
                _ => {}
            }
        }
        bail!("the watch of ProtectionRequests ended")
    };
    match tokio::time::timeout(WAIT, watched).await {
        Ok(result) => result?,
        Err(_) => bail!(
            "protect-web-server did not reach Protected within {} s (phases seen: {})",
            WAIT.as_secs(),
            phases(&seen)
        ),
    }
    ensure!(
        seen == GUIDE_PHASES,
        "the phases were {}, the guide shows {}",
        phases(&seen),
        phases(&GUIDE_PHASES)
    );

    // Protected: the VM runs on the DRBD-backed frontend PVCs.
    let frontend = eventually(
        "VM web-server Running on DRBD-backed PVCs",
        WAIT,
        async || {
            let claims = clients.vm_claims().await?;
            let running = clients.running_on().await?;
            Ok(
                (running.as_ref() == Some(&claims) && claims.iter().all(|c| !original.contains(c)))
                    .then_some(claims),
            )
        },
    )
    .await?;
    println!();
    println!(
        "VM production/web-server is Running on DRBD-backed PVCs {}",
        frontend.join(", ")
    );
    let volumes = Api::<DRBDVolume>::namespaced(clients.quorum.clone(), PROTECTION_NAMESPACE)
        .list(&ListParams::default().labels(&format!("{LABEL_PROTECTED_VM}={VM}")))
        .await
        .context("listing the DRBDVolumes of web-server")?;
    ensure!(
        volumes.items.len() == original.len(),
        "{} DRBDVolumes for web-server on quorum, expected one per PVC ({})",
        volumes.items.len(),
        original.len()
    );
    println!(
        "DRBDVolumes on quorum (Example 4): {}",
        volumes
            .items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(original)
}

fn phases(phases: &[Phase]) -> String {
    if phases.is_empty() {
        return "none".into();
    }
    phases
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Step 2: a request for VM analytics, whose disk uses `local-path` (no policy maps it), is
/// denied by the validating webhook; printed as kubectl prints it.
async fn deny(clients: &Clients) -> anyhow::Result<()> {
    println!();
    println!(
        "== 2/3  VM production/analytics uses storage class local-path, which no policy covers"
    );
    let requests = clients.requests();
    let request: ProtectionRequest = serde_json::from_value(json!({
        "apiVersion": "siterecovery.trilio.io/v1alpha1",
        "kind": "ProtectionRequest",
        "metadata": {"name": UNCOVERED_REQUEST, "namespace": PROTECTION_NAMESPACE},
        "spec": {"vmName": UNCOVERED_VM, "vmNamespace": VM_NAMESPACE, "sourceCluster": PRIMARY},
    }))
    .context("building the analytics request")?;
    println!("$ {K} apply -f {UNCOVERED_REQUEST}.yaml");
    let status = match requests.create(&PostParams::default(), &request).await {
        Ok(_) => bail!("{UNCOVERED_REQUEST} was admitted; the validating webhook should deny it"),
        Err(kube::Error::Api(status)) => status,
        Err(error) => {
            return Err(error).context(format!("creating {UNCOVERED_REQUEST}"));
        }
    };
    println!(
        "Error from server ({}): error when creating \"{UNCOVERED_REQUEST}.yaml\": {}",
        status.reason, status.message
    );
    let prefix = format!("admission webhook \"{VALIDATE}\" denied the request: ");
    ensure!(
        status.code == 403 && status.message.starts_with(&prefix),
        "expected a 403 from {VALIDATE}, got {} {}: {}",
        status.code,
        status.reason,
        status.message
    );
    for needle in ["analytics-data", "local-path"] {
        ensure!(
            status.message.contains(needle),
            "the denial does not name {needle:?}: {}",
            status.message
        );
    }
    ensure!(
        requests.get_opt(UNCOVERED_REQUEST).await?.is_none(),
        "{UNCOVERED_REQUEST} exists although it was denied"
    );
    println!("denied at admission: nothing was created");
    Ok(())
}

/// Step 3: delete the request; the controller puts the VM back on its original PVCs and
/// removes every DRBDVolume.
async fn unprotect(clients: &Clients, original: &[String]) -> anyhow::Result<()> {
    println!();
    println!("== 3/3  Unprotect: delete the request");
    let requests = clients.requests();
    let uid = requests
        .get(REQUEST)
        .await
        .context("reading protect-web-server")?
        .uid()
        .unwrap_or_default();
    println!("$ {K} delete pr {REQUEST} -n {PROTECTION_NAMESPACE}");
    requests
        .delete(REQUEST, &DeleteParams::default())
        .await
        .context("deleting protect-web-server")?;
    // kubectl delete waits for the finalizer, i.e. for the controller's cleanup.
    match tokio::time::timeout(
        WAIT,
        await_condition(requests.clone(), REQUEST, conditions::is_deleted(&uid)),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => return Err(error).context("waiting for protect-web-server to go"),
        Err(_) => bail!(
            "protect-web-server is still there {} s after its deletion",
            WAIT.as_secs()
        ),
    }
    println!("protectionrequest.siterecovery.trilio.io \"{REQUEST}\" deleted");

    eventually(
        "VM web-server Running on its original PVCs",
        WAIT,
        async || {
            let claims = clients.vm_claims().await?;
            let running = clients.running_on().await?;
            Ok((claims == original && running.as_deref() == Some(original)).then_some(()))
        },
    )
    .await?;
    println!(
        "VM production/web-server is Running on its original PVCs {}",
        original.join(", ")
    );
    let left = eventually("no DRBDVolumes left", WAIT, async || {
        let all = clients.drbd_volumes().await?;
        Ok(all.iter().all(|(_, names)| names.is_empty()).then_some(all))
    })
    .await;
    if let Err(error) = left {
        let all = clients.drbd_volumes().await?;
        return Err(error.context(format!("DRBDVolumes left: {all:?}")));
    }
    println!("DRBDVolumes left: none on {QUORUM}, {PRIMARY} or {DR}");
    println!("unprotected: web-server is back on its original PVCs and no DRBD resources remain");
    Ok(())
}
