//! [`ClusterFacts`]: the facts of [`crate::facts::Facts`] from watch-fed caches, so the common
//! admission path makes no remote call.
//!
//! - Quorum cluster: reflectors of DRBDReplicationPolicies and ProtectionRequests, and one
//!   per kubeconfig Secret a policy names, watched by name (a `metadata.name` field selector,
//!   so RBAC can grant exactly those names). `/readyz` waits for the two and for every named
//!   Secret (`quorum/secrets`).
//! - Each primary cluster: reflectors of VirtualMachines and PVCs, built from the kubeconfig in
//!   the Secret a policy names (`spec.primaryKubeconfigSecret`, key `kubeconfig`) and rebuilt
//!   when that Secret's content changes. They start when a policy appears, so they are warm
//!   before the first request; they never gate readiness: an unreachable primary cluster must
//!   produce a clear denial, not an unready webhook.
//! - A miss (object absent from the cache, or the cache not yet synced) falls back to a direct
//!   GET bounded by a hard deadline; past it, the answer is [`LookupError::Unreachable`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Config, Resource};
use protect_api::coverage::PvcFacts;
use protect_api::kubevirt::VirtualMachine;
use protect_api::well_known::KUBECONFIG_SECRET_KEY;
use protect_api::{DRBDReplicationPolicy, ProtectionRequest};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::facts::{CacheState, Facts, LookupError, PrimaryView, VmRef};

/// Tasks aborted when dropped.
#[derive(Debug, Default)]
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A reflector's store, whether its initial list completed, and how many watch events it has
/// applied.
#[derive(Clone)]
struct Cache<K: Resource<DynamicType = ()> + Clone + 'static> {
    name: String,
    store: Store<K>,
    synced: Arc<AtomicBool>,
    /// Incremented after every event the store has applied, so a view built from the store
    /// knows whether it is still current.
    changes: Arc<AtomicU64>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Cache<K> {
    fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Events applied so far; read it before reading the store.
    fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    fn state(&self) -> CacheState {
        CacheState {
            cache: self.name.clone(),
            synced: self.is_synced(),
        }
    }
}

/// Start a reflector for `api`; `changed` (if any) is notified after every applied event.
fn reflect<K>(
    name: String,
    api: Api<K>,
    config: watcher::Config,
    changed: Option<Arc<Notify>>,
    tasks: &mut Tasks,
) -> Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let synced = Arc::new(AtomicBool::new(false));
    let changes = Arc::new(AtomicU64::new(0));
    // No rule reads managedFields; dropping them keeps the caches small and the per-review
    // copies of cached objects cheap.
    let objects = watcher(api, config).modify(|object: &mut K| {
        object.meta_mut().managed_fields = None;
    });
    let stream = reflector::reflector(writer, objects).default_backoff();
    let label = name.clone();
    let applied = Arc::clone(&changes);
    tasks.0.push(tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => {
                    // The reflector applies an event to the store before passing it on.
                    applied.fetch_add(1, Ordering::AcqRel);
                    if let Some(changed) = &changed {
                        changed.notify_one();
                    }
                }
                Err(error) => warn!(cache = %label, %error, "watch failed; retrying with backoff"),
            }
        }
    }));
    let (ready_store, ready_flag) = (store.clone(), Arc::clone(&synced));
    let label = name.clone();
    tasks.0.push(tokio::spawn(async move {
        if ready_store.wait_until_ready().await.is_ok() {
            ready_flag.store(true, Ordering::Release);
            info!(cache = %label, "cache synced");
        }
    }));
    Cache {
        name,
        store,
        synced,
        changes,
    }
}

/// Requests by the name of the VM they name.
type ByName = HashMap<String, Vec<Arc<ProtectionRequest>>>;

/// ProtectionRequests by namespace and the VM their spec names, built from the requests cache
/// and rebuilt on the first lookup after the cache has changed: a review finds the requests for
/// its VM without reading every request of the namespace.
#[derive(Default)]
struct RequestIndex {
    /// `Cache::changes` when built; `None` before the first build.
    built_at: Option<u64>,
    /// namespace → VM namespace → VM name → requests.
    by_vm: HashMap<String, HashMap<String, ByName>>,
}

