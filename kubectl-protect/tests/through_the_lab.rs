//! kubectl-protect end to end: the real kubectl (/usr/bin/kubectl — these tests fail when it is
//! missing, never skip) dispatching `kubectl protect …` to the built plugin, against the lab's
//! three clusters with the seeded world (protect_lab_apiserver::world) and, where admission matters, the
//! real protect-webhook registered as mutating and validating webhooks.
//!
//! The controller is not part of these tests: where phases must advance, the test acts as the
//! controller and writes the request's status through `kubectl patch --subresource=status`,
//! through the guide's phases.

// Test helpers unwrap like the tests they serve (clippy.toml allows it inside #[test] only).
#![allow(clippy::unwrap_used)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use protect_lab_apiserver::Lab;
use protect_lab_apiserver::kubectl::{KUBECTL, Kubectl};
use protect_lab_apiserver::world::{World, WorldOptions};
use protect_webhook::server::{Config, Server};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

const VALIDATE: &str = "validate.protect.siterecovery.trilio.io";
const MUTATE: &str = "mutate.protect.siterecovery.trilio.io";
/// How long any one observable change may take.
const STEP: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// The plugin through kubectl

/// `kubectl protect …` as a user runs it: the plugin's directory first on PATH, the lab's
/// kubeconfig and a context given with the standard flags.
struct Plugin {
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
    path: OsString,
}

