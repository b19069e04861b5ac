//! The command line: clap derive types whose doc comments are the help text users read.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;

/// Put KubeVirt VMs under DRBD disaster-recovery protection.
///
/// Talks to the quorum cluster, where ProtectionRequests live, using the same kubeconfig,
/// context and KUBECONFIG environment variable as kubectl.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-protect",
    bin_name = "kubectl protect",
    version,
    propagate_version = true,
    after_help = EXIT_CODES_HELP,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts, spelled as kubectl spells them.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Path to the kubeconfig file of the quorum cluster (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Namespace on the quorum cluster that holds ProtectionRequests, policies and kubeconfig Secrets.
    #[arg(
        long,
        global = true,
        value_name = "NS",
        env = "KUBECTL_PROTECT_NAMESPACE",
        default_value = protect_api::well_known::DEFAULT_PROTECTION_NAMESPACE
    )]
    pub protection_namespace: String,
    /// Log more to stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Protect a VM: create its ProtectionRequest on the quorum cluster.
    Vm(VmArgs),
    /// Show ProtectionRequests: a table, or one request in detail.
    Status(StatusArgs),
    /// Preflight checks before protecting a VM.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Stop protecting a VM: delete its ProtectionRequest (the controller restores the VM's volumes).
    Unprotect(UnprotectArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
    /// Print the plugin's version and build information.
    Version(VersionArgs),
}

/// The VM to protect and how the request for it is named.
#[derive(Debug, Clone, Args)]
pub struct VmTarget {
    /// Name of the VirtualMachine on the primary cluster.
    pub name: String,
    /// Namespace of the VM on the primary cluster (default: the context's namespace, else `default`).
    #[arg(short = 'n', long = "namespace", value_name = "VM_NAMESPACE")]
    pub vm_namespace: Option<String>,
    /// Primary cluster, as named in a DRBDReplicationPolicy (may be omitted when only one policy exists).
    #[arg(long, value_name = "CLUSTER")]
    pub source_cluster: Option<String>,
    /// Name of the ProtectionRequest (default: protect-NAME).
    #[arg(long = "name", value_name = "N")]
    pub request_name: Option<String>,
}

impl VmTarget {
    /// The request name: `--name`, else `protect-<vm>`.
    pub fn request_name(&self) -> String {
        self.request_name
            .clone()
            .unwrap_or_else(|| format!("protect-{}", self.name))
    }
}

/// Arguments of `kubectl protect vm`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # Protect VM web-server in namespace production, primary cluster cluster1
  kubectl protect vm web-server -n production --source-cluster cluster1

  # Protect and follow progress until Protected or Failed
  kubectl protect vm web-server -n production --wait

  # Show the request that would be created, without creating it
  kubectl protect vm web-server -n production --dry-run=client -o yaml")]
pub struct VmArgs {
    #[command(flatten)]
    pub target: VmTarget,
    /// Follow progress until the request is Protected (exit 0) or Failed (exit 4).
    #[arg(long)]
    pub wait: bool,
    /// Only show what would be created: `client` builds it locally, `server` asks the API server
    /// (running admission, so a denial shows up here).
    #[arg(
        long,
        value_enum,
        value_name = "STRATEGY",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client"
    )]
    pub dry_run: Option<DryRun>,
    /// Print the request instead of a one-line summary.
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<ObjectFormat>,
}

/// Where a dry run is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Build the object locally; nothing is sent.
    Client,
    /// Send it to the API server with dryRun=All: defaulting and admission run, nothing persists.
    Server,
}

/// Machine-readable output of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Output of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// The table with SOURCE, DR and POLICY columns added.
    Wide,
    /// JSON (a List without NAME).
    Json,
    /// YAML (a List without NAME).
    Yaml,
}

/// Arguments of `kubectl protect status`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # All requests in the protection namespace
  kubectl protect status

  # One request in detail: timeline, conditions, volumes, events
  kubectl protect status protect-web-server

  # Follow a request until it is Protected or Failed
  kubectl protect status protect-web-server -w

  # Follow every request until all of them are Protected or Failed (Ctrl-C stops earlier)
  kubectl protect status -w")]
pub struct StatusArgs {
    /// Name of one ProtectionRequest to show in detail.
    pub name: Option<String>,
    /// List requests in every namespace (adds a NAMESPACE column).
    #[arg(short = 'A', long, conflicts_with = "name")]
    pub all_namespaces: bool,
    /// Only requests for VMs in this namespace on the primary cluster.
    #[arg(short = 'n', long = "namespace", value_name = "VM_NAMESPACE")]
    pub vm_namespace: Option<String>,
    /// Follow changes live until the request (with NAME) or every request listed (without NAME,
    /// at least one) is Protected or Failed; the exit code is then that of `status`.
    #[arg(short, long)]
    pub watch: bool,
    /// Output format.
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<StatusFormat>,
}

/// `kubectl protect check …`
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check that a VM can be protected: a server-side dry run of its ProtectionRequest (the
    /// webhook's rules) and the coverage of each of its PVCs by the replication policy.
    Vm(CheckVmArgs),
}

/// Arguments of `kubectl protect check vm`.
#[derive(Debug, Clone, Args)]
pub struct CheckVmArgs {
    #[command(flatten)]
    pub target: VmTarget,
}

/// Arguments of `kubectl protect unprotect`.
#[derive(Debug, Clone, Args)]
pub struct UnprotectArgs {
    /// Name of the ProtectionRequest to delete.
    pub name: String,
    /// Wait until the controller has restored the VM and the request is gone.
    #[arg(long)]
    pub wait: bool,
}

