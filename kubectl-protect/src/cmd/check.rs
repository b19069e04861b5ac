//! `kubectl protect check vm NAME`: preflight. A server-side dry-run create of the request
//! runs exactly the webhook's admission rules; then the coverage of each PVC is computed with
//! protect-api's rules from the policy (quorum cluster) and the VM and PVCs (primary cluster,
//! reached through the policy's kubeconfig Secret).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::Api;
use kube::api::{ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use protect_api::coverage::{self, Coverage, PvcFacts};
use protect_api::kubevirt::VirtualMachine;
use protect_api::{DRBDReplicationPolicy, ProtectionRequest, well_known};

use super::{build_request, request_target, stdout_paint};
use crate::cli::{CheckVmArgs, GlobalArgs};
use crate::connect::{self, Connection};
use crate::error::{Error, INSTALL_CRDS, INSTALL_KUBEVIRT, Target};
use crate::exit::Exit;
use crate::render::check::{Admission, CheckReport, render_check};

/// Run the preflight and print the report.
pub async fn run(global: &GlobalArgs, args: CheckVmArgs) -> Result<Exit, Error> {
    let quorum = connect::quorum(global).await?;
    let namespace = global.protection_namespace.clone();
    let vm_namespace = args
        .target
        .vm_namespace
        .clone()
        .unwrap_or_else(|| quorum.default_namespace.clone());
    let request = build_request(&args.target, &vm_namespace, global);
    let name = args.target.request_name();

    let admission = dry_run(&quorum, &namespace, &name, &request).await?;
    let source_cluster = match &admission {
        Admission::Accepted { source_cluster } => source_cluster.clone(),
        _ => args.target.source_cluster.clone(),
    };
    let coverage = assess(
        &quorum,
        &namespace,
        &vm_namespace,
        &args.target.name,
        source_cluster.as_deref(),
    )
    .await;
    let report = CheckReport {
        request: format!("{namespace}/{name}"),
        vm: format!("{vm_namespace}/{}", args.target.name),
        admission,
        coverage,
    };
    print!("{}", render_check(&report, stdout_paint()));
    Ok(report.exit())
}

/// The admission verdict. Errors that make any check pointless (unreachable quorum, CRDs
/// missing, namespace missing) end the command; others are reported.
async fn dry_run(
    quorum: &Connection,
    namespace: &str,
    name: &str,
    request: &ProtectionRequest,
) -> Result<Admission, Error> {
    let api: Api<ProtectionRequest> = Api::namespaced(quorum.client.clone(), namespace);
    let params = PostParams {
        dry_run: true,
        ..Default::default()
    };
    match api.create(&params, request).await {
        Ok(accepted) => Ok(Admission::Accepted {
            source_cluster: accepted.spec.source_cluster,
        }),
        Err(e) => {
            match Error::from_kube(e, &quorum.cluster, &request_target(namespace, Some(name))) {
                denied @ Error::AdmissionDenied { .. } => Ok(Admission::Denied(denied.to_string())),
                fatal @ (Error::Unreachable { .. }
                | Error::ResourceMissing { .. }
                | Error::NamespaceMissing { .. }) => Err(fatal),
                other => Ok(Admission::Error(other.to_string())),
            }
        }
    }
}

fn policy_target(namespace: &str) -> Target {
    Target {
        kind: "DRBDReplicationPolicy",
        resource: "drbdreplicationpolicies.siterecovery.trilio.io",
        namespace: Some(namespace.to_owned()),
        name: None,
        install_hint: INSTALL_CRDS,
    }
}

/// Coverage of the VM's PVCs, or one sentence saying which step failed.
async fn assess(
    quorum: &Connection,
    namespace: &str,
    vm_namespace: &str,
    vm_name: &str,
    source_cluster: Option<&str>,
) -> Result<Coverage, String> {
    let policies = Api::<DRBDReplicationPolicy>::namespaced(quorum.client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::from_kube(e, &quorum.cluster, &policy_target(namespace)).to_string())?
        .items;
    let policy = coverage::select_policy(&policies, source_cluster).map_err(|e| e.to_string())?;
    let primary = primary_connection(quorum, namespace, policy).await?;

    let vm_target = Target {
        kind: "VirtualMachine",
        resource: "virtualmachines.kubevirt.io",
        namespace: Some(vm_namespace.to_owned()),
        name: Some(vm_name.to_owned()),
        install_hint: INSTALL_KUBEVIRT,
    };
    let vm = Api::<VirtualMachine>::namespaced(primary.client.clone(), vm_namespace)
        .get(vm_name)
        .await
        .map_err(|e| Error::from_kube(e, &primary.cluster, &vm_target).to_string())?;
    let pvc_target = Target {
        kind: "PersistentVolumeClaim",
        resource: "persistentvolumeclaims",
        namespace: Some(vm_namespace.to_owned()),
        name: None,
        install_hint: "",
    };
    let pvcs: BTreeMap<String, PvcFacts> =
        Api::<PersistentVolumeClaim>::namespaced(primary.client.clone(), vm_namespace)
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::from_kube(e, &primary.cluster, &pvc_target).to_string())?
            .items
            .iter()
            .filter_map(|p| Some((p.metadata.name.clone()?, PvcFacts::from_pvc(p))))
            .collect();
    Ok(coverage::assess(&vm, &pvcs, policy))
}

/// A client for the policy's primary cluster from its kubeconfig Secret.
pub(crate) async fn primary_connection(
    quorum: &Connection,
    namespace: &str,
    policy: &DRBDReplicationPolicy,
) -> Result<Connection, String> {
    let secret_name = policy.spec.primary_kubeconfig_secret.as_str();
    let secret_target = Target {
        kind: "Secret",
        resource: "secrets",
        namespace: Some(namespace.to_owned()),
        name: Some(secret_name.to_owned()),
        install_hint: "",
    };
    let secret = Api::<Secret>::namespaced(quorum.client.clone(), namespace)
        .get(secret_name)
        .await
        .map_err(|e| Error::from_kube(e, &quorum.cluster, &secret_target).to_string())?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(well_known::KUBECONFIG_SECRET_KEY))
        .map(|b| b.0.clone())
        .ok_or_else(|| {
            format!(
                "Secret {namespace}/{secret_name} has no key {:?}",
                well_known::KUBECONFIG_SECRET_KEY
            )
        })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("Secret {namespace}/{secret_name}: the kubeconfig is not UTF-8"))?;
    let kubeconfig = Kubeconfig::from_yaml(&text)
        .map_err(|e| format!("Secret {namespace}/{secret_name}: invalid kubeconfig: {e}"))?;
    let context = kubeconfig.current_context.clone();
    connect::connect(
        kubeconfig,
        &KubeConfigOptions::default(),
        "primary",
        context,
    )
    .await
    .map_err(|e| format!("Secret {namespace}/{secret_name}: {e}"))
}
