//! `protect-controller`: the Protection Controller binary. Reads the quorum cluster from
//! in-cluster config, `KUBECONFIG`, or `--kubeconfig`/`--context`; serves `/metrics` and
//! `/healthz`; reconciles only while it holds the leader Lease.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use protect_controller::leader::{LeaseConfig, run_as_leader};
use protect_controller::metrics::Metrics;
use protect_controller::{Config, Settings, run, server};

/// Drives ProtectionRequests through DRBD protection across the primary and DR clusters.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Kubeconfig of the quorum cluster (default: in-cluster config, then KUBECONFIG, then ~/.kube/config).
    #[arg(long, env = "KUBECONFIG_QUORUM")]
    kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig to use.
    #[arg(long)]
    context: Option<String>,
    /// Watch only this namespace of the quorum cluster (default: all namespaces).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// Name of the coordination.k8s.io Lease used for leader election.
    #[arg(long, default_value = "protection-controller")]
    lease_name: String,
    /// Namespace of the Lease (default: --namespace, then POD_NAMESPACE, then dr-deployment).
    #[arg(long)]
    lease_namespace: Option<String>,
    /// This replica's identity in the Lease (default: POD_NAME, then the host name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease stays valid after its last renewal.
    #[arg(long, default_value_t = 15)]
    lease_duration: u64,
    /// Run without leader election (a single replica only).
    #[arg(long)]
    no_leader_election: bool,
    /// Report a sync as stalled after this long without progress, e.g. 300s, 5m.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    stall_timeout: Duration,
    /// Roll activation back when frontend PVCs do not bind, or the VM does not run on them, within this long.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    activation_timeout: Duration,
    /// Address of the /metrics and /healthz server.
    #[arg(long, default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
}

/// "90s", "5m", "1h", or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 5m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?} is not a duration like 90s, 5m or 1h")),
    };
    Ok(Duration::from_secs(secs))
}

async fn quorum_client(args: &Args) -> anyhow::Result<Client> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if args.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .init();
    let args = Args::parse();
    let client = quorum_client(&args).await?;
    let metrics = Arc::new(Metrics::default());
    let server = tokio::spawn(server::serve(args.metrics_addr, metrics.clone()));
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("protect-controller-{}", std::process::id()));
    let config = Config {
        namespace: args.namespace.clone(),
        settings: Settings {
            stall_timeout: args.stall_timeout,
            activation_timeout: args.activation_timeout,
        },
        instance: Some(identity.clone()),
        ..Config::default()
    };
    let result = if args.no_leader_election {
        metrics.set_leader(true);
        run(client, config, metrics).await;
        Ok(())
    } else {
        let lease = LeaseConfig {
            name: args.lease_name.clone(),
            namespace: args
                .lease_namespace
                .clone()
                .or_else(|| args.namespace.clone())
                .or_else(|| std::env::var("POD_NAMESPACE").ok())
                .unwrap_or_else(|| {
                    protect_api::well_known::DEFAULT_PROTECTION_NAMESPACE.to_owned()
                }),
            identity,
            duration_seconds: args.lease_duration,
            grace_seconds: (args.lease_duration / 3).max(1),
        };
        let lead_client = client.clone();
        let lead_metrics = metrics.clone();
        run_as_leader(client, lease, metrics, move || {
            run(lead_client.clone(), config.clone(), lead_metrics.clone())
        })
        .await
    };
    server.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubectl_flags() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("120"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5 minutes").is_err());
    }

    #[test]
    fn flags_have_the_documented_defaults() {
        let args = Args::parse_from(["protect-controller"]);
        assert_eq!(args.metrics_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(args.lease_name, "protection-controller");
        assert_eq!(args.stall_timeout, Duration::from_secs(300));
    }
}
