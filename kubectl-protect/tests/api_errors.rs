//! The binary against a scripted API server (plain HTTP on loopback): what the user sees for an
//! admission denial, missing CRDs, a missing request and a missing namespace. The answers are
//! the ones a real apiserver gives; the lab's e2e tests cover the same paths for real.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

/// Serve one canned answer per connection, chosen by `answer(method, path)`, in a thread.
fn serve(answer: fn(&str, &str) -> (u16, &'static str, String)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut content_length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    content_length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; content_length];
            let _ = reader.read_exact(&mut body);
            let mut parts = request_line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_owned();
            let path = parts.next().unwrap_or_default().to_owned();
            let (code, content_type, body) = answer(&method, &path);
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

fn run(server: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: q\n  cluster: {{server: '{server}'}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: quorum\n  context: {{cluster: q, user: u}}\ncurrent-context: quorum\n"
        ),
    )
    .expect("write kubeconfig");
    Command::new(env!("CARGO_BIN_EXE_kubectl-protect"))
        .args(args)
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBECTL_PROTECT_NAMESPACE")
        .env("NO_COLOR", "1")
        .output()
        .expect("the plugin runs")
}

fn status(code: u16, reason: &str, message: &str, details: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":{},"reason":"{reason}","details":{details},"code":{code}}}"#,
        serde_json::to_string(message).expect("json string")
    )
}

const DENIAL: &str = "admission webhook \"validate.siterecovery.trilio.io\" denied the request: VirtualMachine production/web-server cannot be protected: PVC \"web-server-logs\" uses storage class \"local-path\", which DRBDReplicationPolicy \"cluster1-to-cluster2\" does not map (it maps: ceph-rbd → ceph-rbd-dr); add a storageClassMappings entry for \"local-path\"";

#[test]
fn an_admission_denial_prints_the_webhooks_message_and_exits_5() {
    let server = serve(|method, _| match method {
        "POST" => (403, "application/json", status(403, "", DENIAL, "{}")),
        _ => (500, "text/plain", "unexpected".into()),
    });
    let out = run(&server, &["vm", "web-server", "-n", "production"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert_eq!(stderr.trim_end(), format!("Error from server: {DENIAL}"));
}

#[test]
fn a_resource_the_server_does_not_know_says_to_install_the_crds() {
    let server = serve(|_, _| (404, "text/plain", "404 page not found".into()));
    let out = run(&server, &["status"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("kubectl apply -f deploy/crds/"), "{stderr}");
    assert!(stderr.contains("context \"quorum\""), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn a_missing_request_is_named() {
    let server = serve(|_, _| {
        (
            404,
            "application/json",
            status(
                404,
                "NotFound",
                "protectionrequests.siterecovery.trilio.io \"protect-nope\" not found",
                r#"{"name":"protect-nope","group":"siterecovery.trilio.io","kind":"protectionrequests"}"#,
            ),
        )
    });
    let out = run(&server, &["status", "protect-nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: ProtectionRequest \"protect-nope\" not found in namespace \"dr-deployment\""
        ),
        "{stderr}"
    );
}

#[test]
fn a_missing_protection_namespace_is_named_with_the_fix() {
    let server = serve(|_, _| {
        (
            404,
            "application/json",
            status(
                404,
                "NotFound",
                "namespaces \"dr-deployment\" not found",
                r#"{"name":"dr-deployment","kind":"namespaces"}"#,
            ),
        )
    });
    let out = run(&server, &["vm", "web-server"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("namespace \"dr-deployment\" does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("KUBECTL_PROTECT_NAMESPACE"), "{stderr}");
}

#[test]
fn status_json_is_a_parseable_list_and_the_exit_code_reflects_health() {
    let server = serve(|_, _| {
        let body = r#"{"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequestList","metadata":{"resourceVersion":"7"},"items":[
          {"apiVersion":"siterecovery.trilio.io/v1alpha1","kind":"ProtectionRequest","metadata":{"name":"protect-web-server","namespace":"dr-deployment","creationTimestamp":"2025-05-01T10:00:00Z","managedFields":[{"manager":"kubectl"}]},
           "spec":{"vmName":"web-server","vmNamespace":"production","sourceCluster":"cluster1"},
           "status":{"phase":"Protected","conditions":[{"type":"Replicating","status":"False","reason":"PeerDisconnected","message":"peer StandAlone"}]}}]}"#;
        (200, "application/json", body.to_owned())
    });
    let out = run(&server, &["status", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["metadata"]["name"], "protect-web-server");
    assert!(list["items"][0]["metadata"].get("managedFields").is_none());

    let out = run(&server, &["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("NAME "), "{stdout}");
    assert!(stdout.contains("Protected (degraded)"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no colour when piped: {stdout}");
}
