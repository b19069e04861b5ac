//! protect-webhook end to end: the real server, registered in the lab's quorum cluster as
//! mutating and validating webhooks over HTTPS, reading the primary cluster through the
//! policy's kubeconfig Secret; requests made with the real kubectl 1.32 (/usr/bin/kubectl —
//! these tests fail when it is missing, never skip).

// Test helpers unwrap like the tests they serve (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use base64::Engine as _;
use protect_lab_apiserver::Lab;
use protect_lab_apiserver::kubectl::Kubectl;
use protect_webhook::server::{Config, Server};
use serde_json::{Value, json};

const VALIDATE: &str = "validate.protect.siterecovery.trilio.io";
const MUTATE: &str = "mutate.protect.siterecovery.trilio.io";

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

async fn kubectl(k: &Kubectl, args: &[&str]) -> Output {
    k.run(args).await.expect("kubectl runs")
}

async fn succeed(k: &Kubectl, args: &[&str]) -> String {
    let out = kubectl(k, args).await;
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn apply(k: &Kubectl, context: &str, name: &str, manifest: &Value) {
    let stream: String = match manifest {
        Value::Array(items) => items.iter().map(|i| format!("{i}\n")).collect(),
        one => format!("{one}\n"),
    };
    let file = k.file(name, &stream).unwrap();
    succeed(k, &["--context", context, "apply", "-f", &file]).await;
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Just enough of KubeVirt's CRD for VirtualMachines to be stored and read.
fn virtual_machine_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
      "metadata": {"name": "virtualmachines.kubevirt.io"},
      "spec": {"group": "kubevirt.io", "scope": "Namespaced",
        "names": {"kind": "VirtualMachine", "plural": "virtualmachines", "singular": "virtualmachine",
                  "shortNames": ["vm", "vms"]},
        "versions": [{"name": "v1", "served": true, "storage": true,
          "subresources": {"status": {}},
          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

fn vm(name: &str, claims: &[&str]) -> Value {
    let volumes: Vec<Value> = claims
        .iter()
        .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
        .collect();
    json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
      "metadata": {"name": name, "namespace": "production"},
      "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {"devices": {}}, "volumes": volumes}}}})
}

fn pvc(name: &str, class: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
      "metadata": {"name": name, "namespace": "production"},
      "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
               "resources": {"requests": {"storage": "10Gi"}}}})
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// The guide's world, without simulators: CRDs and a policy on quorum with the primary's
/// kubeconfig Secret; VMs `web-server` (covered) and `analytics` (a `local-path` disk no policy
/// maps) with their PVCs on cluster1.
async fn seed(lab: &Lab, k: &Kubectl) {
    succeed(
        k,
        &["--context", "quorum", "apply", "-f", &repo("deploy/crds")],
    )
    .await;
    succeed(
        k,
        &[
            "--context",
            "quorum",
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
        ],
    )
    .await;
    let primary_kubeconfig = lab
        .kubeconfig()
        .replace("current-context: quorum", "current-context: cluster1");
    apply(
        k,
        "quorum",
        "quorum.json",
        &json!([
            namespace("dr-deployment"),
            {"apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "DRBDReplicationPolicy",
             "metadata": {"name": "dr-policy", "namespace": "dr-deployment"},
             "spec": {"primaryCluster": "cluster1", "drCluster": "cluster2",
                      "storageClassMappings": [{"primary": "ceph-rbd", "dr": "ceph-rbd-dr"}]}},
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "primary-kubeconfig", "namespace": "dr-deployment"},
             "stringData": {"kubeconfig": primary_kubeconfig}}
        ]),
    )
    .await;
    apply(k, "cluster1", "crd.json", &virtual_machine_crd()).await;
    succeed(
        k,
        &[
            "--context",
            "cluster1",
            "wait",
            "--for=condition=Established",
            "crd/virtualmachines.kubevirt.io",
        ],
    )
    .await;
    apply(
        k,
        "cluster1",
        "cluster1.json",
        &json!([
            namespace("production"),
            pvc("web-server-root", "ceph-rbd"),
            pvc("web-server-data", "ceph-rbd"),
            pvc("analytics-data", "local-path"),
            vm("web-server", &["web-server-root", "web-server-data"]),
            vm("analytics", &["analytics-data"])
        ]),
    )
    .await;
    // What a provisioner would have done: the claims are Bound.
    for claim in ["web-server-root", "web-server-data", "analytics-data"] {
        succeed(
            k,
            &[
                "--context",
                "cluster1",
                "patch",
                "pvc",
                claim,
                "-n",
                "production",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"phase":"Bound"}}"#,
            ],
        )
        .await;
    }
}

