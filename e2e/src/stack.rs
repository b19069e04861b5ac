//! The whole system in one process: the lab's world (three clusters, the seeded guide world,
//! the KubeVirt / DRBD / provisioner simulators) on a real-time clock, the real
//! `protect-webhook` serving HTTPS with a generated CA and registered in `quorum` as mutating
//! and validating webhooks, and the real `protect-controller` reading `quorum` through the
//! kubeconfig written to `DIR/kubeconfig`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::Client;
use kube::api::{Api, PostParams};
use protect_lab_apiserver::world::{Clock, DR, PRIMARY, QUORUM, World, WorldOptions};
use protect_lab_simulators::Bandwidth;
use protect_lab_simulators::objects::quantity_bytes;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::certs;

/// Name of the validating webhook (it appears in kubectl's "denied the request" line).
pub const VALIDATE: &str = "validate.protect.siterecovery.trilio.io";
/// Name of the mutating webhook.
pub const MUTATE: &str = "mutate.protect.siterecovery.trilio.io";
/// Name of both webhook configurations.
pub const WEBHOOK_CONFIGURATION: &str = "protect-webhook";

/// How long the webhook's caches may take to sync.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How the stack runs.
#[derive(Clone, Debug)]
pub struct StackOptions {
    /// Where the kubeconfig (`DIR/kubeconfig`) and the webhook's certificates
    /// (`DIR/webhook/`) are written.
    pub dir: PathBuf,
    /// DRBD resync bandwidth per volume.
    pub bandwidth: Bandwidth,
    /// Interval between simulator passes; simulated time runs at real speed.
    pub tick: Duration,
}

/// `instant`, or a quantity of bytes per second (`100Mi`, `3.5Gi`).
///
/// # Errors
/// Anything else, or zero.
pub fn parse_bandwidth(s: &str) -> Result<Bandwidth, String> {
    if s.eq_ignore_ascii_case("instant") {
        return Ok(Bandwidth::Instant);
    }
    match quantity_bytes(s) {
        Some(0) => Err("the bandwidth must be above 0 (use `instant` for no limit)".into()),
        Some(bytes) => Ok(Bandwidth::BytesPerSec(bytes)),
        None => Err(format!(
            "{s:?} is neither `instant` nor a quantity such as 100Mi or 3.5Gi"
        )),
    }
}

/// For people: `3584 MiB/s per volume`.
pub fn describe_bandwidth(bandwidth: Bandwidth) -> String {
    match bandwidth {
        Bandwidth::Instant => "instant".into(),
        Bandwidth::BytesPerSec(b) => format!("{} MiB/s per volume", b / (1 << 20)),
    }
}

/// A task aborted when dropped (a stack dropped without [`Stack::shutdown`] leaves nothing
/// running).
struct Task(Option<JoinHandle<()>>);

impl Task {
    fn finished(&self) -> bool {
        self.0.as_ref().is_none_or(JoinHandle::is_finished)
    }

