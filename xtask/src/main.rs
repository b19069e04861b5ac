//! Project tasks run with `cargo xtask …` (the alias is in `.cargo/config.toml`).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use xtask::krew;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Project tasks of kubectl-protect"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Package the plugin for krew on this platform
    ///
    /// Writes `kubectl-protect_<version>_<os>_<arch>.tar.gz` (the binary and LICENSE) and
    /// `protect.yaml`, the template krew/protect.yaml filled for this platform alone; install
    /// both with `kubectl krew install --manifest=<out>/protect.yaml --archive=<out>/<archive>`.
    KrewPackage {
        /// The kubectl-protect executable to package; by default
        /// `cargo build --release --locked -p kubectl-protect` builds it.
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
        /// The release's version, `v` + semver [default: v<workspace version>].
        #[arg(long, value_name = "V")]
        version: Option<String>,
        /// The archive's URI in the manifest is `<base-url>/<version>/<archive name>`.
        #[arg(long, value_name = "URL", default_value = krew::DEFAULT_BASE_URL)]
        base_url: String,
        /// Where to write the archive and the manifest [default: target/krew].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Check krew manifests against krew's validation rules
    ///
    /// A template (one with the `${VERSION}` placeholder) is checked with its placeholders
    /// filled; a filled manifest as it is.
    KrewValidate {
        /// Manifest files [default: krew/protect.yaml].
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.task {
        Task::KrewPackage {
            binary,
            version,
            base_url,
            out,
        } => {
            let binary = match binary {
                Some(binary) => binary,
                None => build_plugin()?,
            };
            let mut opts = krew::PackageOptions::new(binary)?;
            if let Some(version) = version {
                opts.version = version;
            }
            opts.base_url = base_url;
            if let Some(out) = out {
                opts.out_dir = out;
            }
            let p = krew::package(&opts)?;
            println!("wrote {}", p.archive.display());
            println!("  sha256 {}", p.sha256);
            println!("  uri    {}", p.uri);
            println!(
                "wrote {} ({} {} for {} only)",
                p.manifest.display(),
                krew::PLUGIN_NAME,
                p.version,
                p.platform
            );
            println!(
                "install it: kubectl krew install --manifest={} --archive={}",
                p.manifest.display(),
                p.archive.display()
            );
            Ok(())
        }
        Task::KrewValidate { files } => {
            let files = if files.is_empty() {
                vec![xtask::workspace_root().join("krew").join("protect.yaml")]
            } else {
                files
            };
            let mut failed = false;
            for file in &files {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let name = file.display().to_string();
                let (kind, result) = if text.contains(krew::VERSION_PLACEHOLDER) {
                    ("template", krew::validate_template(&text, &name))
                } else {
                    ("manifest", krew::validate(&text, &name))
                };
                match result {
                    Ok(()) => println!("{name}: valid krew plugin {kind}"),
                    Err(errors) => {
                        failed = true;
                        println!("{name}: invalid krew plugin {kind}:");
                        for e in errors {
                            println!("  {e}");
                        }
                    }
                }
            }
            if failed {
                bail!("invalid krew manifests");
            }
            Ok(())
        }
    }
}

/// `cargo build --release --locked -p kubectl-protect`; the executable's path as cargo reports
/// it (so `CARGO_TARGET_DIR` and `build.target-dir` are honoured).
fn build_plugin() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = xtask::workspace_root();
    eprintln!("building: cargo build --release --locked -p kubectl-protect");
    let mut child = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "kubectl-protect",
            "--bin",
            krew::BINARY_NAME,
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", Path::new(&cargo).display()))?;
    let mut executable = None;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if message["reason"] == "compiler-artifact"
                && message["target"]["name"] == krew::BINARY_NAME
                && let Some(path) = message["executable"].as_str()
            {
                executable = Some(PathBuf::from(path));
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    executable.context("cargo build reported no kubectl-protect executable")
}
