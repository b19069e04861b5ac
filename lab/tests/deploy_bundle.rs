//! `deploy/`: the quorum-cluster install bundle and the container images (issue 7).
//!
//! - The bundle is rendered with the real `kubectl kustomize deploy` and applied to a lab
//!   cluster with `kubectl apply --dry-run=server -f -`, as an operator would check it before
//!   installing; then applied for real, and re-applied unchanged.
//! - Its wiring is checked object by object: the webhook configurations call the Service on
//!   443, which targets the webhook's 8443, whose TLS Secret is the serving Certificate's, whose
//!   issuer chain exists; DELETE never reaches the webhook; RBAC is read-only where it should be.
//! - Every `deploy/images/Containerfile.*` builds a real workspace binary into a non-root
//!   distroless image (they cannot be built here: no container engine).
//!
//! cert-manager's Issuer and Certificate need their CRDs, which a real quorum cluster gets from
//! the cert-manager release: `fixtures/cert-manager-crds.yaml` installs minimal ones first.
//! These tests fail when kubectl is missing; never skipped.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::Kubectl;
use protect_lab_apiserver::Lab;
use serde_json::{Value, json};

const NAMESPACE: &str = "dr-deployment";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn repo_path(path: &str) -> String {
    repo().join(path).display().to_string()
}

