//! `protect-webhook self-signed`, the real binary: the bundle it writes serves HTTPS that a
//! client trusting only its `ca.crt` accepts under every Service name; and the section
//! "Installing the webhook without cert-manager" of docs/operations.md works as written — its
//! overlay, the printed kubectl commands and its renewal script, run by a shell with the real
//! kubectl 1.32 against the lab. Fails when /usr/bin/kubectl is missing; never skips.

// Test helpers unwrap like the tests they serve (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use protect_lab_apiserver::Lab;
use protect_lab_apiserver::kubectl::Kubectl;
use protect_webhook::server::{Config, Server};
use protect_webhook::{StaticFacts, tls};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

const SERVICE_NAMES: [&str; 4] = [
    "protect-webhook",
    "protect-webhook.dr-deployment",
    "protect-webhook.dr-deployment.svc",
    "protect-webhook.dr-deployment.svc.cluster.local",
];

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

/// What one `protect-webhook self-signed` run printed.
struct Printed {
    ca_bundle: String,
    commands: Vec<String>,
}

fn self_signed(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_protect-webhook"))
        .arg("self-signed")
        .args(args)
        .output()
        .unwrap()
}

/// The caBundle and the kubectl commands in what `self-signed` printed.
fn printed(stdout: &str) -> Printed {
    let ca_bundle = stdout
        .lines()
        .skip_while(|l| *l != "caBundle:")
        .nth(1)
        .unwrap_or_else(|| panic!("no caBundle in:\n{stdout}"))
        .to_owned();
    let commands: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("kubectl "))
        .map(str::to_owned)
        .collect();
    assert_eq!(commands.len(), 3, "{stdout}");
    Printed {
        ca_bundle,
        commands,
    }
}

fn generate(out: &Path, force: bool) -> Printed {
    let mut args = vec!["--out", out.to_str().unwrap()];
    if force {
        args.push("--force");
    }
    let output = self_signed(&args);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "self-signed failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed(&stdout)
}

/// GET /healthz over a new TLS connection to `addr`, verifying the server as `name` against
/// `ca` only.
async fn healthz(addr: std::net::SocketAddr, ca: &[u8], name: &str) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get("/healthz")
        .header("host", name)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_bundle_serves_https_trusted_through_its_ca_under_every_service_name() {
    let dir = tempfile::tempdir().unwrap();
    let printed = generate(dir.path(), false);
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&printed.ca_bundle)
            .unwrap(),
        ca,
        "the printed caBundle is ca.crt"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("tls.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let server = Server::with_facts(
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls_cert: dir.path().join("tls.crt"),
            tls_key: dir.path().join("tls.key"),
            kubeconfig: None,
            context: None,
            namespace: None,
            cache_miss_timeout: Duration::from_secs(2),
            cert_check_interval: Duration::from_secs(3600),
            drain_timeout: Duration::from_secs(5),
        },
        Arc::new(StaticFacts::default()),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    for name in SERVICE_NAMES {
        assert_eq!(
            healthz(addr, &ca, name).await,
            Ok("ok".to_owned()),
            "{name}"
        );
    }
    let other = healthz(addr, &ca, "protect-webhook.other-namespace.svc")
        .await
        .unwrap_err();
    assert!(other.contains("not valid for name"), "{other}");
    // Another run's CA does not vouch for this certificate.
    let elsewhere = tempfile::tempdir().unwrap();
    generate(elsewhere.path(), false);
    let stranger = std::fs::read(elsewhere.path().join("ca.crt")).unwrap();
    let refused = healthz(addr, &stranger, SERVICE_NAMES[2])
        .await
        .unwrap_err();
    assert!(refused.contains("invalid peer certificate"), "{refused}");

    let _ = stop.send(());
    running.await.unwrap();
}

#[test]
fn bad_input_exits_1_with_the_rule_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    for (args, expected) in [
        (
            vec!["--service", "", "--out"],
            "protect-webhook self-signed: the Service name (--service) \"\" is not valid: it is empty\n",
        ),
        (
            vec!["--namespace", "DR", "--out"],
            "protect-webhook self-signed: the namespace (--namespace) \"DR\" is not valid: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')\n",
        ),
    ] {
        let mut args = args.clone();
        args.push(out.to_str().unwrap());
        let output = self_signed(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), expected);
        assert!(output.stdout.is_empty());
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
}

async fn kubectl(k: &Kubectl, args: &[&str]) -> String {
    let out = k.run(args).await.unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `script` run by `sh` in `dir` as an operator would paste it: `kubectl` and
/// `protect-webhook` on PATH, the lab's kubeconfig (current context: quorum) in KUBECONFIG
/// and KUBECONFIG_QUORUM.
async fn shell(k: &Kubectl, home: &Path, dir: &Path, script: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_protect-webhook"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let out = tokio::process::Command::new("/bin/sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .env("PATH", format!("{bin}:/usr/bin:/bin"))
        .env("KUBECONFIG", k.kubeconfig())
        .env("KUBECONFIG_QUORUM", k.kubeconfig())
        .env("HOME", home)
        .env("KUBECACHEDIR", home.join("cache"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Secret's tls.crt and type, and the caBundle of each webhook configuration.
async fn installed(k: &Kubectl) -> (String, String, String, String) {
    let secret = |path: &'static str| {
        [
            "-n",
            "dr-deployment",
            "get",
            "secret",
            "protect-webhook-tls",
            "-o",
            path,
        ]
    };
    let crt = kubectl(k, &secret("jsonpath={.data.tls\\.crt}")).await;
    let kind = kubectl(k, &secret("jsonpath={.type}")).await;
    let ca = |kind: &'static str| {
        [
            "get",
            kind,
            "protect-webhook",
            "-o",
            "jsonpath={.webhooks[0].clientConfig.caBundle}",
        ]
    };
    let validating = kubectl(k, &ca("validatingwebhookconfiguration")).await;
    let mutating = kubectl(k, &ca("mutatingwebhookconfiguration")).await;
    (crt, kind, validating, mutating)
}

/// The fenced `lang` blocks of the section "Installing the webhook without cert-manager" of
/// docs/operations.md, without the list indentation.
fn documented(lang: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo("docs/operations.md")).unwrap();
    let start = text
        .find("\n## Installing the webhook without cert-manager\n")
        .expect("docs/operations.md has the section");
    let section = &text[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start() != format!("```{lang}") {
            continue;
        }
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim() != "```")
            .map(|l| l.get(indent..).unwrap_or("").trim_end())
            .collect();
        blocks.push(block.join("\n") + "\n");
    }
    blocks
}

