//! The routes through `oneshot`, and the real HTTPS server: certificate reload with a request
//! in flight, and graceful shutdown that drains it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use protect_api::{DRBDReplicationPolicy, ProtectionRequest};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use tower::ServiceExt;

use super::*;
use crate::facts::{CacheState, Facts, LookupError, PrimaryView, StaticFacts, VmRef};
use crate::fixtures::{decoded_patch, guide_facts, request_object, review_body};

/// Facts that can be unsynced, and whose primary lookups can be held at a gate so a review
/// stays in flight until the test releases it.
struct TestFacts {
    inner: StaticFacts,
    synced: AtomicBool,
    gate: Option<Arc<Notify>>,
    entered: Arc<Notify>,
}

impl TestFacts {
    fn new(inner: StaticFacts) -> Self {
        Self {
            inner,
            synced: AtomicBool::new(true),
            gate: None,
            entered: Arc::new(Notify::new()),
        }
    }
}

impl Facts for TestFacts {
    fn policies(&self, namespace: &str) -> Vec<Arc<DRBDReplicationPolicy>> {
        self.inner.policies(namespace)
    }
    fn requests_for(&self, namespace: &str, vm: &VmRef) -> Vec<Arc<ProtectionRequest>> {
        self.inner.requests_for(namespace, vm)
    }
    fn primary<'a>(
        &'a self,
        _namespace: &'a str,
        policy: &'a DRBDReplicationPolicy,
        vm: &'a VmRef,
    ) -> BoxFuture<'a, Result<PrimaryView, LookupError>> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                self.entered.notify_one();
                gate.notified().await;
            }
            self.inner.primary_view(policy, vm)
        })
    }
    fn synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }
    fn cache_states(&self) -> Vec<CacheState> {
        vec![CacheState {
            cache: "quorum/drbdreplicationpolicies".into(),
            synced: self.synced(),
        }]
    }
}

fn state(facts: Arc<dyn Facts>) -> AppState {
    AppState {
        facts,
        metrics: Arc::new(Metrics::default()),
    }
}