/// A serving certificate for 127.0.0.1 (self-signed: it is its own CA bundle).
fn write_certificate(dir: &Path) -> String {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), signing_key.serialize_pem()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(cert.pem())
}

struct RunningWebhook {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start_webhook(k: &Kubectl, dir: &Path) -> RunningWebhook {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: dir.join("tls.crt"),
        tls_key: dir.join("tls.key"),
        kubeconfig: Some(k.kubeconfig().to_path_buf()),
        context: Some("quorum".into()),
        namespace: Some("dr-deployment".into()),
        cache_miss_timeout: Duration::from_secs(2),
        cert_check_interval: Duration::from_secs(3600),
        drain_timeout: Duration::from_secs(5),
    };
    let server = Server::new(config).await.expect("webhook starts");
    let url = server.url();
    let router = server.router();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    // Readiness: served only once the caches have synced.
    let ready = async {
        loop {
            use tower::ServiceExt as _;
            let request = http::Request::get("/readyz")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            if response.status() == http::StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("the webhook's caches sync within 30 s");
    RunningWebhook { url, stop, task }
}

fn configurations(url: &str, ca_bundle: &str) -> Value {
    let hook = |name: &str, path: &str| {
        json!({"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
          "failurePolicy": "Fail", "timeoutSeconds": 5,
          "clientConfig": {"url": format!("{url}{path}"), "caBundle": ca_bundle},
          // DELETE is deliberately absent: a webhook that is down never blocks deletes.
          "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["siterecovery.trilio.io"],
                     "apiVersions": ["v1alpha1"],
                     "resources": ["protectionrequests", "drbdreplicationpolicies"]}]})
    };
    json!([
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": "protect-webhook"}, "webhooks": [hook(MUTATE, "/mutate")]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "protect-webhook"}, "webhooks": [hook(VALIDATE, "/validate")]}
    ])
}

