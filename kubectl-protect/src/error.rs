//! Errors a user can act on, each one line, each mapped to a documented exit code; and the
//! translation of API errors into them.

use kube::core::Status;

use crate::exit::Exit;

/// Which cluster an error concerns, for messages: "the quorum cluster https://… (context quorum)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef {
    /// Role of the cluster: `quorum` or `primary`.
    pub role: &'static str,
    /// The kubeconfig context used, if known.
    pub context: Option<String>,
    /// The API server URL.
    pub server: String,
}

impl std::fmt::Display for ClusterRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} cluster at {}", self.role, self.server)?;
        if let Some(context) = &self.context {
            write!(f, " (context {context:?})")?;
        }
        Ok(())
    }
}

/// What a failed API call was about, so a 404 can be told apart: a missing object, a missing
/// namespace, or a resource type the server does not know (CRDs not installed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Kind, e.g. `ProtectionRequest`.
    pub kind: &'static str,
    /// Resource, e.g. `protectionrequests.siterecovery.trilio.io`.
    pub resource: &'static str,
    /// Namespace of the call, if namespaced.
    pub namespace: Option<String>,
    /// Name of the object, for calls on one object.
    pub name: Option<String>,
    /// How to install the resource type when it is missing.
    pub install_hint: &'static str,
}

/// Install hint for this project's CRDs.
pub const INSTALL_CRDS: &str = "install the CRDs with `kubectl apply -f deploy/crds/` from the kubectl-protect repository (see its README)";
/// Install hint for KubeVirt.
pub const INSTALL_KUBEVIRT: &str = "KubeVirt must be installed on the primary cluster";

