//! The scenario harness: three clusters with the product's world, the simulators on a manual
//! clock, and the controller running in a task that a test can abort and start again.
//!
//! # Where the clusters come from
//! - By default, an in-process lab ([`protect_lab_apiserver::world::World`]): `quorum`, `cluster1`,
//!   `cluster2`, seeded with the guide's world (CRDs, VM `web-server` on two `ceph-rbd` PVCs,
//!   VM `analytics` on `local-path`, namespace `dr-deployment` with policy `dr-policy` and the
//!   Secrets `primary-kubeconfig` / `dr-kubeconfig`).
//! - When `PROTECT_E2E_KUBECONFIG` names a kubeconfig with contexts `quorum`, `cluster1` and
//!   `cluster2`, those clusters instead: the harness installs the same CRDs and seed through the
//!   API (idempotently), writes the kubeconfig Secrets from the two workload contexts, and runs
//!   the same simulators against them (they act only through the API, so the clusters must not
//!   also run a real KubeVirt or DRBD Operator). Scenarios that need the lab's API-server faults
//!   (partitions, injected errors) say so on stderr and pass without running. Every scenario
//!   seeds the same objects, so run them one at a time on fresh clusters:
//!   `PROTECT_E2E_KUBECONFIG=… cargo test -p protect-controller --test e2e -- --test-threads=1`.
//!
//! # How a test waits
//! Simulated time moves only when the test ticks the clock ([`Env::tick`]); the controller
//! reads the same clock ([`protect_controller::Clock`]), so stall detection and activation
//! timeouts follow simulated time. [`Env::tick_until`] probes a condition through the API,
//! ticks, and repeats within a tick budget, which is the failure bound. After each tick the
//! probe is retried briefly ([`SETTLE`]) because the controller is a real-time actor reacting
//! to the watch events of that tick; the budget, not that pause, decides failure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Secret};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::config::Kubeconfig;
use kube::{Client, ResourceExt};
use protect_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use protect_api::{DRBDVolume, ProtectionRequest};
use protect_controller::metrics::Metrics;
use protect_controller::{Clock, Config, Settings};
use protect_lab_apiserver::Lab;
use protect_lab_apiserver::world::{
    self, DR, DR_KUBECONFIG_SECRET, PRIMARY, PRIMARY_KUBECONFIG_SECRET, PROTECTION_NAMESPACE,
    QUORUM, World, WorldOptions,
};
use protect_lab_simulators::seed;
use protect_lab_simulators::{Bandwidth, Fabric, Fault, SimClock, SimConfig, Simulators};
use serde_json::json;
use tokio::task::JoinHandle;

/// Simulated time per tick.
pub const TICK: Duration = Duration::from_secs(5);
/// How long, in real time, a probe is retried after a tick for the controller to react.
pub const SETTLE: Duration = Duration::from_millis(150);
/// Namespace of the guide's VMs (and of the side copies).
pub const VM_NAMESPACE: &str = "production";
/// The guide's VM.
pub const WEB_SERVER: &str = "web-server";
/// Its PVCs.
pub const ROOT: &str = "web-server-root";
pub const DATA: &str = "web-server-data";
/// The guide's Example 1 manifest.
pub const EXAMPLE_1: &str = include_str!("../../../api/tests/fixtures/protect-web-server.yaml");
/// Environment variable naming a kubeconfig of real clusters.
pub const KUBECONFIG_ENV: &str = "PROTECT_E2E_KUBECONFIG";

/// The DRBD resource of VM production/web-server (one per VM), as the simulators' faults name it.
pub fn web_server_resource() -> String {
    protect_api::naming::drbd_resource_name(VM_NAMESPACE, WEB_SERVER)
}

/// How a scenario's world is set up.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// DRBD resync bandwidth of both workload clusters.
    pub bandwidth: Bandwidth,
    /// The controller's tunables.
    pub settings: Settings,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            // 120 GiB over ~25 ticks of 5 s: long enough to watch Syncing, short enough to wait.
            bandwidth: Bandwidth::BytesPerSec(1 << 30),
            settings: Settings {
                stall_timeout: Duration::from_secs(60),
                activation_timeout: Duration::from_secs(600),
            },
        }
    }
}

