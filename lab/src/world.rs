//! The product's world on a running lab: the three clusters with our CRDs, the guide's objects
//! (DESIGN 7, issue 8, issue 7) and the KubeVirt / DRBD Operator / provisioner simulators on the
//! two workload clusters. `protect-lab-apiserver up` and `protect-lab up` serves it on a real-time clock; tests start it on a
//! manual clock and tick it themselves.
//!
//! - all three clusters: the ProtectionRequest, DRBDReplicationPolicy and DRBDVolume CRDs
//!   (`deploy/crds/`, embedded so the binary works from any directory);
//! - `cluster1`, `cluster2`: KubeVirt's CRDs and the simulators' seed (nodes, storage classes,
//!   namespace `production`, and on `cluster1` VM `web-server` on two `ceph-rbd` PVCs plus VM
//!   `analytics` on `local-path`, a class no policy covers);
//! - `quorum`: namespace `dr-deployment`, DRBDReplicationPolicy `dr-policy` (cluster1 → cluster2,
//!   `ceph-rbd` → `ceph-rbd-dr`) and the Secrets `primary-kubeconfig` / `dr-kubeconfig` whose
//!   key `kubeconfig` reaches `cluster1` resp. `cluster2`.
//!
//! Everything is created through the Kubernetes API, as an installer would.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Resource};
use protect_lab_simulators::seed::{self, ClusterSeed, SeedError};
use protect_lab_simulators::{Bandwidth, Fabric, Fault, SimClock, SimConfig, Simulators};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::cluster::Cluster;
use crate::lab::{Lab, LabError};

/// The management cluster.
pub const QUORUM: &str = "quorum";
/// The primary workload cluster.
pub const PRIMARY: &str = "cluster1";
/// The DR workload cluster.
pub const DR: &str = "cluster2";
/// Every cluster of the world, in kubeconfig order (`quorum` is the current context).
pub const CLUSTERS: [&str; 3] = [QUORUM, PRIMARY, DR];
/// Namespace on the quorum cluster where DR resources are managed (the guide's example).
pub const PROTECTION_NAMESPACE: &str = "dr-deployment";
/// Name of the seeded DRBDReplicationPolicy.
pub const POLICY_NAME: &str = "dr-policy";
/// Secret holding the primary cluster's kubeconfig (DESIGN 3.2 default).
pub const PRIMARY_KUBECONFIG_SECRET: &str = "primary-kubeconfig";
/// Secret holding the DR cluster's kubeconfig (DESIGN 3.2 default).
pub const DR_KUBECONFIG_SECRET: &str = "dr-kubeconfig";

/// The product's CRDs as generated into `deploy/crds/` (file name, YAML).
pub const PRODUCT_CRDS: [(&str, &str); 3] = [
    (
        "protectionrequests.siterecovery.trilio.io.yaml",
        include_str!("../../deploy/crds/protectionrequests.siterecovery.trilio.io.yaml"),
    ),
    (
        "drbdreplicationpolicies.siterecovery.trilio.io.yaml",
        include_str!("../../deploy/crds/drbdreplicationpolicies.siterecovery.trilio.io.yaml"),
    ),
    (
        "drbdvolumes.siterecovery.trilio.io.yaml",
        include_str!("../../deploy/crds/drbdvolumes.siterecovery.trilio.io.yaml"),
    ),
];

/// How long a CRD may take to become Established, and the simulators to fill their caches.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the world could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("building a client for cluster {cluster}: {message}")]
    Client { cluster: String, message: String },
    #[error("parsing the embedded CRD {file}: {message}")]
    Crd { file: String, message: String },
    #[error("building the {what} manifest: {message}")]
    Manifest { what: String, message: String },
    #[error("cannot create {kind} {name:?} on cluster {cluster}: {source}")]
    Create {
        cluster: String,
        kind: &'static str,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("CRD {name} did not become Established on cluster {cluster} within 30 s")]
    CrdNotEstablished { cluster: String, name: String },
    #[error("seeding cluster {cluster}: {source}")]
    Seed {
        cluster: String,
        #[source]
        source: Box<SeedError>,
    },
    #[error("the simulators of cluster {0} did not fill their caches within 30 s")]
    SimulatorsNotReady(String),
}