    fn take(&mut self) -> Option<JoinHandle<()>> {
        self.0.take()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// The running system. [`Stack::shutdown`] stops it in order; dropping it aborts the tasks.
pub struct Stack {
    world: World,
    dir: PathBuf,
    kubeconfig: PathBuf,
    webhook_url: String,
    webhook_stop: Option<oneshot::Sender<()>>,
    webhook_task: Task,
    controller_task: Task,
}

impl Stack {
    /// Start the world, write `DIR/kubeconfig`, start the webhook and wait until it is ready,
    /// register it in `quorum`, and start the controller.
    ///
    /// # Errors
    /// When any part cannot start; the message names the part.
    pub async fn start(options: StackOptions) -> anyhow::Result<Stack> {
        let world = World::start(WorldOptions {
            bandwidth: options.bandwidth,
            clock: Clock::Realtime {
                period: options.tick,
            },
        })
        .await
        .context("starting the lab's world")?;

        std::fs::create_dir_all(&options.dir)
            .with_context(|| format!("creating {}", options.dir.display()))?;
        let dir = options
            .dir
            .canonicalize()
            .with_context(|| format!("resolving {}", options.dir.display()))?;
        let kubeconfig = dir.join("kubeconfig");
        world
            .lab()
            .write_kubeconfig(&kubeconfig)
            .with_context(|| format!("writing {}", kubeconfig.display()))?;
        let kubeconfig_text = std::fs::read_to_string(&kubeconfig)
            .with_context(|| format!("reading {}", kubeconfig.display()))?;

        // The webhook: HTTPS on a loopback port, certificate signed by a CA made for this run.
        let certificates =
            certs::write(&dir.join("webhook")).context("generating the webhook's certificates")?;
        let server = protect_webhook::server::Server::new(protect_webhook::server::Config {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_cert: certificates.cert.clone(),
            tls_key: certificates.key.clone(),
            kubeconfig: Some(kubeconfig.clone()),
            context: Some(QUORUM.to_owned()),
            namespace: None,
            cache_miss_timeout: Duration::from_secs(2),
            cert_check_interval: Duration::from_secs(3600),
            drain_timeout: Duration::from_secs(5),
        })
        .await
        .context("starting protect-webhook")?;
        let webhook_url = server.url();
        let router = server.router();
        let (stop, stopped) = oneshot::channel::<()>();
        let webhook_task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let mut stack = Stack {
            world,
            dir,
            kubeconfig,
            webhook_url,
            webhook_stop: Some(stop),
            webhook_task: Task(Some(webhook_task)),
            controller_task: Task(None),
        };
        wait_ready(router).await?;

        let quorum = stack.client(QUORUM)?;
        let ca_bundle = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&certificates.ca_pem)
        };
        register_webhooks(&quorum, &stack.webhook_url, &ca_bundle)
            .await
            .context("registering protect-webhook in quorum")?;

        // The controller, as a single replica (no leader election), on the world's clock.
        let controller_client = protect_lab_apiserver::world::client_for(&kubeconfig_text, QUORUM)
            .await
            .context("a client for the controller from the written kubeconfig")?;
        let clock = stack.world.clock().clone();
        let config = protect_controller::Config {
            instance: Some("protect-lab".to_owned()),
            clock: protect_controller::Clock::from_fn({
                let clock = clock.clone();
                move || clock.now()
            })
            .advancing_on(clock.advances()),
            ..protect_controller::Config::default()
        };
        let metrics = Arc::new(protect_controller::metrics::Metrics::default());
        metrics.set_leader(true);
        stack.controller_task = Task(Some(tokio::spawn(protect_controller::run(
            controller_client,
            config,
            metrics,
        ))));
        Ok(stack)
    }

    /// The lab's world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// A client for `quorum`, `cluster1` or `cluster2`.
    ///
    /// # Errors
    /// For any other name.
    pub fn client(&self, cluster: &str) -> anyhow::Result<Client> {
        self.world
            .client(cluster)
            .with_context(|| format!("the lab has no cluster {cluster:?}"))
    }

    /// The directory the stack writes to (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `DIR/kubeconfig`, with contexts `quorum`, `cluster1` and `cluster2`.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The webhook's base URL (`https://127.0.0.1:PORT`).
    pub fn webhook_url(&self) -> &str {
        &self.webhook_url
    }

    /// What stopped, if the webhook or the controller is no longer running.
    pub fn stopped(&self) -> Option<&'static str> {
        if self.webhook_task.finished() {
            return Some("protect-webhook stopped");
        }
        if self.controller_task.finished() {
            return Some("protect-controller stopped");
        }
        None
    }

    /// Stop the controller, drain and stop the webhook, then the world.
    pub async fn shutdown(self) {
        let Stack {
            world,
            webhook_stop,
            mut webhook_task,
            mut controller_task,
            ..
        } = self;
        if let Some(task) = controller_task.take() {
            task.abort();
            let _ = task.await;
        }
        if let Some(stop) = webhook_stop {
            let _ = stop.send(());
        }
        if let Some(task) = webhook_task.take() {
            let _ = task.await;
        }
        world.shutdown().await;
    }
}