async fn call(router: Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn post(path: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn example_1_review(uid: &str, source: Option<&str>) -> Vec<u8> {
    let object = request_object("protect-web-server", "web-server", "production", source);
    review_body(uid, "CREATE", Some(&object), None)
}

#[tokio::test]
async fn validate_route_admits_the_guides_example_1() {
    let app = router(state(Arc::new(guide_facts())));
    let (status, body) = call(
        app,
        post(
            "/validate?timeout=5s",
            example_1_review("u1", Some("cluster1")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u1", "allowed": true}})
    );
}

#[tokio::test]
async fn mutate_route_fills_source_cluster_and_labels_with_a_json_patch() {
    let app = router(state(Arc::new(guide_facts())));
    let (_, body) = call(app, post("/mutate", example_1_review("u2", None))).await;
    let review: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(review["response"]["patchType"], "JSONPatch");
    assert_eq!(
        decoded_patch(&review),
        Some(json!([
            {"op": "add", "path": "/spec/sourceCluster", "value": "cluster1"},
            {"op": "add", "path": "/metadata/labels", "value": {
                "siterecovery.trilio.io/protected-vm": "web-server",
                "siterecovery.trilio.io/vm-namespace": "production",
                "siterecovery.trilio.io/source-cluster": "cluster1"}}
        ]))
    );
}

#[tokio::test]
async fn validate_route_denies_an_uncovered_vm_with_the_coverage_message() {
    let app = router(state(Arc::new(guide_facts())));
    let object = request_object(
        "protect-legacy",
        "legacy-app",
        "production",
        Some("cluster1"),
    );
    let (status, body) = call(
        app,
        post(
            "/validate",
            review_body("u3", "CREATE", Some(&object), None),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let review: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(
        review["response"]["status"]["message"],
        "VirtualMachine production/legacy-app cannot be protected: PVC \"legacy-data\" uses storage class \"local-path\", which DRBDReplicationPolicy \"dr-policy\" does not map (it maps: ceph-rbd → ceph-rbd-dr); add a storageClassMappings entry for \"local-path\""
    );
}

#[tokio::test]
async fn validate_route_denies_a_second_request_for_the_same_vm_naming_the_first() {
    let facts = guide_facts().with_request(
        crate::fixtures::NS,
        crate::fixtures::request(
            "protect-web-server",
            "web-server",
            "production",
            Some("cluster1"),
        ),
    );
    let app = router(state(Arc::new(facts)));
    let object = request_object(
        "web-server-again",
        "web-server",
        "production",
        Some("cluster1"),
    );
    let (_, body) = call(
        app,
        post(
            "/validate",
            review_body("u4", "CREATE", Some(&object), None),
        ),
    )
    .await;
    let review: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        review["response"]["status"]["message"],
        "VirtualMachine production/web-server is already protected by ProtectionRequest \"protect-web-server\" in namespace \"dr-deployment\"; a VM can have only one ProtectionRequest — inspect it with `kubectl get pr protect-web-server -n dr-deployment`"
    );
}

#[tokio::test]
async fn validate_route_denies_an_invalid_policy() {
    let app = router(state(Arc::new(guide_facts())));
    let object = json!({"metadata": {"name": "loop", "namespace": "dr-deployment"},
        "spec": {"primaryCluster": "cluster1", "drCluster": "cluster1"}});
    let body = crate::fixtures::review_body_for(
        "DRBDReplicationPolicy",
        "drbdreplicationpolicies",
        "u5",
        "CREATE",
        Some(&object),
        None,
    );
    let (_, body) = call(app, post("/validate", body)).await;
    let review: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        review["response"]["status"]["message"],
        "DRBDReplicationPolicy dr-deployment/loop is invalid: primaryCluster and drCluster are both \"cluster1\"; they must name two different clusters"
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_a_json_status() {
    let app = router(state(Arc::new(guide_facts())));
    let (status, body) = call(app, post("/validate", vec![b' '; MAX_REVIEW_BYTES + 1])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let status_body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status_body,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "the AdmissionReview body is larger than the 4 MiB limit of protect-webhook",
            "reason": "RequestEntityTooLarge", "code": 413})
    );
}

#[tokio::test]
async fn a_malformed_body_is_refused_with_400_and_a_json_status() {
    let app = router(state(Arc::new(guide_facts())));
    let (status, body) = call(app, post("/mutate", b"not json".to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["reason"],
        "BadRequest"
    );
}

#[tokio::test]
async fn readiness_is_false_until_the_caches_have_synced() {
    let facts = Arc::new(TestFacts::new(guide_facts()));
    facts.synced.store(false, Ordering::SeqCst);
    let app = router(state(facts.clone()));
    let (status, body) = call(app.clone(), get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "caches not synced: quorum/drbdreplicationpolicies");
    let (status, _) = call(app.clone(), get("/healthz")).await;
    assert_eq!(status, StatusCode::OK, "liveness does not wait for caches");

    facts.synced.store(true, Ordering::SeqCst);
    let (status, body) = call(app, get("/readyz")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn metrics_count_reviews_by_kind_operation_and_verdict_and_show_cache_state() {
    let app = router(state(Arc::new(guide_facts())));
    call(
        app.clone(),
        post("/validate", example_1_review("u6", Some("cluster1"))),
    )
    .await;
    let (status, text) = call(app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(r#"protect_webhook_reviews_total{endpoint="validate",kind="ProtectionRequest",operation="CREATE",verdict="allowed"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"protect_webhook_review_duration_seconds_count{endpoint="validate"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"protect_webhook_cache_synced{cache="static"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn get_on_validate_is_method_not_allowed() {
    let app = router(state(Arc::new(guide_facts())));
    let (status, _) = call(app, get("/validate")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

// ---- the real HTTPS server ------------------------------------------------------------

struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

fn test_ca() -> TestCa {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "protect-webhook test CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    TestCa {
        issuer: Issuer::new(params, key),
        der: cert.der().clone(),
    }
}

/// Write a new leaf certificate for `localhost`, signed by `ca`; returns its DER.
fn write_leaf(ca: &TestCa, dir: &Path, serial: &str) -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("protect-webhook {serial}"));
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    cert.der().clone()
}

fn test_config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: dir.join("tls.crt"),
        tls_key: dir.join("tls.key"),
        kubeconfig: None,
        context: None,
        namespace: None,
        cache_miss_timeout: Duration::from_secs(2),
        // The tests trigger the check themselves.
        cert_check_interval: Duration::from_secs(3600),
        drain_timeout: Duration::from_secs(10),
    }
}

/// An HTTPS client connection that trusts only `ca`.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    peer_certificate: CertificateDer<'static>,
}

async fn connect(addr: SocketAddr, ca: &CertificateDer<'static>) -> Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let peer_certificate = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    Client {
        sender,
        peer_certificate,
    }
}

impl Client {
    async fn send(&mut self, request: Request<Full<Bytes>>) -> (StatusCode, Value) {
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn https_post(path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn https_get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn a_rotated_certificate_is_served_to_new_connections_while_an_in_flight_review_completes() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca();
    let first = write_leaf(&ca, dir.path(), "first");
    let gate = Arc::new(Notify::new());
    let mut facts = TestFacts::new(guide_facts());
    facts.gate = Some(Arc::clone(&gate));
    let entered = Arc::clone(&facts.entered);
    let server = Server::with_facts(test_config(dir.path()), Arc::new(facts))
        .await
        .unwrap();
    let (addr, certificate) = (server.local_addr(), server.certificate());
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let mut in_flight = connect(addr, &ca.der).await;
    assert_eq!(in_flight.peer_certificate, first);
    let pending = tokio::spawn(async move {
        in_flight
            .send(https_post(
                "/validate",
                example_1_review("in-flight", Some("cluster1")),
            ))
            .await
    });
    entered.notified().await;

    let second = write_leaf(&ca, dir.path(), "second");
    assert!(certificate.reload_if_changed().unwrap());
    assert!(
        !certificate.reload_if_changed().unwrap(),
        "unchanged files are not reloaded"
    );
    let mut fresh = connect(addr, &ca.der).await;
    assert_eq!(fresh.peer_certificate, second);
    let (status, _) = fresh.send(https_get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);

    gate.notify_one();
    let (status, review) = pending.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        review["response"],
        json!({"uid": "in-flight", "allowed": true})
    );

    let _ = stop.send(());
    running.await.unwrap();
}

#[tokio::test]
async fn a_broken_certificate_pair_keeps_the_old_certificate_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca();
    let first = write_leaf(&ca, dir.path(), "first");
    let certificate = crate::tls::ReloadingCertificate::load(
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        None,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tls.key"),
        "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    assert!(certificate.reload_if_changed().is_err());
    assert_eq!(certificate.current().unwrap().cert[0], first);
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_review_before_run_returns() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca();
    write_leaf(&ca, dir.path(), "only");
    let gate = Arc::new(Notify::new());
    let mut facts = TestFacts::new(guide_facts());
    facts.gate = Some(Arc::clone(&gate));
    let entered = Arc::clone(&facts.entered);
    let server = Server::with_facts(test_config(dir.path()), Arc::new(facts))
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let mut client = connect(addr, &ca.der).await;
    let pending = tokio::spawn(async move {
        client
            .send(https_post(
                "/validate",
                example_1_review("draining", Some("cluster1")),
            ))
            .await
    });
    entered.notified().await;
    stop.send(()).unwrap();
    // Shutdown has begun once the listener is closed; it cannot finish while the review is
    // in flight.
    tokio::time::timeout(Duration::from_secs(5), async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the listener closes on shutdown");
    assert!(!running.is_finished());

    gate.notify_one();
    let (status, review) = pending.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(review["response"]["uid"], "draining");
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("run returns once drained")
        .unwrap();
}
