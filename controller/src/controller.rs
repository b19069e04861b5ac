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
use crate::workload::{Clusters, Wake, WakeKind, WorkloadCluster, forget_managed_fields};

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
///
/// A deadline the decision sets (an activation timeout, a stall) is a requeue after a
/// duration. On the system clock that is a timer; a simulated clock jumps, so it also says when
/// it moved ([`Clock::advancing_on`]) and every request whose deadline has then passed is
/// reconciled at once.
#[derive(Clone)]
pub struct Clock {
    now: Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>,
    advanced: Option<tokio::sync::watch::Receiver<()>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::from_fn(jiff::Timestamp::now)
    }

    /// A clock reading `now()`.
    pub fn from_fn(now: impl Fn() -> jiff::Timestamp + Send + Sync + 'static) -> Self {
        Clock {
            now: Arc::new(now),
            advanced: None,
        }
    }

    /// This clock, announcing on `advanced` each time it jumps forward.
    #[must_use]
    pub fn advancing_on(mut self, advanced: tokio::sync::watch::Receiver<()>) -> Self {
        self.advanced = Some(advanced);
        self
    }

    /// The current time.
    pub fn now(&self) -> jiff::Timestamp {
        (self.now)()
    }

    /// `after` from now, on this clock.
    fn deadline(&self, after: Duration) -> jiff::Timestamp {
        let now = self.now();
        jiff::SignedDuration::try_from(after)
            .ok()
            .and_then(|d| now.checked_add(d).ok())
            .unwrap_or(jiff::Timestamp::MAX)
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
    /// Consecutive failed reconciles per request, for the retry backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// When each request asked to be looked at again, on [`Config::clock`].
    deadlines: Mutex<HashMap<ObjectRef<ProtectionRequest>, jiff::Timestamp>>,
    /// Per request (uid), the versions its last writes replaced: see [`Acted`].
    acted: OwnWrites,
    /// DRBDVolume writes the caches may not show yet: see [`VolumeWrites`].
    volume_writes: VolumeWrites,
}

/// The resourceVersions of the request and of its VM that a reconcile decided from and then
/// changed. Watch caches trail the controller's own writes; a reconcile woken meanwhile (by
/// another object's event) would see the version it already acted on and act again: log the
/// transition twice, patch a VM whose patch already applied (its `test` fails with 422), try to
/// add the finalizer again. Such a reconcile waits instead: the watch event of the write itself
/// wakes the request as soon as the cache has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Acted {
    request: Option<String>,
    /// Every version a VM patch of the last reconcile replaced: one reconcile may patch the VM
    /// several times (record, stop), and a cache showing any but the last is behind.
    vm: Vec<String>,
}

/// How long a reconcile that found its caches behind its own writes waits at most for the
/// watch event that brings them up to date (it normally arrives within milliseconds).
const CATCH_UP: Duration = Duration::from_secs(5);

/// Per request (uid), what its last writes replaced: see [`Acted`].
#[derive(Default)]
struct OwnWrites(Mutex<HashMap<String, Acted>>);

impl OwnWrites {
    /// Record that the request's version `before` was replaced by our write (`after`).
    fn request_written(&self, uid: &str, before: Option<&str>, after: Option<&str>) {
        if before != after
            && let Ok(mut acted) = self.0.lock()
        {
            acted.entry(uid.to_owned()).or_default().request = before.map(str::to_owned);
        }
    }

    /// Record that the VM's version `before` was replaced by our patch (`after`). `first` is
    /// the reconcile's first VM patch: it forgets the versions an earlier reconcile replaced.
    fn vm_patched(&self, uid: &str, first: bool, before: Option<&str>, after: Option<&str>) {
        if let Ok(mut acted) = self.0.lock() {
            let a = acted.entry(uid.to_owned()).or_default();
            if first {
                a.vm.clear();
            }
            if before != after
                && let Some(before) = before
            {
                a.vm.push(before.to_owned());
            }
        }
    }

