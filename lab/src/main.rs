//! `protect-lab`: serves the emulated clusters of the lab.

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
