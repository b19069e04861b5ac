//! Admission webhooks, called the way kube-apiserver calls them: mutating webhooks one after
//! another (configurations by name, webhooks in order), then — after the caller has run schema
//! defaulting and validation — validating webhooks; AdmissionReview `admission.k8s.io/v1` over
//! HTTPS verified against the configuration's `caBundle`; `failurePolicy`, `timeoutSeconds`,
//! rules with subresources, namespace and object selectors, warnings, and the denial texts
//! clients print.
//!
//! Upstream: `k8s.io/apiserver/pkg/admission/plugin/webhook/{mutating,validating}/dispatcher.go`,
//! `predicates/rules/rules.go`, `errors/statuserror.go`; captured exchanges in
//! `shared/conformance/kube-apiserver/6*-webhook-*` and `68*-admreview-*`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use protect_lab_apimachinery::patch::json_patch;
use protect_lab_apimachinery::selector::LabelSelector;
use protect_lab_apimachinery::status;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Map, Value, json};

use crate::write::{Attributes, Operation};

/// Webhook configurations are never themselves admitted (upstream
/// `IsExemptAdmissionConfigurationResource`), so a broken webhook can always be removed.
const ADMISSION_GROUP: &str = "admissionregistration.k8s.io";

/// One request as admission sees it: the write path's [`Attributes`], the object as it would
/// be stored (`None` for DELETE), and the labels of its namespace for `namespaceSelector`.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub attrs: &'a Attributes<'a>,
    pub object: Option<&'a Value>,
    pub namespace_labels: Option<&'a Map<String, Value>>,
}

impl Request<'_> {
    fn namespace(&self) -> Option<&str> {
        Some(self.attrs.namespace).filter(|ns| !ns.is_empty())
    }
}

/// The `options` kind an AdmissionReview carries for each operation.
fn options_kind(operation: Operation) -> &'static str {
    match operation {
        Operation::Create => "CreateOptions",
        Operation::Update => "UpdateOptions",
        Operation::Delete => "DeleteOptions",
    }
}

/// What passed admission: the (possibly mutated) object and the warnings to send back as
/// `Warning: 299 - "…"` headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub object: Option<Value>,
    pub warnings: Vec<String>,
}

/// A request admission refused: the HTTP code, the `metav1.Status` body, and the warnings
/// earlier webhooks returned (the client still sees them, as 65 shows).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub code: u16,
    pub status: Value,
    pub warnings: Vec<String>,
}

/// Maps a webhook `service` reference (namespace, name, port) to the loopback address where
/// the lab reaches it; `None` means no such service.
pub type ServiceResolver = Arc<dyn Fn(&str, &str, u16) -> Option<SocketAddr> + Send + Sync>;

/// The webhook caller of one cluster.
#[derive(Clone)]
pub struct Webhooks {
    resolve_service: ServiceResolver,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

/// Which of the two configuration kinds a webhook came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Mutating,
    Validating,
}

impl Webhooks {
    pub fn new(resolve_service: ServiceResolver) -> Self {
        Self { resolve_service }
    }

    /// Runs every matching webhook of the `MutatingWebhookConfiguration`s, in order, each
    /// seeing the previous one's patch.
    pub async fn mutate(
        &self,
        configurations: &[Value],
        request: &Request<'_>,
    ) -> Result<Admitted, Rejected> {
        let mut object = request.object.cloned();
        let mut warnings = Vec::new();
        for hook in matching_webhooks(configurations, request) {
            let current = Request {
                object: object.as_ref(),
                ..*request
            };
            match self.call(hook, &current, Phase::Mutating).await {
                Ok(reply) => {
                    warnings.extend(reply.warnings);
                    if let Some(patch) = reply.patch {
                        let Some(target) = object.as_ref() else {
                            continue;
                        };
                        match json_patch(target, &patch) {
                            Ok(patched) => object = Some(patched),
                            Err(err) => {
                                let cause = format!(
                                    "admission webhook {} returned a patch that cannot be applied: {err}",
                                    status::go_quote(hook_name(hook))
                                );
                                return Err(Rejected {
                                    code: 500,
                                    status: status::internal_error(&cause),
                                    warnings,
                                });
                            }
                        }
                    }
                }
                Err(HookFailure::Denied(status, hook_warnings)) => {
                    warnings.extend(hook_warnings);
                    return Err(denied(status, warnings));
                }
                Err(HookFailure::Call(reason)) => {
                    if fails_closed(hook) {
                        return Err(calling_error(hook_name(hook), &reason, warnings));
                    }
                    tracing::warn!(webhook = hook_name(hook), %reason, "failed calling webhook, ignored by failurePolicy");
                }
            }
        }
        Ok(Admitted { object, warnings })
    }

