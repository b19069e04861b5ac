//! Rules for ProtectionRequests: required fields, one request per VM, a policy for the source
//! cluster, the VM on the primary cluster, coverage of its PVCs (protect-api's rule and
//! messages), and an immutable spec.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use protect_api::coverage::{assess, is_fully_covered, select_policy};
use protect_api::kubevirt::{RunStrategy, VirtualMachine};
use protect_api::{DRBDReplicationPolicy, ProtectionRequest, ProtectionRequestSpec};
use serde::Deserialize;
use serde_json::Value;

use super::{Decision, Denial};
use crate::admission::{ObjectJson, ObjectOnly};
use crate::facts::{LookupError, PrimaryView, VmRef};

/// The spec fields users set; `sourceCluster` may be filled by the mutating webhook.
const REQUIRED: [(&str, &str); 2] = [
    ("vmName", "the VirtualMachine's name on the primary cluster"),
    (
        "vmNamespace",
        "the VirtualMachine's namespace on the primary cluster",
    ),
];

/// What the rules read of a ProtectionRequest under review: its name and its spec. The rest of
/// the object — metadata the apiserver has already validated, a status it drops on create — is
/// not read, so it costs nothing to skip.
#[derive(Deserialize)]
struct UnderReview {
    #[serde(default)]
    metadata: NameOnly,
    spec: ObjectOnly<ProtectionRequestSpec>,
}

#[derive(Default, Deserialize)]
struct NameOnly {
    #[serde(default)]
    name: Option<String>,
}

impl UnderReview {
    fn into_request(self) -> ProtectionRequest {
        ProtectionRequest {
            metadata: ObjectMeta {
                name: self.metadata.name,
                ..ObjectMeta::default()
            },
            spec: self.spec.0,
            status: None,
        }
    }
}

/// Read a ProtectionRequest from an admission object, checking required fields first so that a
/// missing field gets a message naming it rather than a decoding error. The request carries
/// what the rules read: `metadata.name` and the spec.
///
/// # Errors
/// A 400 denial naming every missing or mistyped field and what to put there.
pub fn read(object: &Value, object_ref: &str) -> Result<ProtectionRequest, Denial> {
    let spec = object.get("spec");
    let mut problems = Vec::new();
    match spec {
        Some(Value::Object(spec)) => {
            for (field, meaning) in REQUIRED {
                match spec.get(field) {
                    Some(Value::String(s)) if !s.is_empty() => {}
                    Some(Value::String(_)) | None | Some(Value::Null) => {
                        problems.push(format!("spec.{field} is required ({meaning})"));
                    }
                    Some(_) => problems.push(format!("spec.{field} must be a string ({meaning})")),
                }
            }
            match spec.get("sourceCluster") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(_) => problems.push(
                    "spec.sourceCluster must be a non-empty string (the primaryCluster of a DRBDReplicationPolicy), or omitted when exactly one policy exists".to_owned(),
                ),
            }
        }
        _ => problems.push(
            "spec is required, with vmName and vmNamespace (and sourceCluster unless exactly one DRBDReplicationPolicy exists)".to_owned(),
        ),
    }
    if !problems.is_empty() {
        return Err(Denial::bad_request(
            "RequiredFields",
            format!(
                "ProtectionRequest {object_ref} is incomplete: {}",
                problems.join("; ")
            ),
        ));
    }
    UnderReview::deserialize(object)
        .map(UnderReview::into_request)
        .map_err(|e| {
            Denial::bad_request(
                "Decode",
                format!("ProtectionRequest {object_ref} cannot be read: {e}"),
            )
        })
}

/// [`read`] from the object's JSON text: straight into a ProtectionRequest when it reads as one
/// with its required fields, through `Value` otherwise, for [`read`]'s message. Either way the
/// answer is [`read`]'s.
///
/// `object_ref` names the object in a message; it is called only for one.
///
/// # Errors
/// As [`read`]; a 400 denial also when the text is not JSON (never for a parsed review).
pub fn read_json(
    object: &ObjectJson,
    object_ref: impl FnOnce() -> String,
) -> Result<ProtectionRequest, Denial> {
    if let Ok(request) = object
        .decode::<ObjectOnly<UnderReview>>()
        .map(|o| o.0.into_request())
        && has_required_fields(&request)
    {
        return Ok(request);
    }
    let object_ref = object_ref();
    let value = object.value().map_err(|e| {
        Denial::bad_request(
            "Decode",
            format!("ProtectionRequest {object_ref} cannot be read: {e}"),
        )
    })?;
    read(&value, &object_ref)
}