fn base64_of(files: &[PathBuf]) -> String {
    let bytes: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The section "Installing the webhook without cert-manager" of docs/operations.md, step by
/// step against the lab with the real kubectl: its overlay renders the bundle without any
/// cert-manager object and installs on a cluster that has no cert-manager; the printed
/// commands install the Secret and both caBundles; an upgrade (the bundle applied again) keeps
/// them; its renewal script trusts both CAs before the new Secret goes in.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_install_without_cert_manager_works_and_renews_trusting_both_cas() {
    let lab = Lab::start(&["quorum"]).await.unwrap();
    let k = Kubectl::new(&lab).unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();

    // Step 1: the overlay, next to deploy/.
    let yaml = documented("yaml");
    assert_eq!(yaml.len(), 1, "one overlay in the section: {yaml:?}");
    std::os::unix::fs::symlink(repo("deploy"), work.join("deploy")).unwrap();
    std::fs::create_dir(work.join("protect-no-cert-manager")).unwrap();
    std::fs::write(
        work.join("protect-no-cert-manager/kustomization.yaml"),
        &yaml[0],
    )
    .unwrap();
    let scripts = documented("sh");
    let script = |needle: &str| {
        scripts
            .iter()
            .find(|block| block.contains(needle))
            .unwrap_or_else(|| panic!("no sh block with {needle:?} in {scripts:?}"))
            .clone()
    };
    let install = script("kubectl kustomize protect-no-cert-manager");
    shell(&k, home.path(), work, &install).await;
    let bundle = std::fs::read_to_string(work.join("protect-bundle.yaml")).unwrap();
    assert!(!bundle.contains("cert-manager"), "{bundle}");
    for kind in [
        "kind: Deployment",
        "kind: Service",
        "kind: ValidatingWebhookConfiguration",
        "kind: MutatingWebhookConfiguration",
        "kind: CustomResourceDefinition",
    ] {
        assert!(bundle.contains(kind), "{kind} missing from:\n{bundle}");
    }

    // Steps 2 and 3.
    let first = printed(
        &shell(
            &k,
            home.path(),
            work,
            &script("protect-webhook self-signed --service"),
        )
        .await,
    );
    let first_dir = work.join("protect-webhook-certs");
    for command in &first.commands {
        shell(&k, home.path(), work, command).await;
    }
    let expected = (
        base64_of(&[first_dir.join("tls.crt")]),
        "kubernetes.io/tls".to_owned(),
        first.ca_bundle.clone(),
        first.ca_bundle.clone(),
    );
    assert_eq!(installed(&k).await, expected);
    // An upgrade applies the bundle again: the caBundle and the Secret stay.
    shell(&k, home.path(), work, &install).await;
    assert_eq!(installed(&k).await, expected);

    // Renewal: the documented script (new bundle, both CAs trusted), then the printed lines.
    let output = shell(&k, home.path(), work, &script("BOTH=")).await;
    let renewed = printed(&output);
    let second_dir = work.join("protect-webhook-certs-2027");
    let both = base64_of(&[first_dir.join("ca.crt"), second_dir.join("ca.crt")]);
    let (crt, _, validating, mutating) = installed(&k).await;
    assert_eq!(
        (crt, validating, mutating),
        (expected.0.clone(), both.clone(), both),
        "after step 1 both CAs are trusted and the old certificate still serves"
    );
    for command in &renewed.commands {
        shell(&k, home.path(), work, command).await;
    }
    assert_eq!(
        installed(&k).await,
        (
            base64_of(&[second_dir.join("tls.crt")]),
            "kubernetes.io/tls".to_owned(),
            renewed.ca_bundle.clone(),
            renewed.ca_bundle.clone(),
        )
    );
    assert_eq!(renewed.ca_bundle, base64_of(&[second_dir.join("ca.crt")]));
    // The patches touched only the caBundle: the rest of the configuration is as deployed.
    let service = kubectl(
        &k,
        &[
            "get",
            "validatingwebhookconfiguration",
            "protect-webhook",
            "-o",
            "jsonpath={.webhooks[0].name} {.webhooks[0].clientConfig.service.name}.{.webhooks[0].clientConfig.service.namespace}{.webhooks[0].clientConfig.service.path}",
        ],
    )
    .await;
    assert_eq!(
        service,
        "validate.protect.siterecovery.trilio.io protect-webhook.dr-deployment/validate"
    );
}