    /// Runs every matching webhook of the `ValidatingWebhookConfiguration`s; the first denial
    /// wins. Returns the warnings.
    pub async fn validate(
        &self,
        configurations: &[Value],
        request: &Request<'_>,
    ) -> Result<Vec<String>, Rejected> {
        let mut warnings = Vec::new();
        for hook in matching_webhooks(configurations, request) {
            match self.call(hook, request, Phase::Validating).await {
                Ok(reply) => warnings.extend(reply.warnings),
                Err(HookFailure::Denied(status, hook_warnings)) => {
                    warnings.extend(hook_warnings);
                    return Err(denied(status, warnings));
                }
                Err(HookFailure::Call(reason)) => {
                    if fails_closed(hook) {
                        return Err(calling_error(hook_name(hook), &reason, warnings));
                    }
                    tracing::warn!(webhook = hook_name(hook), %reason, "failed calling webhook, ignored by failurePolicy");
                }
            }
        }
        Ok(warnings)
    }

    async fn call(
        &self,
        hook: &Value,
        request: &Request<'_>,
        phase: Phase,
    ) -> Result<Reply, HookFailure> {
        let name = hook_name(hook);
        let timeout = hook
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(10)
            .clamp(1, 30);
        let endpoint = self.endpoint(hook, timeout)?;

        // A dry-run request may reach only webhooks that declare no side effects; otherwise
        // it is refused whatever the failurePolicy (`webhookerrors.NewDryRunUnsupportedErr`).
        if request.attrs.dry_run {
            let side_effects = hook
                .get("sideEffects")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !matches!(side_effects, "None" | "NoneOnDryRun") {
                let message = format!(
                    "admission webhook {} does not support dry run",
                    status::go_quote(name)
                );
                return Err(HookFailure::Denied(
                    status::failure(400, Some("BadRequest"), &message),
                    Vec::new(),
                ));
            }
        }

        let uid = uuid::Uuid::new_v4().to_string();
        let review = review(&uid, request);
        let body = serde_json::to_vec(&review)
            .map_err(|e| HookFailure::Call(format!("failed to encode AdmissionReview: {e}")))?;
        let call = post(&endpoint, body);
        let response = match tokio::time::timeout(Duration::from_secs(timeout), call).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(reason)) => {
                return Err(HookFailure::Call(format!(
                    "failed to call webhook: Post {:?}: {reason}",
                    endpoint.url
                )));
            }
            Err(_) => {
                return Err(HookFailure::Call(format!(
                    "failed to call webhook: Post {:?}: context deadline exceeded",
                    endpoint.url
                )));
            }
        };
        let reply = parse_reply(&response, &uid, phase)
            .map_err(|e| HookFailure::Call(format!("received invalid webhook response: {e}")))?;
        if reply.allowed {
            Ok(reply)
        } else {
            Err(HookFailure::Denied(
                status::webhook_denied(name, reply.status.as_ref()),
                reply.warnings,
            ))
        }
    }

    fn endpoint(&self, hook: &Value, timeout: u64) -> Result<Endpoint, HookFailure> {
        let client = hook.get("clientConfig").cloned().unwrap_or(Value::Null);
        let ca_bundle = client.get("caBundle").and_then(Value::as_str).unwrap_or("");
        let ca_pem = base64::engine::general_purpose::STANDARD
            .decode(ca_bundle)
            .map_err(|e| HookFailure::Call(format!("invalid caBundle: {e}")))?;

        if let Some(url) = client.get("url").and_then(Value::as_str) {
            let uri: http::Uri = url
                .parse()
                .map_err(|e| HookFailure::Call(format!("invalid webhook url {url:?}: {e}")))?;
            if uri.scheme_str() != Some("https") {
                return Err(HookFailure::Call(format!(
                    "webhook url {url:?} must use the https scheme"
                )));
            }
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_matches(['[', ']'])
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let address = format!("{host}:{port}")
                .parse::<SocketAddr>()
                .or_else(|_| {
                    // A host name: the lab only serves loopback.
                    format!("127.0.0.1:{port}").parse::<SocketAddr>()
                })
                .map_err(|e| HookFailure::Call(format!("invalid webhook address: {e}")))?;
            let path = uri.path().to_string();
            return Ok(Endpoint {
                url: with_timeout(url, timeout),
                address,
                host,
                path_and_query: with_timeout(&path, timeout),
                ca_pem,
            });
        }

        let service = client.get("service").cloned().unwrap_or(Value::Null);
        let namespace = service
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let svc = service.get("name").and_then(Value::as_str).unwrap_or("");
        let port = service
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(443);
        let path = service.get("path").and_then(Value::as_str).unwrap_or("/");
        let host = format!("{svc}.{namespace}.svc");
        let url = format!("https://{host}:{port}{path}");
        let address = (self.resolve_service)(namespace, svc, port).ok_or_else(|| {
            HookFailure::Call(format!(
                "failed to call webhook: Post {:?}: service \"{svc}\" not found",
                with_timeout(&url, timeout)
            ))
        })?;
        Ok(Endpoint {
            url: with_timeout(&url, timeout),
            address,
            host,
            path_and_query: with_timeout(path, timeout),
            ca_pem,
        })
    }
}

