//! Simulators of the products around kubectl-protect — KubeVirt, the DRBD Operator with its
//! node agent, and a storage provisioner — acting on one workload cluster only through the
//! Kubernetes API. They import no product crate, so they run unchanged against the lab's
//! emulator or a real cluster given a [`kube::Client`].
//!
//! Simulated time is the [`SimClock`]: every simulator does one pass per tick, and
//! [`SimClock::tick`] returns when all passes are done, so tests are deterministic and never
//! sleep. The two workload clusters' DRBD simulators meet on a shared in-process [`Fabric`]
//! (the network between their nodes), never through each other's API.
//!
//! ```no_run
//! # async fn demo(c1: kube::Client, c2: kube::Client) {
//! use protect_lab_simulators::{Fabric, SimClock, SimConfig, Simulators};
//! let clock = SimClock::manual(jiff::Timestamp::now());
//! let fabric = Fabric::new();
//! let primary = Simulators::start(SimConfig::new("cluster1", c1, fabric.clone(), clock.clone()));
//! let dr = Simulators::start(SimConfig::new("cluster2", c2, fabric.clone(), clock.clone()));
//! primary.ready().await;
//! dr.ready().await;
//! clock.tick(std::time::Duration::from_secs(1)).await;
//! # }
//! ```

pub mod clock;
pub mod drbd;
pub mod fabric;
pub mod kubevirt;
pub mod objects;
pub mod provisioner;
pub mod runtime;
pub mod seed;

use std::sync::{Arc, Mutex};

use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use clock::{SimClock, Tick};
pub use drbd::replica::{Bandwidth, DEFAULT_C_MAX_RATE, ResourceFaults};
pub use fabric::{Fabric, Side};
pub use objects::{DATA_COUNTER_ANNOTATION, DRBD_FINALIZER, DRBD_VOLUME_LABEL, TAINT_NOT_READY};

use drbd::run::{AgentControl, DrbdOperator};
use fabric::WireSettings;
use kubevirt::run::KubeVirt;
use provisioner::Provisioner;
use runtime::Writer;

/// Which simulators to run on a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enabled {
    /// The KubeVirt simulator.
    pub kubevirt: bool,
    /// The DRBD Operator simulator and its node agent.
    pub drbd: bool,
    /// The storage provisioner.
    pub provisioner: bool,
}

impl Default for Enabled {
    fn default() -> Self {
        Enabled {
            kubevirt: true,
            drbd: true,
            provisioner: true,
        }
    }
}

/// Configuration of the simulators of one workload cluster.
#[derive(Clone)]
pub struct SimConfig {
    /// The cluster's identifier as DRBDVolumes name it (`spec.primary.cluster`/`spec.dr.cluster`).
    pub cluster_name: String,
    /// A client for the cluster.
    pub client: Client,
    /// The network shared with the other workload cluster.
    pub fabric: Fabric,
    /// The clock shared by all simulators of the lab.
    pub clock: SimClock,
    /// DRBD resync bandwidth (default 100 MiB/s, DRBD's `c-max-rate`).
    pub bandwidth: Bandwidth,
    /// Bytes one counted guest write stands for in `outOfSyncBytes` (default 1 MiB).
    pub bytes_per_write: u64,
    /// Writes a running VM makes to each mounted PVC per tick (default 1).
    pub writes_per_tick: u64,
    /// Which simulators run.
    pub enabled: Enabled,
}

impl SimConfig {
    /// Defaults for everything but the cluster, the client, the fabric and the clock.
    pub fn new(
        cluster_name: impl Into<String>,
        client: Client,
        fabric: Fabric,
        clock: SimClock,
    ) -> Self {
        SimConfig {
            cluster_name: cluster_name.into(),
            client,
            fabric,
            clock,
            bandwidth: Bandwidth::default(),
            bytes_per_write: 1 << 20,
            writes_per_tick: 1,
            enabled: Enabled::default(),
        }
    }

    /// Resync finishes within one tick (most tests).
    pub fn instant(mut self) -> Self {
        self.bandwidth = Bandwidth::Instant;
        self
    }
}

/// Faults a test switches on and off. DRBD faults are per resource (`spec.resource`) and act
/// on both sides at once, as a network or kernel fault would.
#[derive(Clone, Debug)]
pub struct Fault {
    fabric: Fabric,
    agent: Arc<Mutex<AgentControl>>,
}

impl Fault {
    fn resource(&self, resource: &str, change: impl FnOnce(&mut ResourceFaults)) {
        self.fabric.update_faults(resource, change);
    }

    /// The resync stops progressing (rate 0) while staying Connected.
    pub fn stall_sync(&self, resource: &str, on: bool) {
        self.resource(resource, |f| f.stall_sync = on);
    }

    /// The resource's link breaks: both sides fall back to Connecting and retry. Use
    /// [`Fabric::partition`] or [`Fabric::block_port`] for whole-network faults.
    pub fn disconnect(&self, resource: &str, on: bool) {
        self.resource(resource, |f| f.link_down = on);
    }

    /// Admin disconnect: StandAlone, no retry, until switched off.
    pub fn standalone(&self, resource: &str, on: bool) {
        self.resource(resource, |f| f.standalone = on);
    }

