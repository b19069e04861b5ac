//! Clients and watch-fed caches for the workload clusters, built from the kubeconfig Secrets a
//! DRBDReplicationPolicy names, rebuilt when a Secret's resourceVersion changes, and the wake-ups
//! their watches send so a side copy, VM, VMI, PVC or Node change reconciles the right request.
//!
//! # Guarantees
//! - Secret contents are never logged: only the Secret's namespace, name and resourceVersion.
//! - A cluster is reported reachable only while its watches answer; a failing watch makes it
//!   unreachable with the watcher's error, until the watch recovers.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Secret};
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use protect_api::DRBDVolume;
use protect_api::coverage::PvcFacts;
use protect_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use protect_api::well_known::{
    KUBECONFIG_SECRET_KEY, LABEL_PROTECTED_VM, LABEL_SOURCE_CLUSTER, LABEL_VM_NAMESPACE,
    TAINT_NOT_READY, TAINT_NOT_READY_EFFECT,
};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::facts::{DrFacts, PrimaryFacts, Reach};

/// How long a freshly built cluster may take to list its objects before a reconcile goes on
/// and reports it unreachable.
const FIRST_LIST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reconcile waits for a cluster whose watches failed to answer `/version`.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a cluster whose watches failed is asked for `/version` until it answers.
const HEALTH_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Which kind of object changed, for mapping a wake-up to requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeKind {
    /// A DRBDVolume side copy.
    DrbdVolume,
    /// A VirtualMachine.
    VirtualMachine,
    /// A VirtualMachineInstance.
    VirtualMachineInstance,
    /// A PVC.
    Pvc,
    /// A Node (taints).
    Node,
    /// A kubeconfig Secret on the quorum cluster.
    Secret,
    /// A workload cluster answers again after its watches failed: every request on it.
    Cluster,
}

/// Something changed on a cluster; the controller maps it to the requests it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wake {
    /// The cluster (for a Secret: the quorum namespace's secret, `cluster` is empty).
    pub cluster: String,
    /// The kind.
    pub kind: WakeKind,
    /// Namespace of the object.
    pub namespace: Option<String>,
    /// Name of the object.
    pub name: String,
    /// Labels of the object.
    pub labels: BTreeMap<String, String>,
}

/// One workload cluster: its client, caches and health.
pub struct WorkloadCluster {
    /// The cluster identifier (from the policy).
    pub name: String,
    /// Client for writes.
    pub client: Client,
    resource_version: String,
    vms: Store<VirtualMachine>,
    vmis: Store<VirtualMachineInstance>,
    pvcs: Store<PersistentVolumeClaim>,
    nodes: Store<Node>,
    volumes: Store<DRBDVolume>,
    /// `Some(error)` while a watch fails.
    health: Arc<Mutex<BTreeMap<&'static str, String>>>,
    /// Watches whose first list has not completed: their caches are partial, so nothing may
    /// be concluded from what they lack (a VM "not found" in a half-filled cache).
    unlisted: Arc<Mutex<BTreeSet<&'static str>>>,
    /// Namespaces known to exist (created by us or found existing), so a side copy's namespace
    /// is ensured once per cluster, not once per side copy.
    namespaces: Mutex<HashSet<String>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for WorkloadCluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Wake {
    /// Every request on `cluster`.
    fn whole_cluster(cluster: &str) -> Self {
        Wake {
            cluster: cluster.to_owned(),
            kind: WakeKind::Cluster,
            namespace: None,
            name: String::new(),
            labels: BTreeMap::new(),
        }
    }
}

fn wake_of<K: Resource>(cluster: &str, kind: WakeKind, obj: &K) -> Wake {
    Wake {
        cluster: cluster.to_owned(),
        kind,
        namespace: obj.meta().namespace.clone(),
        name: obj.meta().name.clone().unwrap_or_default(),
        labels: obj.meta().labels.clone().unwrap_or_default(),
    }
}

/// What the decision reads of an object, so a change to anything else (a guest's write
/// counted in an annotation, another tool's label, a status heartbeat) wakes no request.
/// Kinds whose facts carry the whole object compare the resourceVersion: every change counts.
fn every_change<K: Resource>(o: &K) -> Option<String> {
    o.meta().resource_version.clone()
}

/// The caches hold no managedFields: nothing reads them, and they are most of the memory of a
/// cache of small objects.
pub(crate) fn forget_managed_fields<K: Resource>(o: &mut K) {
    o.meta_mut().managed_fields = None;
}

/// Whether a Node carries the `siterecovery.trilio.io/not-ready:NoSchedule` taint, the only
/// thing the decision reads of it.
fn not_ready(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| {
            t.iter()
                .any(|t| t.key == TAINT_NOT_READY && t.effect == TAINT_NOT_READY_EFFECT)
        })
}