/// Where and how one webhook is reached.
struct Endpoint {
    /// The URL as upstream error messages print it, with `?timeout=Ns`.
    url: String,
    address: SocketAddr,
    /// The name the serving certificate must carry (an IP address or a DNS name).
    host: String,
    path_and_query: String,
    ca_pem: Vec<u8>,
}

/// The parts of an AdmissionReview response we act on.
#[derive(Debug, Default)]
struct Reply {
    allowed: bool,
    status: Option<Value>,
    patch: Option<Value>,
    warnings: Vec<String>,
}

enum HookFailure {
    /// The webhook answered `allowed: false`; the Status to return.
    Denied(Value, Vec<String>),
    /// The webhook could not be called or answered nonsense; the reason, without the
    /// `failed calling webhook "…": ` prefix.
    Call(String),
}

fn with_timeout(url: &str, timeout: u64) -> String {
    format!("{url}?timeout={timeout}s")
}

fn hook_name(hook: &Value) -> &str {
    hook.get("name").and_then(Value::as_str).unwrap_or("")
}

fn fails_closed(hook: &Value) -> bool {
    // failurePolicy defaults to Fail in admissionregistration.k8s.io/v1.
    hook.get("failurePolicy").and_then(Value::as_str) != Some("Ignore")
}

/// The webhooks of all configurations that apply to this request, configurations sorted by
/// name (upstream sorts them, `generic/webhook.go`), webhooks in their listed order.
fn matching_webhooks<'c>(configurations: &'c [Value], request: &Request<'_>) -> Vec<&'c Value> {
    let resource = request.attrs.resource;
    if resource.group == ADMISSION_GROUP
        && matches!(
            resource.plural.as_str(),
            "mutatingwebhookconfigurations" | "validatingwebhookconfigurations"
        )
    {
        return Vec::new();
    }
    let mut sorted: Vec<&Value> = configurations.iter().collect();
    sorted.sort_by_key(|c| {
        c.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    });
    sorted
        .into_iter()
        .filter(|c| c.pointer("/metadata/deletionTimestamp").is_none())
        .flat_map(|c| {
            c.get("webhooks")
                .and_then(Value::as_array)
                .map(|v| v.as_slice())
                .unwrap_or_default()
        })
        .filter(|hook| webhook_applies(hook, request))
        .collect()
}

