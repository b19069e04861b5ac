//! `kubectl protect vm NAME`: create the ProtectionRequest for a VM, optionally dry-run, and
//! optionally follow it until Protected or Failed.

use kube::Api;
use kube::api::PostParams;
use protect_api::ProtectionRequest;

use super::{build_request, request_target, stdout_paint};
use crate::cli::{DryRun, GlobalArgs, VmArgs};
use crate::connect;
use crate::error::Error;
use crate::exit::Exit;
use crate::follow::{self, Display, Ended, Until};
use crate::health::health;
use crate::render::{output, progress};

/// The one-line summary kubectl prints after a create.
pub fn created_line(name: &str, dry_run: Option<DryRun>) -> String {
    let suffix = match dry_run {
        None => "",
        Some(DryRun::Client) => " (dry run)",
        Some(DryRun::Server) => " (server dry run)",
    };
    format!("protectionrequest.siterecovery.trilio.io/{name} created{suffix}")
}

/// Create (or dry-run) the request.
pub async fn run(global: &GlobalArgs, args: VmArgs) -> Result<Exit, Error> {
    if args.dry_run == Some(DryRun::Client) {
        // Nothing is sent: the VM namespace default comes from the kubeconfig alone.
        let kubeconfig = connect::load_kubeconfig(global)?;
        let options = connect::options(global);
        connect::check_context(&kubeconfig, &options)?;
        let vm_namespace = args
            .target
            .vm_namespace
            .clone()
            .unwrap_or_else(|| connect::context_namespace(&kubeconfig, &options));
        let request = build_request(&args.target, &vm_namespace, global);
        return print_result(&request, &args);
    }

    let conn = connect::quorum(global).await?;
    let vm_namespace = args
        .target
        .vm_namespace
        .clone()
        .unwrap_or_else(|| conn.default_namespace.clone());
    let request = build_request(&args.target, &vm_namespace, global);
    let namespace = global.protection_namespace.as_str();
    let name = args.target.request_name();
    let api: Api<ProtectionRequest> = Api::namespaced(conn.client.clone(), namespace);
    let params = PostParams {
        dry_run: args.dry_run == Some(DryRun::Server),
        ..Default::default()
    };
    let created = api
        .create(&params, &request)
        .await
        .map_err(|e| Error::from_kube(e, &conn.cluster, &request_target(namespace, Some(&name))))?;
    print_result(&created, &args)?;

    if !args.wait || args.dry_run.is_some() {
        return Ok(Exit::Ok);
    }
    let mut display = Display::for_stdout(stdout_paint());
    match follow::follow_request(&conn, namespace, &name, Until::Final, &mut display).await? {
        Ended::Final(request) => {
            println!("{}", progress::final_line(&request));
            Ok(health(&request).exit())
        }
        Ended::Gone => Ok(Exit::Error),
    }
}

fn print_result(request: &ProtectionRequest, args: &VmArgs) -> Result<Exit, Error> {
    match args.output {
        Some(format) => print!(
            "{}",
            output::format(&output::without_managed_fields(request), format)?
        ),
        None => println!(
            "{}",
            created_line(
                request.metadata.name.as_deref().unwrap_or_default(),
                args.dry_run
            )
        ),
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_line_reads_like_kubectl() {
        assert_eq!(
            created_line("protect-web-server", None),
            "protectionrequest.siterecovery.trilio.io/protect-web-server created"
        );
        assert_eq!(
            created_line("p", Some(DryRun::Server)),
            "protectionrequest.siterecovery.trilio.io/p created (server dry run)"
        );
    }
}