impl Options {
    /// Resync completes within the tick it starts.
    pub fn instant() -> Self {
        Options {
            bandwidth: Bandwidth::Instant,
            ..Options::default()
        }
    }
}

enum Clusters {
    Lab(World),
    External {
        kubeconfig: String,
        clock: SimClock,
        fabric: Fabric,
        simulators: Vec<Simulators>,
    },
}

/// One scenario's clusters, simulators and controller.
pub struct Env {
    clusters: Clusters,
    /// The controller's own client of the quorum cluster (in the lab: its own user).
    controller_quorum: Client,
    pub quorum: Client,
    pub primary: Client,
    pub dr: Client,
    settings: Settings,
    controller: Option<JoinHandle<()>>,
    pub metrics: Arc<Metrics>,
    kubectl: Option<protect_lab_apiserver::kubectl::Kubectl>,
}

impl Env {
    /// Clusters seeded with the guide's world and the simulators; the controller is not running.
    pub async fn start(options: Options) -> Env {
        tracing_subscriber_init();
        match std::env::var(KUBECONFIG_ENV) {
            Ok(path) if !path.is_empty() => Self::external(&path, options).await,
            _ => Self::in_lab(options).await,
        }
    }

    async fn in_lab(options: Options) -> Env {
        let world = World::start(WorldOptions {
            bandwidth: options.bandwidth,
            ..WorldOptions::default()
        })
        .await
        .expect("the lab world starts");
        let client = |c: &str| world.client(c).expect("the world has a client per cluster");
        let (quorum, primary, dr) = (client(QUORUM), client(PRIMARY), client(DR));
        let kubectl =
            protect_lab_apiserver::kubectl::Kubectl::new(world.lab()).expect("kubectl is usable");
        let controller_quorum = identify_controller(&world, &quorum).await;
        Env {
            clusters: Clusters::Lab(world),
            controller_quorum,
            quorum,
            primary,
            dr,
            settings: options.settings,
            controller: None,
            metrics: Arc::new(Metrics::default()),
            kubectl: Some(kubectl),
        }
    }

    /// Clusters given by the kubeconfig at `path` (contexts `quorum`, `cluster1`, `cluster2`),
    /// as `PROTECT_E2E_KUBECONFIG` gives them: CRDs and seed installed through the API, the
    /// simulators started as external clients.
    pub async fn external(path: &str, options: Options) -> Env {
        let kubeconfig = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{KUBECONFIG_ENV}={path} cannot be read: {e}"));
        let quorum = world::client_for(&kubeconfig, QUORUM).await.unwrap();
        let primary = world::client_for(&kubeconfig, PRIMARY).await.unwrap();
        let dr = world::client_for(&kubeconfig, DR).await.unwrap();
        let crds = world::product_crds().unwrap();
        for (name, c) in [(QUORUM, &quorum), (PRIMARY, &primary), (DR, &dr)] {
            world::install_crds(c, name, &crds).await.unwrap();
        }
        seed::seed_cluster(&primary, &seed::primary())
            .await
            .unwrap();
        seed::seed_cluster(&dr, &seed::dr()).await.unwrap();
        seed_quorum(&quorum, &kubeconfig).await;
        let clock = SimClock::manual(jiff::Timestamp::now());
        let fabric = Fabric::new();
        let mut simulators = vec![];
        for (name, c) in [(PRIMARY, &primary), (DR, &dr)] {
            let mut config = SimConfig::new(name, c.clone(), fabric.clone(), clock.clone());
            config.bandwidth = options.bandwidth;
            let sims = Simulators::start(config);
            tokio::time::timeout(Duration::from_secs(60), sims.ready())
                .await
                .expect("the simulators fill their caches");
            simulators.push(sims);
        }
        Env {
            controller_quorum: quorum.clone(),
            clusters: Clusters::External {
                kubeconfig: path.to_owned(),
                clock,
                fabric,
                simulators,
            },
            quorum,
            primary,
            dr,
            settings: options.settings,
            controller: None,
            metrics: Arc::new(Metrics::default()),
            kubectl: None,
        }
    }