/// Arguments of `kubectl protect completion`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl protect completion bash > /etc/bash_completion.d/kubectl-protect
  kubectl protect completion zsh > \"${fpath[1]}/_kubectl-protect\"
  kubectl protect completion fish > ~/.config/fish/completions/kubectl-protect.fish

  # `kubectl protect <TAB>` through kubectl's own completion: an executable on PATH, next to
  # the plugin
  dir=$(dirname \"$(command -v kubectl-protect)\")
  kubectl protect completion kubectl-plugin > \"$dir/kubectl_complete-protect\"
  chmod +x \"$dir/kubectl_complete-protect\"")]
pub struct CompletionArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// The `kubectl_complete-protect` executable kubectl (1.26+) runs to complete
    /// `kubectl protect …` arguments in any shell kubectl's own completion is set up for.
    KubectlPlugin,
}

/// Arguments of `kubectl protect version`.
#[derive(Debug, Clone, Args)]
pub struct VersionArgs {
    /// Print the version as JSON or YAML.
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<ObjectFormat>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-protect").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn vm_takes_the_guides_flags() {
        let cli = parse(&[
            "vm",
            "web-server",
            "-n",
            "production",
            "--source-cluster",
            "cluster1",
            "--protection-namespace",
            "dr",
            "--name",
            "pr1",
            "--wait",
            "--dry-run=server",
            "-o",
            "yaml",
        ])
        .unwrap();
        let Command::Vm(vm) = cli.command else {
            panic!("not vm")
        };
        assert_eq!(vm.target.name, "web-server");
        assert_eq!(vm.target.vm_namespace.as_deref(), Some("production"));
        assert_eq!(vm.target.source_cluster.as_deref(), Some("cluster1"));
        assert_eq!(vm.target.request_name(), "pr1");
        assert!(vm.wait);
        assert_eq!(vm.dry_run, Some(DryRun::Server));
        assert_eq!(vm.output, Some(ObjectFormat::Yaml));
        assert_eq!(cli.global.protection_namespace, "dr");
    }

    #[test]
    fn vm_defaults_the_request_name_from_the_vm() {
        let cli = parse(&["vm", "web-server"]).unwrap();
        let Command::Vm(vm) = cli.command else {
            panic!("not vm")
        };
        assert_eq!(vm.target.request_name(), "protect-web-server");
        assert_eq!(vm.dry_run, None);
        assert!(vm.target.vm_namespace.is_none());
    }

    #[test]
    fn a_bare_dry_run_means_client() {
        let cli = parse(&["vm", "web-server", "--dry-run"]).unwrap();
        let Command::Vm(vm) = cli.command else {
            panic!("not vm")
        };
        assert_eq!(vm.dry_run, Some(DryRun::Client));
    }

    #[test]
    fn an_unknown_dry_run_strategy_is_a_usage_error() {
        let err = parse(&["vm", "web-server", "--dry-run=maybe"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn vm_without_a_name_is_a_usage_error() {
        let err = parse(&["vm"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn kubectl_flags_are_accepted_before_and_after_the_subcommand() {
        let before = parse(&["--kubeconfig", "/k", "--context", "quorum", "status"]).unwrap();
        let after = parse(&["status", "--kubeconfig", "/k", "--context", "quorum"]).unwrap();
        for cli in [before, after] {
            assert_eq!(cli.global.kubeconfig, Some(PathBuf::from("/k")));
            assert_eq!(cli.global.context.as_deref(), Some("quorum"));
        }
    }

    #[test]
    fn status_takes_name_watch_and_output() {
        let cli = parse(&["status", "protect-web-server", "-w", "-o", "wide"]).unwrap();
        let Command::Status(s) = cli.command else {
            panic!("not status")
        };
        assert_eq!(s.name.as_deref(), Some("protect-web-server"));
        assert!(s.watch);
        assert_eq!(s.output, Some(StatusFormat::Wide));
    }

    #[test]
    fn status_all_namespaces_excludes_a_name() {
        assert!(parse(&["status", "-A"]).is_ok());
        let err = parse(&["status", "x", "-A"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn status_rejects_unknown_formats() {
        let err = parse(&["status", "-o", "jsonpath"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn check_vm_shares_the_vm_target_flags() {
        let cli = parse(&["check", "vm", "web-server", "-n", "production"]).unwrap();
        let Command::Check(CheckCommand::Vm(c)) = cli.command else {
            panic!("not check vm")
        };
        assert_eq!(c.target.name, "web-server");
        assert_eq!(c.target.vm_namespace.as_deref(), Some("production"));
    }

    #[test]
    fn unprotect_completion_and_version_parse() {
        assert!(parse(&["unprotect", "protect-web-server", "--wait"]).is_ok());
        for shell in ["bash", "zsh", "fish"] {
            assert!(parse(&["completion", shell]).is_ok(), "{shell}");
        }
        assert!(parse(&["completion", "powershell"]).is_err());
        assert!(parse(&["version"]).is_ok());
    }

    #[test]
    fn help_names_the_command_as_kubectl_does_and_lists_subcommands_and_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Usage: kubectl protect"), "{help}");
        for sub in [
            "vm",
            "status",
            "check",
            "unprotect",
            "completion",
            "version",
        ] {
            assert!(
                help.contains(&format!("  {sub} ")),
                "{sub} missing:\n{help}"
            );
        }
        assert!(help.contains("Exit codes:"), "{help}");
    }
}