/// Remembers what each object of one watch showed when it last woke a request.
struct WakeFilter<K: Resource<DynamicType = ()>, R> {
    relevant: fn(&K) -> R,
    seen: HashMap<ObjectRef<K>, R>,
}

impl<K: Resource<DynamicType = ()>, R: PartialEq> WakeFilter<K, R> {
    fn new(relevant: fn(&K) -> R) -> Self {
        Self {
            relevant,
            seen: HashMap::new(),
        }
    }

    /// An object was created or changed: whether the change is one the decision reads.
    fn applied(&mut self, o: &K) -> bool {
        let now = (self.relevant)(o);
        let key = ObjectRef::from_obj(o);
        if self.seen.get(&key) == Some(&now) {
            return false;
        }
        self.seen.insert(key, now);
        true
    }

    fn deleted(&mut self, o: &K) {
        self.seen.remove(&ObjectRef::from_obj(o));
    }

    fn clear(&mut self) {
        self.seen.clear();
    }
}

/// Watch one kind into a cache and send a [`Wake`] when an object appears, goes, or changes in
/// what `relevant` extracts of it.
#[allow(clippy::too_many_arguments)]
fn spawn_watch<K, R>(
    api: Api<K>,
    config: watcher::Config,
    cluster: &str,
    kind: WakeKind,
    label: &'static str,
    relevant: fn(&K) -> R,
    wake: UnboundedSender<Wake>,
    health: Arc<Mutex<BTreeMap<&'static str, String>>>,
    unlisted: Arc<Mutex<BTreeSet<&'static str>>>,
    failed: Arc<tokio::sync::Notify>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    R: PartialEq + Send + 'static,
{
    let (reader, writer) = reflector::store();
    let mut filter = WakeFilter::new(relevant);
    let cluster = cluster.to_owned();
    if let Ok(mut u) = unlisted.lock() {
        u.insert(label);
    }
    let stream = watcher(api, config)
        .default_backoff()
        .modify(forget_managed_fields)
        .reflect(writer);
    tasks.push(tokio::spawn(stream.for_each(move |event| {
        match event {
            Ok(watcher::Event::Apply(o)) => {
                clear(&health, label);
                if filter.applied(&o) {
                    let _ = wake.unbounded_send(wake_of(&cluster, kind, &o));
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                clear(&health, label);
                filter.deleted(&o);
                let _ = wake.unbounded_send(wake_of(&cluster, kind, &o));
            }
            Ok(watcher::Event::InitApply(o)) => {
                filter.applied(&o);
                let _ = wake.unbounded_send(wake_of(&cluster, kind, &o));
            }
            Ok(watcher::Event::InitDone) => {
                clear(&health, label);
                if let Ok(mut u) = unlisted.lock() {
                    u.remove(label);
                }
            }
            // A re-list: objects deleted meanwhile send no Delete, so start afresh.
            Ok(watcher::Event::Init) => filter.clear(),
            Err(error) => {
                warn!(%cluster, watch = label, %error, "watch failed; retrying with backoff");
                let first = health
                    .lock()
                    .map(|mut h| {
                        let first = h.is_empty();
                        h.insert(label, error.to_string());
                        first
                    })
                    .unwrap_or(false);
                failed.notify_one();
                // The cluster just became unreachable: its requests say so now.
                if first {
                    let _ = wake.unbounded_send(Wake::whole_cluster(&cluster));
                }
            }
        }
        futures::future::ready(())
    })));
    reader
}

/// Once a watch of the cluster failed, ask `/version` every [`HEALTH_PROBE_INTERVAL`] until the
/// API answers, then forget the failures and wake every request on the cluster. A resumed watch
/// emits nothing until an object changes, so in a quiet cluster nothing else would notice the
/// recovery before the safety requeue.
fn spawn_health_monitor(
    cluster: &str,
    client: Client,
    health: Arc<Mutex<BTreeMap<&'static str, String>>>,
    failed: Arc<tokio::sync::Notify>,
    wake: UnboundedSender<Wake>,
) -> JoinHandle<()> {
    let cluster = cluster.to_owned();
    tokio::spawn(async move {
        loop {
            failed.notified().await;
            loop {
                let failing = health.lock().map(|h| !h.is_empty()).unwrap_or(false);
                if !failing {
                    break;
                }
                let probe = tokio::time::timeout(HEALTH_PROBE_TIMEOUT, client.apiserver_version());
                if let Ok(Ok(_)) = probe.await {
                    if let Ok(mut h) = health.lock() {
                        h.clear();
                    }
                    info!(%cluster, "API answers again after watch failures; waking its requests");
                    let _ = wake.unbounded_send(Wake::whole_cluster(&cluster));
                    break;
                }
                tokio::time::sleep(HEALTH_PROBE_INTERVAL).await;
            }
        }
    })
}

fn clear(health: &Mutex<BTreeMap<&'static str, String>>, label: &'static str) {
    if let Ok(mut h) = health.lock() {
        h.remove(label);
    }
}

impl WorkloadCluster {
    fn start(
        name: &str,
        client: Client,
        resource_version: String,
        wake: UnboundedSender<Wake>,
    ) -> Self {
        let health = Arc::new(Mutex::new(BTreeMap::new()));
        let unlisted = Arc::new(Mutex::new(BTreeSet::new()));
        let failed = Arc::new(tokio::sync::Notify::new());
        let mut tasks = vec![spawn_health_monitor(
            name,
            client.clone(),
            health.clone(),
            failed.clone(),
            wake.clone(),
        )];
        let cfg = watcher::Config::default();
        let volumes_cfg = watcher::Config::default().labels(LABEL_PROTECTED_VM);
        let vms = spawn_watch(
            Api::all(client.clone()),
            cfg.clone(),
            name,
            WakeKind::VirtualMachine,
            "virtualmachines",
            every_change,
            wake.clone(),
            health.clone(),
            unlisted.clone(),
            failed.clone(),
            &mut tasks,
        );
        let vmis = spawn_watch(
            Api::all(client.clone()),
            cfg.clone(),
            name,
            WakeKind::VirtualMachineInstance,
            "virtualmachineinstances",
            every_change,
            wake.clone(),
            health.clone(),
            unlisted.clone(),
            failed.clone(),
            &mut tasks,
        );
        let pvcs = spawn_watch(
            Api::all(client.clone()),
            cfg.clone(),
            name,
            WakeKind::Pvc,
            "persistentvolumeclaims",
            // A PVC counts for its PvcFacts, the only thing the decision reads of it.
            PvcFacts::from_pvc,
            wake.clone(),
            health.clone(),
            unlisted.clone(),
            failed.clone(),
            &mut tasks,
        );
        let nodes = spawn_watch(
            Api::all(client.clone()),
            cfg,
            name,
            WakeKind::Node,
            "nodes",
            not_ready,
            wake.clone(),
            health.clone(),
            unlisted.clone(),
            failed.clone(),
            &mut tasks,
        );
        let volumes = spawn_watch(
            Api::all(client.clone()),
            volumes_cfg,
            name,
            WakeKind::DrbdVolume,
            "drbdvolumes",
            every_change,
            wake,
            health.clone(),
            unlisted.clone(),
            failed.clone(),
            &mut tasks,
        );
        WorkloadCluster {
            name: name.to_owned(),
            client,
            resource_version,
            vms,
            vmis,
            pvcs,
            nodes,
            volumes,
            health,
            unlisted,
            namespaces: Mutex::new(HashSet::new()),
            tasks,
        }
    }

    async fn first_list(&self) {
        let all = async {
            let _ = self.vms.wait_until_ready().await;
            let _ = self.vmis.wait_until_ready().await;
            let _ = self.pvcs.wait_until_ready().await;
            let _ = self.nodes.wait_until_ready().await;
            let _ = self.volumes.wait_until_ready().await;
        };
        let _ = tokio::time::timeout(FIRST_LIST_TIMEOUT, all).await;
    }

    /// After a watch failed, ask the API server whether it answers again, and if it does,
    /// forget the failures. A watch that resumes from its resourceVersion emits no event until
    /// an object changes (nodes rarely do), so without this a healed cluster would stay
    /// "unreachable" indefinitely. The watchers resume on their own backoff meanwhile.
    pub async fn recheck_health(&self) {
        let failing = self.health.lock().map(|h| !h.is_empty()).unwrap_or(false);
        if !failing {
            return;
        }
        let probe = tokio::time::timeout(HEALTH_PROBE_TIMEOUT, self.client.apiserver_version());
        if let Ok(Ok(_)) = probe.await
            && let Ok(mut h) = self.health.lock()
        {
            info!(cluster = %self.name, "API answers again after watch failures");
            h.clear();
        }
    }

    /// Whether `namespace` is known to exist on this cluster.
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.lock().is_ok_and(|n| n.contains(namespace))
    }

    /// Remember whether `namespace` exists on this cluster.
    pub fn namespace_exists(&self, namespace: &str, exists: bool) {
        if let Ok(mut n) = self.namespaces.lock() {
            if exists {
                n.insert(namespace.to_owned());
            } else {
                n.remove(namespace);
            }
        }
    }

    /// Why the cluster cannot be read right now, if it cannot.
    pub fn unreachable_reason(&self) -> Option<String> {
        if let Ok(h) = self.health.lock()
            && let Some((watch, error)) = h.iter().next()
        {
            return Some(format!("watching {watch} failed: {error}"));
        }
        if let Ok(u) = self.unlisted.lock()
            && let Some(watch) = u.iter().next()
        {
            return Some(format!("still listing {watch}"));
        }
        None
    }

    fn side_copies(
        &self,
        vm_namespace: &str,
        vm_name: &str,
        source_cluster: &str,
    ) -> BTreeMap<String, DRBDVolume> {
        self.volumes
            .state()
            .iter()
            .filter(|v| {
                let l = v.labels();
                l.get(LABEL_PROTECTED_VM).map(String::as_str) == Some(vm_name)
                    && l.get(LABEL_VM_NAMESPACE).map(String::as_str) == Some(vm_namespace)
                    && l.get(LABEL_SOURCE_CLUSTER).map(String::as_str) == Some(source_cluster)
            })
            .map(|v| (v.name_any(), (**v).clone()))
            .collect()
    }

    /// What this cluster shows as the primary of `vm_namespace/vm_name`. `recorded` are the
    /// PVCs the request's status names.
    ///
    /// Of the namespace's PVCs, only those the decision can ask about are looked up: the VM's
    /// claims, the frontend PVCs its side copies report, and the recorded ones, so a reconcile
    /// costs the same in a namespace of ten VMs as in one of a thousand.
    pub fn primary_facts<'a>(
        &self,
        vm_namespace: &str,
        vm_name: &str,
        source_cluster: &str,
        recorded: impl IntoIterator<Item = &'a str>,
    ) -> Reach<PrimaryFacts> {
        if let Some(reason) = self.unreachable_reason() {
            return Reach::Unreachable { reason };
        }
        let vm = self
            .vms
            .get(&ObjectRef::new(vm_name).within(vm_namespace))
            .map(|v| (*v).clone());
        let side_copies = self.side_copies(vm_namespace, vm_name, source_cluster);
        let mut names: BTreeSet<&str> = recorded.into_iter().collect();
        if let Some(vm) = &vm {
            names.extend(vm.claims().map(|(_, claim)| claim.pvc_name()));
        }
        names.extend(
            side_copies
                .values()
                .filter_map(|v| v.status.as_ref()?.frontend_pvc.as_deref()),
        );
        let pvcs = names
            .into_iter()
            .filter_map(|name| {
                let pvc = self.pvcs.get(&ObjectRef::new(name).within(vm_namespace))?;
                Some((name.to_owned(), PvcFacts::from_pvc(&pvc)))
            })
            .collect();
        let not_ready_nodes: BTreeSet<String> = self
            .nodes
            .state()
            .iter()
            .filter(|n| not_ready(n))
            .map(|n| n.name_any())
            .collect();
        Reach::Reachable(PrimaryFacts {
            vm,
            vmi: self
                .vmis
                .get(&ObjectRef::new(vm_name).within(vm_namespace))
                .map(|v| (*v).clone()),
            pvcs,
            side_copies,
            not_ready_nodes,
        })
    }

    /// What this cluster shows as the DR side of `vm_namespace/vm_name`.
    pub fn dr_facts(
        &self,
        vm_namespace: &str,
        vm_name: &str,
        source_cluster: &str,
    ) -> Reach<DrFacts> {
        if let Some(reason) = self.unreachable_reason() {
            return Reach::Unreachable { reason };
        }
        Reach::Reachable(DrFacts {
            side_copies: self.side_copies(vm_namespace, vm_name, source_cluster),
        })
    }
}

