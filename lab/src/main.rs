//! `protect-lab-apiserver`: serves the emulated clusters of the lab with the simulators only
//! (`protect-lab`, in `e2e/`, serves them with the product).

mod cli;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match cli::Cli::parse().command {
        cli::Command::Up(args) => cli::up::run(args).await,
    }
}