    /// Whether the cache still shows a version of the request (or, when given, of its VM) that
    /// our own write already replaced. A cache that moved on clears the record.
    fn behind(&self, uid: &str, request: Option<&str>, vm: Option<Option<&str>>) -> bool {
        let Ok(mut acted) = self.0.lock() else {
            return false;
        };
        let Some(a) = acted.get_mut(uid) else {
            return false;
        };
        let mut behind = false;
        if a.request.is_some() {
            if a.request.as_deref() == request {
                behind = true;
            } else {
                a.request = None;
            }
        }
        if let Some(vm) = vm
            && !a.vm.is_empty()
        {
            if vm.is_some_and(|vm| a.vm.iter().any(|v| v == vm)) {
                behind = true;
            } else {
                a.vm.clear();
            }
        }
        if *a == Acted::default() {
            acted.remove(uid);
        }
        behind
    }

    /// The request is gone.
    fn forget(&self, uid: &str) {
        if let Ok(mut acted) = self.0.lock() {
            acted.remove(uid);
        }
    }
}

/// A DRBDVolume: cluster, namespace, name.
type VolumeKey = (String, String, String);

/// Whether a quorum status write is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StatusCheck {
    /// It changes the copy.
    Write,
    /// The copy holds it: the controller's own last write, which the cache does not show yet.
    Behind,
    /// The copy holds it, as the cache shows.
    Held,
}

/// What the controller last wrote to a DRBDVolume.
#[derive(Debug)]
enum Written {
    /// Created it, at this instant.
    Created(std::time::Instant),
    /// Wrote `status` (a quorum copy, as sent: times in whole seconds, as on the wire), making
    /// version `latest`: the last of a run of status writes that replaced each of the versions
    /// in `replaced` (the versions the cache showed and the versions the earlier writes of the
    /// run made). A cache showing any of them is behind.
    Status {
        replaced: Vec<Option<String>>,
        latest: Option<String>,
        status: serde_json::Value,
    },
}

/// The controller's own DRBDVolume writes that its caches may not show yet. Caches trail
/// writes by milliseconds; a reconcile woken meanwhile (a side copy's status changed) decides
/// from the cache and would create a copy it just created (409) or write a quorum status it
/// just wrote (a PATCH that changes nothing). Such a write is skipped: a create for
/// [`CATCH_UP`] after the last one (so a copy deleted before the cache ever showed it is made
/// again); a status write while the cache still shows a version the controller's status writes
/// replaced and the status is the last one written, or when the cache, read again just before
/// writing, already holds it. In memory only: after a restart every write is decided from the
/// caches afresh.
#[derive(Default)]
struct VolumeWrites(Mutex<HashMap<VolumeKey, Written>>);

impl VolumeWrites {
    /// Whether a create of this volume is one the controller already made within [`CATCH_UP`].
    fn recently_created(&self, key: &VolumeKey, now: std::time::Instant) -> bool {
        let Ok(mut written) = self.0.lock() else {
            return false;
        };
        match written.get(key) {
            Some(Written::Created(at)) if now.duration_since(*at) < CATCH_UP => true,
            Some(Written::Created(_)) => {
                written.remove(key);
                false
            }
            _ => false,
        }
    }

    fn created(&self, key: VolumeKey, now: std::time::Instant) {
        if let Ok(mut written) = self.0.lock() {
            written.retain(
                |_, w| !matches!(w, Written::Created(at) if now.duration_since(*at) >= CATCH_UP),
            );
            written.insert(key, Written::Created(now));
        }
    }

    /// Whether writing `status` (as sent) would change nothing. While the cache still shows a
    /// version (`cached`) that the controller's own status writes replaced, the last of those
    /// writes is what the quorum copy holds; otherwise the cache (`cached_status`) is.
    fn status_check(
        &self,
        key: &VolumeKey,
        cached: Option<&str>,
        cached_status: &serde_json::Value,
        status: &serde_json::Value,
    ) -> StatusCheck {
        let held_by_cache = if *cached_status == *status {
            StatusCheck::Held
        } else {
            StatusCheck::Write
        };
        let Ok(mut written) = self.0.lock() else {
            return held_by_cache;
        };
        match written.get(key) {
            Some(Written::Status {
                replaced,
                status: last,
                ..
            }) if replaced.iter().any(|r| r.as_deref() == cached) => {
                if *last == *status {
                    StatusCheck::Behind
                } else {
                    StatusCheck::Write
                }
            }
            Some(Written::Status { .. }) => {
                // The cache shows the last write, or someone else's: it decides.
                written.remove(key);
                held_by_cache
            }
            _ => held_by_cache,
        }
    }

