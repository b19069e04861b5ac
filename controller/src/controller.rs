//! The I/O around the decision: a kube-runtime Controller on ProtectionRequests (quorum cluster)
//! wrapped in `finalizer()`, as a pipeline `dereference` (all reads) → [`decide`] (pure) →
//! `apply` (status first, then the plan's writes in order) with Events on every transition.
//!
//! Wake-ups: the request itself, its owned quorum DRBDVolumes, policies of its namespace, and the
//! workload clusters' watches ([`crate::workload`]), so no fixed polling interval gates progress;
//! a requeue after [`SAFETY_REQUEUE`] is only a safety net.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use protect_api::coverage::select_policy;
use protect_api::kubevirt::VirtualMachine;
use protect_api::well_known::{
    API_VERSION, DEFAULT_DR_KUBECONFIG_SECRET, DEFAULT_PRIMARY_KUBECONFIG_SECRET, FINALIZER,
    LABEL_PROTECTED_VM, LABEL_SOURCE_CLUSTER, LABEL_VM_NAMESPACE,
};
use protect_api::{
    DRBDReplicationPolicy, DRBDVolume, Phase, ProtectionRequest, ProtectionRequestStatus,
};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::decide::{Side, Write, decide, decide_cleanup};
use crate::error::Error;
use crate::facts::{Facts, Progress, Reach, Settings};
use crate::metrics::Metrics;
use crate::workload::{Clusters, Wake, WakeKind, WorkloadCluster};

/// Field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "protect-controller";
/// Reconcile at least this often, whatever is observed.
pub const SAFETY_REQUEUE: Duration = Duration::from_secs(300);

/// What the controller watches and how it decides.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Watch one namespace of the quorum cluster, or all when `None`.
    pub namespace: Option<String>,
    /// Tunables of the decision.
    pub settings: Settings,
    /// Reporting instance for Events (the pod name).
    pub instance: Option<String>,
    /// Where the time of an observation comes from (stall detection, activation timeout, phase
    /// times): the system clock, or a simulated one in scenario tests.
    pub clock: Clock,
}

/// The source of [`Facts::now`]. The system clock by default; scenario tests substitute the
/// lab's simulated clock so time-based rules follow simulated time, never a real sleep.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(jiff::Timestamp::now))
    }

    /// A clock reading `now()`.
    pub fn from_fn(now: impl Fn() -> jiff::Timestamp + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The current time.
    pub fn now(&self) -> jiff::Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// Shared state of the reconcilers.
pub struct Context {
    client: Client,
    clusters: Clusters,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    settings: Settings,
    clock: Clock,
    policies: Store<DRBDReplicationPolicy>,
    quorum_volumes: Store<DRBDVolume>,
    requests: Store<ProtectionRequest>,
    /// Held while a port is chosen and persisted, so two requests never pick the same one.
    ports: tokio::sync::Mutex<BTreeMap<String, (String, i32)>>,
    progress: Mutex<HashMap<String, BTreeMap<String, Progress>>>,
}

fn key(pr: &ProtectionRequest) -> String {
    format!("{}/{}", pr.namespace().unwrap_or_default(), pr.name_any())
}

/// Run the controller until the stream ends (shutdown signal).
pub async fn run(client: Client, config: Config, metrics: Arc<Metrics>) {
    let requests_api: Api<ProtectionRequest> = match &config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let volumes_api: Api<DRBDVolume> = match &config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let policies_api: Api<DRBDReplicationPolicy> = match &config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (volumes, volumes_writer) = reflector::store();
    let volume_stream = watcher(
        volumes_api,
        watcher::Config::default().labels(LABEL_PROTECTED_VM),
    )
    .default_backoff()
    .reflect(volumes_writer)
    .touched_objects();
    let (policies, policies_writer) = reflector::store();
    let policy_stream = watcher(policies_api, watcher::Config::default())
        .default_backoff()
        .reflect(policies_writer)
        .touched_objects();

    let (wake_tx, wake_rx) = mpsc::unbounded::<Wake>();
    let controller = Controller::new(requests_api, watcher::Config::default().any_semantic())
        .shutdown_on_signal();
    let requests = controller.store();
    let reporter = Reporter {
        controller: FIELD_MANAGER.to_owned(),
        instance: config.instance.clone(),
    };
    let ctx = Arc::new(Context {
        clusters: Clusters::new(client.clone(), wake_tx),
        recorder: Recorder::new(client.clone(), reporter),
        client,
        metrics,
        settings: config.settings,
        clock: config.clock.clone(),
        policies,
        quorum_volumes: volumes,
        requests: requests.clone(),
        ports: tokio::sync::Mutex::new(BTreeMap::new()),
        progress: Mutex::new(HashMap::new()),
    });
    let policy_requests = requests.clone();
    let wake_requests = requests.clone();
    controller
        .owns_stream(volume_stream)
        .watches_stream(policy_stream, move |policy: DRBDReplicationPolicy| {
            requests_in_namespace(&policy_requests, policy.namespace().as_deref())
        })
        .reconcile_on(
            wake_rx.flat_map(move |wake| {
                futures::stream::iter(requests_woken_by(&wake_requests, &wake))
            }),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            match result {
                Ok((obj, _)) => debug!(request = %obj, "reconciled"),
                Err(error) => debug!(%error, "reconcile failed"),
            }
            futures::future::ready(())
        })
        .await;
}