/// The webhook is ready once its caches of quorum have synced (`/readyz` is 200).
async fn wait_ready(router: axum::Router) -> anyhow::Result<()> {
    use tower::ServiceExt as _;
    let ready = async {
        loop {
            let request = http::Request::get("/readyz").body(axum::body::Body::empty())?;
            let response = router.clone().oneshot(request).await?;
            if response.status() == http::StatusCode::OK {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    match tokio::time::timeout(READY_TIMEOUT, ready).await {
        Ok(result) => result,
        Err(_) => bail!(
            "protect-webhook's caches did not sync within {} s",
            READY_TIMEOUT.as_secs()
        ),
    }
}

/// The two configurations, as `deploy/webhook/` installs them but with `url` + `caBundle` in
/// place of a Service: CREATE and UPDATE of ProtectionRequests and DRBDReplicationPolicies,
/// `failurePolicy: Fail`. DELETE is absent: a webhook that is down never blocks an unprotect.
pub fn webhook_configurations(url: &str, ca_bundle: &str) -> (Value, Value) {
    let hook = |name: &str, path: &str| {
        json!({"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
          "failurePolicy": "Fail", "timeoutSeconds": 10,
          "clientConfig": {"url": format!("{url}{path}"), "caBundle": ca_bundle},
          "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["siterecovery.trilio.io"],
                     "apiVersions": ["v1alpha1"],
                     "resources": ["protectionrequests", "drbdreplicationpolicies"]}]})
    };
    (
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
               "metadata": {"name": WEBHOOK_CONFIGURATION}, "webhooks": [hook(MUTATE, "/mutate")]}),
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
               "metadata": {"name": WEBHOOK_CONFIGURATION}, "webhooks": [hook(VALIDATE, "/validate")]}),
    )
}

async fn register_webhooks(quorum: &Client, url: &str, ca_bundle: &str) -> anyhow::Result<()> {
    let (mutating, validating) = webhook_configurations(url, ca_bundle);
    let mutating: MutatingWebhookConfiguration = serde_json::from_value(mutating)?;
    let validating: ValidatingWebhookConfiguration = serde_json::from_value(validating)?;
    Api::<MutatingWebhookConfiguration>::all(quorum.clone())
        .create(&PostParams::default(), &mutating)
        .await
        .context("creating the MutatingWebhookConfiguration")?;
    Api::<ValidatingWebhookConfiguration>::all(quorum.clone())
        .create(&PostParams::default(), &validating)
        .await
        .context("creating the ValidatingWebhookConfiguration")?;
    Ok(())
}

/// Lines describing the running stack, for `up` and `demo`.
pub fn describe(stack: &Stack, bandwidth: Bandwidth) -> Vec<String> {
    let mut lines = vec!["clusters:".to_owned()];
    for cluster in stack.world().lab().clusters() {
        lines.push(format!("  {:<9} {}", cluster.name(), cluster.url()));
    }
    lines.push("seeded:".to_owned());
    for line in stack.world().seeded() {
        lines.push(format!("  {line}"));
    }
    lines.push(format!(
        "simulators on {PRIMARY} and {DR}: KubeVirt, DRBD Operator + node agent, storage provisioner; DRBD resync {}",
        describe_bandwidth(bandwidth)
    ));
    lines.push(format!(
        "protect-webhook: {} (CA {}), registered in {QUORUM} as {MUTATE} and {VALIDATE}",
        stack.webhook_url(),
        stack.dir().join("webhook").join("ca.crt").display()
    ));
    lines.push(format!(
        "protect-controller: watching every namespace of {QUORUM} (context {QUORUM} of the kubeconfig)"
    ));
    lines.push(format!("kubeconfig: {}", stack.kubeconfig().display()));
    lines
}