impl Plugin {
    fn new(k: &Kubectl) -> Self {
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-protect"));
        let mut paths = vec![binary.parent().unwrap().to_path_buf()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        Plugin {
            kubeconfig: k.kubeconfig().to_path_buf(),
            home: tempfile::tempdir().unwrap(),
            path: std::env::join_paths(paths).unwrap(),
        }
    }

    /// `kubectl protect ARGS --kubeconfig … --context CONTEXT`, stdout and stderr piped.
    fn command(&self, context: &str, args: &[&str]) -> tokio::process::Command {
        assert!(
            Path::new(KUBECTL).is_file(),
            "{KUBECTL} is missing: these tests drive the real kubectl 1.32"
        );
        let mut command = tokio::process::Command::new(KUBECTL);
        command
            .arg("protect")
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", context])
            .env("PATH", &self.path)
            .env("HOME", self.home.path())
            .env("KUBECACHEDIR", self.home.path().join("cache"))
            .env_remove("KUBECONFIG")
            .env_remove("KUBECTL_PROTECT_NAMESPACE")
            // Piped output must carry no escape codes on its own, without NO_COLOR's help.
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run_in(&self, context: &str, args: &[&str]) -> Output {
        let run = self.command(context, args).output();
        tokio::time::timeout(STEP, run)
            .await
            .unwrap_or_else(|_| panic!("kubectl protect {args:?} did not end within {STEP:?}"))
            .unwrap()
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_in("quorum", args).await
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command("quorum", args).spawn().unwrap()
    }

    /// Like [`Plugin::spawn`], with stdout on a terminal: util-linux `script` gives the
    /// command a pseudo-terminal and copies what it draws to its own (piped) stdout.
    fn spawn_on_a_terminal(&self, args: &[&str]) -> Child {
        const SCRIPT: &str = "/usr/bin/script";
        assert!(
            Path::new(SCRIPT).is_file(),
            "{SCRIPT} (util-linux) is missing: it gives `status -w` a terminal"
        );
        let command = self.command("quorum", args);
        let line: Vec<String> = std::iter::once(command.as_std().get_program())
            .chain(command.as_std().get_args())
            .map(|a| {
                let a = a.to_str().unwrap();
                assert!(
                    a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=".contains(c)),
                    "needs quoting: {a}"
                );
                a.to_owned()
            })
            .collect();
        let mut script = tokio::process::Command::new(SCRIPT);
        script.args([
            "--quiet",
            "--return",
            "--flush",
            "--command",
            &line.join(" "),
            "/dev/null",
        ]);
        for (key, value) in command.as_std().get_envs() {
            match value {
                Some(value) => script.env(key, value),
                None => script.env_remove(key),
            };
        }
        script
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
fn expect_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// One line on stderr, no stdout, no backtrace.
fn one_error_line(out: &Output) -> String {
    let text = stderr(out);
    assert_eq!(text.trim_end().lines().count(), 1, "not one line: {text}");
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{text}"
    );
    assert!(stdout(out).is_empty(), "stdout: {}", stdout(out));
    text.trim_end().to_owned()
}

/// The lines of a running plugin's stdout.
struct LineReader {
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl LineReader {
    fn new(child: &mut Child) -> Self {
        LineReader {
            lines: BufReader::new(child.stdout.take().unwrap()).lines(),
            seen: Vec::new(),
        }
    }

    /// Read until a line containing `needle`, and return it.
    async fn until(&mut self, needle: &str) -> String {
        let read = async {
            loop {
                match self.lines.next_line().await.unwrap() {
                    Some(line) => {
                        self.seen.push(line.clone());
                        if line.contains(needle) {
                            return line;
                        }
                    }
                    None => panic!(
                        "stdout ended before a line with {needle:?}: {:#?}",
                        self.seen
                    ),
                }
            }
        };
        match tokio::time::timeout(STEP, read).await {
            Ok(line) => line,
            Err(_) => panic!("no line with {needle:?} within {STEP:?}: {:#?}", self.seen),
        }
    }

    /// Read to the end of stdout.
    async fn rest(&mut self) {
        let read = async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                self.seen.push(line);
            }
        };
        tokio::time::timeout(STEP, read)
            .await
            .unwrap_or_else(|_| panic!("stdout did not end: {:#?}", self.seen));
    }
}

/// Everything a running process wrote to stdout so far, raw (a terminal's redraws included).
struct RawReader {
    stdout: ChildStdout,
    seen: String,
}

impl RawReader {
    fn new(child: &mut Child) -> Self {
        RawReader {
            stdout: child.stdout.take().unwrap(),
            seen: String::new(),
        }
    }

    /// Read until the output so far contains `needle`; None at the end of the output.
    async fn read_until(&mut self, needle: &str) -> Option<()> {
        use tokio::io::AsyncReadExt as _;
        let mut buffer = [0u8; 4096];
        while !self.seen.contains(needle) {
            let n = self.stdout.read(&mut buffer).await.unwrap();
            if n == 0 {
                return None;
            }
            self.seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        Some(())
    }

    async fn until(&mut self, needle: &str) {
        match tokio::time::timeout(STEP, self.read_until(needle)).await {
            Ok(Some(())) => {}
            Ok(None) => panic!("output ended before {needle:?}: {:?}", self.seen),
            Err(_) => panic!("no {needle:?} within {STEP:?}: {:?}", self.seen),
        }
    }

    async fn rest(&mut self) {
        let end = self.read_until("\u{0}never\u{0}");
        tokio::time::timeout(STEP, end)
            .await
            .unwrap_or_else(|_| panic!("output did not end: {:?}", self.seen));
    }
}

/// Wait for the process to end (bounded) and return its exit code and stderr.
async fn finish(mut child: Child) -> (Option<i32>, String) {
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("the plugin ends")
        .unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt as _;
        e.read_to_string(&mut err).await.unwrap();
    }
    (status.code(), err)
}

// ---------------------------------------------------------------------------------------------
// kubectl itself, and acting as the controller

async fn kubectl(k: &Kubectl, args: &[&str]) -> Output {
    k.run(args).await.expect("kubectl runs")
}

async fn succeed(k: &Kubectl, args: &[&str]) -> String {
    let out = kubectl(k, args).await;
    assert!(out.status.success(), "kubectl {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// The request as kubectl on the quorum cluster sees it; None when it does not exist.
async fn get_request(k: &Kubectl, name: &str) -> Option<Value> {
    let out = kubectl(
        k,
        &[
            "--context",
            "quorum",
            "get",
            "pr",
            name,
            "-n",
            "dr-deployment",
            "-o",
            "json",
            "--ignore-not-found",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    (!text.trim().is_empty()).then(|| serde_json::from_str(&text).unwrap())
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The test playing the protection controller for one request: it keeps the status it has
/// written and replaces it as a whole (`status` merge patch) at each step.
struct Controller {
    name: String,
    status: Value,
}

impl Controller {
    fn new(name: &str) -> Self {
        Controller {
            name: name.to_owned(),
            status: json!({"policy": "dr-policy", "drCluster": "cluster2",
                           "phaseTransitions": [], "conditions": []}),
        }
    }

    /// Enter `phase` now with `message`.
    fn enter(&mut self, phase: &str, message: &str) -> &mut Self {
        self.status["phase"] = json!(phase);
        self.status["message"] = json!(message);
        self.status["phaseTransitions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"phase": phase, "time": now()}));
        self
    }

    /// Set a condition (replacing one of the same type).
    fn condition(&mut self, type_: &str, status: &str, reason: &str, message: &str) -> &mut Self {
        let conditions = self.status["conditions"].as_array_mut().unwrap();
        conditions.retain(|c| c["type"] != type_);
        conditions.push(json!({"type": type_, "status": status, "reason": reason,
                               "message": message, "lastTransitionTime": now()}));
        self
    }

    fn set(&mut self, key: &str, value: Value) -> &mut Self {
        self.status[key] = value;
        self
    }

    /// Write the status through the status subresource.
    async fn write(&self, k: &Kubectl) {
        let patch = json!({"status": self.status}).to_string();
        succeed(
            k,
            &[
                "--context",
                "quorum",
                "patch",
                "pr",
                &self.name,
                "-n",
                "dr-deployment",
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
            ],
        )
        .await;
    }
}

/// The two ceph-rbd volumes of web-server while the initial sync runs.
fn syncing_volumes(root: f64, data: f64) -> Value {
    json!([
        {"pvc": "web-server-root", "storageClass": "ceph-rbd", "drStorageClass": "ceph-rbd-dr",
         "capacity": "20Gi", "drbdVolume": "web-server-root", "port": 7000,
         "syncPercent": root, "etaSeconds": 130, "state": "SyncSource"},
        {"pvc": "web-server-data", "storageClass": "ceph-rbd", "drStorageClass": "ceph-rbd-dr",
         "capacity": "100Gi", "drbdVolume": "web-server-data", "port": 7000,
         "syncPercent": data, "etaSeconds": 610, "state": "SyncSource"}
    ])
}

fn established_volumes() -> Value {
    json!([
        {"pvc": "web-server-root", "storageClass": "ceph-rbd", "drStorageClass": "ceph-rbd-dr",
         "capacity": "20Gi", "drbdVolume": "web-server-root", "port": 7000,
         "syncPercent": 100.0, "state": "Established"},
        {"pvc": "web-server-data", "storageClass": "ceph-rbd", "drStorageClass": "ceph-rbd-dr",
         "capacity": "100Gi", "drbdVolume": "web-server-data", "port": 7000,
         "syncPercent": 100.0, "state": "Established"}
    ])
}

/// An Event about the request, as the controller records one.
async fn record_event(k: &Kubectl, request: &Value, name: &str, reason: &str, message: &str) {
    let event = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "dr-deployment"},
        "involvedObject": {"apiVersion": "siterecovery.trilio.io/v1alpha1",
            "kind": "ProtectionRequest", "namespace": "dr-deployment",
            "name": request["metadata"]["name"], "uid": request["metadata"]["uid"]},
        "reason": reason, "message": message, "type": "Normal",
        "source": {"component": "protect-controller"},
        "firstTimestamp": now(), "lastTimestamp": now(), "count": 1});
    let file = k.file(&format!("{name}.json"), &event.to_string()).unwrap();
    succeed(k, &["--context", "quorum", "create", "-f", &file]).await;
}

// ---------------------------------------------------------------------------------------------
// Golden files

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compare with a golden file; `UPDATE_GOLDEN=1` rewrites it.
fn assert_golden(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs (UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}

/// Replace what depends on when the test runs, keeping every column's width: timestamps become
/// `YYYY-MM-DDThh:mm:ssZ` and ages under 100 s (`0s` … `99s`) become `Ns`, padded to the width
/// they had. The tables stay aligned as long as the test takes less than 100 s.
fn normalise(text: &str) -> String {
    let timestamp = regex::Regex::new(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b").unwrap();
    let age = regex::Regex::new(r"\b\d{1,2}s\b").unwrap();
    let text = timestamp.replace_all(text, "YYYY-MM-DDThh:mm:ssZ");
    let text = age.replace_all(&text, |c: &regex::Captures<'_>| {
        format!("{:<width$}", "Ns", width = c[0].len())
    });
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

// ---------------------------------------------------------------------------------------------
// The world, and the webhook registered in it

async fn start_world() -> (World, Kubectl, Plugin) {
    let world = World::start(WorldOptions::default()).await.unwrap();
    let k = Kubectl::new(world.lab()).unwrap();
    let plugin = Plugin::new(&k);
    (world, k, plugin)
}

/// Tick the manual clock until the provisioner has bound web-server's PVCs.
async fn bind_web_server_pvcs(world: &World, k: &Kubectl) {
    let bound = async {
        loop {
            let phases = succeed(
                k,
                &[
                    "--context",
                    "cluster1",
                    "get",
                    "pvc",
                    "web-server-root",
                    "web-server-data",
                    "-n",
                    "production",
                    "-o",
                    "jsonpath={.items[*].status.phase}",
                ],
            )
            .await;
            if phases == "Bound Bound" {
                return;
            }
            world.clock().tick(Duration::from_secs(1)).await;
        }
    };
    tokio::time::timeout(STEP, bound)
        .await
        .expect("web-server's PVCs are Bound");
}

struct RunningWebhook {
    _certs: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Start protect-webhook against the quorum cluster and register it (pattern of the webhook's
/// own end-to-end test).
async fn start_webhook(k: &Kubectl) -> RunningWebhook {
    let certs = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    std::fs::write(certs.path().join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(certs.path().join("tls.key"), signing_key.serialize_pem()).unwrap();
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(cert.pem());
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: certs.path().join("tls.crt"),
        tls_key: certs.path().join("tls.key"),
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
    tokio::spawn(server.run(async move {
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

    let hook = |name: &str, path: &str| {
        json!({"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
          "failurePolicy": "Fail", "timeoutSeconds": 5,
          "clientConfig": {"url": format!("{url}{path}"), "caBundle": ca_bundle},
          "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["siterecovery.trilio.io"],
                     "apiVersions": ["v1alpha1"],
                     "resources": ["protectionrequests", "drbdreplicationpolicies"]}]})
    };
    let configurations = [
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": "protect-webhook"}, "webhooks": [hook(MUTATE, "/mutate")]}),
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "protect-webhook"}, "webhooks": [hook(VALIDATE, "/validate")]}),
    ];
    let stream: String = configurations.iter().map(|c| format!("{c}\n")).collect();
    let file = k.file("webhooks.json", &stream).unwrap();
    succeed(k, &["--context", "quorum", "apply", "-f", &file]).await;
    RunningWebhook {
        _certs: certs,
        _stop: stop,
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

/// `check vm`, `vm --dry-run=server`, `vm` and the denial path, with the webhook admitting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_creates_the_request_check_and_dry_run_show_admission_and_a_denial_exits_5() {
    let (world, k, plugin) = start_world().await;
    bind_web_server_pvcs(&world, &k).await;
    let _webhook = start_webhook(&k).await;

    // Preflight of the covered VM: admission accepts, every PVC covered, exit 0.
    let out = plugin
        .run(&["check", "vm", "web-server", "-n", "production"])
        .await;
    expect_code(&out, 0, "check vm web-server");
    assert_golden("e2e_check_web_server.txt", &stdout(&out));

    // Preflight of the VM on local-path: the webhook's denial and the uncovered PVC and class,
    // exit 5.
    let out = plugin
        .run(&["check", "vm", "analytics", "-n", "production"])
        .await;
    expect_code(&out, 5, "check vm analytics");
    let text = stdout(&out);
    assert!(text.contains("Admission: DENIED"), "{text}");
    assert!(
        text.contains(&format!(
            "admission webhook \"{VALIDATE}\" denied the request: VirtualMachine production/analytics cannot be protected"
        )),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("analytics-data "))
        .unwrap_or_else(|| panic!("no row for analytics-data:\n{text}"));
    assert!(
        row.contains("local-path") && row.contains("not covered: class not mapped"),
        "{row}"
    );
    assert!(
        text.contains("Result: VirtualMachine production/analytics cannot be protected: 1 of 1 PVCs not covered"),
        "{text}"
    );

    // A server-side dry run without --source-cluster: parseable JSON carrying the mutating
    // webhook's defaults, and nothing stored.
    let out = plugin
        .run(&[
            "vm",
            "web-server",
            "-n",
            "production",
            "--dry-run=server",
            "-o",
            "json",
        ])
        .await;
    expect_code(&out, 0, "vm --dry-run=server -o json");
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dry["kind"], "ProtectionRequest");
    assert_eq!(dry["metadata"]["name"], "protect-web-server");
    assert_eq!(dry["metadata"]["namespace"], "dr-deployment");
    assert_eq!(
        dry["spec"],
        json!({"vmName": "web-server", "vmNamespace": "production", "sourceCluster": "cluster1"})
    );
    let labels = &dry["metadata"]["labels"];
    assert_eq!(labels["siterecovery.trilio.io/protected-vm"], "web-server");
    assert_eq!(labels["siterecovery.trilio.io/vm-namespace"], "production");
    assert_eq!(labels["siterecovery.trilio.io/source-cluster"], "cluster1");
    assert!(dry["metadata"].get("managedFields").is_none(), "{dry}");
    assert!(get_request(&k, "protect-web-server").await.is_none());

    // The guide's Example 1 through the plugin: the line kubectl prints for a create.
    let out = plugin
        .run(&[
            "vm",
            "web-server",
            "-n",
            "production",
            "--source-cluster",
            "cluster1",
        ])
        .await;
    expect_code(&out, 0, "vm web-server");
    assert_eq!(
        stdout(&out),
        "protectionrequest.siterecovery.trilio.io/protect-web-server created\n"
    );
    let stored = get_request(&k, "protect-web-server").await.unwrap();
    assert_eq!(
        stored["spec"],
        json!({"vmName": "web-server", "vmNamespace": "production", "sourceCluster": "cluster1"})
    );
    assert_eq!(
        stored["metadata"]["labels"]["siterecovery.trilio.io/protected-vm"],
        "web-server"
    );

    // The denial path: the webhook's message as kubectl prints it, one line, exit 5.
    let out = plugin.run(&["vm", "analytics", "-n", "production"]).await;
    expect_code(&out, 5, "vm analytics");
    let line = one_error_line(&out);
    assert!(
        line.starts_with(&format!(
            "Error from server (Forbidden): admission webhook \"{VALIDATE}\" denied the request: VirtualMachine production/analytics cannot be protected: "
        )),
        "{line}"
    );
    assert!(
        line.contains("PVC \"analytics-data\" uses storage class \"local-path\""),
        "{line}"
    );
    assert!(get_request(&k, "protect-analytics").await.is_none());

    // A second request for a protected VM is denied too, naming the existing request.
    let out = plugin
        .run(&["vm", "web-server", "-n", "production", "--name", "again"])
        .await;
    expect_code(&out, 5, "vm web-server --name again");
    let line = one_error_line(&out);
    assert!(
        line.contains("denied the request") && line.contains("protect-web-server"),
        "{line}"
    );
    world.shutdown().await;
}

/// `status` as a table, in detail and as JSON while the test advances the phases as the
/// controller would; `status NAME -w` follows, piped, until Protected; a Protected request
/// that stopped replicating exits 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_table_detail_and_json_and_w_follows_the_phases_until_protected() {
    let (world, k, plugin) = start_world().await;
    let out = plugin
        .run(&[
            "vm",
            "web-server",
            "-n",
            "production",
            "--source-cluster",
            "cluster1",
        ])
        .await;
    expect_code(&out, 0, "vm web-server");
    let request = get_request(&k, "protect-web-server").await.unwrap();

    // Follow it, piped: plain lines, one per change.
    let mut watch = plugin.spawn(&["status", "protect-web-server", "-w"]);
    let mut lines = LineReader::new(&mut watch);
    let header = lines.until("NAME").await;
    assert!(header.starts_with("NAME "), "{header}");
    let pending = lines.until("protect-web-server").await;
    assert!(pending.contains("Pending"), "{pending}");

    let mut controller = Controller::new("protect-web-server");
    controller.enter("Pending", "").enter(
        "Validating",
        "validating VM production/web-server and its PVCs on cluster1",
    );
    controller.write(&k).await;
    lines.until("Validating").await;

    controller
        .condition(
            "Validated",
            "True",
            "VMAndPVCsFound",
            "VM production/web-server and 2 PVCs found; all covered",
        )
        .condition("PrimaryReachable", "True", "Reachable", "cluster1 answers")
        .condition("DRReachable", "True", "Reachable", "cluster2 answers")
        .enter(
            "CreatingDRBD",
            "creating DRBDVolumes on cluster1 and cluster2",
        );
    controller.write(&k).await;
    lines.until("CreatingDRBD").await;

    controller
        .condition(
            "VolumesCreated",
            "True",
            "Created",
            "2 DRBDVolumes on cluster1 and cluster2",
        )
        .condition("Synced", "False", "SyncInProgress", "47% done")
        .enter("Syncing", "DRBD initial sync in progress for 2 volumes")
        .set("syncProgress", json!("47%"))
        .set("volumes", syncing_volumes(63.5, 43.1));
    controller.write(&k).await;
    let syncing = lines.until("Syncing").await;
    assert!(syncing.contains("47%"), "{syncing}");
    record_event(
        &k,
        &request,
        "protect-web-server.1",
        "PhaseChanged",
        "CreatingDRBD → Syncing",
    )
    .await;

    // While it syncs: the table (with a second request that Failed), the detail view, JSON.
    let out = plugin
        .run(&[
            "vm",
            "database",
            "-n",
            "production",
            "--source-cluster",
            "cluster1",
        ])
        .await;
    expect_code(&out, 0, "vm database");
    let mut failed = Controller::new("protect-database");
    failed.enter("Pending", "").enter("Validating", "").enter(
        "Failed",
        "VirtualMachine production/database not found on cluster1",
    );
    failed
        .condition(
            "Validated",
            "False",
            "VMNotFound",
            "VirtualMachine production/database not found on cluster1",
        )
        .write(&k)
        .await;

    let out = plugin.run(&["status"]).await;
    expect_code(&out, 4, "status: the worst request is Failed");
    assert!(!stdout(&out).contains('\u{1b}'), "{}", stdout(&out));
    assert_golden("e2e_status_list.txt", &normalise(&stdout(&out)));

    let out = plugin.run(&["status", "-o", "wide"]).await;
    expect_code(&out, 4, "status -o wide");
    let wide = stdout(&out);
    let row = wide
        .lines()
        .find(|l| l.starts_with("protect-web-server "))
        .unwrap();
    for column in ["cluster1", "cluster2", "dr-policy"] {
        assert!(row.contains(column), "{column} missing: {row}");
    }

    let out = plugin.run(&["status", "protect-web-server"]).await;
    expect_code(&out, 0, "status protect-web-server while Syncing");
    assert_golden("e2e_status_detail_syncing.txt", &normalise(&stdout(&out)));

    let out = plugin.run(&["status", "protect-database"]).await;
    expect_code(&out, 4, "status protect-database (Failed)");
    assert!(
        stdout(&out).contains("Phase:     Failed"),
        "{}",
        stdout(&out)
    );

    let out = plugin.run(&["status", "-o", "json"]).await;
    expect_code(&out, 4, "status -o json");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["protect-database", "protect-web-server"]);

    let out = plugin
        .run(&["status", "protect-web-server", "-o", "json"])
        .await;
    expect_code(&out, 0, "status protect-web-server -o json");
    let one: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(one["status"]["phase"], "Syncing");
    assert_eq!(one["status"]["volumes"][0]["syncPercent"], 63.5);
    assert!(one["metadata"].get("managedFields").is_none());

    let out = plugin
        .run(&["status", "protect-web-server", "-o", "yaml"])
        .await;
    expect_code(&out, 0, "status protect-web-server -o yaml");
    let yaml: Value = serde_saphyr::from_str(&stdout(&out)).unwrap();
    assert_eq!(yaml["status"]["phase"], "Syncing");

    // The rest of the way, and -w ends by itself at Protected with exit 0.
    controller
        .condition(
            "Synced",
            "True",
            "InitialSyncComplete",
            "all volumes UpToDate",
        )
        .enter("ReadyToActivate", "initial sync complete")
        .set("syncProgress", json!("100%"))
        .set("volumes", established_volumes());
    controller.write(&k).await;
    lines.until("ReadyToActivate").await;
    controller.enter(
        "Activating",
        "stopping the VM and switching it to DRBD-backed PVCs",
    );
    controller.write(&k).await;
    lines.until("Activating").await;
    controller
        .condition(
            "Activated",
            "True",
            "SwitchedToDRBD",
            "VM runs on DRBD-backed PVCs",
        )
        .condition("Replicating", "True", "Connected", "replication Connected")
        .condition("Ready", "True", "Protected", "VM protected")
        .enter(
            "Protected",
            "VM runs on DRBD-backed PVCs; replication Connected",
        );
    controller.write(&k).await;
    lines.until("Protected").await;
    lines.rest().await;
    let (code, err) = finish(watch).await;
    assert_eq!(code, Some(0), "status -w at Protected: {err}");
    assert_eq!(
        lines.seen.last().map(String::as_str),
        Some("protect-web-server Protected"),
        "{:#?}",
        lines.seen
    );
    let phases: Vec<&str> = lines
        .seen
        .iter()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        phases,
        [
            "Pending",
            "Validating",
            "CreatingDRBD",
            "Syncing",
            "ReadyToActivate",
            "Activating",
            "Protected",
            "Protected"
        ],
        "{:#?}",
        lines.seen
    );
    assert!(
        lines.seen.iter().all(|l| !l.contains('\u{1b}')),
        "escape codes in piped output: {:#?}",
        lines.seen
    );

    // Protected but replication broke: degraded, exit 3, said in words.
    controller.condition(
        "Replicating",
        "False",
        "PeerDisconnected",
        "cluster2 peer is StandAlone",
    );
    controller.write(&k).await;
    let out = plugin.run(&["status", "protect-web-server"]).await;
    expect_code(
        &out,
        3,
        "status of a Protected request with Replicating=False",
    );
    let text = stdout(&out);
    assert!(text.contains("Phase:     Protected (degraded)"), "{text}");
    assert!(
        text.contains("Replicating=False (PeerDisconnected): cluster2 peer is StandAlone"),
        "{text}"
    );
    world.shutdown().await;
}

/// `status -w` without NAME, piped through kubectl: it follows every request in the namespace
/// with one plain line per change, keeps following while any request is short of Protected or
/// Failed (and while there is none), and ends by itself once every request is Protected or
/// Failed, with a summary line and the exit code of `status` (4: one is Failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_w_without_a_name_follows_every_request_until_all_are_protected_or_failed() {
    let (world, k, plugin) = start_world().await;

    // Started on an empty namespace: it has listed nothing and opened its watch (the lab's
    // request log shows it) rather than ending, and it shows requests created afterwards.
    let mut watch = plugin.spawn(&["status", "-w"]);
    let quorum = world.lab().cluster("quorum").unwrap();
    let watching = async {
        loop {
            let opened = quorum.requests().iter().any(|r| {
                r.path == "/apis/siterecovery.trilio.io/v1alpha1/namespaces/dr-deployment/protectionrequests"
                    && r.query.split('&').any(|q| q == "watch=true")
            });
            if opened {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(STEP, watching)
        .await
        .expect("status -w opens its watch on the empty namespace");
    assert!(
        watch.try_wait().unwrap().is_none(),
        "status -w ended on an empty namespace"
    );
    for vm in ["web-server", "database"] {
        let out = plugin
            .run(&["vm", vm, "-n", "production", "--source-cluster", "cluster1"])
            .await;
        expect_code(&out, 0, &format!("vm {vm}"));
    }
    let mut lines = LineReader::new(&mut watch);
    let header = lines.until("NAME").await;
    assert!(header.starts_with("NAME "), "{header}");
    lines.until("protect-web-server").await;
    lines.until("protect-database").await;

    let mut web = Controller::new("protect-web-server");
    let mut database = Controller::new("protect-database");
    database.enter("Pending", "").enter("Validating", "").enter(
        "Failed",
        "VirtualMachine production/database not found on cluster1",
    );
    database.write(&k).await;
    let failed = lines.until("protect-database").await;
    assert!(failed.contains("Failed"), "{failed}");

    // One request is final, the other is not: the watch goes on and shows the next change
    // (had it ended, stdout would end before this line).
    web.enter("Pending", "")
        .enter("Syncing", "DRBD initial sync in progress for 2 volumes")
        .set("syncProgress", json!("47%"))
        .set("volumes", syncing_volumes(63.5, 43.1));
    web.write(&k).await;
    let syncing = lines.until("Syncing").await;
    assert!(
        syncing.starts_with("protect-web-server ") && syncing.contains("47%"),
        "{syncing}"
    );

    web.condition("Replicating", "True", "Connected", "replication Connected")
        .condition("Ready", "True", "Protected", "VM protected")
        .enter(
            "Protected",
            "VM runs on DRBD-backed PVCs; replication Connected",
        )
        .set("syncProgress", json!("100%"))
        .set("volumes", established_volumes());
    web.write(&k).await;
    lines.until("Protected").await;
    lines.rest().await;
    let (code, err) = finish(watch).await;
    assert_eq!(
        code,
        Some(4),
        "status -w once all are final, one Failed: {err}"
    );
    assert_eq!(
        lines.seen.last().map(String::as_str),
        Some("all requests are Protected or Failed: 1 Protected, 1 Failed"),
        "{:#?}",
        lines.seen
    );
    // Header, then per request only its changes, in order.
    let phases = |name: &str| -> Vec<String> {
        lines
            .seen
            .iter()
            .filter(|l| l.split_whitespace().next() == Some(name))
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect()
    };
    assert_eq!(
        phases("protect-database"),
        ["Pending", "Failed"],
        "{:#?}",
        lines.seen
    );
    assert_eq!(
        phases("protect-web-server"),
        ["Pending", "Syncing", "Protected"],
        "{:#?}",
        lines.seen
    );
    assert!(
        lines.seen.iter().all(|l| !l.contains('\u{1b}')),
        "escape codes in piped output: {:#?}",
        lines.seen
    );

    // Everything already final: it shows the requests and ends at once.
    let out = plugin.run(&["status", "-w"]).await;
    expect_code(&out, 4, "status -w when all are already final");
    let text = stdout(&out);
    let shown: Vec<&str> = text.lines().collect();
    assert_eq!(shown.len(), 4, "{text}");
    assert!(shown[0].starts_with("NAME "), "{text}");
    assert!(
        shown[1].starts_with("protect-database ") && shown[1].contains("Failed"),
        "{text}"
    );
    assert!(
        shown[2].starts_with("protect-web-server ") && shown[2].contains("Protected"),
        "{text}"
    );
    assert_eq!(
        shown[3],
        "all requests are Protected or Failed: 1 Protected, 1 Failed"
    );
    // Across namespaces two requests may share a name: -A lines name `namespace/name`.
    let out = plugin.run(&["status", "-w", "-A"]).await;
    expect_code(&out, 4, "status -w -A when all are already final");
    let text = stdout(&out);
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "dr-deployment/protect-database",
            "dr-deployment/protect-web-server",
            "all"
        ],
        "{text}"
    );

    // -n narrows the set to requests for VMs in that namespace, and the exit code follows it;
    // with the Failed one gone, the rest are Protected: exit 0.
    succeed(
        &k,
        &[
            "--context",
            "quorum",
            "delete",
            "pr",
            "protect-database",
            "-n",
            "dr-deployment",
        ],
    )
    .await;
    let out = plugin.run(&["status", "-w", "-n", "production"]).await;
    expect_code(&out, 0, "status -w with only Protected requests");
    assert!(
        stdout(&out).ends_with("all requests are Protected or Failed: 1 Protected\n"),
        "{}",
        stdout(&out)
    );
    world.shutdown().await;
}

/// `kubectl protect <TAB>` with names from the clusters: kubectl runs `kubectl_complete-protect`
/// (as `completion kubectl-plugin` writes it, here in a directory of its own, so it finds the
/// plugin on PATH), which completes request names from the quorum cluster and VM names from
/// the primary cluster through the policy's kubeconfig Secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_completes_request_and_vm_names_from_the_clusters() {
    let (world, _k, plugin) = start_world().await;
    for vm in ["web-server", "database"] {
        let out = plugin
            .run(&["vm", vm, "-n", "production", "--source-cluster", "cluster1"])
            .await;
        expect_code(&out, 0, &format!("vm {vm}"));
    }
    let out = plugin.run(&["completion", "kubectl-plugin"]).await;
    expect_code(&out, 0, "completion kubectl-plugin");
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("kubectl_complete-protect");
    std::fs::write(&script, &out.stdout).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut paths = vec![scripts.path().to_path_buf()];
    paths.extend(std::env::split_paths(&plugin.path));
    let path = std::env::join_paths(paths).unwrap();

    // `kubectl __complete protect --kubeconfig K --context quorum WORDS… TO_COMPLETE`: what
    // kubectl runs for `kubectl protect --kubeconfig K --context quorum WORDS… TO_COMPLETE<TAB>`.
    let complete = |words: &[&str], to_complete: &str| {
        let mut args: Vec<OsString> = vec!["__complete".into(), "protect".into()];
        args.push("--kubeconfig".into());
        args.push(plugin.kubeconfig.clone().into());
        args.extend(["--context", "quorum"].map(OsString::from));
        args.extend(words.iter().map(OsString::from));
        args.push(to_complete.into());
        let mut kubectl = tokio::process::Command::new(KUBECTL);
        kubectl
            .args(args)
            .env("PATH", &path)
            .env("HOME", plugin.home.path())
            .env_remove("KUBECONFIG")
            .env_remove("KUBECTL_PROTECT_NAMESPACE")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        async move {
            let out = tokio::time::timeout(STEP, kubectl.output())
                .await
                .expect("kubectl __complete ends")
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            let text = stdout(&out);
            let mut lines: Vec<String> = text
                .lines()
                .map(|l| l.split('\t').next().unwrap().to_owned())
                .collect();
            assert_eq!(lines.pop().as_deref(), Some(":4"), "{text}");
            lines
        }
    };
    assert_eq!(
        complete(&["status"], "").await,
        ["protect-database", "protect-web-server"]
    );
    assert_eq!(
        complete(&["unprotect"], "protect-w").await,
        ["protect-web-server"]
    );
    assert_eq!(
        complete(&["vm", "-n", "production"], "").await,
        ["analytics", "web-server"]
    );
    assert_eq!(
        complete(&["check", "vm", "-n", "production"], "w").await,
        ["web-server"]
    );
    assert_eq!(
        complete(&["vm", "--source-cluster"], "").await,
        ["cluster1"]
    );
    world.shutdown().await;
}

/// `vm --wait` follows to Failed (exit 4); `unprotect --wait` waits while a finalizer holds
/// the request and returns once it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_wait_ends_failed_with_4_and_unprotect_wait_returns_once_the_request_is_gone() {
    let (world, k, plugin) = start_world().await;

    // vm --wait: the created line, then the phases, then Failed and exit 4.
    let mut wait = plugin.spawn(&[
        "vm",
        "database",
        "-n",
        "production",
        "--source-cluster",
        "cluster1",
        "--wait",
    ]);
    let mut lines = LineReader::new(&mut wait);
    let created = lines.until("created").await;
    assert_eq!(
        created,
        "protectionrequest.siterecovery.trilio.io/protect-database created"
    );
    lines.until("Pending").await;
    let mut controller = Controller::new("protect-database");
    controller.enter("Pending", "").enter("Validating", "");
    controller.write(&k).await;
    lines.until("Validating").await;
    controller.enter(
        "Failed",
        "VirtualMachine production/database not found on cluster1",
    );
    controller.write(&k).await;
    lines.rest().await;
    let (code, err) = finish(wait).await;
    assert_eq!(code, Some(4), "vm --wait ending Failed: {err}");
    assert_eq!(
        lines.seen.last().map(String::as_str),
        Some("protect-database Failed: VirtualMachine production/database not found on cluster1")
    );

    // Without a controller there is no finalizer: the request goes at once.
    let out = plugin
        .run(&["unprotect", "protect-database", "--wait"])
        .await;
    expect_code(&out, 0, "unprotect --wait without a finalizer");
    assert!(
        stdout(&out)
            .ends_with("protectionrequest.siterecovery.trilio.io/protect-database deleted\n"),
        "{}",
        stdout(&out)
    );
    assert!(get_request(&k, "protect-database").await.is_none());

    // With the controller's finalizer, --wait waits until the controller lets go.
    let out = plugin
        .run(&[
            "vm",
            "web-server",
            "-n",
            "production",
            "--source-cluster",
            "cluster1",
        ])
        .await;
    expect_code(&out, 0, "vm web-server");
    succeed(
        &k,
        &[
            "--context",
            "quorum",
            "patch",
            "pr",
            "protect-web-server",
            "-n",
            "dr-deployment",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["siterecovery.trilio.io/protection"]}}"#,
        ],
    )
    .await;
    let mut unprotect = plugin.spawn(&["unprotect", "protect-web-server", "--wait"]);
    let mut lines = LineReader::new(&mut unprotect);
    lines.until("deletion requested").await;
    // The request is terminating, and the plugin still waits.
    let terminating = async {
        loop {
            let request = get_request(&k, "protect-web-server").await.unwrap();
            if request["metadata"]["deletionTimestamp"].is_string() {
                return;
            }
        }
    };
    tokio::time::timeout(STEP, terminating)
        .await
        .expect("the request is terminating");
    lines.until("protect-web-server").await;
    assert!(
        unprotect.try_wait().unwrap().is_none(),
        "unprotect --wait returned while the finalizer holds the request: {:#?}",
        lines.seen
    );

    // The controller finishes restoring the VM and removes its finalizer.
    let finalizer_removed = tokio::spawn({
        let kubeconfig = k.kubeconfig().to_path_buf();
        async move {
            let out = tokio::process::Command::new(KUBECTL)
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args([
                    "--context",
                    "quorum",
                    "patch",
                    "pr",
                    "protect-web-server",
                    "-n",
                    "dr-deployment",
                    "--type=json",
                    "-p",
                    r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
                ])
                .output()
                .await
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
    });
    lines.rest().await;
    let (code, err) = finish(unprotect).await;
    finalizer_removed.await.unwrap();
    assert_eq!(code, Some(0), "unprotect --wait: {err}");
    assert_eq!(
        lines.seen.last().map(String::as_str),
        Some("protectionrequest.siterecovery.trilio.io/protect-web-server deleted")
    );
    assert!(get_request(&k, "protect-web-server").await.is_none());

    // A request that does not exist is named, exit 1.
    let out = plugin.run(&["unprotect", "protect-nope"]).await;
    expect_code(&out, 1, "unprotect of a missing request");
    let line = one_error_line(&out);
    assert!(
        line.starts_with(
            "error: ProtectionRequest \"protect-nope\" not found in namespace \"dr-deployment\" on the quorum cluster at https://"
        ),
        "{line}"
    );

    // The wrong context — a workload cluster, where dr-deployment does not exist: one line
    // naming that server and context, exit 1.
    let server = world.lab().cluster("cluster1").unwrap().url().to_owned();
    let out = plugin
        .run_in(
            "cluster1",
            &[
                "vm",
                "web-server",
                "-n",
                "production",
                "--source-cluster",
                "cluster1",
            ],
        )
        .await;
    expect_code(&out, 1, "vm against the wrong context");
    let line = one_error_line(&out);
    assert!(
        line.starts_with("error: namespace \"dr-deployment\" does not exist on ")
            && line.contains(&format!(
                "{} (context \"cluster1\")",
                server.trim_end_matches('/')
            )),
        "{line}"
    );
    world.shutdown().await;
}

/// A fresh cluster without the CRDs, a context that is not in the kubeconfig, and an
/// unreachable quorum cluster: one line each, saying what to do, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_on_a_fresh_cluster_a_missing_context_and_an_unreachable_server_are_one_line() {
    let lab = Lab::start(&["quorum"]).await.unwrap();
    let k = Kubectl::new(&lab).unwrap();
    let plugin = Plugin::new(&k);
    let server = lab
        .cluster("quorum")
        .unwrap()
        .url()
        .trim_end_matches('/')
        .to_owned();

    for args in [
        &["status"][..],
        &["status", "protect-web-server"],
        &["vm", "web-server", "-n", "production"],
        &["unprotect", "protect-web-server"],
    ] {
        let out = plugin.run(args).await;
        expect_code(&out, 1, &format!("{args:?} without CRDs"));
        let line = one_error_line(&out);
        assert_eq!(
            line,
            format!(
                "error: protectionrequests.siterecovery.trilio.io is not served by the quorum cluster at {server} (context \"quorum\"): install the CRDs with `kubectl apply -f deploy/crds/` from the kubectl-protect repository (see its README)"
            ),
            "{args:?}"
        );
    }

    let out = plugin.run_in("no-such-context", &["status"]).await;
    expect_code(&out, 1, "a context that is not in the kubeconfig");
    assert_eq!(
        one_error_line(&out),
        "error: cannot load kubeconfig: context \"no-such-context\" is not in the kubeconfig (its contexts: quorum)"
    );

    lab.cluster("quorum").unwrap().faults().partition();
    let out = plugin.run(&["status"]).await;
    expect_code(&out, 1, "an unreachable quorum cluster");
    let line = one_error_line(&out);
    assert!(
        line.starts_with(&format!(
            "error: cannot reach the quorum cluster at {server} (context \"quorum\"): "
        )),
        "{line}"
    );
    lab.shutdown().await;
}

/// On a terminal, `status NAME -w` draws progress bars (a phase bar and one per volume) in
/// colour, and still ends by itself at Protected with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_w_on_a_terminal_draws_progress_bars_and_ends_at_protected() {
    let (world, k, plugin) = start_world().await;
    let out = plugin
        .run(&[
            "vm",
            "web-server",
            "-n",
            "production",
            "--source-cluster",
            "cluster1",
        ])
        .await;
    expect_code(&out, 0, "vm web-server");