fn requests_in_namespace(
    store: &Store<ProtectionRequest>,
    namespace: Option<&str>,
) -> Vec<ObjectRef<ProtectionRequest>> {
    store
        .state()
        .iter()
        .filter(|r| r.namespace().as_deref() == namespace)
        .map(|r| ObjectRef::from_obj(&**r))
        .collect()
}

fn clusters_of(r: &ProtectionRequest) -> [Option<String>; 2] {
    [
        r.spec.source_cluster.clone(),
        r.status.as_ref().and_then(|s| s.dr_cluster.clone()),
    ]
}

/// The requests a change on a workload cluster (or a kubeconfig Secret) concerns.
pub fn requests_woken_by(
    store: &Store<ProtectionRequest>,
    wake: &Wake,
) -> Vec<ObjectRef<ProtectionRequest>> {
    store
        .state()
        .iter()
        .filter(|r| {
            let on_cluster = clusters_of(r).iter().flatten().any(|c| *c == wake.cluster);
            let vm_ns = wake.namespace.as_deref() == Some(r.spec.vm_namespace.as_str());
            match wake.kind {
                WakeKind::DrbdVolume => {
                    let l = &wake.labels;
                    l.get(LABEL_PROTECTED_VM) == Some(&r.spec.vm_name)
                        && l.get(LABEL_VM_NAMESPACE) == Some(&r.spec.vm_namespace)
                        && r.spec
                            .source_cluster
                            .as_ref()
                            .is_none_or(|c| l.get(LABEL_SOURCE_CLUSTER) == Some(c))
                }
                WakeKind::VirtualMachine | WakeKind::VirtualMachineInstance => {
                    on_cluster && vm_ns && wake.name == r.spec.vm_name
                }
                WakeKind::Pvc => on_cluster && vm_ns,
                WakeKind::Node => on_cluster && r.phase() == Phase::Activating,
                WakeKind::Secret => r.namespace() == wake.namespace,
            }
        })
        .map(|r| ObjectRef::from_obj(&**r))
        .collect()
}