    /// A status write succeeded: decided from the cached version `cached`, it made `made`.
    fn status_written(
        &self,
        key: VolumeKey,
        cached: Option<String>,
        made: Option<String>,
        status: serde_json::Value,
    ) {
        let Ok(mut written) = self.0.lock() else {
            return;
        };
        match written.get_mut(&key) {
            Some(Written::Status {
                replaced,
                latest,
                status: last,
            }) => {
                for version in [cached, latest.take()] {
                    if !replaced.contains(&version) {
                        replaced.push(version);
                    }
                }
                *latest = made;
                *last = status;
            }
            _ => {
                written.insert(
                    key,
                    Written::Status {
                        replaced: vec![cached],
                        latest: made,
                        status,
                    },
                );
            }
        }
    }

    /// The volume is gone.
    fn deleted(&self, key: &VolumeKey) {
        if let Ok(mut written) = self.0.lock() {
            written.remove(key);
        }
    }
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
    .modify(forget_managed_fields)
    .reflect(volumes_writer)
    .touched_objects();
    let (policies, policies_writer) = reflector::store();
    let policy_stream = watcher(policies_api, watcher::Config::default())
        .default_backoff()
        .modify(forget_managed_fields)
        .reflect(policies_writer)
        .touched_objects();

    let (wake_tx, wake_rx) = mpsc::unbounded::<Wake>();
    let (requests, requests_writer) = reflector::store();
    let request_stream = watcher(requests_api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(forget_managed_fields)
        .reflect(requests_writer)
        .touched_objects();
    let controller = Controller::for_stream(request_stream, requests.clone()).shutdown_on_signal();
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
        failures: Mutex::new(HashMap::new()),
        deadlines: Mutex::new(HashMap::new()),
        acted: OwnWrites::default(),
        volume_writes: VolumeWrites::default(),
    });
    let due = config
        .clock
        .advanced
        .clone()
        .map(|advanced| deadlines_due(advanced, ctx.clone()));
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
        .reconcile_on(due.unwrap_or_else(|| futures::stream::empty().boxed()))
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

/// Each time the clock jumps, the requests whose deadline it passed.
fn deadlines_due(
    advanced: tokio::sync::watch::Receiver<()>,
    ctx: Arc<Context>,
) -> futures::stream::BoxStream<'static, ObjectRef<ProtectionRequest>> {
    futures::stream::unfold(advanced, |mut advanced| async move {
        advanced.changed().await.ok()?;
        Some(((), advanced))
    })
    .flat_map(move |()| {
        let now = ctx.clock.now();
        let due: Vec<_> = ctx
            .deadlines
            .lock()
            .map(|mut d| {
                let due: Vec<_> = d
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(r, _)| r.clone())
                    .collect();
                for r in &due {
                    d.remove(r);
                }
                due
            })
            .unwrap_or_default();
        futures::stream::iter(due)
    })
    .boxed()
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
                WakeKind::Pvc => on_cluster && vm_ns && concerns_pvc(r, &wake.name),
                WakeKind::Node => on_cluster && r.phase() == Phase::Activating,
                WakeKind::Secret => r.namespace() == wake.namespace,
                WakeKind::Cluster => on_cluster,
            }
        })
        .map(|r| ObjectRef::from_obj(&**r))
        .collect()
}

/// Whether a PVC change concerns a request. Before its volumes are recorded, while it activates
/// (the frontend PVCs are named by the DRBD operator, not by us) and while it is being
/// unprotected, any PVC of the VM's namespace may be one it waits for; otherwise only its
/// recorded PVCs, so the guests' writes on a hundred protected VMs do not wake every request a
/// hundred times per change.
fn concerns_pvc(r: &ProtectionRequest, pvc: &str) -> bool {
    let recorded = r
        .status
        .as_ref()
        .map(|s| s.volumes.as_slice())
        .unwrap_or_default();
    recorded.is_empty()
        || r.phase() == Phase::Activating
        || r.metadata.deletion_timestamp.is_some()
        || recorded.iter().any(|v| v.pvc == pvc)
}