/// The workload clusters known to the controller, keyed by the Secret that reaches them.
pub struct Clusters {
    quorum: Client,
    wake: UnboundedSender<Wake>,
    entries: tokio::sync::Mutex<HashMap<(String, String), Arc<WorkloadCluster>>>,
    secret_watches: Mutex<HashSet<(String, String)>>,
    /// resourceVersion of each watched kubeconfig Secret, as its watch last saw it: a client
    /// built from that version is reused without reading the Secret again.
    secret_versions: Arc<Mutex<HashMap<(String, String), String>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Clusters {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}

impl Clusters {
    /// A registry that reads Secrets through `quorum` and sends wake-ups to `wake`.
    pub fn new(quorum: Client, wake: UnboundedSender<Wake>) -> Self {
        Self {
            quorum,
            wake,
            entries: tokio::sync::Mutex::new(HashMap::new()),
            secret_watches: Mutex::new(HashSet::new()),
            secret_versions: Arc::new(Mutex::new(HashMap::new())),
            tasks: Mutex::new(vec![]),
        }
    }

    /// The cluster reached through Secret `namespace/secret`, (re)built when the Secret changed.
    ///
    /// # Errors
    /// A sentence naming the Secret and what is wrong with it (missing, no `kubeconfig` key, not a
    /// kubeconfig), never its contents.
    pub async fn get(
        &self,
        namespace: &str,
        secret: &str,
        cluster: &str,
    ) -> Result<Arc<WorkloadCluster>, String> {
        self.watch_secret(namespace, secret);
        let key = (namespace.to_owned(), secret.to_owned());
        let watched = self
            .secret_versions
            .lock()
            .ok()
            .and_then(|v| v.get(&key).cloned());
        if let Some(watched) = watched
            && let Some(existing) = self.entries.lock().await.get(&key)
            && existing.resource_version == watched
            && existing.name == cluster
        {
            return Ok(existing.clone());
        }
        let api: Api<Secret> = Api::namespaced(self.quorum.clone(), namespace);
        let found = match api.get_opt(secret).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(format!(
                    "Secret {namespace}/{secret} not found on the quorum cluster"
                ));
            }
            Err(e) => return Err(format!("cannot read Secret {namespace}/{secret}: {e}")),
        };
        let rv = found.resource_version().unwrap_or_default();
        let mut entries = self.entries.lock().await;
        if let Some(existing) = entries.get(&key)
            && existing.resource_version == rv
            && existing.name == cluster
        {
            return Ok(existing.clone());
        }
        let bytes = found
            .data
            .as_ref()
            .and_then(|d| d.get(KUBECONFIG_SECRET_KEY))
            .ok_or_else(|| {
                format!("Secret {namespace}/{secret} has no {KUBECONFIG_SECRET_KEY:?} key")
            })?;
        let text = std::str::from_utf8(&bytes.0).map_err(|_| {
            format!(
                "key {KUBECONFIG_SECRET_KEY:?} of Secret {namespace}/{secret} is not UTF-8 text"
            )
        })?;
        let kubeconfig = Kubeconfig::from_yaml(text)
            .map_err(|e| format!("key {KUBECONFIG_SECRET_KEY:?} of Secret {namespace}/{secret} is not a kubeconfig: {e}"))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| {
                    format!("kubeconfig in Secret {namespace}/{secret} is unusable: {e}")
                })?;
        let client = Client::try_from(config)
            .map_err(|e| format!("cannot build a client from Secret {namespace}/{secret}: {e}"))?;
        info!(%namespace, %secret, resource_version = %rv, %cluster, "building workload cluster client");
        let built = Arc::new(WorkloadCluster::start(
            cluster,
            client,
            rv,
            self.wake.clone(),
        ));
        built.first_list().await;
        entries.insert(key, built.clone());
        Ok(built)
    }

    /// Watch one kubeconfig Secret (by name: RBAC grants Secrets only by resourceName) so a
    /// change wakes the requests of its namespace.
    fn watch_secret(&self, namespace: &str, secret: &str) {
        let key = (namespace.to_owned(), secret.to_owned());
        let Ok(mut watching) = self.secret_watches.lock() else {
            return;
        };
        if !watching.insert(key.clone()) {
            return;
        }
        let api: Api<PartialObjectMeta<Secret>> = Api::namespaced(self.quorum.clone(), namespace);
        let cfg = watcher::Config::default().fields(&format!("metadata.name={secret}"));
        let wake = self.wake.clone();
        let versions = self.secret_versions.clone();
        let this = key.clone();
        let task = tokio::spawn(watcher(api, cfg).default_backoff().for_each(move |event| {
            let seen = |meta: &PartialObjectMeta<Secret>, present: bool| {
                let key = (
                    meta.metadata.namespace.clone().unwrap_or_default(),
                    meta.metadata.name.clone().unwrap_or_default(),
                );
                if let Ok(mut v) = versions.lock() {
                    match (present, meta.metadata.resource_version.clone()) {
                        (true, Some(rv)) => {
                            v.insert(key, rv);
                        }
                        _ => {
                            v.remove(&key);
                        }
                    }
                }
                debug!(namespace = ?meta.metadata.namespace, name = ?meta.metadata.name, "kubeconfig Secret changed");
                let _ = wake.unbounded_send(wake_of("", WakeKind::Secret, meta));
            };
            match event {
                Ok(watcher::Event::Apply(meta) | watcher::Event::InitApply(meta)) => {
                    seen(&meta, true)
                }
                Ok(watcher::Event::Delete(meta)) => seen(&meta, false),
                // A relist: forget what was seen, in case the Secret went while unwatched.
                Ok(watcher::Event::Init) => {
                    if let Ok(mut v) = versions.lock() {
                        v.remove(&this);
                    }
                }
                Ok(watcher::Event::InitDone) => {}
                Err(error) => warn!(%error, "watching a kubeconfig Secret failed; retrying"),
            }
            futures::future::ready(())
        }));
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeSpec, Taint};
    use kube::api::ObjectMeta;
    use protect_api::kubevirt::VirtualMachine;
    use serde_json::json;

    use super::*;

    fn pvc(annotation: &str, phase: &str) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "web-server-data", "namespace": "production",
                         "resourceVersion": annotation,
                         "annotations": {"lab.siterecovery.trilio.io/data-counter": annotation}},
            "spec": {"storageClassName": "ceph-rbd", "resources": {"requests": {"storage": "10Gi"}}},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    #[test]
    fn a_pvc_wakes_only_when_what_the_decision_reads_changes() {
        let mut f = WakeFilter::new(PvcFacts::from_pvc);
        assert!(f.applied(&pvc("1", "Pending")), "first sight wakes");
        assert!(
            !f.applied(&pvc("2", "Pending")),
            "an annotation change does not"
        );
        assert!(f.applied(&pvc("3", "Bound")), "a phase change does");
        assert!(!f.applied(&pvc("4", "Bound")));
        f.deleted(&pvc("4", "Bound"));
        assert!(
            f.applied(&pvc("5", "Bound")),
            "recreated after a delete wakes"
        );
        f.clear();
        assert!(
            f.applied(&pvc("5", "Bound")),
            "after a re-list everything wakes once"
        );
    }

    #[test]
    fn a_node_wakes_only_when_its_not_ready_taint_comes_or_goes() {
        let node = |label: &str, tainted: bool| Node {
            metadata: ObjectMeta {
                name: Some("worker-1".into()),
                labels: Some([("x".to_owned(), label.to_owned())].into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: tainted.then(|| {
                    vec![Taint {
                        key: TAINT_NOT_READY.into(),
                        effect: TAINT_NOT_READY_EFFECT.into(),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut f = WakeFilter::new(not_ready);
        assert!(f.applied(&node("a", false)));
        assert!(
            !f.applied(&node("b", false)),
            "a label change does not wake"
        );
        assert!(f.applied(&node("b", true)), "the taint does");
        assert!(f.applied(&node("b", false)), "and its removal");
    }

    #[test]
    fn a_vm_wakes_on_every_change() {
        let vm = |rv: &str| -> VirtualMachine {
            serde_json::from_value(json!({
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                "metadata": {"name": "web-server", "namespace": "production", "resourceVersion": rv},
                "spec": {"template": {"spec": {}}},
            }))
            .unwrap()
        };
        let mut f = WakeFilter::new(every_change::<VirtualMachine>);
        assert!(f.applied(&vm("1")));
        assert!(
            !f.applied(&vm("1")),
            "the same version again (a re-sent event) does not"
        );
        assert!(f.applied(&vm("2")));
    }
}