async fn reconcile(pr: Arc<ProtectionRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciled();
    let ns = pr.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<ProtectionRequest> = Api::namespaced(ctx.client.clone(), &ns);
    let request = key(&pr);
    finalizer(&api, FINALIZER, pr, |event| async {
        match event {
            finalizer::Event::Apply(pr) => apply(pr, ctx.clone()).await,
            finalizer::Event::Cleanup(pr) => cleanup(pr, ctx.clone()).await,
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer {
            request,
            message: other.to_string(),
        },
    })
}

fn error_policy(pr: Arc<ProtectionRequest>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.metric_label());
    match error {
        Error::Unprotecting { .. } => {
            info!(request = %key(&pr), %error, "unprotect in progress");
            Action::requeue(Duration::from_secs(5))
        }
        _ => {
            warn!(request = %key(&pr), %error, category = error.metric_label(), "reconcile failed");
            Action::requeue(Duration::from_secs(10))
        }
    }
}

/// Whether deciding may choose a port: then the port lock is held until the status records it.
fn may_allocate_port(pr: &ProtectionRequest) -> bool {
    pr.phase() == Phase::Validating
}

/// How long a reconcile waits for the quorum caches' first list after a (re)start.
const CACHE_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Wait until the quorum caches (requests, policies, quorum DRBDVolumes) hold their first full
/// list. Deciding from a half-filled cache after a restart would fail a request for "no
/// DRBDReplicationPolicy", pick a port another request already holds, or recreate volumes.
async fn caches_synced(pr: &ProtectionRequest, ctx: &Context) -> Result<(), Error> {
    let all = async {
        ctx.requests.wait_until_ready().await?;
        ctx.policies.wait_until_ready().await?;
        ctx.quorum_volumes.wait_until_ready().await
    };
    match tokio::time::timeout(CACHE_SYNC_TIMEOUT, all).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Error::CachesNotSynced { request: key(pr) }),
    }
}

async fn apply(pr: Arc<ProtectionRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    caches_synced(&pr, &ctx).await?;
    let ports = if may_allocate_port(&pr) {
        Some(ctx.ports.lock().await)
    } else {
        None
    };
    let reserved: BTreeMap<String, (String, i32)> = ports.as_deref().cloned().unwrap_or_default();
    let (facts, primary, dr) = dereference(&pr, &ctx, &reserved).await;
    let plan = decide(&facts);
    let uid = pr.uid().unwrap_or_default();
    if let Ok(mut progress) = ctx.progress.lock() {
        progress.insert(uid.clone(), plan.progress.clone());
    }
    let old = pr.status.clone().unwrap_or_default();
    if plan.status != old {
        write_status(&pr, &ctx, &plan.status).await?;
        transition_event(&pr, &ctx, &old, &plan.status).await;
    }
    ctx.metrics.observe(
        &pr.namespace().unwrap_or_default(),
        &pr.name_any(),
        &plan.status,
    );
    if let Some(mut ports) = ports
        && let Some(port) = plan.status.volumes.first().and_then(|v| v.port)
    {
        ports.insert(uid, (pr.namespace().unwrap_or_default(), port));
    }
    execute(&pr, &ctx, primary.as_deref(), dr.as_deref(), &plan.writes).await?;
    Ok(match plan.requeue_after {
        Some(after) => Action::requeue(after.min(SAFETY_REQUEUE)),
        None => Action::requeue(SAFETY_REQUEUE),
    })
}

async fn cleanup(pr: Arc<ProtectionRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    caches_synced(&pr, &ctx).await?;
    let (facts, primary, dr) = dereference(&pr, &ctx, &BTreeMap::new()).await;
    let plan = decide_cleanup(&facts);
    execute(&pr, &ctx, primary.as_deref(), dr.as_deref(), &plan.writes).await?;
    if plan.done {
        let uid = pr.uid().unwrap_or_default();
        ctx.ports.lock().await.remove(&uid);
        if let Ok(mut progress) = ctx.progress.lock() {
            progress.remove(&uid);
        }
        ctx.metrics
            .forget(&pr.namespace().unwrap_or_default(), &pr.name_any());
        publish(
            &pr,
            &ctx,
            EventType::Normal,
            "Unprotected",
            plan.message.clone(),
        )
        .await;
        info!(request = %key(&pr), "unprotected");
        return Ok(Action::await_change());
    }
    let mut status = pr.status.clone().unwrap_or_default();
    if status.message.as_deref() != Some(plan.message.as_str()) {
        status.message = Some(plan.message.clone());
        write_status(&pr, &ctx, &status).await?;
    }
    Err(Error::Unprotecting {
        request: key(&pr),
        waiting: plan.message,
    })
}