    let mut watch = plugin.spawn_on_a_terminal(&["status", "protect-web-server", "-w"]);
    let mut output = RawReader::new(&mut watch);
    output.until("0/6").await;
    let mut controller = Controller::new("protect-web-server");
    controller
        .enter("Pending", "")
        .enter("Syncing", "DRBD initial sync in progress for 2 volumes")
        .set("volumes", syncing_volumes(63.5, 43.1));
    controller.write(&k).await;
    output.until("43.1%").await;
    controller
        .condition("Replicating", "True", "Connected", "replication Connected")
        .enter("Protected", "replication Connected")
        .set("volumes", established_volumes());
    controller.write(&k).await;
    output.rest().await;
    let (code, err) = finish(watch).await;
    assert_eq!(
        code,
        Some(0),
        "status -w on a terminal: {err}\n{:?}",
        output.seen
    );
    let seen = &output.seen;
    assert!(
        seen.contains('\u{1b}'),
        "no terminal control on a terminal: {seen:?}"
    );
    assert!(
        seen.contains("3/6 Syncing"),
        "no phase bar at Syncing: {seen:?}"
    );
    assert!(
        seen.contains("web-server-data [")
            && seen.contains("ceph-rbd → ceph-rbd-dr  SyncSource  43.1%  ETA 10m"),
        "no volume bar: {seen:?}"
    );
    assert!(seen.contains("6/6"), "no phase bar at Protected: {seen:?}");
    assert!(
        seen.trim_end().ends_with("protect-web-server Protected"),
        "{seen:?}"
    );
    world.shutdown().await;
}