impl RequestIndex {
    fn build(changes: u64, requests: Vec<Arc<ProtectionRequest>>) -> Self {
        let mut by_vm: HashMap<String, HashMap<String, ByName>> = HashMap::new();
        for request in requests {
            by_vm
                .entry(request.metadata.namespace.clone().unwrap_or_default())
                .or_default()
                .entry(request.spec.vm_namespace.clone())
                .or_default()
                .entry(request.spec.vm_name.clone())
                .or_default()
                .push(request);
        }
        Self {
            built_at: Some(changes),
            by_vm,
        }
    }

    fn get(&self, namespace: &str, vm: &VmRef) -> Vec<Arc<ProtectionRequest>> {
        self.by_vm
            .get(namespace)
            .and_then(|by_namespace| by_namespace.get(&vm.namespace))
            .and_then(|by_name| by_name.get(&vm.name))
            .cloned()
            .unwrap_or_default()
    }
}

/// Where a kubeconfig Secret lives.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct SecretKey {
    namespace: String,
    name: String,
}

/// The watch of one kubeconfig Secret, by name.
struct SecretWatch {
    cache: Cache<Secret>,
    _tasks: Tasks,
}

/// Caches of one primary cluster, built from one kubeconfig Secret.
struct PrimaryCache {
    cluster: String,
    digest: [u8; 32],
    /// resourceVersion of the Secret last found to hold exactly `digest`: while the Secret
    /// keeps that version, its content is not read and hashed again.
    checked_version: Mutex<Option<String>>,
    client: Client,
    vms: Cache<VirtualMachine>,
    pvcs: Cache<PersistentVolumeClaim>,
    _tasks: Tasks,
}

/// The facts, from caches of the quorum cluster and of every primary cluster a policy names.
pub struct ClusterFacts {
    quorum: Client,
    /// Notified on every policy or Secret event: the primary caches are refreshed.
    changed: Arc<Notify>,
    policies: Cache<DRBDReplicationPolicy>,
    requests: Cache<ProtectionRequest>,
    /// `requests` by the VM they name.
    request_index: RwLock<RequestIndex>,
    /// One watch per kubeconfig Secret a policy names.
    secrets: Mutex<HashMap<SecretKey, SecretWatch>>,
    primaries: Mutex<HashMap<SecretKey, Arc<PrimaryCache>>>,
    cache_miss_timeout: Duration,
    tasks: Mutex<Tasks>,
}

impl Debug for ClusterFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterFacts")
            .field("cache_miss_timeout", &self.cache_miss_timeout)
            .finish_non_exhaustive()
    }
}

fn namespaced_or_all<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

impl ClusterFacts {
    /// Start the quorum caches (in `namespace`, or all namespaces) and the primary-cluster
    /// caches as policies and Secrets appear. Must be called inside a tokio runtime.
    pub fn start(
        quorum: Client,
        namespace: Option<&str>,
        cache_miss_timeout: Duration,
    ) -> Arc<Self> {
        let mut tasks = Tasks::default();
        let changed = Arc::new(Notify::new());
        let policies = reflect(
            "quorum/drbdreplicationpolicies".to_owned(),
            namespaced_or_all(&quorum, namespace),
            watcher::Config::default(),
            Some(Arc::clone(&changed)),
            &mut tasks,
        );
        let requests = reflect(
            "quorum/protectionrequests".to_owned(),
            namespaced_or_all(&quorum, namespace),
            watcher::Config::default(),
            None,
            &mut tasks,
        );
        let facts = Arc::new(Self {
            quorum,
            changed: Arc::clone(&changed),
            policies,
            requests,
            request_index: RwLock::default(),
            secrets: Mutex::new(HashMap::new()),
            primaries: Mutex::new(HashMap::new()),
            cache_miss_timeout,
            tasks: Mutex::new(tasks),
        });
        let weak = Arc::downgrade(&facts);
        let refresher = tokio::spawn(refresh_on_change(weak, changed));
        if let Ok(mut tasks) = facts.tasks.lock() {
            tasks.0.push(refresher);
        }
        facts
    }