/// Everything that can stop a command. Each displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be read or has no usable context.
    #[error("cannot load kubeconfig: {0}")]
    Kubeconfig(String),
    /// The API server did not answer.
    #[error("cannot reach {cluster}: {detail}")]
    Unreachable {
        /// The cluster.
        cluster: Box<ClusterRef>,
        /// The innermost cause, e.g. "Connection refused (os error 111)".
        detail: String,
    },
    /// The server does not serve the resource: the CRDs (or KubeVirt) are not installed.
    #[error("{resource} is not served by {cluster}: {hint}")]
    ResourceMissing {
        /// The cluster.
        cluster: Box<ClusterRef>,
        /// The resource.
        resource: &'static str,
        /// What to install.
        hint: &'static str,
    },
    /// The named object does not exist.
    #[error("{kind} {name:?} not found in namespace {namespace:?} on {cluster}")]
    NotFound {
        /// The cluster.
        cluster: Box<ClusterRef>,
        /// Kind of the object.
        kind: &'static str,
        /// Namespace searched.
        namespace: String,
        /// Name looked for.
        name: String,
    },
    /// The namespace does not exist.
    #[error(
        "namespace {namespace:?} does not exist on {cluster}; create it, or choose another with --protection-namespace or KUBECTL_PROTECT_NAMESPACE"
    )]
    NamespaceMissing {
        /// The cluster.
        cluster: Box<ClusterRef>,
        /// The namespace.
        namespace: String,
    },
    /// RBAC said no.
    #[error("Error from server (Forbidden): {message}")]
    Forbidden {
        /// The server's message, naming user, verb and resource.
        message: String,
    },
    /// An admission webhook denied the request; `message` is the API server's text, which
    /// names the webhook and carries its reason.
    #[error("{}", server_error_line(.reason, .message))]
    AdmissionDenied {
        /// The Status reason, often empty for webhook denials.
        reason: String,
        /// `admission webhook "…" denied the request: …`
        message: String,
    },
    /// Any other error status from the API server, printed as kubectl prints it.
    #[error("{}", server_error_line(.reason, .message))]
    Api {
        /// The Status reason, e.g. `AlreadyExists`.
        reason: String,
        /// The Status message.
        message: String,
    },
    /// A problem found by the plugin itself, already phrased for the user.
    #[error("{0}")]
    Other(String),
    /// Writing output failed.
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The exit code this error ends the command with.
    pub fn exit(&self) -> Exit {
        match self {
            Error::AdmissionDenied { .. } => Exit::Denied,
            _ => Exit::Error,
        }
    }

    /// Classify a kube error from a call on `target` against `cluster`.
    pub fn from_kube(err: kube::Error, cluster: &ClusterRef, target: &Target) -> Self {
        match err {
            kube::Error::Api(status) => Self::from_status(&status, cluster, target),
            kube::Error::HyperError(_) | kube::Error::Service(_) => Error::Unreachable {
                cluster: Box::new(cluster.clone()),
                detail: innermost(&err),
            },
            other => Error::Other(format!("{}: {}", cluster, innermost(&other))),
        }
    }

    /// Classify a watcher error (the watcher wraps the same kube errors).
    pub fn from_watcher(
        err: kube::runtime::watcher::Error,
        cluster: &ClusterRef,
        target: &Target,
    ) -> Self {
        use kube::runtime::watcher::Error as W;
        match err {
            W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => {
                Self::from_kube(e, cluster, target)
            }
            W::WatchError(status) => Self::from_status(&status, cluster, target),
            W::NoResourceVersion => Error::Other(format!(
                "{cluster} sent a watch result without metadata.resourceVersion"
            )),
        }
    }

    /// Classify an error Status.
    pub fn from_status(status: &Status, cluster: &ClusterRef, target: &Target) -> Self {
        let details = status.details.as_ref();
        let detail_kind = details.map(|d| d.kind.as_str()).unwrap_or_default();
        let detail_name = details.map(|d| d.name.as_str()).unwrap_or_default();
        if is_admission_denial(&status.message) {
            return Error::AdmissionDenied {
                reason: status.reason.clone(),
                message: status.message.clone(),
            };
        }
        match status.code {
            404 => {
                if detail_kind == "namespaces" || status.message.starts_with("namespaces \"") {
                    Error::NamespaceMissing {
                        cluster: Box::new(cluster.clone()),
                        namespace: if detail_name.is_empty() {
                            target.namespace.clone().unwrap_or_default()
                        } else {
                            detail_name.to_owned()
                        },
                    }
                } else if let Some(name) = target.name.as_deref().filter(|n| *n == detail_name) {
                    Error::NotFound {
                        cluster: Box::new(cluster.clone()),
                        kind: target.kind,
                        namespace: target.namespace.clone().unwrap_or_default(),
                        name: name.to_owned(),
                    }
                } else {
                    // No object named in the answer: the path itself is unknown
                    // ("404 page not found", "the server could not find the requested resource").
                    Error::ResourceMissing {
                        cluster: Box::new(cluster.clone()),
                        resource: target.resource,
                        hint: target.install_hint,
                    }
                }
            }
            403 => Error::Forbidden {
                message: status.message.clone(),
            },
            401 => Error::Other(format!(
                "{cluster} rejected the credentials of the kubeconfig (Unauthorized): {}",
                status.message
            )),
            _ => Error::Api {
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
        }
    }
}

/// True for the API server's wording of a webhook denial.
pub fn is_admission_denial(message: &str) -> bool {
    message.starts_with("admission webhook ") && message.contains(" denied the request")
}

/// kubectl's `Error from server (Reason): message`, with the parenthesis left out when the
/// reason is empty or Unknown (as kubectl does for webhook denials without a reason).
pub fn server_error_line(reason: &str, message: &str) -> String {
    if reason.is_empty() || reason == "Unknown" || reason == "Failure" {
        format!("Error from server: {message}")
    } else {
        format!("Error from server ({reason}): {message}")
    }
}

