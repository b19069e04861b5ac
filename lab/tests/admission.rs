//! Admission webhooks through the lab, as kube-apiserver calls them, and what the real kubectl
//! 1.32 (/usr/bin/kubectl) prints for them. The expected texts are the captured ones in
//! `shared/conformance/kube-apiserver/66-webhook-deny-kubectl-apply.txt` and
//! `67b-webhook-down-kubectl.txt`. These tests fail when kubectl is missing; never skipped.

// Test helpers unwrap like the tests they serve (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::Output;
use std::sync::Arc;

use base64::Engine as _;
use common::Kubectl;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use protect_lab_apiserver::Lab;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// A webhook server over HTTPS on a free loopback port, answering each AdmissionReview with
/// what `respond` computes from its `request` (the path tells mutate from validate).
struct WebhookServer {
    address: SocketAddr,
    ca_bundle: String,
    task: JoinHandle<()>,
}

type Respond = dyn Fn(&str, &Value) -> Value + Send + Sync;

impl WebhookServer {
    async fn start(respond: Arc<Respond>) -> Self {
        // Valid for the loopback address (url references) and for the Service name the
        // service-reference test registers.
        let names = vec![
            "127.0.0.1".to_string(),
            "protect-webhook.webhooks.svc".to_string(),
        ];
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(names).unwrap();
        let ca_bundle = base64::engine::general_purpose::STANDARD.encode(cert.pem());
        let key = rustls_pki_types::PrivateKeyDer::try_from(signing_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, respond) = (acceptor.clone(), respond.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let respond = respond.clone();
                            async move {
                                let path = req.uri().path().to_string();
                                let body = req.into_body().collect().await?.to_bytes();
                                let review: Value =
                                    serde_json::from_slice(&body).unwrap_or_default();
                                let answer = respond(&path, &review["request"]);
                                Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(
                                    serde_json::to_vec(&answer).unwrap_or_default(),
                                ))))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        WebhookServer {
            address,
            ca_bundle,
            task,
        }
    }

    /// Stops listening: nothing answers on the port any more.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

fn allow(request: &Value, mut response: Value) -> Value {
    response["uid"] = request["uid"].clone();
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

/// The corpus test webhook: mutate labels `corpus/mutated=yes` with a warning; validate denies
/// `deny-me` without a code and `deny-403` with 403 Forbidden (65, 65b, 66).
fn corpus_webhook(path: &str, request: &Value) -> Value {
    let name = request["name"].as_str().unwrap_or_default();
    if path == "/mutate" {
        if request["operation"] != "CREATE" {
            return allow(request, json!({"allowed": true}));
        }
        let patch = base64::engine::general_purpose::STANDARD
            .encode(r#"[{"op":"add","path":"/metadata/labels","value":{"corpus/mutated":"yes"}}]"#);
        return allow(
            request,
            json!({"allowed": true, "patchType": "JSONPatch", "patch": patch,
                   "warnings": ["corpus mutating webhook added label corpus/mutated=yes"]}),
        );
    }
    match name {
        "deny-me" => allow(
            request,
            json!({"allowed": false, "status": {"message": format!("ProtectionRequest name {name} is not allowed by corpus policy")}}),
        ),
        "deny-403" => allow(
            request,
            json!({"allowed": false, "status": {"code": 403, "reason": "Forbidden",
                   "message": format!("{name} is forbidden by corpus policy")}}),
        ),
        _ => allow(request, json!({"allowed": true})),
    }
}

fn webhook(name: &str, client_config: Value, extra: Value) -> Value {
    let mut hook = json!({"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
        "failurePolicy": "Fail", "timeoutSeconds": 5, "clientConfig": client_config,
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["siterecovery.trilio.io"],
                   "apiVersions": ["v1alpha1"], "resources": ["protectionrequests"]}]});
    if let (Some(hook), Some(extra)) = (hook.as_object_mut(), extra.as_object()) {
        hook.extend(extra.clone());
    }
    hook
}

fn url_config(server: &WebhookServer, path: &str) -> Value {
    json!({"url": format!("https://{}{path}", server.address), "caBundle": server.ca_bundle})
}

/// Both configurations as one manifest: a stream of two JSON documents.
fn configurations(mutating: Vec<Value>, validating: Vec<Value>) -> String {
    let mutating = json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration", "metadata": {"name": "corpus-mutating"},
        "webhooks": mutating});
    let validating = json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "corpus-validating"},
        "webhooks": validating});
    format!("{mutating}\n{validating}\n")
}

