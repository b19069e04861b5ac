//! The command line: one module per subcommand.

pub mod up;

/// Emulated Kubernetes clusters for kubectl-protect: `quorum`, `cluster1` (primary) and
/// `cluster2` (DR), served over HTTPS on loopback.
#[derive(Debug, clap::Parser)]
#[command(name = "protect-lab-apiserver", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Start the three clusters, write a kubeconfig, and serve until interrupted (Ctrl-C).
    Up(up::UpArgs),
}