/// All reads: the request's namespace on the quorum cluster and both workload clusters.
async fn dereference(
    pr: &ProtectionRequest,
    ctx: &Context,
    reserved: &BTreeMap<String, (String, i32)>,
) -> (
    Facts,
    Option<Arc<WorkloadCluster>>,
    Option<Arc<WorkloadCluster>>,
) {
    let ns = pr.namespace().unwrap_or_default();
    let uid = pr.uid().unwrap_or_default();
    let status = pr.status.clone().unwrap_or_default();
    let policies: Vec<DRBDReplicationPolicy> = ctx
        .policies
        .state()
        .iter()
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
        .map(|p| (**p).clone())
        .collect();
    let policy = match &status.policy {
        Some(name) => policies
            .iter()
            .find(|p| p.metadata.name.as_ref() == Some(name)),
        None => select_policy(&policies, pr.spec.source_cluster.as_deref()).ok(),
    };
    // A recorded request whose policy was deleted is still reachable through the default
    // Secrets, so unprotect can finish.
    let routes = match policy {
        Some(p) => Some((
            (
                p.spec.primary_kubeconfig_secret.clone(),
                p.spec.primary_cluster.clone(),
            ),
            (
                p.spec.dr_kubeconfig_secret.clone(),
                p.spec.dr_cluster.clone(),
            ),
        )),
        None => match (&status.policy, &pr.spec.source_cluster, &status.dr_cluster) {
            (Some(_), Some(primary), Some(dr)) => Some((
                (
                    DEFAULT_PRIMARY_KUBECONFIG_SECRET.to_owned(),
                    primary.clone(),
                ),
                (DEFAULT_DR_KUBECONFIG_SECRET.to_owned(), dr.clone()),
            )),
            _ => None,
        },
    };
    let (vm_ns, vm) = (pr.spec.vm_namespace.as_str(), pr.spec.vm_name.as_str());
    let (mut primary, mut dr) = (None, None);
    let (primary_reach, dr_reach) = match &routes {
        None => (Reach::Unknown, Reach::Unknown),
        Some(((p_secret, p_cluster), (d_secret, d_cluster))) => {
            let p = match ctx.clusters.get(&ns, p_secret, p_cluster).await {
                Ok(c) => {
                    c.recheck_health().await;
                    let facts = c.primary_facts(vm_ns, vm, p_cluster);
                    primary = Some(c);
                    facts
                }
                Err(reason) => Reach::Unreachable { reason },
            };
            let d = match ctx.clusters.get(&ns, d_secret, d_cluster).await {
                Ok(c) => {
                    c.recheck_health().await;
                    let facts = c.dr_facts(vm_ns, vm, p_cluster);
                    dr = Some(c);
                    facts
                }
                Err(reason) => Reach::Unreachable { reason },
            };
            (p, d)
        }
    };
    let own = |v: &DRBDVolume| {
        let l = v.labels();
        l.get(LABEL_PROTECTED_VM).map(String::as_str) == Some(vm)
            && l.get(LABEL_VM_NAMESPACE).map(String::as_str) == Some(vm_ns)
    };
    let in_ns: Vec<Arc<DRBDVolume>> = ctx
        .quorum_volumes
        .state()
        .into_iter()
        .filter(|v| v.namespace().as_deref() == Some(ns.as_str()))
        .collect();
    let quorum_volumes = in_ns
        .iter()
        .filter(|v| own(v))
        .map(|v| (v.name_any(), (**v).clone()))
        .collect();
    let mut ports_in_use: BTreeSet<i32> = in_ns
        .iter()
        .filter(|v| !own(v))
        .map(|v| v.spec.port)
        .collect();
    for other in ctx.requests.state() {
        if other.namespace().as_deref() == Some(ns.as_str())
            && other.uid().as_deref() != Some(uid.as_str())
        {
            ports_in_use.extend(
                other
                    .status
                    .iter()
                    .flat_map(|s| s.volumes.iter().filter_map(|v| v.port)),
            );
        }
    }
    ports_in_use.extend(
        reserved
            .iter()
            .filter(|(u, (n, _))| **u != uid && *n == ns)
            .map(|(_, (_, p))| *p),
    );
    let progress = ctx
        .progress
        .lock()
        .ok()
        .and_then(|p| p.get(&uid).cloned())
        .unwrap_or_default();
    let facts = Facts {
        now: ctx.clock.now(),
        request: pr.clone(),
        policies,
        ports_in_use,
        quorum_volumes,
        primary: primary_reach,
        dr: dr_reach,
        progress,
        settings: ctx.settings,
    };
    (facts, primary, dr)
}

