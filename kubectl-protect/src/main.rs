//! The `kubectl-protect` binary: parse, run, print one error line, exit with a documented code.

use std::process::ExitCode;

use clap::Parser;
use kubectl_protect::cli::Cli;
use kubectl_protect::exit::Exit;

fn main() -> ExitCode {
    // kubectl's plugin completion (through `kubectl_complete-protect`): cobra's protocol, before
    // clap, which would read the words being completed as this command line.
    {
        use kubectl_protect::cmd::complete;
        let first = std::env::args_os().nth(1);
        if let Some(first) = first.as_ref().and_then(|f| f.to_str())
            && (first == complete::COMMAND || first == complete::COMMAND_NO_DESC)
        {
            let words: Vec<String> = std::env::args_os()
                .skip(2)
                .map(|w| w.to_string_lossy().into_owned())
                .collect();
            return complete::run(&words, first == complete::COMMAND);
        }
    }
    // clap prints usage errors itself and exits 2; help and --version exit 0.
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return Exit::Error.into();
        }
    };
    match runtime.block_on(kubectl_protect::cmd::run(cli)) {
        Ok(exit) => exit.into(),
        Err(err) => {
            let line = err.to_string();
            // kubectl's own wording already starts with "Error from server"; others get the
            // same "error: " prefix kubectl uses.
            if line.starts_with("Error from server") {
                eprintln!("{line}");
            } else {
                eprintln!("error: {line}");
            }
            err.exit().into()
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        // Library logs (kube's own ERROR lines) would duplicate the one-line error we print.
        0 => "kubectl_protect=warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