    fn primary_caches(&self) -> Vec<Arc<PrimaryCache>> {
        self.primaries
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Build, keep or drop primary caches so there is exactly one per kubeconfig Secret that a
    /// policy names, built from the Secret's current content.
    async fn refresh(&self) {
        let mut wanted: HashMap<SecretKey, String> = HashMap::new();
        for policy in self.policies.store.state() {
            let key = SecretKey {
                namespace: policy.metadata.namespace.clone().unwrap_or_default(),
                name: policy.spec.primary_kubeconfig_secret.clone(),
            };
            wanted.insert(key, policy.spec.primary_cluster.clone());
        }
        if let Ok(mut primaries) = self.primaries.lock() {
            primaries.retain(|key, _| wanted.contains_key(key));
        }
        if let Ok(mut secrets) = self.secrets.lock() {
            secrets.retain(|key, _| wanted.contains_key(key));
        }
        for (key, cluster) in wanted {
            let secret = self.secret_watch(&key);
            if let Err(error) = self.primary_cache(&key, &cluster).await {
                // Before the Secret's watch has listed a missing Secret is expected, not news:
                // its first event brings another refresh.
                if secret.is_synced() {
                    warn!(%cluster, secret = %key.name, namespace = %key.namespace, %error, "cannot build primary-cluster caches");
                } else {
                    debug!(%cluster, secret = %key.name, namespace = %key.namespace, %error, "primary-cluster caches wait for the Secret cache");
                }
            }
        }
    }

    /// The watch of Secret `key`, started if there is none yet.
    fn secret_watch(&self, key: &SecretKey) -> Cache<Secret> {
        // Nothing panics while holding this lock; a poisoned map is still a consistent map.
        let mut secrets = self
            .secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(watch) = secrets.get(key) {
            return watch.cache.clone();
        }
        let mut tasks = Tasks::default();
        let cache = reflect(
            format!("quorum/secrets/{}/{}", key.namespace, key.name),
            Api::namespaced(self.quorum.clone(), &key.namespace),
            watcher::Config::default().fields(&format!("metadata.name={}", key.name)),
            Some(Arc::clone(&self.changed)),
            &mut tasks,
        );
        debug!(secret = %key.name, namespace = %key.namespace, "watching kubeconfig Secret");
        secrets.insert(
            key.clone(),
            SecretWatch {
                cache: cache.clone(),
                _tasks: tasks,
            },
        );
        cache
    }

    /// The Secret `key`: from its watch once that has listed, else read directly within the
    /// cache-miss deadline (a policy that just appeared, whose Secret is not watched yet).
    async fn secret(&self, key: &SecretKey) -> Result<Option<Arc<Secret>>, String> {
        let cached = self.secrets.lock().ok().and_then(|secrets| {
            let watch = secrets.get(key)?;
            watch.cache.is_synced().then(|| {
                watch
                    .cache
                    .store
                    .get(&ObjectRef::new(&key.name).within(&key.namespace))
            })
        });
        if let Some(cached) = cached {
            return Ok(cached);
        }
        self.secret_watch(key);
        let api: Api<Secret> = Api::namespaced(self.quorum.clone(), &key.namespace);
        Ok(within(self.cache_miss_timeout, api.get_opt(&key.name))
            .await?
            .map(Arc::new))
    }

    /// Whether the Secret of every policy is watched and its watch has listed.
    fn secrets_synced(&self) -> bool {
        let Ok(secrets) = self.secrets.lock() else {
            return false;
        };
        self.policies.store.state().iter().all(|policy| {
            let key = SecretKey {
                namespace: policy.metadata.namespace.clone().unwrap_or_default(),
                name: policy.spec.primary_kubeconfig_secret.clone(),
            };
            secrets.get(&key).is_some_and(|w| w.cache.is_synced())
        })
    }

    /// The caches for `cluster` from Secret `key`, (re)built when missing or out of date.
    async fn primary_cache(
        &self,
        key: &SecretKey,
        cluster: &str,
    ) -> Result<Arc<PrimaryCache>, LookupError> {
        let kubeconfig_error = |detail: String| LookupError::Kubeconfig {
            cluster: cluster.to_owned(),
            namespace: key.namespace.clone(),
            secret: key.name.clone(),
            detail,
        };
        let secret = self
            .secret(key)
            .await
            .map_err(|detail| kubeconfig_error(format!("cannot be read: {detail}")))?;
        let Some(secret) = secret else {
            return Err(kubeconfig_error("does not exist".to_owned()));
        };
        let existing = self.primaries.lock().ok().and_then(|m| m.get(key).cloned());
        let version = secret.metadata.resource_version.as_deref();
        // The common path: the Secret has not changed since its content was last checked.
        if let Some(existing) = &existing
            && version.is_some()
            && existing
                .checked_version
                .lock()
                .is_ok_and(|checked| checked.as_deref() == version)
            && existing.cluster == cluster
        {
            return Ok(Arc::clone(existing));
        }
        let Some(bytes) = secret
            .data
            .as_ref()
            .and_then(|d| d.get(KUBECONFIG_SECRET_KEY))
            .map(|b| b.0.clone())
        else {
            return Err(kubeconfig_error(format!(
                "has no key {KUBECONFIG_SECRET_KEY:?}"
            )));
        };
        let digest: [u8; 32] = {
            let mut h = Sha256::new();
            h.update(cluster.as_bytes());
            h.update([0]);
            h.update(&bytes);
            h.finalize().into()
        };
        if let Some(existing) = existing
            && existing.digest == digest
        {
            if let Ok(mut checked) = existing.checked_version.lock() {
                *checked = version.map(str::to_owned);
            }
            return Ok(existing);
        }
        let client = client_from_kubeconfig(&bytes).await.map_err(|detail| {
            kubeconfig_error(format!("holds an unusable kubeconfig: {detail}"))
        })?;
        let mut tasks = Tasks::default();
        let vms = reflect(
            format!("{cluster}/virtualmachines"),
            Api::all(client.clone()),
            watcher::Config::default(),
            None,
            &mut tasks,
        );
        let pvcs = reflect(
            format!("{cluster}/persistentvolumeclaims"),
            Api::all(client.clone()),
            watcher::Config::default(),
            None,
            &mut tasks,
        );
        info!(%cluster, secret = %key.name, namespace = %key.namespace, "primary-cluster caches started");
        let cache = Arc::new(PrimaryCache {
            cluster: cluster.to_owned(),
            digest,
            checked_version: Mutex::new(version.map(str::to_owned)),
            client,
            vms,
            pvcs,
            _tasks: tasks,
        });
        if let Ok(mut primaries) = self.primaries.lock() {
            primaries.insert(key.clone(), Arc::clone(&cache));
        }
        Ok(cache)
    }

    async fn look_up(&self, cache: &PrimaryCache, vm: &VmRef) -> Result<PrimaryView, LookupError> {
        let cached_vm = cache
            .vms
            .is_synced()
            .then(|| {
                cache
                    .vms
                    .store
                    .get(&ObjectRef::new(&vm.name).within(&vm.namespace))
            })
            .flatten();
        let deadline = self.cache_miss_timeout;
        let unreachable = |detail: String| LookupError::Unreachable {
            cluster: cache.cluster.clone(),
            detail,
        };
        let found = match cached_vm {
            Some(found) => Some(found),
            None => {
                let api: Api<VirtualMachine> = Api::namespaced(cache.client.clone(), &vm.namespace);
                within(deadline, api.get_opt(&vm.name))
                    .await
                    .map_err(unreachable)?
                    .map(Arc::new)
            }
        };
        let Some(found) = found else {
            return Ok(PrimaryView::default());
        };
        let mut pvcs = BTreeMap::new();
        let mut missing = Vec::new();
        for (_, claim) in found.claims() {
            let name = claim.pvc_name();
            let cached = cache
                .pvcs
                .is_synced()
                .then(|| {
                    cache
                        .pvcs
                        .store
                        .get(&ObjectRef::new(name).within(&vm.namespace))
                })
                .flatten();
            match cached {
                Some(pvc) => {
                    pvcs.insert(name.to_owned(), PvcFacts::from_pvc(&pvc));
                }
                None => missing.push(name.to_owned()),
            }
        }
        if !missing.is_empty() {
            let api: Api<PersistentVolumeClaim> =
                Api::namespaced(cache.client.clone(), &vm.namespace);
            let fetch = futures::future::try_join_all(missing.iter().map(|name| {
                let api = api.clone();
                async move { api.get_opt(name).await.map(|pvc| (name.clone(), pvc)) }
            }));
            let fetched = within(deadline, fetch).await.map_err(unreachable)?;
            for (name, pvc) in fetched {
                if let Some(pvc) = pvc {
                    pvcs.insert(name, PvcFacts::from_pvc(&pvc));
                }
            }
        }
        Ok(PrimaryView {
            vm: Some(found),
            pvcs,
        })
    }
}

async fn refresh_on_change(facts: Weak<ClusterFacts>, changed: Arc<Notify>) {
    loop {
        changed.notified().await;
        let Some(facts) = facts.upgrade() else { return };
        facts.refresh().await;
    }
}

async fn client_from_kubeconfig(bytes: &[u8]) -> Result<Client, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| e.to_string())?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Client::try_from(config).map_err(|e| e.to_string())
}