async fn write_status(
    pr: &ProtectionRequest,
    ctx: &Context,
    status: &ProtectionRequestStatus,
) -> Result<(), Error> {
    let api: Api<ProtectionRequest> =
        Api::namespaced(ctx.client.clone(), &pr.namespace().unwrap_or_default());
    let body = json!({
        "apiVersion": API_VERSION,
        "kind": "ProtectionRequest",
        "status": status,
    });
    api.patch_status(
        &pr.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(|source| Error::WriteStatus {
        request: key(pr),
        source,
    })?;
    Ok(())
}

async fn transition_event(
    pr: &ProtectionRequest,
    ctx: &Context,
    old: &ProtectionRequestStatus,
    new: &ProtectionRequestStatus,
) {
    if old.phase == new.phase {
        return;
    }
    let phase = new.phase.unwrap_or_default();
    info!(request = %key(pr), from = ?old.phase, to = %phase, message = new.message.as_deref().unwrap_or(""), "phase transition");
    let type_ = if phase == Phase::Failed {
        EventType::Warning
    } else {
        EventType::Normal
    };
    publish(
        pr,
        ctx,
        type_,
        phase.as_str(),
        new.message.clone().unwrap_or_default(),
    )
    .await;
}

async fn publish(
    pr: &ProtectionRequest,
    ctx: &Context,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &pr.object_ref(&())).await {
        warn!(request = %key(pr), %error, "cannot publish Event");
    }
}

fn tolerate(result: Result<(), kube::Error>, codes: &[u16]) -> Result<(), kube::Error> {
    match result {
        Err(kube::Error::Api(s)) if codes.contains(&s.code) => Ok(()),
        other => other,
    }
}

