//! `kubectl protect unprotect NAME`: delete the request; the controller's finalizer restores
//! the VM's original volumes and removes the DRBD resources before the object goes away.

use kube::Api;
use kube::api::DeleteParams;
use protect_api::ProtectionRequest;

use super::{request_target, stdout_paint};
use crate::cli::{GlobalArgs, UnprotectArgs};
use crate::connect;
use crate::error::Error;
use crate::exit::Exit;
use crate::follow::{self, Display, Until};

/// The line printed once the delete was accepted.
pub fn deleting_line(name: &str, wait: bool) -> String {
    if wait {
        format!(
            "protectionrequest.siterecovery.trilio.io/{name} deletion requested; waiting for the controller to restore the VM"
        )
    } else {
        format!("protectionrequest.siterecovery.trilio.io/{name} deleted")
    }
}

/// Delete the request; with `--wait`, until it is gone.
pub async fn run(global: &GlobalArgs, args: UnprotectArgs) -> Result<Exit, Error> {
    let conn = connect::quorum(global).await?;
    let namespace = global.protection_namespace.as_str();
    let api: Api<ProtectionRequest> = Api::namespaced(conn.client.clone(), namespace);
    let target = request_target(namespace, Some(&args.name));
    api.delete(&args.name, &DeleteParams::default())
        .await
        .map_err(|e| Error::from_kube(e, &conn.cluster, &target))?;
    println!("{}", deleting_line(&args.name, args.wait));
    if args.wait {
        let mut display = Display::for_stdout(stdout_paint());
        follow::follow_request(&conn, namespace, &args.name, Until::Gone, &mut display).await?;
    }
    Ok(Exit::Ok)
}