fn pr(name: &str) -> String {
    format!(
        "apiVersion: siterecovery.trilio.io/v1alpha1\nkind: ProtectionRequest\nmetadata:\n  name: {name}\n  namespace: dr\nspec:\n  vmName: vm-{name}\n  vmNamespace: vms\n"
    )
}

/// Runs kubectl on a blocking thread so the lab keeps serving on the test's runtime.
async fn kubectl(k: &Arc<Kubectl>, args: &[&str]) -> Output {
    let k = k.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        k.run(&args)
    })
    .await
    .unwrap()
}

async fn succeed(k: &Arc<Kubectl>, args: &[&str]) -> String {
    let out = kubectl(k, args).await;
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A lab with the corpus CRD installed and namespace `dr`, and kubectl pointed at it.
async fn lab_with_crd() -> (Lab, Arc<Kubectl>) {
    let lab = Lab::start(&["quorum"]).await.expect("lab");
    let k = Arc::new(Kubectl::new(&lab));
    let crd = common::corpus_dir().join("crd.yaml").display().to_string();
    succeed(&k, &["apply", "-f", &crd]).await;
    succeed(
        &k,
        &[
            "wait",
            "--for=condition=Established",
            "crd/protectionrequests.siterecovery.trilio.io",
        ],
    )
    .await;
    succeed(
        &k,
        &[
            "create",
            "-f",
            &k.file(
                "ns.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dr\n",
            ),
        ],
    )
    .await;
    (lab, k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_prints_webhook_warnings_and_denials_exactly_as_against_a_real_apiserver() {
    let (_lab, k) = lab_with_crd().await;
    let server = WebhookServer::start(Arc::new(corpus_webhook)).await;
    let config = configurations(
        vec![webhook(
            "mutate.pr.corpus.test",
            url_config(&server, "/mutate"),
            json!({}),
        )],
        vec![webhook(
            "validate.pr.corpus.test",
            url_config(&server, "/validate"),
            json!({}),
        )],
    );
    succeed(&k, &["apply", "-f", &k.file("webhooks.json", &config)]).await;
    let warning = "Warning: corpus mutating webhook added label corpus/mutated=yes\n";

    // 66: kubectl apply of a denied object (no code → 400, no reason).
    let deny_me = k.file("deny-me.yaml", &pr("deny-me"));
    let out = kubectl(&k, &["apply", "-f", &deny_me]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "{warning}Error from server: error when creating \"{deny_me}\": admission webhook \"validate.pr.corpus.test\" denied the request: ProtectionRequest name deny-me is not allowed by corpus policy\n"
        )
    );

    // 66: the same with --server-side.
    let out = kubectl(&k, &["apply", "--server-side", "-f", &deny_me]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "{warning}Error from server: admission webhook \"validate.pr.corpus.test\" denied the request: ProtectionRequest name deny-me is not allowed by corpus policy\n"
        )
    );

    // 66: kubectl create with the webhook's own 403 Forbidden.
    let deny_403 = k.file("deny-403.yaml", &pr("deny-403"));
    let out = kubectl(&k, &["create", "-f", &deny_403]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "{warning}Error from server (Forbidden): error when creating \"{deny_403}\": admission webhook \"validate.pr.corpus.test\" denied the request: deny-403 is forbidden by corpus policy\n"
        )
    );

    // 66: an allowed object: the warning on stderr, the mutation stored.
    let allowed = k.file("wh-kubectl.yaml", &pr("wh-kubectl"));
    let out = kubectl(&k, &["apply", "-f", &allowed]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), warning);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "protectionrequest.siterecovery.trilio.io/wh-kubectl created\n"
    );
    let label = succeed(
        &k,
        &[
            "get",
            "pr",
            "wh-kubectl",
            "-n",
            "dr",
            "-o",
            "jsonpath={.metadata.labels}",
        ],
    )
    .await;
    assert_eq!(label, r#"{"corpus/mutated":"yes"}"#);

    // 67b: the webhook stops; failurePolicy Fail refuses creation with the transport error.
    let address = server.address;
    server.stop().await;
    let wh2 = k.file("wh2.yaml", &pr("wh2"));
    let out = kubectl(&k, &["apply", "-f", &wh2]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "Error from server (InternalError): error when creating \"{wh2}\": Internal error occurred: failed calling webhook \"mutate.pr.corpus.test\": failed to call webhook: Post \"https://{address}/mutate?timeout=5s\": dial tcp {address}: connect: connection refused\n"
        )
    );
    // Deletes are not in the rules, so a down webhook does not block them.
    succeed(&k, &["delete", "pr", "wh-kubectl", "-n", "dr"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_references_namespace_selectors_and_failure_policy_are_honoured() {
    let (lab, k) = lab_with_crd().await;
    let deny_all = |_: &str, request: &Value| {
        allow(
            request,
            json!({"allowed": false, "status": {"message": "nothing passes"}}),
        )
    };
    let server = WebhookServer::start(Arc::new(deny_all)).await;
    lab.cluster("quorum").unwrap().register_service(
        "webhooks",
        "protect-webhook",
        443,
        server.address,
    );
    // A service reference, only for namespaces labelled protect=yes.
    let by_service = json!({"service": {"namespace": "webhooks", "name": "protect-webhook",
        "path": "/validate"}, "caBundle": server.ca_bundle});
    let config = configurations(
        Vec::new(),
        vec![webhook(
            "deny.by.service",
            by_service,
            json!({"namespaceSelector": {"matchLabels": {"protect": "yes"}}}),
        )],
    );
    succeed(&k, &["apply", "-f", &k.file("webhooks.json", &config)]).await;

    // `dr` is not selected: the webhook is not called.
    succeed(&k, &["create", "-f", &k.file("a.yaml", &pr("a"))]).await;
    // Once selected, it is: the service name resolves to the test server.
    succeed(&k, &["label", "ns", "dr", "protect=yes"]).await;
    let out = kubectl(&k, &["create", "-f", &k.file("b.yaml", &pr("b"))]).await;
    assert!(
        stderr(&out)
            .contains("admission webhook \"deny.by.service\" denied the request: nothing passes"),
        "{}",
        stderr(&out)
    );
    // A server-side dry run reaches it too (sideEffects None), and is refused the same way.
    let out = kubectl(
        &k,
        &[
            "create",
            "--dry-run=server",
            "-f",
            &k.file("c.yaml", &pr("c")),
        ],
    )
    .await;
    assert!(stderr(&out).contains("nothing passes"), "{}", stderr(&out));

    // An unreachable webhook with failurePolicy Ignore lets requests through.
    server.stop().await;
    let ignore = configurations(
        Vec::new(),
        vec![webhook(
            "deny.by.service",
            json!({"url": "https://127.0.0.1:1/validate"}),
            json!({"failurePolicy": "Ignore"}),
        )],
    );
    succeed(&k, &["apply", "-f", &k.file("webhooks.json", &ignore)]).await;
    succeed(&k, &["create", "-f", &k.file("d.yaml", &pr("d"))]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answering_another_review_or_with_an_untrusted_certificate_is_a_call_failure() {
    let (_lab, k) = lab_with_crd().await;
    let wrong_uid = |_: &str, _: &Value| {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
               "response": {"uid": "someone-else", "allowed": true}})
    };
    let server = WebhookServer::start(Arc::new(wrong_uid)).await;
    let config = configurations(
        Vec::new(),
        vec![webhook("v", url_config(&server, "/validate"), json!({}))],
    );
    succeed(&k, &["apply", "-f", &k.file("webhooks.json", &config)]).await;
    let out = kubectl(&k, &["create", "-f", &k.file("a.yaml", &pr("a"))]).await;
    assert!(
        stderr(&out).contains("Error from server (InternalError): error when creating")
            && stderr(&out).contains(
                "Internal error occurred: failed calling webhook \"v\": received invalid webhook response: expected response.uid="
            ),
        "{}",
        stderr(&out)
    );

    // The same server, trusted through another CA's bundle: TLS verification fails.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let mut untrusted = url_config(&server, "/validate");
    untrusted["caBundle"] =
        json!(base64::engine::general_purpose::STANDARD.encode(other.cert.pem()));
    let config = configurations(Vec::new(), vec![webhook("v", untrusted, json!({}))]);
    succeed(&k, &["apply", "-f", &k.file("webhooks.json", &config)]).await;
    let out = kubectl(&k, &["create", "-f", &k.file("b.yaml", &pr("b"))]).await;
    assert!(
        stderr(&out).contains("failed calling webhook \"v\": failed to call webhook: Post")
            && stderr(&out).contains("tls: failed to verify certificate"),
        "{:?}: {}{}",
        out.status,
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    server.stop().await;
}