/// How the world's simulated time passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Only when the caller ticks [`World::clock`] (tests).
    Manual,
    /// From real time: every `period`, simulated time advances by `period` (`protect-lab-apiserver up` and `protect-lab up`).
    Realtime {
        /// Interval between ticks.
        period: Duration,
    },
}

/// Options of [`World::start`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorldOptions {
    /// DRBD resync bandwidth of both workload clusters.
    pub bandwidth: Bandwidth,
    /// How time passes.
    pub clock: Clock,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            bandwidth: Bandwidth::default(),
            clock: Clock::Manual,
        }
    }
}

/// A running lab with the product's world and the simulators. Dropping it aborts everything;
/// [`World::shutdown`] stops it in order.
pub struct World {
    lab: Lab,
    clients: BTreeMap<String, Client>,
    clock: SimClock,
    fabric: Fabric,
    simulators: Vec<Simulators>,
    clock_task: Option<AbortOnDrop>,
    seeded: Vec<String>,
}

/// The real-time clock's task: aborted when the world is dropped without [`World::shutdown`].
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A kubeconfig that reaches one cluster of the lab (its only and current context).
pub fn cluster_kubeconfig(cluster: &Cluster) -> String {
    use base64::Engine;
    let n = cluster.name();
    let ca = base64::engine::general_purpose::STANDARD.encode(cluster.ca_pem());
    format!(
        "apiVersion: v1\nkind: Config\npreferences: {{}}\ncurrent-context: {n}\nclusters:\n- name: {n}\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {n}\n  context:\n    cluster: {n}\n    user: {n}-admin\nusers:\n- name: {n}-admin\n  user:\n    token: {}\n",
        cluster.url(),
        cluster.token()
    )
}

/// A kube-rs client for one context of a kubeconfig.
pub async fn client_for(kubeconfig: &str, context: &str) -> Result<Client, WorldError> {
    let err = |message: String| WorldError::Client {
        cluster: context.to_owned(),
        message,
    };
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| err(e.to_string()))?;
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_owned()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| err(e.to_string()))?;
    Client::try_from(config).map_err(|e| err(e.to_string()))
}

/// The product's CRDs, parsed from the embedded `deploy/crds/*.yaml`.
pub fn product_crds() -> Result<Vec<CustomResourceDefinition>, WorldError> {
    PRODUCT_CRDS
        .iter()
        .map(|(file, yaml)| {
            serde_saphyr::from_str(yaml).map_err(|e| WorldError::Crd {
                file: (*file).to_owned(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// `siterecovery.trilio.io/v1alpha1` DRBDReplicationPolicy.
pub fn replication_policy_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            "siterecovery.trilio.io",
            "v1alpha1",
            "DRBDReplicationPolicy",
        ),
        "drbdreplicationpolicies",
    )
}

/// The seeded policy: cluster1 → cluster2, `ceph-rbd` → `ceph-rbd-dr`, the default secrets.
pub fn replication_policy() -> Value {
    json!({
        "apiVersion": "siterecovery.trilio.io/v1alpha1",
        "kind": "DRBDReplicationPolicy",
        "metadata": {"name": POLICY_NAME, "namespace": PROTECTION_NAMESPACE},
        "spec": {
            "primaryCluster": PRIMARY,
            "drCluster": DR,
            "storageClassMappings": [{"primary": "ceph-rbd", "dr": "ceph-rbd-dr"}],
            "primaryKubeconfigSecret": PRIMARY_KUBECONFIG_SECRET,
            "drKubeconfigSecret": DR_KUBECONFIG_SECRET,
        }
    })
}

/// Create `value` unless an object of that name exists (409 is success: seeding is idempotent).
async fn create<K>(
    api: &Api<K>,
    cluster: &str,
    kind: &'static str,
    obj: &K,
) -> Result<(), WorldError>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(source) => Err(WorldError::Create {
            cluster: cluster.to_owned(),
            kind,
            name: obj.meta().name.clone().unwrap_or_default(),
            source: Box::new(source),
        }),
    }
}

/// Install CRDs on one cluster and wait until each is Established.
pub async fn install_crds(
    client: &Client,
    cluster: &str,
    crds: &[CustomResourceDefinition],
) -> Result<(), WorldError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        create(&api, cluster, "CustomResourceDefinition", crd).await?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        match tokio::time::timeout(SETUP_TIMEOUT, established).await {
            Ok(Ok(_)) => {}
            _ => {
                return Err(WorldError::CrdNotEstablished {
                    cluster: cluster.to_owned(),
                    name,
                });
            }
        }
    }
    Ok(())
}