/// What [`read`] requires of the fields it checks, on a request that decoded: non-empty vmName
/// and vmNamespace, and a sourceCluster that is absent, null or non-empty.
fn has_required_fields(request: &ProtectionRequest) -> bool {
    let spec = &request.spec;
    !spec.vm_name.is_empty()
        && !spec.vm_namespace.is_empty()
        && spec.source_cluster.as_deref() != Some("")
}

/// The VM a request names.
pub fn vm_ref(request: &ProtectionRequest) -> VmRef {
    VmRef {
        namespace: request.spec.vm_namespace.clone(),
        name: request.spec.vm_name.clone(),
    }
}

/// The other request in the namespace that already protects the same VM, if any (the first
/// by name when there are several, whatever the order of `others`). Requests without
/// `sourceCluster` (not yet defaulted) match any cluster.
pub fn existing_request<'r>(
    request: &ProtectionRequest,
    others: &'r [Arc<ProtectionRequest>],
) -> Option<&'r ProtectionRequest> {
    let own_name = request.metadata.name.as_deref();
    others
        .iter()
        .map(Arc::as_ref)
        .filter(|other| {
            other.metadata.name.is_some()
                && other.metadata.name.as_deref() != own_name
                && other.spec.vm_name == request.spec.vm_name
                && other.spec.vm_namespace == request.spec.vm_namespace
                && match (&other.spec.source_cluster, &request.spec.source_cluster) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        })
        .min_by(|a, b| a.metadata.name.cmp(&b.metadata.name))
}

/// What CREATE is decided on. `primary` is what the primary cluster said about the VM; it is
/// `None` when the earlier rules already decided (the lookup is then skipped).
#[derive(Clone, Debug, Default)]
pub struct CreateFacts {
    /// Policies in the request's namespace.
    pub policies: Vec<Arc<DRBDReplicationPolicy>>,
    /// Requests in the request's namespace for the same VM (may include this one, by name).
    pub requests: Vec<Arc<ProtectionRequest>>,
    /// The primary cluster's answer.
    pub primary: Option<Result<PrimaryView, LookupError>>,
}

/// The rules that need no primary-cluster facts: required fields are already checked by
/// [`read`]; this checks one request per VM and the policy selection.
///
/// # Errors
/// The denial, when one of those rules fails; otherwise the selected policy.
pub fn precheck<'p>(
    request: &ProtectionRequest,
    namespace: &str,
    policies: &'p [Arc<DRBDReplicationPolicy>],
    requests: &[Arc<ProtectionRequest>],
) -> Result<&'p DRBDReplicationPolicy, Denial> {
    let vm = vm_ref(request);
    if let Some(existing) = existing_request(request, requests) {
        let name = existing.metadata.name.as_deref().unwrap_or_default();
        let deleting = if existing.metadata.deletion_timestamp.is_some() {
            " (it is being deleted; wait until it is gone, then create this one again)"
        } else {
            ""
        };
        return Err(Denial::forbidden(
            "AlreadyProtected",
            format!(
                "VirtualMachine {vm} is already protected by ProtectionRequest {name:?} in namespace {namespace:?}{deleting}; a VM can have only one ProtectionRequest — inspect it with `kubectl get pr {name} -n {namespace}`"
            ),
        ));
    }
    select_policy(policies, request.spec.source_cluster.as_deref()).map_err(|e| {
        Denial::forbidden(
            "NoPolicy",
            format!("VirtualMachine {vm} cannot be protected: {e}"),
        )
    })
}

/// Decide a CREATE: [`precheck`], then [`decide_on_primary`].
pub fn validate_create(
    request: &ProtectionRequest,
    namespace: &str,
    facts: &CreateFacts,
) -> Decision {
    match precheck(request, namespace, &facts.policies, &facts.requests) {
        Ok(policy) => decide_on_primary(request, policy, facts.primary.as_ref()),
        Err(denial) => Decision::deny(denial),
    }
}