    /// The lab, when the clusters are the in-process lab (`None` against real clusters).
    pub fn lab(&self) -> Option<&Lab> {
        match &self.clusters {
            Clusters::Lab(w) => Some(w.lab()),
            Clusters::External { .. } => None,
        }
    }

    /// The lab, or a note on stderr that this scenario needs it (then the caller returns).
    pub fn lab_or_skip(&self, scenario: &str) -> Option<&Lab> {
        let lab = self.lab();
        if lab.is_none() {
            eprintln!(
                "{scenario}: needs the lab's API-server faults; not run against {KUBECONFIG_ENV}"
            );
        }
        lab
    }

    pub fn clock(&self) -> &SimClock {
        match &self.clusters {
            Clusters::Lab(w) => w.clock(),
            Clusters::External { clock, .. } => clock,
        }
    }

    pub fn fabric(&self) -> &Fabric {
        match &self.clusters {
            Clusters::Lab(w) => w.fabric(),
            Clusters::External { fabric, .. } => fabric,
        }
    }

    /// Fault controls of a workload cluster's simulators.
    pub fn fault(&self, cluster: &str) -> Fault {
        match &self.clusters {
            Clusters::Lab(w) => w.fault(cluster),
            Clusters::External { simulators, .. } => simulators
                .iter()
                .find(|s| s.cluster() == cluster)
                .map(Simulators::fault),
        }
        .expect("simulators run on both workload clusters")
    }

    /// Start the controller (all namespaces, no leader election) on the simulated clock.
    pub fn start_controller(&mut self) {
        self.stop_controller();
        let clock = self.clock().clone();
        let config = Config {
            settings: self.settings,
            instance: Some("e2e".to_owned()),
            clock: Clock::from_fn({
                let clock = clock.clone();
                move || clock.now()
            })
            .advancing_on(clock.advances()),
            ..Config::default()
        };
        let client = self.controller_quorum.clone();
        let metrics = self.metrics.clone();
        self.controller = Some(tokio::spawn(protect_controller::run(
            client, config, metrics,
        )));
    }

    /// Writes (POST, PUT, PATCH, DELETE) the controller made so far on all three clusters, as
    /// the lab's request log records them (lab only: the controller is its own user there).
    pub fn controller_writes(&self) -> usize {
        let Some(lab) = self.lab() else { return 0 };
        lab.clusters()
            .iter()
            .flat_map(|c| c.requests())
            .filter(|r| {
                r.user == CONTROLLER_USER
                    && matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            })
            .count()
    }

    /// Abort the controller task (a crash: no cleanup, nothing flushed).
    pub fn stop_controller(&mut self) {
        if let Some(task) = self.controller.take() {
            task.abort();
        }
    }

    /// One tick; every simulator has finished its pass when this returns.
    ///
    /// The deadline only catches a simulator that hangs: a pass over a hundred VMs under
    /// injected latency and errors, while the other scenarios of the binary share two cores,
    /// can take tens of seconds.
    pub async fn tick(&self) {
        tokio::time::timeout(Duration::from_secs(180), self.clock().tick(TICK))
            .await
            .expect("the simulators finish a pass within 180 s");
    }

    pub async fn ticks(&self, n: usize) {
        for _ in 0..n {
            self.tick().await;
        }
    }

    /// Probe until it answers `Some`, ticking between probes, at most `budget` ticks.
    pub async fn tick_until<T>(
        &self,
        budget: usize,
        what: &str,
        mut probe: impl AsyncFnMut() -> Option<T>,
    ) -> T {
        for _ in 0..budget {
            if let Some(found) = settle(&mut probe).await {
                return found;
            }
            self.tick().await;
        }
        match settle(&mut probe).await {
            Some(found) => found,
            None => panic!("{what}: not within {budget} ticks of {TICK:?}"),
        }
    }

