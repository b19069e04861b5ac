//! `protect-webhook`: serve admission for ProtectionRequests and DRBDReplicationPolicies, or
//! (`self-signed`) write a serving certificate for clusters without cert-manager. The command
//! line is [`protect_webhook::cli`].

use std::process::ExitCode;

use clap::Parser;
use protect_webhook::cli::{Action, Cli, self_signed};
use protect_webhook::{Config, Server};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    match Cli::parse().action() {
        Some(Action::Serve(config)) => match serve(*config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("Error: {error:?}");
                ExitCode::FAILURE
            }
        },
        Some(Action::SelfSigned(args)) => match self_signed(&args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("protect-webhook self-signed: {error}");
                ExitCode::FAILURE
            }
        },
        None => {
            eprintln!("protect-webhook: nothing to do; see protect-webhook --help");
            ExitCode::from(2)
        }
    }
}

#[tokio::main]
async fn serve(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let server = Server::new(config).await?;
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