/// An object from its JSON (the manifests below are literals, so this fails only on a bug).
fn from<K: DeserializeOwned>(v: Value, what: &str) -> Result<K, WorldError> {
    serde_json::from_value(v).map_err(|e| WorldError::Manifest {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

/// The quorum cluster's part: namespace, kubeconfig Secrets, policy.
async fn seed_quorum(lab: &Lab, quorum: &Client) -> Result<(), WorldError> {
    let namespaces: Api<Namespace> = Api::all(quorum.clone());
    let namespace: Namespace = from(
        json!({"metadata": {"name": PROTECTION_NAMESPACE}}),
        "namespace",
    )?;
    create(&namespaces, QUORUM, "Namespace", &namespace).await?;
    let secrets: Api<Secret> = Api::namespaced(quorum.clone(), PROTECTION_NAMESPACE);
    for (name, cluster) in [
        (PRIMARY_KUBECONFIG_SECRET, PRIMARY),
        (DR_KUBECONFIG_SECRET, DR),
    ] {
        let Some(cluster) = lab.cluster(cluster) else {
            continue;
        };
        let secret: Secret = from(
            json!({
                "metadata": {"name": name, "namespace": PROTECTION_NAMESPACE,
                             "labels": {"siterecovery.trilio.io/cluster": cluster.name()}},
                "type": "Opaque",
                "stringData": {"kubeconfig": cluster_kubeconfig(cluster)},
            }),
            name,
        )?;
        create(&secrets, QUORUM, "Secret", &secret).await?;
    }
    let policies: Api<DynamicObject> = Api::namespaced_with(
        quorum.clone(),
        PROTECTION_NAMESPACE,
        &replication_policy_resource(),
    );
    let policy: DynamicObject = from(replication_policy(), "policy")?;
    create(&policies, QUORUM, "DRBDReplicationPolicy", &policy).await
}

fn describe_seed(cluster: &str, seed: &ClusterSeed) -> Vec<String> {
    let mut lines = Vec::new();
    let nodes: Vec<&str> = seed.nodes.iter().map(|(n, _)| n.as_str()).collect();
    lines.push(format!("{cluster}: nodes {}", nodes.join(", ")));
    let classes: Vec<&str> = seed
        .storage_classes
        .iter()
        .map(|(c, _)| c.as_str())
        .collect();
    lines.push(format!(
        "{cluster}: storage classes {}; KubeVirt CRDs; namespace {}",
        classes.join(", "),
        seed::NAMESPACE
    ));
    for (vm, pvcs) in &seed.vms {
        let pvcs: Vec<String> = pvcs
            .iter()
            .map(|(pvc, class, size)| format!("{pvc} ({class}, {size})"))
            .collect();
        lines.push(format!(
            "{cluster}: VM {}/{vm} on {}",
            seed::NAMESPACE,
            pvcs.join(", ")
        ));
    }
    lines
}

impl World {
    /// Start the three clusters, install and seed them, and run the simulators on the two
    /// workload clusters. With [`Clock::Manual`] nothing happens until the clock is ticked.
    pub async fn start(options: WorldOptions) -> Result<World, WorldError> {
        let lab = Lab::start(&CLUSTERS).await?;
        let kubeconfig = lab.kubeconfig();
        let mut clients = BTreeMap::new();
        for name in CLUSTERS {
            clients.insert(name.to_owned(), client_for(&kubeconfig, name).await?);
        }
        let client = |name: &str| clients[name].clone();

        let crds = product_crds()?;
        for name in CLUSTERS {
            install_crds(&client(name), name, &crds).await?;
        }
        let mut seeded = vec![format!(
            "all clusters: CRDs {}",
            crds.iter()
                .filter_map(|c| c.metadata.name.as_deref())
                .collect::<Vec<_>>()
                .join(", ")
        )];
        for (name, cluster_seed) in [(PRIMARY, seed::primary()), (DR, seed::dr())] {
            seed::seed_cluster(&client(name), &cluster_seed)
                .await
                .map_err(|source| WorldError::Seed {
                    cluster: name.to_owned(),
                    source: Box::new(source),
                })?;
            seeded.extend(describe_seed(name, &cluster_seed));
        }
        seed_quorum(&lab, &client(QUORUM)).await?;
        seeded.push(format!(
            "{QUORUM}: namespace {PROTECTION_NAMESPACE}; DRBDReplicationPolicy {POLICY_NAME} ({PRIMARY} -> {DR}, ceph-rbd -> ceph-rbd-dr)"
        ));
        seeded.push(format!(
            "{QUORUM}: Secrets {PRIMARY_KUBECONFIG_SECRET} (reaches {PRIMARY}), {DR_KUBECONFIG_SECRET} (reaches {DR})"
        ));

        let clock = SimClock::manual(jiff::Timestamp::now());
        let fabric = Fabric::new();
        let mut simulators = Vec::new();
        for name in [PRIMARY, DR] {
            let mut config = SimConfig::new(name, client(name), fabric.clone(), clock.clone());
            config.bandwidth = options.bandwidth;
            simulators.push(Simulators::start(config));
        }
        let mut world = World {
            lab,
            clients,
            clock,
            fabric,
            simulators,
            clock_task: None,
            seeded,
        };
        for sims in &world.simulators {
            if tokio::time::timeout(SETUP_TIMEOUT, sims.ready())
                .await
                .is_err()
            {
                return Err(WorldError::SimulatorsNotReady(sims.cluster().to_owned()));
            }
        }
        if let Clock::Realtime { period } = options.clock {
            world.clock_task = Some(AbortOnDrop(world.clock.run_realtime(period, 1)));
        }
        Ok(world)
    }

    /// The lab serving the clusters.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// A client for `cluster` (`quorum`, `cluster1` or `cluster2`).
    pub fn client(&self, cluster: &str) -> Option<Client> {
        self.clients.get(cluster).cloned()
    }

    /// The simulated clock shared by every simulator.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The network between the workload clusters' nodes.
    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    /// The fault controls of one workload cluster's simulators.
    pub fn fault(&self, cluster: &str) -> Option<Fault> {
        self.simulators
            .iter()
            .find(|s| s.cluster() == cluster)
            .map(Simulators::fault)
    }

    /// One line per thing seeded, for people.
    pub fn seeded(&self) -> &[String] {
        &self.seeded
    }

    /// Stop the clock, then the simulators, then the clusters.
    pub async fn shutdown(mut self) {
        if let Some(mut task) = self.clock_task.take() {
            task.0.abort();
            let _ = (&mut task.0).await;
        }
        for sims in std::mem::take(&mut self.simulators) {
            sims.shutdown().await;
        }
        self.lab.shutdown().await;
    }
}