fn webhook_applies(hook: &Value, request: &Request<'_>) -> bool {
    let rules = hook
        .get("rules")
        .and_then(Value::as_array)
        .map(|v| v.as_slice())
        .unwrap_or_default();
    rules.iter().any(|rule| rule_matches(rule, request))
        && namespace_selector_matches(hook, request)
        && object_selector_matches(hook, request)
}

fn contains_or_star(list: Option<&Value>, wanted: &str) -> bool {
    list.and_then(Value::as_array).is_some_and(|items| {
        items
            .iter()
            .filter_map(Value::as_str)
            .any(|item| item == "*" || item == wanted)
    })
}

/// `predicates/rules/rules.go`: operations, groups, versions, `resource/subresource` with `*`
/// wildcards on either side (`*` alone does not match subresources), and scope.
fn rule_matches(rule: &Value, request: &Request<'_>) -> bool {
    let attrs = request.attrs;
    let resource = attrs.resource;
    let resources_match =
        rule.get("resources")
            .and_then(Value::as_array)
            .is_some_and(|resources| {
                resources.iter().filter_map(Value::as_str).any(|entry| {
                    let (res, sub) = entry.split_once('/').unwrap_or((entry, ""));
                    (res == "*" || res == resource.plural)
                        && (sub == "*" || sub == attrs.subresource.unwrap_or(""))
                })
            });
    let scope_matches = match rule.get("scope").and_then(Value::as_str).unwrap_or("*") {
        "Cluster" => request.namespace().is_none(),
        "Namespaced" => request.namespace().is_some(),
        _ => true,
    };
    contains_or_star(rule.get("operations"), attrs.operation.as_str())
        && contains_or_star(rule.get("apiGroups"), &resource.group)
        && contains_or_star(rule.get("apiVersions"), &resource.version)
        && resources_match
        && scope_matches
}

/// `namespaceSelector` looks at the request's namespace (a Namespace's own labels for
/// namespaces; cluster-scoped objects always match — `predicates/namespace/matcher.go`).
fn namespace_selector_matches(hook: &Value, request: &Request<'_>) -> bool {
    let Some(selector) = hook.get("namespaceSelector") else {
        return true;
    };
    let resource = request.attrs.resource;
    let labels = if resource.group.is_empty() && resource.plural == "namespaces" {
        request
            .object
            .or(request.attrs.old_object)
            .and_then(|o| o.pointer("/metadata/labels"))
            .and_then(Value::as_object)
    } else if request.namespace().is_some() {
        request.namespace_labels
    } else {
        return true;
    };
    selector_matches(selector, labels)
}

/// `objectSelector` matches when the new or the old object's labels match
/// (`predicates/object/matcher.go`).
fn object_selector_matches(hook: &Value, request: &Request<'_>) -> bool {
    let Some(selector) = hook.get("objectSelector") else {
        return true;
    };
    fn labels_of(object: Option<&Value>) -> Option<&Map<String, Value>> {
        object
            .and_then(|o| o.pointer("/metadata/labels"))
            .and_then(Value::as_object)
    }
    selector_matches(selector, labels_of(request.object))
        || selector_matches(selector, labels_of(request.attrs.old_object))
}

/// Evaluates a `metav1.LabelSelector` by turning it into the string form the label selector
/// parser reads (`LabelSelectorAsSelector`); an unparsable selector matches nothing.
fn selector_matches(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    match label_selector_string(selector) {
        Some(text) => LabelSelector::parse(&text).is_ok_and(|s| s.matches(labels)),
        None => false,
    }
}

fn label_selector_string(selector: &Value) -> Option<String> {
    let mut requirements = Vec::new();
    if let Some(match_labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in match_labels {
            requirements.push(format!("{key}={}", value.as_str()?));
        }
    }
    if let Some(expressions) = selector.get("matchExpressions").and_then(Value::as_array) {
        for expression in expressions {
            let key = expression.get("key")?.as_str()?;
            let values: Vec<&str> = expression
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            requirements.push(match expression.get("operator")?.as_str()? {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                _ => return None,
            });
        }
    }
    Some(requirements.join(","))
}

