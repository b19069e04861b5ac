//! One emulated cluster: its store, users, resource types, request log, and the handle tests
//! use to reach it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::registry::{self, ResourceType};
use crate::store::Store;

/// The store bucket of CustomResourceDefinitions.
pub const CRD_BUCKET: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// The identity a bearer token authenticates as (what admission webhooks see as `userInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The cluster administrator every generated kubeconfig authenticates as.
    pub fn admin() -> Self {
        UserInfo {
            username: "kubernetes-admin".into(),
            uid: String::new(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    /// A request without credentials.
    pub fn anonymous() -> Self {
        UserInfo {
            username: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
        }
    }
}

/// One request as the cluster answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string ("" when absent).
    pub query: String,
    /// The HTTP status code (watches: the code the stream started with).
    pub status: u16,
    pub user: String,
    /// The answer was injected by [`crate::Faults`] instead of the cluster.
    pub injected: bool,
}

/// Tunables of a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// How many events the watch window keeps (older resourceVersions get 410 Expired).
    pub history_capacity: usize,
    /// Interval of periodic BOOKMARK events for watches that allow them.
    pub bookmark_interval: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            history_capacity: 10_000,
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

/// Everything a cluster's request handlers share.
pub struct ClusterState {
    pub name: String,
    pub store: Store,
    pub config: ClusterConfig,
    users: Mutex<HashMap<String, UserInfo>>,
    log: Mutex<Vec<RequestRecord>>,
    builtins: Vec<Arc<ResourceType>>,
    /// The server address (`127.0.0.1:port`), for `serverAddressByClientCIDRs`.
    pub address: Mutex<String>,
    /// Calls the admission webhooks the cluster's webhook configurations name.
    pub webhooks: crate::admission::Webhooks,
    /// Where webhook `service` references lead: (namespace, name, port) → loopback address.
    services: Arc<Mutex<HashMap<ServiceKey, SocketAddr>>>,
    /// Injected faults (pause, errors, latency, dropped watches, partition).
    pub faults: Arc<crate::faults::Injector>,
}

/// A Service port a webhook configuration may reference: (namespace, name, port).
type ServiceKey = (String, String, u16);

impl ClusterState {
    pub fn new(name: &str, config: ClusterConfig) -> Self {
        let services: Arc<Mutex<HashMap<ServiceKey, SocketAddr>>> = Arc::default();
        let resolver = services.clone();
        ClusterState {
            name: name.to_string(),
            store: Store::new(config.history_capacity),
            config,
            users: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            builtins: registry::builtins(),
            address: Mutex::new(String::new()),
            webhooks: crate::admission::Webhooks::new(Arc::new(
                move |ns: &str, name: &str, port| {
                    resolver
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&(ns.to_string(), name.to_string(), port))
                        .copied()
                },
            )),
            services,
            faults: Arc::default(),
        }
    }

    /// Makes webhook `service` references to `namespace/name:port` reach `address` (a
    /// loopback listener standing in for the Service's endpoints).
    pub fn register_service(&self, namespace: &str, name: &str, port: u16, address: SocketAddr) {
        self.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((namespace.to_string(), name.to_string(), port), address);
    }

    pub fn add_user(&self, token: &str, user: UserInfo) {
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_string(), user);
    }

    /// The user a bearer token authenticates as; None for an unknown token.
    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    pub fn record(&self, rec: RequestRecord) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn clear_requests(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The Established CustomResourceDefinitions.
    pub fn crds(&self) -> Vec<Arc<Value>> {
        self.store
            .list(CRD_BUCKET, None)
            .0
            .into_iter()
            .filter(|crd| {
                crd["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            })
            .collect()
    }

    /// Every resource type served now: built-ins, then custom resources.
    pub fn resource_types(&self) -> Vec<Arc<ResourceType>> {
        let mut all = self.builtins.clone();
        for crd in self.crds() {
            all.extend(registry::from_crd(&crd));
        }
        all
    }

    /// The resource type at `/api(s)/<group>/<version>/<plural>`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.resource_types()
            .into_iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }
}

/// A running cluster of a [`crate::Lab`].
#[derive(Clone)]
pub struct Cluster {
    pub(crate) state: Arc<ClusterState>,
    pub(crate) url: String,
    pub(crate) ca_pem: String,
    pub(crate) token: String,
}

impl Cluster {
    /// The context / cluster name (`quorum`, `cluster1`, `cluster2`).
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The PEM of the CA that signed this cluster's serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The administrator's bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Makes webhook configurations' `service: {namespace, name, port}` references reach
    /// `address` on loopback, as a Service's endpoints would.
    pub fn register_service(&self, namespace: &str, name: &str, port: u16, address: SocketAddr) {
        self.state.register_service(namespace, name, port, address);
    }

    /// Maps another bearer token to a user (for admission tests that need distinct users).
    pub fn add_user(&self, token: &str, user: UserInfo) {
        self.state.add_user(token, user);
    }

    /// Every request this cluster answered so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.requests()
    }

    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// The cluster's current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state.store.current_rv()
    }

    /// Forgets the event window: watches resuming from any earlier resourceVersion get an
    /// in-stream 410 Expired (what etcd compaction + a watch-cache restart do).
    pub fn expire_watch_history(&self) {
        self.state.store.expire_history();
    }

    /// Ends every open watch of the cluster (clients reconnect from the last resourceVersion
    /// they saw), as an apiserver restart does.
    pub fn drop_watches(&self) {
        self.state.store.close_all_watchers();
    }

    /// The HTTP handler of this cluster, without TLS (tests drive it with `oneshot`).
    pub fn router(&self) -> axum::Router {
        crate::server::router(self.state.clone())
    }

    /// The fault controls of this cluster (pause, error rates, latency, dropped watches,
    /// forced 410 expiry, partition).
    pub fn faults(&self) -> crate::faults::Faults {
        crate::faults::Faults {
            state: self.state.clone(),
        }
    }

    /// Shared state, for in-crate tooling (simulators, fault layers).
    pub fn state(&self) -> &Arc<ClusterState> {
        &self.state
    }
}
