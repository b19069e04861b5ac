//! One AdmissionReview in, one answer out: read the body, gather the facts the kind's rules
//! need, decide, and shape the response. No HTTP here, so tests (and the property test) call
//! [`review`] directly.

use futures::future::BoxFuture;
use protect_api::well_known::GROUP;
use serde_json::{Value, json};
use tracing::{debug, info};

use crate::admission::{AdmissionRequest, AdmissionResponse, ObjectJson, Operation, parse_review};
use crate::facts::Facts;
use crate::rules::{Decision, Denial, mutate, protection_request, replication_policy};

/// Which webhook the apiserver called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /validate`.
    Validate,
    /// `POST /mutate`.
    Mutate,
}

impl Endpoint {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

/// What the reviews metric counts, once per review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `ProtectionRequest`, `DRBDReplicationPolicy`, another kind, or `unknown` for an unreadable
    /// review.
    pub kind: String,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `unknown`.
    pub operation: &'static str,
    /// `allowed`, `patched`, `denied` or `invalid` (unreadable review).
    pub verdict: &'static str,
}

/// The HTTP answer to one review.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// 200 for every AdmissionReview answer (a denial is still a successful review); 400 when
    /// the body is not a review and carries no uid to answer to.
    pub status: u16,
    /// The JSON body: an AdmissionReview, or a `Status` for a 400.
    pub body: Vec<u8>,
    /// For metrics.
    pub outcome: Outcome,
}

impl Reply {
    /// The body as a `Value` (`Null` if it were not JSON), for tests and tools.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The body of an HTTP error that cannot be an AdmissionReview (no uid to echo): a Kubernetes
/// `Status`, so the apiserver logs something readable.
pub fn error_status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// Answer one AdmissionReview body. Never panics; echoes `request.uid` whenever the body has
/// a string uid.
pub async fn review(endpoint: Endpoint, body: &[u8], facts: &dyn Facts) -> Reply {
    let request = match parse_review(body) {
        Ok(request) => request,
        Err(unreadable) => {
            let message = format!(
                "protect-webhook cannot process this AdmissionReview: {}",
                unreadable.error
            );
            debug!(
                error = unreadable.error.label(),
                "unreadable AdmissionReview"
            );
            let outcome = Outcome {
                kind: "unknown".to_owned(),
                operation: "unknown",
                verdict: "invalid",
            };
            return match unreadable.uid {
                Some(uid) => Reply {
                    status: 200,
                    body: AdmissionResponse::deny_with(uid, 400, "BadRequest", message)
                        .review_json(),
                    outcome,
                },
                None => Reply {
                    status: 400,
                    body: error_status(400, "BadRequest", &message)
                        .to_string()
                        .into_bytes(),
                    outcome,
                },
            };
        }
    };
    let decision = decide(endpoint, &request, facts).await;
    let verdict = match (&decision.denial, decision.patch.is_empty()) {
        (Some(_), _) => "denied",
        (None, false) => "patched",
        (None, true) => "allowed",
    };
    // Field values are computed only when the event is enabled.
    match &decision.denial {
        Some(denial) => info!(
            endpoint = endpoint.as_str(),
            kind = %request.kind.kind,
            operation = request.operation.as_str(),
            object = %request.object_ref(),
            rule = denial.rule,
            "Denied"
        ),
        None => debug!(
            endpoint = endpoint.as_str(),
            kind = %request.kind.kind,
            operation = request.operation.as_str(),
            object = %request.object_ref(),
            verdict,
            "Admitted"
        ),
    }
    let response = match decision.denial {
        Some(Denial {
            code,
            reason,
            message,
            ..
        }) => AdmissionResponse::deny_with(&request.uid, code, reason, message),
        None => {
            AdmissionResponse::allow(&request.uid).with_patch(&json_patch::Patch(decision.patch))
        }
    }
    .with_warnings(decision.warnings);
    Reply {
        status: 200,
        body: response.review_json(),
        outcome: Outcome {
            kind: request.kind.kind.clone(),
            operation: request.operation.as_str(),
            verdict,
        },
    }
}

/// Admission of one kind, as the linkerd policy controller does it: each kind knows how to
/// validate and default itself; failures become denials.
trait Admit: Sync {
    fn validate<'a>(
        &'a self,
        request: &'a AdmissionRequest,
        facts: &'a dyn Facts,
    ) -> BoxFuture<'a, Decision>;
    fn mutate(&self, request: &AdmissionRequest, facts: &dyn Facts) -> Decision;
}

struct ProtectionRequestAdmission;
struct ReplicationPolicyAdmission;

