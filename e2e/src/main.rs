//! `protect-lab`: the lab and the product together. `up` serves the guide's three clusters
//! with the real protect-webhook and protect-controller until Ctrl-C; `demo` runs the guide's
//! Example 1, an admission denial and unprotect, and exits 0 only if all three happened.

use std::process::ExitCode;

use clap::Parser;
use protect_e2e::{demo, init_logging, up};

/// kubectl-protect's lab with the product running in it.
#[derive(Debug, Parser)]
#[command(name = "protect-lab", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the three clusters with protect-webhook and protect-controller, write
    /// DIR/kubeconfig, print the guide's commands, and run until Ctrl-C.
    Up(up::UpArgs),
    /// Run the guide's Example 1 end to end, then an admission denial, then unprotect.
    Demo(demo::DemoArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging("warn");
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Demo(args) => demo::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!();
            println!("protect-lab: FAILED: {error:#}");
            eprintln!("protect-lab: FAILED: {error:#}");
            ExitCode::FAILURE
        }
    }
}