/// The AdmissionReview request body, in the field order kube-apiserver writes it (68a).
fn review(uid: &str, request: &Request<'_>) -> Value {
    let attrs = request.attrs;
    let rt = attrs.resource;
    let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let gvr = json!({"group": rt.group, "version": rt.version, "resource": rt.plural});
    let mut body = Map::new();
    body.insert("uid".into(), json!(uid));
    body.insert("kind".into(), gvk.clone());
    body.insert("resource".into(), gvr.clone());
    if let Some(sub) = attrs.subresource {
        body.insert("subResource".into(), json!(sub));
    }
    body.insert("requestKind".into(), gvk);
    body.insert("requestResource".into(), gvr);
    if let Some(sub) = attrs.subresource {
        body.insert("requestSubResource".into(), json!(sub));
    }
    if !attrs.name.is_empty() {
        body.insert("name".into(), json!(attrs.name));
    }
    if let Some(ns) = request.namespace() {
        body.insert("namespace".into(), json!(ns));
    }
    body.insert("operation".into(), json!(attrs.operation.as_str()));
    body.insert(
        "userInfo".into(),
        json!({"username": attrs.user.username, "uid": attrs.user.uid, "groups": attrs.user.groups}),
    );
    body.insert(
        "object".into(),
        request.object.cloned().unwrap_or(Value::Null),
    );
    body.insert(
        "oldObject".into(),
        attrs.old_object.cloned().unwrap_or(Value::Null),
    );
    body.insert("dryRun".into(), json!(attrs.dry_run));
    let mut options =
        json!({"kind": options_kind(attrs.operation), "apiVersion": "meta.k8s.io/v1"});
    if attrs.dry_run
        && let Some(map) = options.as_object_mut()
    {
        map.insert("dryRun".into(), json!(["All"]));
    }
    body.insert("options".into(), options);
    json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": body})
}

/// Reads the webhook's AdmissionReview answer (`VerifyAdmissionResponse`).
fn parse_reply(body: &[u8], uid: &str, phase: Phase) -> Result<Reply, String> {
    let review: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if review.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1")
        || review.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
    {
        return Err(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview".to_string(),
        );
    }
    let response = review
        .get("response")
        .ok_or_else(|| "webhook response was absent".to_string())?;
    let got = response.get("uid").and_then(Value::as_str).unwrap_or("");
    if got != uid {
        return Err(format!("expected response.uid={uid:?}, got {got:?}"));
    }
    let allowed = response
        .get("allowed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let warnings = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let patch = match (response.get("patch"), response.get("patchType")) {
        (None | Some(Value::Null), _) => None,
        (Some(_), _) if phase == Phase::Validating => {
            return Err("validating webhooks may not return patches".to_string());
        }
        (Some(patch), patch_type) => {
            if patch_type.and_then(Value::as_str) != Some("JSONPatch") {
                return Err(format!(
                    "webhook returned invalid patchType: {:?}",
                    patch_type.and_then(Value::as_str).unwrap_or("")
                ));
            }
            let encoded = patch.as_str().ok_or("patch is not a string")?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| format!("invalid patch encoding: {e}"))?;
            Some(serde_json::from_slice(&decoded).map_err(|e| format!("invalid patch: {e}"))?)
        }
    };
    Ok(Reply {
        allowed,
        status: response.get("status").cloned(),
        patch,
        warnings,
    })
}

fn denied(status: Value, warnings: Vec<String>) -> Rejected {
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(400);
    Rejected {
        code,
        status,
        warnings,
    }
}

/// 500 InternalError `failed calling webhook "<name>": <reason>` (67).
fn calling_error(name: &str, reason: &str, warnings: Vec<String>) -> Rejected {
    let cause = format!(
        "failed calling webhook {}: {reason}",
        status::go_quote(name)
    );
    Rejected {
        code: 500,
        status: status::internal_error(&cause),
        warnings,
    }
}