/// The innermost cause's message: what the operating system or TLS library said.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use kube::core::response::StatusDetails;

    use super::*;

    fn quorum() -> ClusterRef {
        ClusterRef {
            role: "quorum",
            context: Some("quorum".into()),
            server: "https://127.0.0.1:6443".into(),
        }
    }

    fn get_request(name: &str) -> Target {
        Target {
            kind: "ProtectionRequest",
            resource: "protectionrequests.siterecovery.trilio.io",
            namespace: Some("dr-deployment".into()),
            name: Some(name.into()),
            install_hint: INSTALL_CRDS,
        }
    }

    fn status(code: u16, reason: &str, message: &str, details: Option<(&str, &str)>) -> Status {
        let mut s = Status::failure(message, reason).with_code(code);
        s.details = details.map(|(kind, name)| {
            serde_json::from_value::<StatusDetails>(serde_json::json!({"kind": kind, "name": name}))
                .unwrap()
        });
        s
    }

    #[test]
    fn a_webhook_denial_prints_like_kubectl_and_exits_5() {
        let msg = "admission webhook \"validate.siterecovery.trilio.io\" denied the request: VirtualMachine production/web-server cannot be protected";
        let err = Error::from_status(&status(403, "", msg, None), &quorum(), &get_request("x"));
        assert_eq!(err.exit(), Exit::Denied);
        assert_eq!(err.to_string(), format!("Error from server: {msg}"));
    }

    #[test]
    fn a_404_naming_the_object_is_not_found() {
        let err = Error::from_status(
            &status(
                404,
                "NotFound",
                "protectionrequests.siterecovery.trilio.io \"x\" not found",
                Some(("protectionrequests", "x")),
            ),
            &quorum(),
            &get_request("x"),
        );
        assert_eq!(
            err.to_string(),
            "ProtectionRequest \"x\" not found in namespace \"dr-deployment\" on the quorum cluster at https://127.0.0.1:6443 (context \"quorum\")"
        );
    }

    #[test]
    fn a_bare_404_means_the_crds_are_not_installed() {
        let err = Error::from_status(
            &status(
                404,
                "Failed to parse error data",
                "404 page not found",
                None,
            ),
            &quorum(),
            &get_request("x"),
        );
        let text = err.to_string();
        assert!(text.contains("kubectl apply -f deploy/crds/"), "{text}");
        assert!(text.contains("context \"quorum\""), "{text}");
    }

    #[test]
    fn a_404_naming_a_namespace_says_the_namespace_is_missing() {
        let err = Error::from_status(
            &status(
                404,
                "NotFound",
                "namespaces \"dr-deployment\" not found",
                Some(("namespaces", "dr-deployment")),
            ),
            &quorum(),
            &get_request("x"),
        );
        assert!(
            matches!(err, Error::NamespaceMissing { ref namespace, .. } if namespace == "dr-deployment")
        );
        assert!(err.to_string().contains("--protection-namespace"));
    }

    #[test]
    fn forbidden_keeps_the_servers_message() {
        let err = Error::from_status(
            &status(
                403,
                "Forbidden",
                "protectionrequests.siterecovery.trilio.io is forbidden: User \"bob\" cannot create resource",
                None,
            ),
            &quorum(),
            &get_request("x"),
        );
        assert!(
            err.to_string()
                .starts_with("Error from server (Forbidden): protectionrequests")
        );
        assert_eq!(err.exit(), Exit::Error);
    }

    #[test]
    fn other_statuses_print_their_reason() {
        let err = Error::from_status(
            &status(
                409,
                "AlreadyExists",
                "protectionrequests.siterecovery.trilio.io \"x\" already exists",
                None,
            ),
            &quorum(),
            &get_request("x"),
        );
        assert_eq!(
            err.to_string(),
            "Error from server (AlreadyExists): protectionrequests.siterecovery.trilio.io \"x\" already exists"
        );
    }

    #[test]
    fn every_error_is_one_line() {
        let err = Error::Unreachable {
            cluster: Box::new(quorum()),
            detail: "Connection refused (os error 111)".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot reach the quorum cluster at https://127.0.0.1:6443 (context \"quorum\"): Connection refused (os error 111)"
        );
        assert!(!err.to_string().contains('\n'));
    }
}