    /// Congestion with `on-congestion pull-ahead`: Ahead/Behind while on.
    pub fn congest(&self, resource: &str, on: bool) {
        self.resource(resource, |f| f.congested = on);
    }

    /// A slow peer: resync at most this many bytes per second (`None` lifts the cap).
    pub fn slow_peer(&self, resource: &str, bytes_per_sec: Option<u64>) {
        self.resource(resource, |f| f.slow_peer_bytes_per_sec = bytes_per_sec);
    }

    /// The DR side writes while disconnected (e.g. a forced promotion). If the primary also
    /// wrote, the next reconnect finds split brain.
    pub fn write_on_dr(&self, resource: &str) {
        self.fabric.write_on_dr(resource);
    }

    /// Restart this cluster's node agent: every node is tainted again until its resources are
    /// Connected or 120 s pass.
    pub fn restart_node_agent(&self) {
        self.agent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .restart_requested = true;
    }

    /// A node whose agent never becomes ready keeps the not-ready taint.
    pub fn never_ready(&self, node: &str, on: bool) {
        let mut agent = self
            .agent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if on {
            agent.never_ready.insert(node.to_owned());
        } else {
            agent.never_ready.remove(node);
        }
    }

    /// The network, for partitions and blocked ports.
    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }
}

/// The running simulators of one workload cluster.
pub struct Simulators {
    cluster: String,
    fabric: Fabric,
    tasks: Vec<JoinHandle<()>>,
    ready: watch::Receiver<usize>,
    expected: usize,
    fault: Fault,
}

/// A simulator as the tick loop drives it.
trait Pass: Send + 'static {
    fn ready(&self) -> impl Future<Output = ()> + Send;
    fn pass(&mut self, now: jiff::Timestamp) -> impl Future<Output = ()> + Send;
}

impl Pass for KubeVirt {
    async fn ready(&self) {
        KubeVirt::ready(self).await
    }
    async fn pass(&mut self, now: jiff::Timestamp) {
        KubeVirt::pass(self, now).await
    }
}

impl Pass for DrbdOperator {
    async fn ready(&self) {
        DrbdOperator::ready(self).await
    }
    async fn pass(&mut self, now: jiff::Timestamp) {
        DrbdOperator::pass(self, now).await
    }
}

impl Pass for Provisioner {
    async fn ready(&self) {
        Provisioner::ready(self).await
    }
    async fn pass(&mut self, now: jiff::Timestamp) {
        Provisioner::pass(self, now).await
    }
}

fn drive(mut sim: impl Pass, clock: SimClock, ready: watch::Sender<usize>) -> JoinHandle<()> {
    tokio::spawn(async move {
        sim.ready().await;
        // Subscribe only once the caches are filled: until then ticks do not wait for us, and
        // a missing CRD cannot wedge the clock.
        let mut ticker = clock.subscribe();
        ready.send_modify(|n| *n += 1);
        loop {
            let tick = ticker.next().await;
            sim.pass(tick.now).await;
            ticker.done(tick);
        }
    })
}

impl Simulators {
    /// Start the enabled simulators for one cluster. They begin acting once their caches are
    /// filled; await [`Simulators::ready`] before the first tick.
    pub fn start(config: SimConfig) -> Self {
        let writer = Writer {
            client: config.client.clone(),
            cluster: config.cluster_name.clone(),
        };
        let (ready_tx, ready) = watch::channel(0);
        let agent = Arc::new(Mutex::new(AgentControl::default()));
        let mut tasks = Vec::new();
        let mut loops = Vec::new();
        if config.enabled.provisioner {
            let sim = Provisioner::new(writer.clone(), &mut tasks);
            loops.push(drive(sim, config.clock.clone(), ready_tx.clone()));
        }
        if config.enabled.kubevirt {
            let sim = KubeVirt::new(writer.clone(), config.writes_per_tick, &mut tasks);
            loops.push(drive(sim, config.clock.clone(), ready_tx.clone()));
        }
        if config.enabled.drbd {
            let sim = DrbdOperator::new(
                config.cluster_name.clone(),
                writer,
                config.fabric.clone(),
                WireSettings {
                    bandwidth: config.bandwidth,
                    bytes_per_write: config.bytes_per_write,
                },
                agent.clone(),
                &mut tasks,
            );
            loops.push(drive(sim, config.clock.clone(), ready_tx.clone()));
        }
        let expected = loops.len();
        tasks.extend(loops);
        Simulators {
            cluster: config.cluster_name,
            fabric: config.fabric.clone(),
            tasks,
            ready,
            expected,
            fault: Fault {
                fabric: config.fabric,
                agent,
            },
        }
    }

    /// Resolves once every simulator has filled its caches and follows the clock.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|n| *n >= self.expected).await;
    }

    /// The fault controls of this cluster.
    pub fn fault(&self) -> Fault {
        self.fault.clone()
    }

    /// The cluster these simulators act on.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Stop every simulator and watch; this cluster's DRBD endpoints leave the network.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        self.fabric.withdraw_cluster(&self.cluster);
    }
}