/// POSTs the review over HTTPS, trusting only the configuration's CA bundle, and returns the
/// body of a 200 answer. Errors read like Go's net/http ones where clients print them.
async fn post(endpoint: &Endpoint, body: Vec<u8>) -> Result<Bytes, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&endpoint.ca_pem) {
        let cert = cert.map_err(|e| format!("invalid caBundle: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("invalid caBundle: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = ServerName::try_from(endpoint.host.clone())
        .map_err(|e| format!("invalid server name {:?}: {e}", endpoint.host))?;

    let tcp = tokio::net::TcpStream::connect(endpoint.address)
        .await
        .map_err(|e| {
            let detail = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                "connect: connection refused".to_string()
            } else {
                e.to_string()
            };
            format!("dial tcp {}: {detail}", endpoint.address)
        })?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("tls: failed to verify certificate: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "webhook connection ended");
        }
    });
    let request = http::Request::post(&endpoint.path_and_query)
        .header(http::header::HOST, endpoint.address.to_string())
        .header(http::header::USER_AGENT, "kube-apiserver-admission")
        .header(http::header::ACCEPT, "application/json, */*")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "an error on the server ({:?}) has prevented the request from succeeding",
            String::from_utf8_lossy(&bytes)
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::UserInfo;
    use crate::registry::{Origin, ResourceType};

    fn user() -> UserInfo {
        UserInfo {
            username: "admin-token-user".into(),
            uid: "admin-token-uid".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    fn resource_type(group: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: if group.is_empty() { "v1" } else { "v1alpha1" }.into(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            short_names: Vec::new(),
            categories: Vec::new(),
            namespaced,
            verbs: Vec::new(),
            selectable_fields: Vec::new(),
            status_subresource: true,
            bucket: plural.into(),
            origin: Origin::Builtin,
        }
    }

    fn pr_type() -> ResourceType {
        resource_type(
            "siterecovery.trilio.io",
            "ProtectionRequest",
            "protectionrequests",
            true,
        )
    }

    fn create<'a>(user: &'a UserInfo, rt: &'a ResourceType, name: &'a str) -> Attributes<'a> {
        Attributes {
            operation: Operation::Create,
            user,
            resource: rt,
            subresource: None,
            namespace: "dr",
            name,
            old_object: None,
            dry_run: false,
        }
    }

    fn request<'a>(attrs: &'a Attributes<'a>, object: &'a Value) -> Request<'a> {
        Request {
            attrs,
            object: Some(object),
            namespace_labels: None,
        }
    }

    fn rule(resources: &[&str]) -> Value {
        json!({"operations": ["CREATE", "UPDATE"], "apiGroups": ["siterecovery.trilio.io"],
               "apiVersions": ["*"], "resources": resources})
    }

    // predicates/rules/rules.go: "*" matches resources but not subresources; "*/*" and
    // "x/status" name them.
    #[test]
    fn a_star_rule_does_not_reach_subresources_but_star_slash_star_does() {
        let (user, rt, object) = (user(), pr_type(), json!({}));
        let mut attrs = create(&user, &rt, "wh1");
        assert!(rule_matches(&rule(&["*"]), &request(&attrs, &object)));
        attrs.subresource = Some("status");
        let status = request(&attrs, &object);
        assert!(!rule_matches(&rule(&["*"]), &status));
        assert!(!rule_matches(&rule(&["protectionrequests"]), &status));
        assert!(rule_matches(&rule(&["*/*"]), &status));
        assert!(rule_matches(&rule(&["protectionrequests/status"]), &status));
        assert!(rule_matches(&rule(&["*/status"]), &status));
        attrs.operation = Operation::Delete;
        assert!(!rule_matches(&rule(&["*/*"]), &request(&attrs, &object)));
    }

    #[test]
    fn rule_scope_distinguishes_namespaced_from_cluster_requests() {
        let (user, rt, object) = (user(), pr_type(), json!({}));
        let mut attrs = create(&user, &rt, "wh1");
        let mut namespaced = rule(&["*"]);
        namespaced["scope"] = json!("Namespaced");
        let mut cluster = rule(&["*"]);
        cluster["scope"] = json!("Cluster");
        assert!(rule_matches(&namespaced, &request(&attrs, &object)));
        assert!(!rule_matches(&cluster, &request(&attrs, &object)));
        attrs.namespace = "";
        assert!(!rule_matches(&namespaced, &request(&attrs, &object)));
        assert!(rule_matches(&cluster, &request(&attrs, &object)));
    }

    // predicates/namespace/matcher.go and predicates/object/matcher.go.
    #[test]
    fn namespace_and_object_selectors_read_the_right_labels() {
        let (user, rt) = (user(), pr_type());
        let attrs = create(&user, &rt, "wh1");
        let labelled = json!({"metadata": {"labels": {"tier": "gold"}}});
        let plain = json!({"metadata": {}});
        let hook = json!({"objectSelector": {"matchLabels": {"tier": "gold"}}});
        assert!(object_selector_matches(&hook, &request(&attrs, &labelled)));
        assert!(!object_selector_matches(&hook, &request(&attrs, &plain)));

        let ns_labels = json!({"env": "prod"});
        let hook = json!({"namespaceSelector": {"matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod"]}]}});
        let mut req = request(&attrs, &plain);
        assert!(!namespace_selector_matches(&hook, &req));
        req.namespace_labels = ns_labels.as_object();
        assert!(namespace_selector_matches(&hook, &req));
    }

    #[test]
    fn a_label_selector_object_becomes_the_selector_string() {
        let selector = json!({"matchLabels": {"a": "b"}, "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dr"]},
            {"key": "tier", "operator": "NotIn", "values": ["x"]},
            {"key": "has", "operator": "Exists"},
            {"key": "hasnt", "operator": "DoesNotExist"}]});
        assert_eq!(
            label_selector_string(&selector).as_deref(),
            Some("a=b,env in (prod,dr),tier notin (x),has,!hasnt")
        );
        assert_eq!(label_selector_string(&json!({})).as_deref(), Some(""));
        assert_eq!(
            label_selector_string(
                &json!({"matchExpressions": [{"key": "k", "operator": "Bogus"}]})
            ),
            None
        );
    }

    // 68a-admreview-create.txt: the request body's field order and contents.
    #[test]
    fn the_review_is_written_in_the_apiservers_field_order() {
        let (user, rt) = (user(), pr_type());
        let object = json!({"apiVersion": "siterecovery.trilio.io/v1alpha1"});
        let attrs = create(&user, &rt, "wh1");
        let body = serde_json::to_string(&review("u1", &request(&attrs, &object))).unwrap();
        assert_eq!(
            body,
            r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u1","kind":{"group":"siterecovery.trilio.io","version":"v1alpha1","kind":"ProtectionRequest"},"resource":{"group":"siterecovery.trilio.io","version":"v1alpha1","resource":"protectionrequests"},"requestKind":{"group":"siterecovery.trilio.io","version":"v1alpha1","kind":"ProtectionRequest"},"requestResource":{"group":"siterecovery.trilio.io","version":"v1alpha1","resource":"protectionrequests"},"name":"wh1","namespace":"dr","operation":"CREATE","userInfo":{"username":"admin-token-user","uid":"admin-token-uid","groups":["system:masters","system:authenticated"]},"object":{"apiVersion":"siterecovery.trilio.io/v1alpha1"},"oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}}}"#
        );
    }

    #[test]
    fn webhook_configurations_are_never_themselves_admitted() {
        let user = user();
        let object = json!({});
        let rt = resource_type(
            ADMISSION_GROUP,
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            false,
        );
        let attrs = create(&user, &rt, "all");
        let everything = json!({"metadata": {"name": "all"}, "webhooks": [{"name": "all",
            "rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}],
            "clientConfig": {"url": "https://127.0.0.1:1/x"}}]});
        assert!(
            matching_webhooks(std::slice::from_ref(&everything), &request(&attrs, &object))
                .is_empty()
        );
    }
}