    /// Tick until the request's status satisfies `pred`; returns the request.
    pub async fn request_until(
        &self,
        name: &str,
        budget: usize,
        what: &str,
        pred: impl Fn(&ProtectionRequest) -> bool,
    ) -> ProtectionRequest {
        let mut last = None;
        let found = {
            let last = &mut last;
            let pred = &pred;
            let mut probe = async || {
                let pr = self.request(name).await;
                let ok = pr.as_ref().is_some_and(pred);
                *last = pr.clone();
                if ok { pr } else { None }
            };
            for _ in 0..budget {
                if let Some(pr) = settle(&mut probe).await {
                    return pr;
                }
                self.tick().await;
            }
            settle(&mut probe).await
        };
        match found {
            Some(pr) => pr,
            None => panic!(
                "{name}: {what}: not within {budget} ticks; last status: {}",
                serde_json::to_string_pretty(&last.and_then(|p| p.status)).unwrap_or_default()
            ),
        }
    }

    /// Tick until the request's phase is `phase`.
    pub async fn phase_becomes(&self, name: &str, phase: &str, budget: usize) -> ProtectionRequest {
        self.request_until(name, budget, &format!("phase {phase}"), |pr| {
            phase_of(pr) == phase
        })
        .await
    }

    /// Requests API on the quorum cluster, namespace `dr-deployment`.
    pub fn requests(&self) -> Api<ProtectionRequest> {
        Api::namespaced(self.quorum.clone(), PROTECTION_NAMESPACE)
    }

    pub async fn request(&self, name: &str) -> Option<ProtectionRequest> {
        self.requests().get_opt(name).await.unwrap()
    }

    /// Create a request for `vm` in `production` on `cluster1`.
    pub async fn create_request(&self, name: &str, vm: &str) {
        let pr: ProtectionRequest = serde_json::from_value(json!({
            "apiVersion": "siterecovery.trilio.io/v1alpha1",
            "kind": "ProtectionRequest",
            "metadata": {"name": name, "namespace": PROTECTION_NAMESPACE},
            "spec": {"vmName": vm, "vmNamespace": VM_NAMESPACE, "sourceCluster": PRIMARY},
        }))
        .unwrap();
        self.requests()
            .create(&PostParams::default(), &pr)
            .await
            .unwrap();
    }

    /// Run the real kubectl against the scenario's clusters; returns stdout, fails on non-zero.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        let output = match (&self.kubectl, &self.clusters) {
            (Some(k), _) => k.run(args).await.unwrap(),
            (None, Clusters::External { kubeconfig, .. }) => {
                tokio::process::Command::new(protect_lab_apiserver::kubectl::KUBECTL)
                    .arg("--kubeconfig")
                    .arg(kubeconfig)
                    .args(args)
                    .output()
                    .await
                    .unwrap()
            }
            (None, Clusters::Lab(_)) => unreachable!("the lab always has kubectl"),
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// `kubectl apply -f` of a manifest, on the quorum cluster.
    /// After unprotect: web-server is on its original PVCs again, running, without the
    /// annotations that recorded them.
    pub async fn web_server_is_back_on_its_original_pvcs(&self) {
        assert_eq!(self.vm_claims(WEB_SERVER).await, [ROOT, DATA]);
        self.tick_until(20, "VM running on its original PVCs", async || {
            self.vm_running(WEB_SERVER).await.then_some(())
        })
        .await;
        let vm = self.vm(WEB_SERVER).await.unwrap();
        let annotations = vm.metadata.annotations.clone().unwrap_or_default();
        assert!(
            !annotations.contains_key(protect_api::well_known::ANNOTATION_ORIGINAL_VOLUMES),
            "the recording annotations are gone: {annotations:?}"
        );
    }

