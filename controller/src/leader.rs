//! Leader election with a coordination.k8s.io Lease (kube-lease-manager): only the replica that
//! holds the Lease runs the controller; losing the Lease stops it at once.

use std::future::Future;
use std::sync::Arc;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tokio_util::task::AbortOnDropHandle;
use tracing::{info, warn};

use crate::metrics::Metrics;

/// How the Lease is held.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// Seconds a Lease stays valid after its last renewal.
    pub duration_seconds: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_seconds: u64,
}

/// Run `lead()` while this replica holds the Lease; start it again whenever leadership returns.
///
/// # Errors
/// When the Lease manager cannot be built or its watch fails for good.
pub async fn run_as_leader<F, Fut>(
    client: Client,
    config: LeaseConfig,
    metrics: Arc<Metrics>,
    lead: F,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let manager = LeaseManagerBuilder::new(client, &config.name)
        .with_namespace(&config.namespace)
        .with_parameters(LeaseParams::new(
            &config.identity,
            config.duration_seconds,
            config.grace_seconds,
        ))
        .build()
        .await?;
    let (mut leading, handle) = manager.watch().await;
    info!(lease = %config.name, namespace = %config.namespace, identity = %config.identity, "waiting for leadership");
    loop {
        while !*leading.borrow_and_update() {
            if leading.changed().await.is_err() {
                return finish(handle).await;
            }
        }
        info!(identity = %config.identity, "became leader");
        metrics.set_leader(true);
        // Aborted when leadership ends, and when this future is dropped.
        let controller = AbortOnDropHandle::new(tokio::spawn(lead()));
        loop {
            if leading.changed().await.is_err() {
                controller.abort();
                metrics.set_leader(false);
                return finish(handle).await;
            }
            if !*leading.borrow_and_update() {
                break;
            }
        }
        warn!(identity = %config.identity, "lost leadership; stopping the controller");
        controller.abort();
        metrics.set_leader(false);
    }
}

async fn finish(
    handle: tokio::task::JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>,
) -> anyhow::Result<()> {
    handle.await??;
    Ok(())
}
