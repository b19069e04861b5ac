//! Through the real kubectl: with the built binary's directory first on PATH, `kubectl protect`
//! dispatches to it (kubectl's plugin discovery), and `kubectl plugin list` shows it.
//!
//! These tests use /usr/bin/kubectl and fail, loudly, when it is missing: they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KUBECTL: &str = "/usr/bin/kubectl";

fn kubectl_path() -> &'static Path {
    let path = Path::new(KUBECTL);
    assert!(
        path.is_file(),
        "{KUBECTL} is missing: these tests prove kubectl's plugin dispatch and need the real kubectl (install kubectl 1.32 at {KUBECTL})"
    );
    path
}

/// A directory holding only a copy of the plugin binary, so nothing else on the build
/// directory's PATH entry shadows or joins it.
fn plugin_dir() -> tempfile::TempDir {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-protect"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(&binary, dir.path().join("kubectl-protect")).expect("the plugin binary copies");
    dir
}

fn kubectl(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = Command::new(kubectl_path());
    cmd.args(args)
        .env(
            "PATH",
            std::env::join_paths(paths).expect("PATH entries join"),
        )
        // No cluster is contacted; keep any kubeconfig of the machine out of the way.
        .env("KUBECONFIG", dir.join("no-such-kubeconfig"))
        .env_remove("KUBECTL_PROTECT_NAMESPACE")
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("kubectl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn kubectl_protect_version_dispatches_to_the_plugin() {
    let dir = plugin_dir();
    let out = kubectl(dir.path(), &["protect", "version"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!("kubectl-protect {} (", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}

#[test]
fn kubectl_protect_help_lists_the_subcommands_with_their_help() {
    let dir = plugin_dir();
    let out = kubectl(dir.path(), &["protect", "--help"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(stdout.contains("Usage: kubectl protect"), "{stdout}");
    for (sub, help) in [
        ("vm", "Protect a VM"),
        ("status", "Show ProtectionRequests"),
        ("check", "Preflight checks"),
        ("unprotect", "Stop protecting a VM"),
        ("completion", "shell completion"),
        ("version", "version"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{sub} ")))
            .unwrap_or_else(|| panic!("no line for {sub}:\n{stdout}"));
        assert!(line.contains(help), "{sub}: {line}");
    }
    assert!(stdout.contains("Exit codes:"), "{stdout}");
    assert!(
        stdout.contains("--kubeconfig") && stdout.contains("--context"),
        "{stdout}"
    );
}

#[test]
fn kubectl_plugin_list_shows_the_plugin() {
    let dir = plugin_dir();
    let out = kubectl(dir.path(), &["plugin", "list"], &[]);
    let stdout = text(&out.stdout);
    let expected = dir.path().join("kubectl-protect");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim() == expected.to_string_lossy()),
        "kubectl plugin list did not list {}:\nstdout: {stdout}\nstderr: {}",
        expected.display(),
        text(&out.stderr)
    );
}

#[test]
fn a_usage_error_exits_2_through_kubectl() {
    let dir = plugin_dir();
    let out = kubectl(dir.path(), &["protect", "vm"], &[]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("<NAME>"));
}

#[test]
fn a_missing_kubeconfig_is_one_line_without_a_backtrace_and_exits_1() {
    let dir = plugin_dir();
    let out = kubectl(
        dir.path(),
        &["protect", "status"],
        &[("RUST_BACKTRACE", "1")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.starts_with("error: cannot load kubeconfig"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn client_dry_run_prints_the_guides_example_1_without_a_server() {
    let dir = plugin_dir();
    // A kubeconfig whose server does not exist: a client dry run must not contact it.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: q\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: quorum\n  context: {cluster: q, user: u, namespace: production}\ncurrent-context: quorum\n",
    )
    .unwrap();
    let out = kubectl(
        dir.path(),
        &[
            "protect",
            "vm",
            "web-server",
            "--source-cluster",
            "cluster1",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let value: serde_json::Value = serde_saphyr::from_str(&stdout).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "apiVersion": "siterecovery.trilio.io/v1alpha1",
            "kind": "ProtectionRequest",
            "metadata": {"name": "protect-web-server", "namespace": "dr-deployment"},
            "spec": {"vmName": "web-server", "vmNamespace": "production", "sourceCluster": "cluster1"}
        }),
        "{stdout}"
    );

    // The protection namespace follows KUBECTL_PROTECT_NAMESPACE; -o json is parseable.
    let out = kubectl(
        dir.path(),
        &[
            "protect",
            "vm",
            "web-server",
            "-n",
            "prod2",
            "--name",
            "pr1",
            "--dry-run=client",
            "-o",
            "json",
        ],
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("KUBECTL_PROTECT_NAMESPACE", "dr-alt"),
        ],
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["metadata"]["namespace"], "dr-alt");
    assert_eq!(value["metadata"]["name"], "pr1");
    assert_eq!(value["spec"]["vmNamespace"], "prod2");
}

#[test]
fn an_unreachable_quorum_cluster_names_the_server_and_context() {
    let dir = plugin_dir();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: q\n  cluster: {server: 'http://127.0.0.1:9'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: quorum\n  context: {cluster: q, user: u}\ncurrent-context: other\n",
    )
    .unwrap();
    let out = kubectl(
        dir.path(),
        &["protect", "--context", "quorum", "status"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: cannot reach the quorum cluster at http://127.0.0.1:9 (context \"quorum\")"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// kubectl's output for `kubectl __complete ARGS`: the candidates (without descriptions) and
/// the directive of the last line.
fn completions(dir: &Path, args: &[&str]) -> (Vec<String>, String) {
    let mut full = vec!["__complete"];
    full.extend_from_slice(args);
    let out = kubectl(dir, &full, &[]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl {full:?}: {}",
        text(&out.stderr)
    );
    let mut lines: Vec<&str> = stdout.lines().collect();
    let directive = lines
        .pop()
        .unwrap_or_else(|| panic!("no directive line: {stdout:?}"))
        .to_owned();
    assert!(directive.starts_with(':'), "{stdout:?}");
    let candidates = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .collect();
    (candidates, directive)
}

#[test]
fn kubectl_completes_protect_arguments_through_kubectl_complete_protect() {
    let dir = plugin_dir();
    // Without the completion executable kubectl knows no argument of the plugin.
    let (candidates, _) = completions(dir.path(), &["protect", ""]);
    assert!(
        !candidates.iter().any(|c| c == "status"),
        "completions without kubectl_complete-protect: {candidates:?}"
    );

    // Installed as the help says: `completion kubectl-plugin`, next to the plugin, executable.
    let out = kubectl(
        dir.path(),
        &["protect", "completion", "kubectl-plugin"],
        &[],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let script = dir.path().join("kubectl_complete-protect");
    std::fs::write(&script, &out.stdout).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let (candidates, directive) = completions(dir.path(), &["protect", ""]);
    assert_eq!(
        candidates,
        [
            "vm",
            "status",
            "check",
            "unprotect",
            "completion",
            "version"
        ]
    );
    assert_eq!(directive, ":4", "ShellCompDirectiveNoFileComp");

    let (candidates, _) = completions(dir.path(), &["protect", "st"]);
    assert_eq!(candidates, ["status"]);
    let (candidates, _) = completions(dir.path(), &["protect", "check", ""]);
    assert_eq!(candidates, ["vm"]);
    let (candidates, _) = completions(dir.path(), &["protect", "status", "--w"]);
    assert_eq!(candidates, ["--watch"]);
    let (candidates, _) = completions(dir.path(), &["protect", "status", "-o", ""]);
    assert_eq!(candidates, ["wide", "json", "yaml"]);
    // kubectl's global flags reach the plugin: the contexts of the kubeconfig named.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: q\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: quorum\n  context: {cluster: q}\n- name: cluster1\n  context: {cluster: q}\n",
    )
    .unwrap();
    let (candidates, directive) = completions(
        dir.path(),
        &[
            "protect",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "status",
            "--context",
            "",
        ],
    );
    assert_eq!(candidates, ["quorum", "cluster1"]);
    assert_eq!(directive, ":4");
}