    /// Unprotect as a user does (`kubectl delete pr NAME --wait=false`), then tick until the
    /// request is gone.
    pub async fn delete_request_until_gone(&self, name: &str, budget: usize) {
        self.kubectl(&[
            "--context",
            QUORUM,
            "delete",
            "pr",
            name,
            "-n",
            PROTECTION_NAMESPACE,
            "--wait=false",
        ])
        .await;
        self.tick_until(budget, "request gone", async || {
            self.request(name).await.is_none().then_some(())
        })
        .await;
    }

    pub async fn kubectl_apply(&self, name: &str, manifest: &str) {
        let path = match &self.kubectl {
            Some(k) => k.file(name, manifest).unwrap(),
            None => {
                let path = std::env::temp_dir().join(name);
                std::fs::write(&path, manifest).unwrap();
                path.display().to_string()
            }
        };
        self.kubectl(&["--context", QUORUM, "apply", "-f", &path])
            .await;
    }

    pub async fn vm(&self, name: &str) -> Option<VirtualMachine> {
        Api::<VirtualMachine>::namespaced(self.primary.clone(), VM_NAMESPACE)
            .get_opt(name)
            .await
            .unwrap()
    }

    pub async fn vmi(&self, name: &str) -> Option<VirtualMachineInstance> {
        Api::<VirtualMachineInstance>::namespaced(self.primary.clone(), VM_NAMESPACE)
            .get_opt(name)
            .await
            .unwrap()
    }

    /// PVC names the VM's volumes claim, in order.
    pub async fn vm_claims(&self, name: &str) -> Vec<String> {
        let vm = self.vm(name).await.expect("the VM exists");
        vm.volumes()
            .iter()
            .filter_map(|v| v.claim().map(|c| c.pvc_name().to_owned()))
            .collect()
    }

    /// Whether the VMI is Running and Ready.
    pub async fn vm_running(&self, name: &str) -> bool {
        self.vmi(name)
            .await
            .is_some_and(|v| v.is_running_and_ready())
    }

    pub async fn pvc(&self, name: &str) -> Option<PersistentVolumeClaim> {
        Api::<PersistentVolumeClaim>::namespaced(self.primary.clone(), VM_NAMESPACE)
            .get_opt(name)
            .await
            .unwrap()
    }

    /// The simulated data counter of a PVC on the primary cluster.
    pub async fn data_counter(&self, pvc: &str) -> u64 {
        let pvc = self.pvc(pvc).await.expect("the PVC exists");
        protect_lab_simulators::objects::data_counter(pvc.metadata.annotations.as_ref())
    }

    /// DRBDVolumes of VM web-server on a cluster (quorum: its namespace; workload: production).
    pub async fn drbd_volumes(&self, cluster: &str) -> Vec<DRBDVolume> {
        let (client, ns) = match cluster {
            QUORUM => (&self.quorum, PROTECTION_NAMESPACE),
            PRIMARY => (&self.primary, VM_NAMESPACE),
            _ => (&self.dr, VM_NAMESPACE),
        };
        Api::<DRBDVolume>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    }
}