/// Await a remote call, bounded by the cache-miss deadline.
async fn within<T>(
    deadline: Duration,
    call: impl std::future::Future<Output = kube::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(deadline, call).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(error)) => Err(describe_kube_error(&error)),
        Err(_) => Err(format!("no answer within {}", humane(deadline))),
    }
}

fn describe_kube_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!(
            "the API server answered {}: {}",
            status.code, status.message
        ),
        other => other.to_string(),
    }
}

fn humane(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Facts for ClusterFacts {
    fn policies(&self, namespace: &str) -> Vec<Arc<DRBDReplicationPolicy>> {
        let mut found = self
            .policies
            .store
            .state_filter(|p| p.metadata.namespace.as_deref() == Some(namespace));
        // Stable order, so messages listing policies do not depend on cache order.
        found.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        found
    }

    fn requests_for(&self, namespace: &str, vm: &VmRef) -> Vec<Arc<ProtectionRequest>> {
        // In no particular order: the one rule that reads them picks by name
        // (`existing_request`). The count of changes is read before the store, so an event
        // applied meanwhile leaves the index stale (rebuilt on the next lookup), never
        // wrongly current.
        let changes = self.requests.changes();
        if let Ok(index) = self.request_index.read()
            && index.built_at == Some(changes)
        {
            return index.get(namespace, vm);
        }
        let index = RequestIndex::build(changes, self.requests.store.state());
        let found = index.get(namespace, vm);
        if let Ok(mut current) = self.request_index.write()
            && current.built_at.is_none_or(|built| built < changes)
        {
            *current = index;
        }
        found
    }

    fn primary<'a>(
        &'a self,
        namespace: &'a str,
        policy: &'a DRBDReplicationPolicy,
        vm: &'a VmRef,
    ) -> BoxFuture<'a, Result<PrimaryView, LookupError>> {
        Box::pin(async move {
            let key = SecretKey {
                namespace: namespace.to_owned(),
                name: policy.spec.primary_kubeconfig_secret.clone(),
            };
            let cache = self
                .primary_cache(&key, &policy.spec.primary_cluster)
                .await?;
            self.look_up(&cache, vm).await
        })
    }

    fn synced(&self) -> bool {
        self.policies.is_synced() && self.requests.is_synced() && self.secrets_synced()
    }

    fn cache_states(&self) -> Vec<CacheState> {
        let mut states = vec![
            self.policies.state(),
            self.requests.state(),
            // The named Secrets' watches together (none until a policy names one).
            CacheState {
                cache: "quorum/secrets".to_owned(),
                synced: self.policies.is_synced() && self.secrets_synced(),
            },
        ];
        for primary in self.primary_caches() {
            states.push(primary.vms.state());
            states.push(primary.pvcs.state());
        }
        states
    }
}