/// Decide a CREATE that passed [`precheck`], which selected `policy`, from what the primary
/// cluster said about the VM (`None` when it was not asked).
pub fn decide_on_primary(
    request: &ProtectionRequest,
    policy: &DRBDReplicationPolicy,
    primary: Option<&Result<PrimaryView, LookupError>>,
) -> Decision {
    let vm = vm_ref(request);
    let cluster = &policy.spec.primary_cluster;
    let view = match primary {
        Some(Ok(view)) => view,
        Some(Err(LookupError::Unreachable { detail, .. })) => {
            return Decision::deny(Denial::unavailable(
                "PrimaryUnreachable",
                format!(
                    "cannot reach primary cluster {cluster:?} to look up VirtualMachine {vm}: {detail}; retry, or check the {} Secret",
                    policy.spec.primary_kubeconfig_secret
                ),
            ));
        }
        Some(Err(LookupError::Kubeconfig {
            namespace,
            secret,
            detail,
            ..
        })) => {
            return Decision::deny(Denial::unavailable(
                "PrimaryKubeconfig",
                format!(
                    "cannot reach primary cluster {cluster:?} to look up VirtualMachine {vm}: Secret {namespace}/{secret} {detail}; DRBDReplicationPolicy {:?} names it in spec.primaryKubeconfigSecret, and it needs key \"kubeconfig\" holding a kubeconfig for {cluster:?}",
                    policy.metadata.name.as_deref().unwrap_or_default()
                ),
            ));
        }
        None => {
            return Decision::deny(Denial::unavailable(
                "PrimaryNotAsked",
                format!(
                    "VirtualMachine {vm} could not be looked up on primary cluster {cluster:?}; retry"
                ),
            ));
        }
    };
    let Some(found) = &view.vm else {
        return Decision::deny(Denial::forbidden(
            "VmNotFound",
            format!(
                "VirtualMachine {vm} does not exist on primary cluster {cluster:?}; check spec.vmName and spec.vmNamespace (`kubectl get vm -n {} {}` on {cluster})",
                vm.namespace, vm.name
            ),
        ));
    };
    let mut warnings = run_strategy_warning(found, &vm)
        .into_iter()
        .collect::<Vec<_>>();
    // The common case, decided without building the assessment for its messages.
    if is_fully_covered(found, &view.pvcs, policy) {
        return Decision::allow().with_warnings(warnings);
    }
    let coverage = assess(found, &view.pvcs, policy);
    warnings.extend(coverage.unbound().map(|v| coverage.unbound_message(v)));
    match coverage.denial() {
        Some(message) => Decision::deny(Denial::forbidden("Coverage", message)),
        None => Decision::allow(),
    }
    .with_warnings(warnings)
}

/// A warning when activation cannot give the VM back exactly the run strategy it had.
/// Activation stops the VM (Halted) and then restores its strategy; only Always and Halted
/// survive that round trip unchanged. For Manual, Once and RerunOnFailure KubeVirt decides
/// differently whether the VM runs again, so the owner should look at it afterwards.
pub fn run_strategy_warning(vm: &VirtualMachine, name: &VmRef) -> Option<String> {
    let strategy = match vm.effective_run_strategy() {
        Ok(strategy) => strategy,
        Err(e) => {
            return Some(format!(
                "VirtualMachine {name}: {e}; activation cannot stop and restart it reliably"
            ));
        }
    };
    match strategy {
        RunStrategy::Always | RunStrategy::Halted => None,
        RunStrategy::WaitAsReceiver => Some(format!(
            "VirtualMachine {name} has runStrategy WaitAsReceiver (waiting for a live migration); activation cannot stop and restart it safely"
        )),
        other => Some(format!(
            "VirtualMachine {name} has runStrategy {}, which activation cannot restore exactly (it stops and restarts the VM); check that the VM runs afterwards",
            other.as_str()
        )),
    }
}

/// Decide an UPDATE: the spec is immutable; metadata and status may change.
pub fn validate_update(old: &Value, new: &Value, object_ref: &str) -> Decision {
    let empty = serde_json::Map::new();
    let spec_of = |o: &Value| o.get("spec").and_then(Value::as_object).cloned();
    let (old_spec, new_spec) = (spec_of(old), spec_of(new));
    let old_spec = old_spec.as_ref().unwrap_or(&empty);
    let new_spec = new_spec.as_ref().unwrap_or(&empty);
    let fields: BTreeSet<&String> = old_spec.keys().chain(new_spec.keys()).collect();
    let changed: Vec<String> = fields
        .into_iter()
        .filter(|f| old_spec.get(*f) != new_spec.get(*f))
        .map(|f| {
            format!(
                "spec.{f} changed from {} to {}",
                describe(old_spec.get(f)),
                describe(new_spec.get(f))
            )
        })
        .collect();
    if changed.is_empty() {
        return Decision::allow();
    }
    Decision::deny(Denial::forbidden(
        "SpecImmutable",
        format!(
            "the spec of ProtectionRequest {object_ref} is immutable: {}; to protect a different VM or use another source cluster, delete this request and create a new one",
            changed.join(", ")
        ),
    ))
}

fn describe(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(unset)".to_owned(),
        Some(v) => v.to_string(),
    }
}

#[cfg(test)]
mod tests;