fn request(name: &str, vm: &str, source_cluster: Option<&str>) -> Value {
    let mut spec = json!({"vmName": vm, "vmNamespace": "production"});
    if let Some(cluster) = source_cluster {
        spec["sourceCluster"] = json!(cluster);
    }
    json!({"apiVersion": "siterecovery.trilio.io/v1alpha1", "kind": "ProtectionRequest",
           "metadata": {"name": name, "namespace": "dr-deployment"}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_example_1_admitted_with_defaults_and_bad_requests_denied_with_their_reason() {
    let lab = Lab::start(&["quorum", "cluster1", "cluster2"])
        .await
        .unwrap();
    let k = Kubectl::new(&lab).unwrap();
    seed(&lab, &k).await;
    let certs = tempfile::tempdir().unwrap();
    let ca_bundle = write_certificate(certs.path());
    let webhook = start_webhook(&k, certs.path()).await;
    apply(
        &k,
        "quorum",
        "webhooks.json",
        &configurations(&webhook.url, &ca_bundle),
    )
    .await;

    // The guide's Example 1, exactly as the guide prints it.
    let example = repo("api/tests/fixtures/protect-web-server.yaml");
    let created = succeed(&k, &["--context", "quorum", "apply", "-f", &example]).await;
    assert_eq!(
        created,
        "protectionrequest.siterecovery.trilio.io/protect-web-server created\n"
    );
    let labels = succeed(
        &k,
        &[
            "--context",
            "quorum",
            "get",
            "pr",
            "protect-web-server",
            "-n",
            "dr-deployment",
            "-o",
            "jsonpath={.metadata.labels}",
        ],
    )
    .await;
    let labels: Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["siterecovery.trilio.io/protected-vm"], "web-server");
    assert_eq!(labels["siterecovery.trilio.io/vm-namespace"], "production");
    assert_eq!(labels["siterecovery.trilio.io/source-cluster"], "cluster1");

    // A second request for the same VM is denied naming the existing one.
    let again = k
        .file(
            "again.json",
            &request("protect-web-server-2", "web-server", None).to_string(),
        )
        .unwrap();
    let out = kubectl(&k, &["--context", "quorum", "create", "-f", &again]).await;
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.starts_with(&format!("Error from server (Forbidden): error when creating \"{again}\": admission webhook \"{VALIDATE}\" denied the request: "))
            && text.contains("protect-web-server"),
        "{text}"
    );

    // A VM whose disk uses a class the policy does not map: denied at apply time, naming the
    // VM, the PVC, its class, what the policy maps and the fix.
    let analytics = k
        .file(
            "analytics.json",
            &request("protect-analytics", "analytics", None).to_string(),
        )
        .unwrap();
    let out = kubectl(&k, &["--context", "quorum", "apply", "-f", &analytics]).await;
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    for needle in [
        format!("admission webhook \"{VALIDATE}\" denied the request: "),
        "VirtualMachine production/analytics cannot be protected".to_string(),
        "PVC \"analytics-data\" uses storage class \"local-path\"".to_string(),
        "DRBDReplicationPolicy \"dr-policy\" does not map (it maps: ceph-rbd → ceph-rbd-dr)"
            .to_string(),
        "add a storageClassMappings entry for \"local-path\"".to_string(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in: {text}");
    }

    // The spec is immutable.
    let changed = k
        .file(
            "changed.json",
            &request("protect-web-server", "analytics", Some("cluster1")).to_string(),
        )
        .unwrap();
    let out = kubectl(&k, &["--context", "quorum", "apply", "-f", &changed]).await;
    assert!(stderr(&out).contains("vmName"), "{}", stderr(&out));

    // Unprotected again, the VM can be requested without sourceCluster: the mutating webhook
    // fills in the only policy's primary cluster.
    succeed(
        &k,
        &[
            "--context",
            "quorum",
            "delete",
            "pr",
            "protect-web-server",
            "-n",
            "dr-deployment",
        ],
    )
    .await;
    succeed(&k, &["--context", "quorum", "create", "-f", &again]).await;
    let source = succeed(
        &k,
        &[
            "--context",
            "quorum",
            "get",
            "pr",
            "protect-web-server-2",
            "-n",
            "dr-deployment",
            "-o",
            "jsonpath={.spec.sourceCluster}",
        ],
    )
    .await;
    assert_eq!(source, "cluster1");

    // The primary cluster is partitioned away: a VM the caches have never seen is looked up
    // directly, the lookup hits its deadline or a transport error, and the denial names the
    // cluster that could not be reached.
    lab.cluster("cluster1").unwrap().faults().partition();
    let unseen = k
        .file(
            "unseen.json",
            &request("protect-unseen", "unseen", None).to_string(),
        )
        .unwrap();
    let out = kubectl(&k, &["--context", "quorum", "create", "-f", &unseen]).await;
    let text = stderr(&out);
    assert!(
        text.contains(
            "cannot reach primary cluster \"cluster1\" to look up VirtualMachine production/unseen"
        ) && text.contains("check the primary-kubeconfig Secret"),
        "{text}"
    );
    lab.cluster("cluster1").unwrap().faults().heal();

    // Least privilege: the webhook lists and watches Secrets only by name (the RBAC of
    // deploy/webhook grants primary-kubeconfig alone, which a namespace-wide list would break).
    let secret_collections: Vec<_> = lab
        .cluster("quorum")
        .unwrap()
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/secrets"))
        .collect();
    assert!(!secret_collections.is_empty(), "the Secret is watched");
    for r in &secret_collections {
        assert_eq!(r.path, "/api/v1/namespaces/dr-deployment/secrets", "{r:?}");
        assert!(
            r.query
                .contains("fieldSelector=metadata.name%3Dprimary-kubeconfig"),
            "a Secret list or watch without the by-name selector: {r:?}"
        );
    }

    // The webhook goes down: with failurePolicy Fail a create gets kubectl's usual error, and
    // deletes still go through.
    let _ = webhook.stop.send(());
    webhook.task.await.unwrap();
    let out = kubectl(&k, &["--context", "quorum", "apply", "-f", &analytics]).await;
    let text = stderr(&out);
    assert!(
        text.starts_with(&format!("Error from server (InternalError): error when creating \"{analytics}\": Internal error occurred: failed calling webhook \"{MUTATE}\": failed to call webhook: Post \"{}/mutate?timeout=5s\"", webhook.url)),
        "{text}"
    );
    succeed(
        &k,
        &[
            "--context",
            "quorum",
            "delete",
            "pr",
            "protect-web-server-2",
            "-n",
            "dr-deployment",
        ],
    )
    .await;
}

/// The webhook's request index follows the requests cache: a request appears under the VM it
/// names once the watch has brought it, and disappears once its delete has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requests_for_a_vm_follow_creates_and_deletes() {
    use kube::Api;
    use protect_api::ProtectionRequest;
    use protect_lab_apiserver::world::{PROTECTION_NAMESPACE, QUORUM, World, WorldOptions};
    use protect_webhook::Facts as _;
    use protect_webhook::cache::ClusterFacts;
    use protect_webhook::facts::VmRef;

    let world = World::start(WorldOptions::default()).await.unwrap();
    let quorum = world.client(QUORUM).unwrap();
    let facts = ClusterFacts::start(
        quorum.clone(),
        Some(PROTECTION_NAMESPACE),
        Duration::from_secs(2),
    );
    let api: Api<ProtectionRequest> = Api::namespaced(quorum, PROTECTION_NAMESPACE);
    let vm = |name: &str| VmRef {
        namespace: "production".to_owned(),
        name: name.to_owned(),
    };
    // Names of the requests the index holds for `vm`, once they are `expected`.
    let until = |vm: VmRef, expected: Vec<&'static str>| {
        let facts = std::sync::Arc::clone(&facts);
        async move {
            let names = || {
                let mut names: Vec<String> = facts
                    .requests_for(PROTECTION_NAMESPACE, &vm)
                    .iter()
                    .filter_map(|r| r.metadata.name.clone())
                    .collect();
                names.sort();
                names
            };
            let reached = tokio::time::timeout(Duration::from_secs(10), async {
                while names() != expected {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            assert!(
                reached.is_ok(),
                "index for {vm} is {:?}, not {expected:?}",
                names()
            );
        }
    };
    let create = |name: &str, vm: &str| {
        let request: ProtectionRequest =
            serde_json::from_value(request(name, vm, Some("cluster1"))).unwrap();
        let api = api.clone();
        async move { api.create(&Default::default(), &request).await.unwrap() }
    };

    until(vm("web-server"), vec![]).await;
    create("first", "web-server").await;
    create("other", "analytics").await;
    until(vm("web-server"), vec!["first"]).await;
    until(vm("analytics"), vec!["other"]).await;
    create("second", "web-server").await;
    until(vm("web-server"), vec!["first", "second"]).await;
    api.delete("first", &Default::default()).await.unwrap();
    until(vm("web-server"), vec!["second"]).await;
    // Another namespace's VM of the same name is another VM.
    assert!(
        facts
            .requests_for("elsewhere", &vm("web-server"))
            .is_empty()
    );
    drop(facts);
    world.shutdown().await;
}
