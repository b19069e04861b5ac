//! One module per subcommand; `run` dispatches. Each command collects (API calls), transforms
//! (pure, in `render`/`health`) and displays.

pub mod check;
pub mod complete;
pub mod completion;
pub mod status;
pub mod unprotect;
pub mod version;
pub mod vm;

use protect_api::{ProtectionRequest, ProtectionRequestSpec};

use crate::cli::{CheckCommand, Cli, Command, GlobalArgs, VmTarget};
use crate::error::{Error, INSTALL_CRDS, Target};
use crate::exit::Exit;
use crate::render::Paint;

/// Colours for stdout: only on a terminal, and never under NO_COLOR (console checks it).
pub fn stdout_paint() -> Paint {
    Paint::new(console::Term::stdout().is_term() && console::colors_enabled())
}

/// Run the parsed command line.
pub async fn run(cli: Cli) -> Result<Exit, Error> {
    let global = cli.global;
    match cli.command {
        Command::Vm(args) => vm::run(&global, args).await,
        Command::Status(args) => status::run(&global, args).await,
        Command::Check(CheckCommand::Vm(args)) => check::run(&global, args).await,
        Command::Unprotect(args) => unprotect::run(&global, args).await,
        Command::Completion(args) => completion::run(args),
        Command::Version(args) => version::run(args),
    }
}

/// The target of a call on ProtectionRequests, for error messages.
pub fn request_target(namespace: &str, name: Option<&str>) -> Target {
    Target {
        kind: "ProtectionRequest",
        resource: "protectionrequests.siterecovery.trilio.io",
        namespace: Some(namespace.to_owned()),
        name: name.map(str::to_owned),
        install_hint: INSTALL_CRDS,
    }
}

/// The ProtectionRequest `vm` and `check vm` create, exactly as the guide's Example 1 writes it.
pub fn build_request(
    target: &VmTarget,
    vm_namespace: &str,
    global: &GlobalArgs,
) -> ProtectionRequest {
    let mut request = ProtectionRequest::new(
        &target.request_name(),
        ProtectionRequestSpec {
            vm_name: target.name.clone(),
            vm_namespace: vm_namespace.to_owned(),
            source_cluster: target.source_cluster.clone(),
        },
    );
    request.metadata.namespace = Some(global.protection_namespace.clone());
    request
}