async fn reconcile(pr: Arc<ProtectionRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciled();
    let ns = pr.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<ProtectionRequest> = Api::namespaced(ctx.client.clone(), &ns);
    let request = key(&pr);
    let uid = pr.uid().unwrap_or_default();
    let version = pr.resource_version();
    if ctx.acted.behind(&uid, version.as_deref(), None) {
        debug!(request = %request, "cache behind our last write; waiting for its watch event");
        return Ok(Action::requeue(CATCH_UP));
    }
    // kube-runtime's helper adds the finalizer (and returns) when the request lacks it.
    let adds_finalizer =
        pr.metadata.deletion_timestamp.is_none() && !pr.finalizers().iter().any(|f| f == FINALIZER);
    let result = finalizer(&api, FINALIZER, pr, |event| async {
        match event {
            finalizer::Event::Apply(pr) => apply(pr, ctx.clone()).await,
            finalizer::Event::Cleanup(pr) => cleanup(pr, ctx.clone()).await,
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer {
            request: request.clone(),
            message: other.to_string(),
        },
    });
    if result.is_ok() {
        if adds_finalizer {
            ctx.acted.request_written(&uid, version.as_deref(), None);
        }
        if let Ok(mut failures) = ctx.failures.lock() {
            failures.remove(&request);
        }
    }
    result
}

/// The resourceVersion of the VM the facts show, if the primary cluster answered.
fn vm_version(facts: &Facts) -> Option<Option<String>> {
    facts.primary.reachable().map(|p| {
        p.vm.as_ref()
            .and_then(|vm| vm.metadata.resource_version.clone())
    })
}

/// Whether the VM in the facts is one our own patch already replaced.
fn vm_behind(pr: &ProtectionRequest, ctx: &Context, facts: &Facts) -> bool {
    let uid = pr.uid().unwrap_or_default();
    let vm = vm_version(facts);
    let behind = ctx.acted.behind(
        &uid,
        pr.resource_version().as_deref(),
        vm.as_ref().map(Option::as_deref),
    );
    if behind {
        debug!(request = %key(pr), "VM cache behind our last patch; waiting for its watch event");
    }
    behind
}

/// First retry after a failed reconcile; doubles per consecutive failure up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Longest wait between retries of a failing reconcile.
const MAX_RETRY: Duration = Duration::from_secs(30);

fn retry_after(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_RETRY)
}

