//! `protect-webhook`: serve admission for ProtectionRequests and DRBDReplicationPolicies.

use clap::Parser;
use protect_webhook::{Config, Server};
use tracing_subscriber::EnvFilter;

/// Validating and mutating admission webhook of kubectl-protect (HTTPS only).
///
/// Serves POST /validate and POST /mutate (AdmissionReview admission.k8s.io/v1), GET /healthz,
/// GET /readyz (ready once the quorum caches have synced) and GET /metrics. The certificate
/// and key are reloaded when their files change. SIGTERM or Ctrl-C stops accepting and drains
/// in-flight reviews.
#[derive(Debug, Parser)]
#[command(name = "protect-webhook", version)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let server = Server::new(cli.config).await?;
    server.run(shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