async fn decide(endpoint: Endpoint, request: &AdmissionRequest, facts: &dyn Facts) -> Decision {
    // Deleting is never blocked: unprotect must always be possible, whatever a webhook
    // configuration says (and a CONNECT has nothing for us to judge).
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return Decision::allow();
    }
    // Status writes come from the controller; there is nothing in them to judge or default.
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Decision::allow();
    }
    let admission: &dyn Admit = match (request.kind.group.as_str(), request.kind.kind.as_str()) {
        (GROUP, "ProtectionRequest") => &ProtectionRequestAdmission,
        (GROUP, "DRBDReplicationPolicy") => &ReplicationPolicyAdmission,
        (group, kind) => {
            return Decision::deny(Denial::bad_request(
                "UnexpectedKind",
                format!(
                    "protect-webhook admits only ProtectionRequest and DRBDReplicationPolicy of {GROUP}, not {kind} of group {group:?}; fix the rules of the webhook configuration"
                ),
            ));
        }
    };
    match endpoint {
        Endpoint::Validate => admission.validate(request, facts).await,
        Endpoint::Mutate => admission.mutate(request, facts),
    }
}

/// A 400 denial about the review's object: "the AdmissionReview for CREATE ns/name {problem}".
fn bad_object(request: &AdmissionRequest, reason: &'static str, problem: &str) -> Decision {
    Decision::deny(Denial::bad_request(
        reason,
        format!(
            "the AdmissionReview for {} {} {problem}",
            request.operation.as_str(),
            request.object_ref()
        ),
    ))
}

fn missing_object(request: &AdmissionRequest) -> Decision {
    bad_object(request, "MissingObject", "has no object")
}

/// An object as a `Value`, for the rules that read it field by field. Only an object that does
/// not read as JSON — which a parsed review never has — is refused.
fn value_of(request: &AdmissionRequest, object: &ObjectJson) -> Result<Value, Decision> {
    object.value().map_err(|e| {
        bad_object(
            request,
            "MalformedObject",
            &format!("has an object that is not valid JSON: {e}"),
        )
    })
}

fn namespace(request: &AdmissionRequest) -> &str {
    request.namespace.as_deref().unwrap_or_default()
}

impl Admit for ProtectionRequestAdmission {
    fn validate<'a>(
        &'a self,
        request: &'a AdmissionRequest,
        facts: &'a dyn Facts,
    ) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let Some(object) = &request.object else {
                return missing_object(request);
            };
            if request.operation == Operation::Update {
                let Some(old) = &request.old_object else {
                    return missing_object(request);
                };
                return match (value_of(request, old), value_of(request, object)) {
                    (Ok(old), Ok(new)) => {
                        protection_request::validate_update(&old, &new, &request.object_ref())
                    }
                    (Err(denial), _) | (_, Err(denial)) => denial,
                };
            }
            let pr = match protection_request::read_json(object, || request.object_ref()) {
                Ok(pr) => pr,
                Err(denial) => return Decision::deny(denial),
            };
            let ns = namespace(request);
            let vm = protection_request::vm_ref(&pr);
            let policies = facts.policies(ns);
            let requests = facts.requests_for(ns, &vm);
            // Ask the primary cluster only when the cheap rules pass (`validate_create`, with
            // the lookup between its two steps).
            match protection_request::precheck(&pr, ns, &policies, &requests) {
                Ok(policy) => {
                    let primary = facts.primary(ns, policy, &vm).await;
                    protection_request::decide_on_primary(&pr, policy, Some(&primary))
                }
                Err(denial) => Decision::deny(denial),
            }
        })
    }

    fn mutate(&self, request: &AdmissionRequest, facts: &dyn Facts) -> Decision {
        let Some(object) = &request.object else {
            return missing_object(request);
        };
        let object = match value_of(request, object) {
            Ok(object) => object,
            Err(denial) => return denial,
        };
        let policies = if request.operation == Operation::Create {
            facts.policies(namespace(request))
        } else {
            Vec::new()
        };
        let (patch, warnings) = mutate::mutate(&object, request.operation, &policies);
        Decision {
            denial: None,
            warnings,
            patch,
        }
    }
}

impl Admit for ReplicationPolicyAdmission {
    fn validate<'a>(
        &'a self,
        request: &'a AdmissionRequest,
        facts: &'a dyn Facts,
    ) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let Some(object) = &request.object else {
                return missing_object(request);
            };
            let object = match value_of(request, object) {
                Ok(object) => object,
                Err(denial) => return denial,
            };
            let others = facts.policies(namespace(request));
            replication_policy::validate(&object, &request.object_ref(), &others)
        })
    }

    fn mutate(&self, _request: &AdmissionRequest, _facts: &dyn Facts) -> Decision {
        Decision::allow()
    }
}

#[cfg(test)]
mod tests;