fn error_policy(pr: Arc<ProtectionRequest>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.metric_label());
    match error {
        Error::Unprotecting { .. } => {
            info!(request = %key(&pr), %error, "unprotect in progress");
            Action::requeue(Duration::from_secs(5))
        }
        _ => {
            let failures = ctx
                .failures
                .lock()
                .map(|mut f| {
                    let n = f.entry(key(&pr)).or_default();
                    *n = n.saturating_add(1);
                    *n
                })
                .unwrap_or(1);
            let after = retry_after(failures);
            warn!(request = %key(&pr), %error, category = error.metric_label(), retry_in = ?after, "reconcile failed");
            Action::requeue(after)
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
    if vm_behind(&pr, &ctx, &facts) {
        return Ok(Action::requeue(CATCH_UP));
    }
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
    let skipped = execute(
        &pr,
        &ctx,
        primary.as_deref(),
        dr.as_deref(),
        &facts,
        &plan.writes,
    )
    .await?;
    let mut after = plan
        .requeue_after
        .map_or(SAFETY_REQUEUE, |a| a.min(SAFETY_REQUEUE));
    if skipped {
        after = after.min(CATCH_UP);
    }
    if let Ok(mut deadlines) = ctx.deadlines.lock() {
        deadlines.insert(ObjectRef::from_obj(&*pr), ctx.clock.deadline(after));
    }
    Ok(Action::requeue(after))
}

async fn cleanup(pr: Arc<ProtectionRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    caches_synced(&pr, &ctx).await?;
    let (facts, primary, dr) = dereference(&pr, &ctx, &BTreeMap::new()).await;
    if vm_behind(&pr, &ctx, &facts) {
        return Ok(Action::requeue(CATCH_UP));
    }
    let plan = decide_cleanup(&facts);
    execute(
        &pr,
        &ctx,
        primary.as_deref(),
        dr.as_deref(),
        &facts,
        &plan.writes,
    )
    .await?;
    if plan.done {
        let uid = pr.uid().unwrap_or_default();
        ctx.ports.lock().await.remove(&uid);
        if let Ok(mut progress) = ctx.progress.lock() {
            progress.remove(&uid);
        }
        ctx.acted.forget(&uid);
        if let Ok(mut deadlines) = ctx.deadlines.lock() {
            deadlines.remove(&ObjectRef::from_obj(&*pr));
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
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns.as_str()))
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
                    let recorded = status.volumes.iter().map(|v| v.pvc.as_str());
                    let facts = c.primary_facts(vm_ns, vm, p_cluster, recorded);
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
        .filter(|v| v.metadata.namespace.as_deref() == Some(ns.as_str()))
        .collect();
    let quorum_volumes = in_ns
        .iter()
        .filter(|v| own(v))
        .map(|v| (v.name_any(), (**v).clone()))
        .collect();
    // Only a request that may pick its port needs the others' (a scan of every request).
    let mut ports_in_use: BTreeSet<i32> = BTreeSet::new();
    if may_allocate_port(pr) {
        ports_in_use.extend(in_ns.iter().filter(|v| !own(v)).map(|v| v.spec.port));
        for other in ctx.requests.state() {
            if other.metadata.namespace.as_deref() == Some(ns.as_str())
                && other.metadata.uid.as_deref() != Some(uid.as_str())
            {
                ports_in_use.extend(
                    other
                        .status
                        .iter()
                        .flat_map(|s| s.volumes.iter().filter_map(|v| v.port)),
                );
            }
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
    let written = api
        .patch_status(
            &pr.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map_err(|source| Error::WriteStatus {
            request: key(pr),
            source,
        })?;
    ctx.acted.request_written(
        &pr.uid().unwrap_or_default(),
        pr.resource_version().as_deref(),
        written.resource_version().as_deref(),
    );
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

/// Execute the plan's writes in order, stopping at the first failure. Returns whether a write
/// was skipped because the caches did not show the controller's own earlier write yet
/// ([`VolumeWrites`]): the request should then be looked at again within [`CATCH_UP`].
async fn execute(
    pr: &ProtectionRequest,
    ctx: &Context,
    primary: Option<&WorkloadCluster>,
    dr: Option<&WorkloadCluster>,
    facts: &Facts,
    writes: &[Write],
) -> Result<bool, Error> {
    let mut skipped = false;
    let mut skip = |what: &str, cluster: &str| {
        debug!(request = %key(pr), %cluster, "skipping {what}: the cache does not show the controller's own write yet");
        skipped = true;
    };
    // The VM version the next VM patch replaces: the one the plan was decided from, then the
    // one each patch returned.
    let mut vm_version = vm_version(facts).flatten();
    let mut first_vm_patch = true;
    let ns = pr.namespace().unwrap_or_default();
    let side_cluster = |side: Side| match side {
        Side::Primary => primary,
        Side::Dr => dr,
    };
    for w in writes {
        let (action, cluster, result) = match w {
            Write::CreateQuorumVolume(v) => {
                let action = format!("create DRBDVolume {ns}/{}", v.name_any());
                let volume = ("quorum".to_owned(), ns.clone(), v.name_any());
                let now = std::time::Instant::now();
                if ctx.volume_writes.recently_created(&volume, now) {
                    skip(&action, "quorum");
                    continue;
                }
                let api: Api<DRBDVolume> = Api::namespaced(ctx.client.clone(), &ns);
                let r = api.create(&PostParams::default(), v).await.map(|_| ());
                if r.is_ok() {
                    ctx.volume_writes.created(volume, now);
                }
                (action, "quorum".to_owned(), tolerate(r, &[409]))
            }
            Write::CreateSideCopy { side, volume } => {
                let Some(c) = side_cluster(*side) else {
                    continue;
                };
                let vns = volume.namespace().unwrap_or_default();
                let action = format!("create DRBDVolume {vns}/{}", volume.name_any());
                let written = (c.name.clone(), vns.clone(), volume.name_any());
                let now = std::time::Instant::now();
                if ctx.volume_writes.recently_created(&written, now) {
                    skip(&action, &c.name);
                    continue;
                }
                if *side == Side::Dr && !c.has_namespace(&vns) {
                    // The DR cluster may not have the VM's namespace yet.
                    let namespaces: Api<Namespace> = Api::all(c.client.clone());
                    let mut object = Namespace::default();
                    object.metadata.name = Some(vns.clone());
                    let r = namespaces
                        .create(&PostParams::default(), &object)
                        .await
                        .map(|_| ());
                    match tolerate(r, &[409]) {
                        Ok(()) => c.namespace_exists(&vns, true),
                        Err(error) => {
                            debug!(cluster = %c.name, namespace = %vns, %error, "cannot ensure namespace");
                        }
                    }
                }
                let api: Api<DRBDVolume> = Api::namespaced(c.client.clone(), &vns);
                let r = api.create(&PostParams::default(), volume).await.map(|_| ());
                if r.is_ok() {
                    ctx.volume_writes.created(written, now);
                }
                if matches!(&r, Err(kube::Error::Api(e)) if e.code == 404) {
                    // The namespace went meanwhile: ensure it again next time.
                    c.namespace_exists(&vns, false);
                }
                (action, c.name.clone(), tolerate(r, &[409]))
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
                let action = format!("write status of DRBDVolume {ns}/{name}");
                let volume = ("quorum".to_owned(), ns.clone(), name.clone());
                // The cache now, which may be newer than the one the plan was decided from.
                let current = ctx.quorum_volumes.get(&ObjectRef::new(name).within(&ns));
                let cached = current
                    .as_ref()
                    .and_then(|v| v.metadata.resource_version.clone());
                let cached_status = json!(current.as_ref().and_then(|v| v.status.as_ref()));
                // Compared as sent: a condition time set now has nanoseconds in memory but
                // whole seconds on the wire.
                let sent = json!(status);
                match ctx.volume_writes.status_check(
                    &volume,
                    cached.as_deref(),
                    &cached_status,
                    &sent,
                ) {
                    StatusCheck::Write => {}
                    StatusCheck::Behind => {
                        skip(&action, "quorum");
                        continue;
                    }
                    StatusCheck::Held => continue,
                }
                let api: Api<DRBDVolume> = Api::namespaced(ctx.client.clone(), &ns);
                let patch = Patch::Merge(json!({"status": sent}));
                let r = api
                    .patch_status(name, &PatchParams::default(), &patch)
                    .await
                    .map(|written| {
                        ctx.volume_writes.status_written(
                            volume,
                            cached,
                            written.metadata.resource_version,
                            sent,
                        );
                    });
                (action, "quorum".to_owned(), tolerate(r, &[404]))
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
                    .map(|vm| {
                        ctx.acted.vm_patched(
                            &pr.uid().unwrap_or_default(),
                            first_vm_patch,
                            vm_version.as_deref(),
                            vm.metadata.resource_version.as_deref(),
                        );
                        first_vm_patch = false;
                        vm_version = vm.metadata.resource_version;
                    });
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
                ctx.volume_writes
                    .deleted(&(c.name.clone(), namespace.clone(), name.clone()));
                let api: Api<DRBDVolume> = Api::namespaced(c.client.clone(), namespace);
                let r = api.delete(name, &DeleteParams::default()).await.map(|_| ());
                (
                    format!("delete DRBDVolume {namespace}/{name}"),
                    c.name.clone(),
                    tolerate(r, &[404]),
                )
            }
            Write::DeleteQuorumVolume { name } => {
                ctx.volume_writes
                    .deleted(&("quorum".to_owned(), ns.clone(), name.clone()));
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
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use protect_api::protection_request::{ProtectionRequestStatus, VolumeStatus};

    use super::*;

    fn request(phase: Option<Phase>, recorded: &[&str], deleting: bool) -> ProtectionRequest {
        let mut pr = ProtectionRequest::new("protect-web", Default::default());
        pr.status = Some(ProtectionRequestStatus {
            phase,
            volumes: recorded
                .iter()
                .map(|p| VolumeStatus {
                    pvc: (*p).to_owned(),
                    ..VolumeStatus::default()
                })
                .collect(),
            ..ProtectionRequestStatus::default()
        });
        if deleting {
            pr.metadata.deletion_timestamp = Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
            );
        }
        pr
    }

    #[test]
    fn which_pvc_changes_wake_a_request() {
        let cases = [
            // (phase, recorded, deleting, changed PVC, wakes)
            (None, vec![], false, "anything", true),
            (Some(Phase::Validating), vec![], false, "web-disk", true),
            (
                Some(Phase::Syncing),
                vec!["web-disk"],
                false,
                "web-disk",
                true,
            ),
            (
                Some(Phase::Syncing),
                vec!["web-disk"],
                false,
                "web-disk2",
                false,
            ),
            (
                Some(Phase::Protected),
                vec!["web-disk"],
                false,
                "other-disk",
                false,
            ),
            (
                Some(Phase::Protected),
                vec!["web-disk"],
                false,
                "web-disk-drbd",
                false,
            ),
            // The operator names the frontend PVCs; any PVC may be one while activating.
            (
                Some(Phase::Activating),
                vec!["web-disk"],
                false,
                "pvc-7f3a",
                true,
            ),
            (
                Some(Phase::Protected),
                vec!["web-disk"],
                true,
                "pvc-7f3a",
                true,
            ),
        ];
        for (phase, recorded, deleting, pvc, wakes) in cases {
            let pr = request(phase, &recorded, deleting);
            assert_eq!(
                concerns_pvc(&pr, pvc),
                wakes,
                "{phase:?} {recorded:?} deleting={deleting} {pvc}"
            );
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        assert_eq!(retry_after(1), Duration::from_millis(500));
        assert_eq!(retry_after(2), Duration::from_secs(1));
        assert_eq!(retry_after(4), Duration::from_secs(4));
        assert_eq!(retry_after(7), MAX_RETRY);
        assert_eq!(retry_after(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn a_reconcile_waits_while_the_cache_shows_a_request_version_it_already_wrote_over() {
        let w = OwnWrites::default();
        assert!(!w.behind("u", Some("4"), None), "nothing written yet");
        w.request_written("u", Some("4"), Some("4"));
        assert!(
            !w.behind("u", Some("4"), None),
            "a write that changed nothing"
        );
        w.request_written("u", Some("4"), Some("5"));
        assert!(w.behind("u", Some("4"), None), "the cache still shows 4");
        assert!(w.behind("u", Some("4"), None), "and again");
        assert!(!w.behind("u", Some("5"), None), "the cache caught up");
        assert!(
            !w.behind("u", Some("4"), None),
            "the record is gone once caught up"
        );
        assert!(!w.behind("other", Some("4"), None), "per request");
    }

    #[test]
    fn every_vm_version_one_reconcile_patched_over_counts_as_behind() {
        let w = OwnWrites::default();
        // One reconcile: record run state 10 → 11, record volumes 11 → 12, stop 12 → 13.
        w.vm_patched("u", true, Some("10"), Some("11"));
        w.vm_patched("u", false, Some("11"), Some("12"));
        w.vm_patched("u", false, Some("12"), Some("13"));
        for seen in ["10", "11", "12"] {
            assert!(w.behind("u", None, Some(Some(seen))), "{seen}");
        }
        assert!(!w.behind("u", None, None), "the VM is not asked about");
        assert!(w.behind("u", None, Some(Some("11"))), "still recorded");
        assert!(!w.behind("u", None, Some(Some("13"))), "caught up");
        assert!(
            !w.behind("u", None, Some(Some("12"))),
            "forgotten once caught up"
        );
        // A later reconcile's first patch starts a new record.
        w.vm_patched("u", true, Some("20"), Some("21"));
        assert!(w.behind("u", None, Some(Some("20"))));
        w.forget("u");
        assert!(
            !w.behind("u", None, Some(Some("20"))),
            "forgotten with the request"
        );
    }

    fn volume(name: &str) -> VolumeKey {
        ("cluster1".into(), "production".into(), name.into())
    }

    #[test]
    fn a_create_is_skipped_only_within_the_catch_up_window_after_the_last_one() {
        let w = VolumeWrites::default();
        let t0 = std::time::Instant::now();
        assert!(!w.recently_created(&volume("a"), t0), "never created");
        w.created(volume("a"), t0);
        assert!(w.recently_created(&volume("a"), t0 + Duration::from_secs(1)));
        assert!(!w.recently_created(&volume("b"), t0), "per volume");
        assert!(
            !w.recently_created(&volume("a"), t0 + CATCH_UP),
            "created again once the window is over: the copy may have been deleted meanwhile"
        );
        w.created(volume("a"), t0);
        w.deleted(&volume("a"));
        assert!(
            !w.recently_created(&volume("a"), t0),
            "the controller deleted it"
        );
    }

    #[test]
    fn a_status_write_is_skipped_while_the_cache_shows_a_version_the_last_writes_replaced() {
        use StatusCheck::{Behind, Write};
        let w = VolumeWrites::default();
        let check = |name: &str, cached: &str, status: &serde_json::Value| {
            w.status_check(&volume(name), Some(cached), &json!(null), status)
        };
        let (connecting, connected) = (
            json!({"connectionState": "Connecting"}),
            json!({"connectionState": "Connected"}),
        );
        assert_eq!(check("a", "7", &connecting), Write);
        // Two writes in a row, the cache still at 7: 7 → 8 (Connecting), 8 → 9 (Connected).
        w.status_written(
            volume("a"),
            Some("7".into()),
            Some("8".into()),
            connecting.clone(),
        );
        assert_eq!(check("a", "7", &connecting), Behind);
        assert_eq!(check("a", "7", &connected), Write, "another status");
        w.status_written(
            volume("a"),
            Some("7".into()),
            Some("9".into()),
            connected.clone(),
        );
        for cached in ["7", "8"] {
            assert_eq!(check("a", cached, &connected), Behind, "{cached}");
            assert_eq!(
                check("a", cached, &connecting),
                Write,
                "{cached}: not the last"
            );
        }
        assert_eq!(check("b", "7", &connected), Write, "per volume");
        assert_eq!(
            check("a", "9", &connected),
            Write,
            "the cache shows the last write: it decides"
        );
        assert_eq!(check("a", "8", &connected), Write, "and the record is gone");
    }

    #[test]
    fn a_status_write_is_skipped_when_the_cache_already_shows_it() {
        // The plan was decided from an older cache; by the time it runs the cache shows the
        // status it would write.
        let w = VolumeWrites::default();
        let connected = json!({"connectionState": "Connected"});
        let connecting = json!({"connectionState": "Connecting"});
        let check = |cached_status: &serde_json::Value| {
            w.status_check(&volume("a"), Some("9"), cached_status, &connected)
        };
        assert_eq!(check(&connected), StatusCheck::Held);
        assert_eq!(check(&connecting), StatusCheck::Write);
        // But not while the cache is behind the controller's own writes: then the last write
        // is what the copy holds.
        w.status_written(volume("a"), Some("9".into()), Some("10".into()), connecting);
        assert_eq!(check(&connected), StatusCheck::Write);
    }

    #[test]
    fn a_condition_time_is_compared_as_sent_in_whole_seconds() {
        // What the executor compares: the status as sent. A Replicating condition set again from
        // a stale cache gets a new time that differs in nanoseconds only.
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        use protect_api::{Condition, ConditionStatus, DRBDVolumeStatus, set_condition};
        let at = |nanos: i128| {
            let mut s = DRBDVolumeStatus::default();
            let when = jiff::Timestamp::from_nanosecond(1_795_550_000_000_000_000 + nanos)
                .expect("a time");
            set_condition(
                &mut s.conditions,
                Condition::new("Replicating", ConditionStatus::True, "Connected", "ok"),
                Time(when),
            );
            s
        };
        assert_ne!(at(1_000), at(2_000), "in memory they differ");
        assert_eq!(
            json!(at(1_000)),
            json!(at(2_000)),
            "on the wire they do not"
        );
        let w = VolumeWrites::default();
        w.status_written(
            volume("a"),
            Some("7".into()),
            Some("8".into()),
            json!(at(1_000)),
        );
        assert_eq!(
            w.status_check(&volume("a"), Some("7"), &json!(null), &json!(at(2_000))),
            StatusCheck::Behind
        );
    }
}