/// Execute the plan's writes in order, stopping at the first failure.
async fn execute(
    pr: &ProtectionRequest,
    ctx: &Context,
    primary: Option<&WorkloadCluster>,
    dr: Option<&WorkloadCluster>,
    writes: &[Write],
) -> Result<(), Error> {
    let ns = pr.namespace().unwrap_or_default();
    let side_cluster = |side: Side| match side {
        Side::Primary => primary,
        Side::Dr => dr,
    };
    for w in writes {
        let (action, cluster, result) = match w {
            Write::CreateQuorumVolume(v) => {
                let api: Api<DRBDVolume> = Api::namespaced(ctx.client.clone(), &ns);
                let r = api.create(&PostParams::default(), v).await.map(|_| ());
                (
                    format!("create DRBDVolume {ns}/{}", v.name_any()),
                    "quorum".to_owned(),
                    tolerate(r, &[409]),
                )
            }
            Write::CreateSideCopy { side, volume } => {
                let Some(c) = side_cluster(*side) else {
                    continue;
                };
                let vns = volume.namespace().unwrap_or_default();
                if *side == Side::Dr {
                    // The DR cluster may not have the VM's namespace yet.
                    let namespaces: Api<Namespace> = Api::all(c.client.clone());
                    let mut object = Namespace::default();
                    object.metadata.name = Some(vns.clone());
                    let r = namespaces
                        .create(&PostParams::default(), &object)
                        .await
                        .map(|_| ());
                    if let Err(error) = tolerate(r, &[409, 403]) {
                        debug!(cluster = %c.name, namespace = %vns, %error, "cannot ensure namespace");
                    }
                }
                let api: Api<DRBDVolume> = Api::namespaced(c.client.clone(), &vns);
                let r = api.create(&PostParams::default(), volume).await.map(|_| ());
                (
                    format!("create DRBDVolume {vns}/{}", volume.name_any()),
                    c.name.clone(),
                    tolerate(r, &[409]),
                )
            }
            Write::SetPeerEndpoint {
                side,
                namespace,
                name,
                endpoint,
            } => {
                let Some(c) = side_cluster(*side) else {
                    continue;
                };
                let api: Api<DRBDVolume> = Api::namespaced(c.client.clone(), namespace);
                let patch = Patch::Merge(json!({"spec": {"peerEndpoint": endpoint}}));
                let r = api
                    .patch(name, &PatchParams::default(), &patch)
                    .await
                    .map(|_| ());
                (
                    format!("set peerEndpoint of DRBDVolume {namespace}/{name}"),
                    c.name.clone(),
                    r,
                )
            }
            Write::UpdateQuorumStatus { name, status } => {
                let api: Api<DRBDVolume> = Api::namespaced(ctx.client.clone(), &ns);
                let patch = Patch::Merge(json!({"status": status}));
                let r = api
                    .patch_status(name, &PatchParams::default(), &patch)
                    .await
                    .map(|_| ());
                (
                    format!("write status of DRBDVolume {ns}/{name}"),
                    "quorum".to_owned(),
                    tolerate(r, &[404]),
                )
            }
            Write::PatchVm { step, patch } => {
                let Some(c) = primary else { continue };
                let api: Api<VirtualMachine> =
                    Api::namespaced(c.client.clone(), &pr.spec.vm_namespace);
                info!(request = %key(pr), cluster = %c.name, ?step, "patching VirtualMachine");
                let r = api
                    .patch(
                        &pr.spec.vm_name,
                        &PatchParams::default(),
                        &Patch::<()>::Json(patch.clone()),
                    )
                    .await
                    .map(|_| ());
                (
                    format!(
                        "patch VirtualMachine {}/{} ({step:?})",
                        pr.spec.vm_namespace, pr.spec.vm_name
                    ),
                    c.name.clone(),
                    r,
                )
            }
            Write::DeleteSideCopy {
                side,
                namespace,
                name,
            } => {
                let Some(c) = side_cluster(*side) else {
                    continue;
                };
                let api: Api<DRBDVolume> = Api::namespaced(c.client.clone(), namespace);
                let r = api.delete(name, &DeleteParams::default()).await.map(|_| ());
                (
                    format!("delete DRBDVolume {namespace}/{name}"),
                    c.name.clone(),
                    tolerate(r, &[404]),
                )
            }
            Write::DeleteQuorumVolume { name } => {
                let api: Api<DRBDVolume> = Api::namespaced(ctx.client.clone(), &ns);
                let r = api.delete(name, &DeleteParams::default()).await.map(|_| ());
                (
                    format!("delete DRBDVolume {ns}/{name}"),
                    "quorum".to_owned(),
                    tolerate(r, &[404]),
                )
            }
        };
        result.map_err(|source| Error::Write {
            action,
            cluster,
            source,
        })?;
    }
    Ok(())
}