/// Poll `probe` in real time (no ticks: simulated time stands still, so the simulators change
/// nothing) until it answers `Some`, within `budget`.
pub async fn without_ticks<T>(
    budget: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + budget;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {budget:?} without ticks"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One controller replica run under leader election, as the binary runs it.
pub struct Replica {
    /// The replica's identity in the Lease, and its user on the quorum cluster.
    pub identity: String,
    task: JoinHandle<()>,
}

impl Replica {
    /// Kill the replica (no release of the Lease: a crash).
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Name and namespace of the Lease the replicas share.
pub const LEASE: &str = "protection-controller";

impl Env {
    /// Start a replica with Lease leader election (`lease_seconds`, renewed `grace_seconds`
    /// before expiry). In the lab it reaches the quorum cluster as its own user, named after
    /// `identity`, so the request log tells the replicas' writes apart.
    pub async fn start_replica(
        &self,
        identity: &str,
        lease_seconds: u64,
        grace_seconds: u64,
    ) -> Replica {
        let lab = self.lab().expect("replicas run in the lab");
        let q = lab.cluster(QUORUM).unwrap();
        let token = format!("e2e-{identity}-token");
        q.add_user(
            &token,
            protect_lab_apiserver::UserInfo {
                username: identity.to_owned(),
                uid: format!("e2e-{identity}"),
                groups: vec!["system:authenticated".to_owned()],
            },
        );
        let kubeconfig = world::cluster_kubeconfig(q).replace(q.token(), &token);
        let client = world::client_for(&kubeconfig, QUORUM).await.unwrap();
        let clock = self.clock().clone();
        let config = Config {
            settings: self.settings,
            instance: Some(identity.to_owned()),
            clock: Clock::from_fn({
                let clock = clock.clone();
                move || clock.now()
            })
            .advancing_on(clock.advances()),
            ..Config::default()
        };
        let lease = protect_controller::leader::LeaseConfig {
            name: LEASE.to_owned(),
            namespace: PROTECTION_NAMESPACE.to_owned(),
            identity: identity.to_owned(),
            duration_seconds: lease_seconds,
            grace_seconds,
        };
        let metrics = Arc::new(Metrics::default());
        let lead_client = client.clone();
        let task = tokio::spawn(async move {
            let lead_metrics = metrics.clone();
            let _ = protect_controller::leader::run_as_leader(client, lease, metrics, move || {
                protect_controller::run(lead_client.clone(), config.clone(), lead_metrics.clone())
            })
            .await;
        });
        Replica {
            identity: identity.to_owned(),
            task,
        }
    }

    /// The Lease's current holder.
    pub async fn lease_holder(&self) -> Option<String> {
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(self.quorum.clone(), PROTECTION_NAMESPACE);
        leases
            .get_opt(LEASE)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    }

    /// Writes a user made on the quorum cluster, other than to Leases: `(method, path)`.
    pub fn quorum_writes_by(&self, user: &str) -> Vec<(String, String)> {
        let Some(lab) = self.lab() else { return vec![] };
        lab.cluster(QUORUM)
            .unwrap()
            .requests()
            .into_iter()
            .filter(|r| {
                r.user == user
                    && matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
                    && !r.path.contains("/leases")
            })
            .map(|r| (r.method, r.path))
            .collect()
    }
}

/// Retry an API call that injected faults may fail, within `attempts`.
pub async fn retrying<T, F: AsyncFnMut() -> Result<T, kube::Error>>(
    what: &str,
    attempts: usize,
    mut call: F,
) -> T {
    let mut last = None;
    for _ in 0..attempts {
        match call().await {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: failed {attempts} times, last: {last:?}")
}

/// Names of `n` seeded VMs (one `ceph-rbd` PVC each, `<vm>-disk`).
pub fn fleet(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("vm-{i:04}")).collect()
}

impl Env {
    /// Seed VMs on the primary cluster (`production`), each on one 1Gi `ceph-rbd` PVC named
    /// `<vm>-disk`, and tick until every one of them is Running.
    pub async fn seed_fleet(&self, vms: &[String]) {
        seed::seed_cluster(&self.primary, &seed::fleet(vms))
            .await
            .unwrap();
        let vmis: Api<VirtualMachineInstance> = Api::namespaced(self.primary.clone(), VM_NAMESPACE);
        self.tick_until(20, "the seeded VMs Running", async || {
            let running = vmis
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .iter()
                .filter(|v| vms.contains(&v.name_any()) && v.is_running_and_ready())
                .count();
            (running == vms.len()).then_some(())
        })
        .await;
    }

    /// Create a request named `protect-<vm>` for each VM, retrying injected faults.
    pub async fn create_requests(&self, vms: &[String]) {
        for vm in vms {
            let pr: ProtectionRequest = serde_json::from_value(json!({
                "apiVersion": "siterecovery.trilio.io/v1alpha1",
                "kind": "ProtectionRequest",
                "metadata": {"name": format!("protect-{vm}"), "namespace": PROTECTION_NAMESPACE},
                "spec": {"vmName": vm, "vmNamespace": VM_NAMESPACE, "sourceCluster": PRIMARY},
            }))
            .unwrap();
            let api = self.requests();
            retrying("create a request", 50, async || {
                match api.create(&PostParams::default(), &pr).await {
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                    other => other.map(|_| ()),
                }
            })
            .await;
        }
    }

    /// Every request in `dr-deployment`, retrying injected faults.
    pub async fn all_requests(&self) -> Vec<ProtectionRequest> {
        let api = self.requests();
        retrying("list requests", 50, async || {
            api.list(&ListParams::default()).await.map(|l| l.items)
        })
        .await
    }

    /// Tick until every request in `dr-deployment` is in `phase` (at least `n` of them).
    pub async fn all_become(&self, n: usize, phase: &str, budget: usize) -> Vec<ProtectionRequest> {
        let mut last = BTreeMap::new();
        let start = std::time::Instant::now();
        for tick in 0..=budget {
            let all = self.all_requests().await;
            last = BTreeMap::new();
            for pr in &all {
                *last.entry(phase_of(pr).to_owned()).or_insert(0usize) += 1;
            }
            if all.len() >= n && all.iter().all(|pr| phase_of(pr) == phase) {
                eprintln!("all {n} {phase} after {tick} ticks, {:?}", start.elapsed());
                return all;
            }
            if tick % 5 == 0 {
                eprintln!("tick {tick} at {:?}: {last:?}", start.elapsed());
            }
            self.tick().await;
        }
        panic!("not all {n} requests {phase} within {budget} ticks; phases: {last:?}")
    }

    /// Every DRBDVolume on a cluster (quorum: `dr-deployment`; workload: `production`),
    /// retrying injected faults.
    pub async fn all_drbd_volumes(&self, cluster: &str) -> Vec<DRBDVolume> {
        let (client, ns) = match cluster {
            QUORUM => (&self.quorum, PROTECTION_NAMESPACE),
            PRIMARY => (&self.primary, VM_NAMESPACE),
            _ => (&self.dr, VM_NAMESPACE),
        };
        let api = Api::<DRBDVolume>::namespaced(client.clone(), ns);
        retrying("list DRBDVolumes", 50, async || {
            api.list(&ListParams::default()).await.map(|l| l.items)
        })
        .await
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop_controller();
    }
}

/// The user the controller authenticates as in the lab, so the request log tells its writes
/// from the simulators' and the test's.
pub const CONTROLLER_USER: &str = "protect-controller";
const CONTROLLER_TOKEN: &str = "e2e-protect-controller-token";

/// Give the controller its own user on every cluster: a token for it, the kubeconfig Secrets
/// rewritten to use it, and its quorum client.
async fn identify_controller(world: &World, quorum: &Client) -> Client {
    let lab = world.lab();
    for c in lab.clusters() {
        c.add_user(
            CONTROLLER_TOKEN,
            protect_lab_apiserver::UserInfo {
                username: CONTROLLER_USER.to_owned(),
                uid: "e2e-controller".to_owned(),
                groups: vec!["system:authenticated".to_owned()],
            },
        );
    }
    let secrets: Api<Secret> = Api::namespaced(quorum.clone(), PROTECTION_NAMESPACE);
    for (secret, cluster) in [
        (PRIMARY_KUBECONFIG_SECRET, PRIMARY),
        (DR_KUBECONFIG_SECRET, DR),
    ] {
        let c = lab.cluster(cluster).unwrap();
        let kubeconfig = world::cluster_kubeconfig(c).replace(c.token(), CONTROLLER_TOKEN);
        let mut s = secrets.get(secret).await.unwrap();
        s.data = Some(
            [(
                "kubeconfig".to_owned(),
                k8s_openapi::ByteString(kubeconfig.into_bytes()),
            )]
            .into(),
        );
        s.string_data = None;
        secrets
            .replace(secret, &PostParams::default(), &s)
            .await
            .unwrap();
    }
    let q = lab.cluster(QUORUM).unwrap();
    let kubeconfig = world::cluster_kubeconfig(q).replace(q.token(), CONTROLLER_TOKEN);
    world::client_for(&kubeconfig, QUORUM).await.unwrap()
}

/// Probe now and, for up to [`SETTLE`], again every 10 ms.
async fn settle<T>(probe: &mut impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn phase_of(pr: &ProtectionRequest) -> &'static str {
    pr.status
        .as_ref()
        .and_then(|s| s.phase)
        .map_or("", |p| p.as_str())
}

pub fn message_of(pr: &ProtectionRequest) -> String {
    pr.status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default()
}

/// `(status, reason, message)` of a condition of the request.
pub fn condition_of(pr: &ProtectionRequest, type_: &str) -> Option<(String, String, String)> {
    let c = pr
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((
        c.status.as_str().to_owned(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

/// The quorum cluster's part of the world, for clusters given by kubeconfig: namespace, a
/// Secret per workload cluster holding a kubeconfig of that context only, the policy.
async fn seed_quorum(quorum: &Client, kubeconfig: &str) {
    let namespaces: Api<Namespace> = Api::all(quorum.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": PROTECTION_NAMESPACE}})).unwrap();
    ignore_conflict(namespaces.create(&PostParams::default(), &ns).await);
    let secrets: Api<Secret> = Api::namespaced(quorum.clone(), PROTECTION_NAMESPACE);
    for (name, context) in [
        (PRIMARY_KUBECONFIG_SECRET, PRIMARY),
        (DR_KUBECONFIG_SECRET, DR),
    ] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": PROTECTION_NAMESPACE},
            "type": "Opaque",
            "stringData": {"kubeconfig": single_context(kubeconfig, context)},
        }))
        .unwrap();
        ignore_conflict(secrets.create(&PostParams::default(), &secret).await);
    }
    let policies: Api<DynamicObject> = Api::namespaced_with(
        quorum.clone(),
        PROTECTION_NAMESPACE,
        &world::replication_policy_resource(),
    );
    let policy: DynamicObject = serde_json::from_value(world::replication_policy()).unwrap();
    ignore_conflict(policies.create(&PostParams::default(), &policy).await);
}

fn ignore_conflict<T>(r: Result<T, kube::Error>) {
    match r {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("seeding the quorum cluster: {e}"),
    }
}

/// A kubeconfig reduced to one context (JSON, which is YAML).
fn single_context(kubeconfig: &str, context: &str) -> String {
    let mut kc = Kubeconfig::from_yaml(kubeconfig).unwrap();
    kc.contexts.retain(|c| c.name == context);
    let ctx = kc
        .contexts
        .first()
        .and_then(|c| c.context.clone())
        .unwrap_or_else(|| panic!("{KUBECONFIG_ENV} has no context {context}"));
    kc.clusters.retain(|c| c.name == ctx.cluster);
    kc.auth_infos.retain(|a| Some(&a.name) == ctx.user.as_ref());
    kc.current_context = Some(context.to_owned());
    serde_json::to_string(&kc).unwrap()
}

/// Controller logs, when asked for: `RUST_LOG=protect_controller=debug cargo test …`.
fn tracing_subscriber_init() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// Names of objects, sorted.
pub fn names<K: kube::Resource>(objects: &[K]) -> Vec<String> {
    let mut v: Vec<String> = objects.iter().map(|o| o.name_any()).collect();
    v.sort();
    v
}

/// Labels helper for assertions.
pub fn label<'a, K: kube::Resource>(o: &'a K, key: &str) -> Option<&'a str> {
    o.meta()
        .labels
        .as_ref()
        .and_then(|l: &BTreeMap<String, String>| l.get(key))
        .map(String::as_str)
}
