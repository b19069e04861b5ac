//! `protect-lab up`: the whole system on loopback until Ctrl-C (or SIGTERM).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use protect_lab_simulators::Bandwidth;

use crate::commands::{self, EXAMPLE_1, EXAMPLE_1_FILE};
use crate::stack::{self, Stack, StackOptions};

/// Default resync bandwidth of `up`: the guide's 100Gi data disk syncs in about 30 s, long
/// enough to watch Syncing (DRBD's own default, `c-max-rate`, is 100Mi per second).
pub const DEFAULT_SYNC_BANDWIDTH: &str = "3.5Gi";

/// Arguments of `protect-lab up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Directory for the state; the kubeconfig is written to DIR/kubeconfig, the webhook's CA
    /// and certificate to DIR/webhook/, Example 1's manifest to DIR/protect-web-server.yaml.
    #[arg(long, default_value = "lab-state")]
    pub dir: PathBuf,

    /// DRBD resync bandwidth per volume, bytes per second as a Kubernetes quantity (e.g. 100Mi,
    /// DRBD's default c-max-rate), or `instant`.
    #[arg(long, default_value = DEFAULT_SYNC_BANDWIDTH, value_parser = stack::parse_bandwidth)]
    pub sync_bandwidth: Bandwidth,

    /// Interval between simulator passes, in milliseconds (simulated time runs at real speed).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub tick_ms: u64,
}

/// Serve until interrupted.
///
/// # Errors
/// When the stack cannot start or a file cannot be written.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        dir: args.dir.clone(),
        bandwidth: args.sync_bandwidth,
        tick: Duration::from_millis(args.tick_ms),
    })
    .await?;
    let manifest = stack.dir().join(EXAMPLE_1_FILE);
    std::fs::write(&manifest, EXAMPLE_1)
        .with_context(|| format!("writing {}", manifest.display()))?;

    println!(
        "protect-lab is serving the guide's world with protect-webhook and protect-controller"
    );
    for line in stack::describe(&stack, args.sync_bandwidth) {
        println!("{line}");
    }
    println!();
    println!("try (the guide's commands, $KUBECONFIG_QUORUM / $KUBECONFIG_CLUSTER1 replaced):");
    for section in commands::sections(stack.kubeconfig(), &manifest) {
        println!();
        println!("  # {}", section.title);
        for command in section.commands {
            println!("  {command}");
        }
    }
    println!();
    println!("Ctrl-C stops it.");

    let stopped = tokio::select! {
        signal = shutdown_signal() => { signal?; None }
        what = watch_tasks(&stack) => Some(what),
    };
    println!("stopping");
    stack.shutdown().await;
    println!("stopped");
    match stopped {
        None => Ok(()),
        Some(what) => anyhow::bail!("{what} unexpectedly"),
    }
}

/// Returns when the webhook or the controller ends (they serve until shut down).
async fn watch_tasks(stack: &Stack) -> &'static str {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        if let Some(what) = stack.stopped() {
            return what;
        }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("listening for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("listening for Ctrl-C")
    }
}