/// `kubectl <args>` with `stdin` on its standard input.
fn with_stdin(k: &Kubectl, args: &[&str], stdin: &str) -> Output {
    let mut child = k
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("writing kubectl's stdin");
    child.wait_with_output().expect("kubectl")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The bundle as `kubectl kustomize deploy` renders it (kustomize needs no cluster).
fn render() -> String {
    assert!(
        Path::new(common::KUBECTL).exists(),
        "{} is required to render deploy/ (see README: kubectl 1.32)",
        common::KUBECTL
    );
    let home = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(common::KUBECTL)
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .args(["kustomize", &repo_path("deploy")])
        .output()
        .expect("running kubectl kustomize");
    ok(out, "kubectl kustomize deploy")
}

/// The rendered bundle's objects.
fn objects(bundle: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(bundle)
        .expect("the rendered bundle is YAML")
        .into_iter()
        .filter(|o| !o.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the bundle has no {kind} {name}"))
}

/// `deployment.apps/protect-webhook`: how kubectl names an object in its output.
fn kubectl_name(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default().to_lowercase();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match api_version.split_once('/') {
        Some((group, _)) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// A lab quorum cluster with cert-manager's CRDs, as a real quorum cluster with cert-manager.
fn install_cert_manager_crds(k: &Kubectl) {
    k.ok(&[
        "apply",
        "-f",
        &repo_path("lab/tests/fixtures/cert-manager-crds.yaml"),
    ]);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/certificates.cert-manager.io",
        "crd/issuers.cert-manager.io",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_bundle_is_accepted_by_a_server_side_dry_run_then_installs_and_reapplies_unchanged()
 {
    let lab = Lab::start(&["quorum"]).await.expect("lab");
    let k = Kubectl::new(&lab);
    tokio::task::block_in_place(|| {
        install_cert_manager_crds(&k);
        let bundle = render();
        let objects = objects(&bundle);
        assert!(objects.len() >= 19, "{bundle}");

        // A dry run creates nothing, so the namespace the namespaced objects go to must exist
        // already — on a real apiserver exactly as here. (Applied from a manifest, not with
        // `kubectl create namespace`, which sends protobuf: the lab answers that 415, LAB.md.)
        let namespace = k.file(
            "namespace.yaml",
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"),
        );
        k.ok(&["apply", "-f", &namespace]);
        let dry = ok(
            with_stdin(&k, &["apply", "--dry-run=server", "-f", "-"], &bundle),
            "kubectl apply --dry-run=server -f -",
        );
        for object in &objects {
            let name = kubectl_name(object);
            assert!(
                dry.lines().any(|l| l.starts_with(&format!("{name} "))
                    && l.ends_with(" (server dry run)")),
                "{name} is not in the dry run's output:\n{dry}"
            );
        }
        // Nothing was stored.
        let stored = k.ok(&[
            "get",
            "deployments,services,roles",
            "-n",
            NAMESPACE,
            "-o",
            "name",
        ]);
        assert_eq!(stored, "", "a dry run stored objects");
        let crds = k.ok(&["get", "crd", "-o", "name"]);
        assert!(!crds.contains("siterecovery.trilio.io"), "{crds}");

        // The real install, then the same bundle again: nothing to change.
        let applied = ok(
            with_stdin(&k, &["apply", "-f", "-"], &bundle),
            "kubectl apply -f -",
        );
        for object in &objects {
            let name = kubectl_name(object);
            assert!(
                applied.lines().any(|l| l.starts_with(&format!("{name} "))),
                "{name} is not in the apply's output:\n{applied}"
            );
        }
        let again = ok(
            with_stdin(&k, &["apply", "-f", "-"], &bundle),
            "kubectl apply -f - (again)",
        );
        for line in again.lines() {
            assert!(
                line.ends_with(" unchanged"),
                "re-applying the same bundle changed something: {line}\n{again}"
            );
        }

        // The guide's check (Installation) and label.
        k.ok(&["get", "crd", "protectionrequests.siterecovery.trilio.io"]);
        let controller = k.ok(&[
            "get",
            "deployments",
            "-n",
            NAMESPACE,
            "-l",
            "app=protection-controller",
            "-o",
            "name",
        ]);
        assert_eq!(controller, "deployment.apps/protection-controller\n");
        let hooks = k.ok(&[
            "get",
            "validatingwebhookconfiguration/protect-webhook",
            "-o",
            "jsonpath={.webhooks[*].clientConfig.service.name}",
        ]);
        assert_eq!(hooks, "protect-webhook");
    });
    lab.shutdown().await;
}

#[test]
fn the_bundle_wires_webhook_service_certificate_and_least_privilege_rbac() {
    let objects = objects(&render());

    // Everything namespaced lands in dr-deployment.
    for object in &objects {
        let namespace = object["metadata"]["namespace"].as_str();
        let kind = object["kind"].as_str().unwrap_or_default();
        let cluster_scoped = matches!(
            kind,
            "Namespace"
                | "CustomResourceDefinition"
                | "MutatingWebhookConfiguration"
                | "ValidatingWebhookConfiguration"
        );
        if cluster_scoped {
            assert_eq!(namespace, None, "{}", kubectl_name(object));
        } else {
            assert_eq!(namespace, Some(NAMESPACE), "{}", kubectl_name(object));
        }
    }
    for crd in [
        "protectionrequests.siterecovery.trilio.io",
        "drbdreplicationpolicies.siterecovery.trilio.io",
        "drbdvolumes.siterecovery.trilio.io",
    ] {
        find(&objects, "CustomResourceDefinition", crd);
    }

    // The webhook Service: 443 → the container's 8443.
    let service = find(&objects, "Service", "protect-webhook");
    let port = &service["spec"]["ports"][0];
    assert_eq!(port["port"], 443);
    let deployment = find(&objects, "Deployment", "protect-webhook");
    let pod = &deployment["spec"]["template"];
    assert_eq!(
        service["spec"]["selector"]["app"],
        pod["metadata"]["labels"]["app"]
    );
    let container = &pod["spec"]["containers"][0];
    let container_port = container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["name"] == port["targetPort"] || p["containerPort"] == port["targetPort"])
        .expect("the Service's targetPort is a container port");
    assert_eq!(container_port["containerPort"], 8443);

    // The webhook Deployment: 2 replicas, non-root, read-only root, HTTPS probes, the args.
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["spec"]["serviceAccountName"], "protect-webhook");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(container[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
    }
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let arg = |flag: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{flag}=")))
            .unwrap_or_else(|| panic!("the webhook has no --{flag}: {args:?}"))
    };
    assert_eq!(arg("listen"), "0.0.0.0:8443");
    assert_eq!(arg("namespace"), NAMESPACE);
    let mount = container["volumeMounts"][0]["mountPath"]
        .as_str()
        .expect("the TLS mount");
    assert_eq!(arg("tls-cert"), format!("{mount}/tls.crt"));
    assert_eq!(arg("tls-key"), format!("{mount}/tls.key"));
    let volume = &pod["spec"]["volumes"][0];
    assert_eq!(volume["name"], container["volumeMounts"][0]["name"]);
    let tls_secret = volume["secret"]["secretName"].as_str().expect("secret");

    // cert-manager: selfSigned Issuer → CA Certificate → CA Issuer → serving Certificate whose
    // Secret the webhook mounts, for the Service's DNS name.
    let serving = find(&objects, "Certificate", "protect-webhook-serving");
    assert_eq!(serving["spec"]["secretName"], tls_secret);
    let dns: Vec<&str> = serving["spec"]["dnsNames"]
        .as_array()
        .expect("dnsNames")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        dns.contains(&"protect-webhook.dr-deployment.svc"),
        "{dns:?}"
    );
    let ca_issuer = find(
        &objects,
        "Issuer",
        serving["spec"]["issuerRef"]["name"]
            .as_str()
            .expect("issuer"),
    );
    let ca_secret = ca_issuer["spec"]["ca"]["secretName"]
        .as_str()
        .expect("a CA issuer");
    let ca = objects
        .iter()
        .find(|o| o["kind"] == "Certificate" && o["spec"]["secretName"] == ca_secret)
        .expect("the CA Certificate");
    assert_eq!(ca["spec"]["isCA"], true);
    let root = find(
        &objects,
        "Issuer",
        ca["spec"]["issuerRef"]["name"].as_str().expect("issuer"),
    );
    assert!(root["spec"]["selfSigned"].is_object(), "{root}");

    // The webhook configurations: CREATE/UPDATE of our two kinds, never DELETE; Fail, None, 10s;
    // the Service above; cert-manager injects the serving Certificate's CA.
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let configuration = find(&objects, kind, "protect-webhook");
        assert_eq!(
            configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "dr-deployment/protect-webhook-serving",
            "{kind}"
        );
        let webhooks = configuration["webhooks"].as_array().expect("webhooks");
        let mut resources = Vec::new();
        for webhook in webhooks {
            let name = webhook["name"].as_str().unwrap_or_default();
            assert_eq!(webhook["failurePolicy"], "Fail", "{name}");
            assert_eq!(webhook["sideEffects"], "None", "{name}");
            assert_eq!(webhook["timeoutSeconds"], 5, "{name}");
            assert_eq!(webhook["admissionReviewVersions"][0], "v1", "{name}");
            let target = &webhook["clientConfig"]["service"];
            assert_eq!(target["name"], service["metadata"]["name"], "{name}");
            assert_eq!(target["namespace"], NAMESPACE, "{name}");
            assert_eq!(target["port"], 443, "{name}");
            let path = if kind.starts_with("Mutating") {
                "/mutate"
            } else {
                "/validate"
            };
            assert_eq!(target["path"], path, "{name}");
            // What kubectl prints on a denial: admission webhook "validate.protect…" denied …
            assert_eq!(
                name,
                format!("{}.protect.siterecovery.trilio.io", &path[1..]),
                "{kind}"
            );
            for rule in webhook["rules"].as_array().expect("rules") {
                assert_eq!(rule["apiGroups"][0], "siterecovery.trilio.io", "{name}");
                let operations: Vec<&str> = rule["operations"]
                    .as_array()
                    .expect("operations")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(
                    operations,
                    ["CREATE", "UPDATE"],
                    "{name}: never DELETE or *"
                );
                for resource in rule["resources"].as_array().expect("resources") {
                    resources.push(resource.as_str().unwrap_or_default().to_owned());
                }
            }
        }
        resources.sort();
        assert_eq!(
            resources,
            ["drbdreplicationpolicies", "protectionrequests"],
            "{kind}"
        );
    }

    // Webhook RBAC: read-only, and only in its namespace (a Role, not a ClusterRole); Secrets
    // only by name (it watches each kubeconfig Secret with a metadata.name field selector).
    let role = find(&objects, "Role", "protect-webhook");
    assert_eq!(role["metadata"]["namespace"], "dr-deployment");
    for rule in role["rules"].as_array().expect("rules") {
        if rule["resources"][0] == "secrets" {
            assert_eq!(
                rule["resourceNames"],
                json!(["primary-kubeconfig"]),
                "{rule}"
            );
        }
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .expect("verbs")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(verbs, ["get", "list", "watch"], "{rule}");
    }
    let binding = find(&objects, "RoleBinding", "protect-webhook");
    assert_eq!(binding["roleRef"]["name"], "protect-webhook");
    assert_eq!(binding["subjects"][0]["name"], "protect-webhook");

    // The controller as the guide finds it: label app=protection-controller.
    let controller = find(&objects, "Deployment", "protection-controller");
    assert_eq!(
        controller["spec"]["template"]["metadata"]["labels"]["app"],
        "protection-controller"
    );
    assert_eq!(
        controller["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
}

/// `[package] name` and `[[bin]] name`s of a member's Cargo.toml (a line-level reading that is
/// enough for this workspace's manifests).
fn package_and_bins(manifest: &str) -> (String, Vec<String>) {
    let mut section = String::new();
    let mut package = String::new();
    let mut bins = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        let Some(value) = line
            .strip_prefix("name")
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('='))
        else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match section.as_str() {
            "[package]" => package = value,
            "[[bin]]" => bins.push(value),
            _ => {}
        }
    }
    (package, bins)
}

/// The workspace's `members`, and its `rust-version`.
fn workspace() -> (Vec<String>, String) {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let start = manifest.find("members = [").expect("workspace members");
    let list = &manifest[start + "members = [".len()..];
    let list = &list[..list.find(']').expect("end of members")];
    let members = list
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    let rust_version = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .expect("rust-version")
        .trim_matches('"')
        .to_owned();
    (members, rust_version)
}

fn version_tuple(version: &str) -> (u32, u32) {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn every_containerfile_builds_a_workspace_binary_into_a_nonroot_distroless_image() {
    let (members, rust_version) = workspace();
    let mut checked = Vec::new();
    let images = repo().join("deploy/images");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&images)
        .expect("deploy/images")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("Containerfile."))
        })
        .collect();
    files.sort();
    for path in &files {
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let text = std::fs::read_to_string(path).expect("Containerfile");
        // Instructions, with `\` continuations joined and comments dropped.
        let joined = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("\\\n", " ");
        let instructions: Vec<(String, String)> = joined
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
                (op.to_uppercase(), rest.trim().to_owned())
            })
            .collect();
        let stages: Vec<usize> = instructions
            .iter()
            .enumerate()
            .filter(|(_, (op, _))| op == "FROM")
            .map(|(i, _)| i)
            .collect();
        assert_eq!(stages.len(), 2, "{file}: a builder and a runtime stage");
        let builder = &instructions[stages[0]..stages[1]];
        let runtime = &instructions[stages[1]..];

        // Builder: a Rust image at least the workspace's rust-version, every member copied,
        // `cargo build --release --locked -p PKG --bin BIN` of a real bin target.
        let from = &builder[0].1;
        let (image, stage) = from.split_once(" AS ").expect("FROM … AS builder");
        assert_eq!(stage.trim(), "builder", "{file}");
        let tag = image
            .strip_prefix("docker.io/library/rust:")
            .unwrap_or_else(|| panic!("{file}: the builder is not the official Rust image"));
        let tag_version = tag.split('-').next().unwrap_or_default();
        assert!(
            version_tuple(tag_version) >= version_tuple(&rust_version),
            "{file}: rust:{tag} is older than rust-version {rust_version}"
        );
        let copied: Vec<&str> = builder
            .iter()
            .filter(|(op, _)| op == "COPY")
            .flat_map(|(_, args)| {
                let mut words: Vec<&str> = args.split_whitespace().collect();
                words.pop(); // the destination
                words
            })
            .collect();
        for needed in ["Cargo.toml", "Cargo.lock"] {
            assert!(copied.contains(&needed), "{file}: {needed} is not copied");
        }
        for member in &members {
            let top = member.split('/').next().unwrap_or_default();
            assert!(
                copied
                    .iter()
                    .any(|c| c.trim_end_matches('/') == top || c.trim_end_matches('/') == member),
                "{file}: workspace member {member} is not copied, so cargo cannot load the workspace"
            );
        }
        let build = builder
            .iter()
            .find(|(op, args)| op == "RUN" && args.contains("cargo build"))
            .map(|(_, args)| args.as_str())
            .unwrap_or_else(|| panic!("{file}: no cargo build"));
        let words: Vec<&str> = build.split_whitespace().collect();
        let after = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .and_then(|i| words.get(i + 1))
                .copied()
                .unwrap_or_else(|| panic!("{file}: cargo build without {flag}"))
        };
        assert!(
            words.contains(&"--release") && words.contains(&"--locked"),
            "{file}"
        );
        let package = after("-p");
        let bin = after("--bin");
        let owner = members
            .iter()
            .map(|m| {
                let manifest =
                    std::fs::read_to_string(repo().join(m).join("Cargo.toml")).expect("manifest");
                package_and_bins(&manifest)
            })
            .find(|(name, _)| name == package)
            .unwrap_or_else(|| panic!("{file}: -p {package} is not a workspace package"));
        assert!(
            owner.1.iter().any(|b| b == bin),
            "{file}: {bin} is not a [[bin]] of {package} ({:?})",
            owner.1
        );

        // Runtime: distroless, the built binary, a non-root USER, exec-form ENTRYPOINT, no RUN
        // (there is no shell).
        assert!(
            runtime[0].1.starts_with("gcr.io/distroless/"),
            "{file}: runtime {}",
            runtime[0].1
        );
        let copy = runtime
            .iter()
            .find(|(op, _)| op == "COPY")
            .map(|(_, args)| args.as_str())
            .unwrap_or_else(|| panic!("{file}: the runtime copies nothing"));
        let copy_words: Vec<&str> = copy.split_whitespace().collect();
        assert_eq!(
            copy_words,
            [
                "--from=builder",
                &format!("/src/target/release/{bin}"),
                &format!("/usr/local/bin/{bin}"),
            ],
            "{file}"
        );
        let user = runtime
            .iter()
            .rev()
            .find(|(op, _)| op == "USER")
            .map(|(_, args)| args.as_str())
            .unwrap_or_else(|| panic!("{file}: no USER"));
        let uid = user.split(':').next().unwrap_or_default();
        assert!(
            uid == "nonroot" || uid.parse::<u32>().is_ok_and(|u| u != 0),
            "{file}: USER {user} is root"
        );
        assert!(
            !runtime.iter().any(|(op, _)| op == "RUN"),
            "{file}: RUN in the runtime stage, which has no shell"
        );
        let entrypoint = runtime
            .iter()
            .find(|(op, _)| op == "ENTRYPOINT")
            .map(|(_, args)| args.as_str())
            .unwrap_or_else(|| panic!("{file}: no ENTRYPOINT"));
        assert_eq!(entrypoint, format!("[\"/usr/local/bin/{bin}\"]"), "{file}");
        checked.push(bin.to_owned());
    }
    checked.sort();
    assert!(
        ["protect-controller", "protect-webhook"]
            .iter()
            .all(|b| checked.iter().any(|c| c == b)),
        "a Containerfile per server binary: {checked:?}"
    );
}
