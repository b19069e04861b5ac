//! Shared test support: the corpus of real apiserver exchanges (`.http` files, format in
//! shared/conformance/kube-apiserver/INDEX.md), value normalisation, the real kubectl, and
//! kube-rs clients for a lab.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use axum::body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// `shared/conformance/kube-apiserver`, beside the repository (as CI clones it).
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/kube-apiserver")
}

/// One request/response pair of a corpus file.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub file: String,
    pub note: String,
    pub method: String,
    pub path: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: String,
    /// None: the server sent no response (21: the protobuf crash).
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: String,
    /// The body was TRIMMED by the capture tool or is a stream: compare only status/headers.
    pub partial: bool,
}

fn is_request_line(line: &str) -> bool {
    let methods = ["GET ", "POST ", "PUT ", "PATCH ", "DELETE "];
    methods.iter().any(|m| line.starts_with(m)) && line.ends_with(" HTTP/1.1")
}

/// Parses the `.http` format: `#` notes, request line + headers, blank, body, blank,
/// `HTTP/1.1 <code>` + headers, blank, body, `-------- (` marker.
pub fn parse_http(file: &str) -> Vec<Exchange> {
    let text = std::fs::read_to_string(corpus_dir().join(file))
        .unwrap_or_else(|e| panic!("reading corpus file {file}: {e}"));
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut note = String::new();
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with('#') {
            note.push_str(line);
            note.push('\n');
            i += 1;
            continue;
        }
        if !is_request_line(line) {
            i += 1;
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        i += 1;
        let mut request_headers = Vec::new();
        while i < lines.len() && !lines[i].is_empty() {
            if let Some((k, v)) = lines[i].split_once(": ") {
                request_headers.push((k.to_string(), v.to_string()));
            }
            i += 1;
        }
        // request body up to the response line (or the next request when none came)
        let mut body = Vec::new();
        i += 1;
        while i < lines.len()
            && !lines[i].starts_with("HTTP/1.1 ")
            && !is_request_line(lines[i])
            && !lines[i].starts_with('#')
        {
            body.push(lines[i]);
            i += 1;
        }
        let request_body = body.join("\n").trim_end_matches('\n').to_string();
        let mut ex = Exchange {
            file: file.to_string(),
            note: std::mem::take(&mut note),
            method,
            path,
            request_headers,
            request_body,
            status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            partial: false,
        };
        if i < lines.len() && lines[i].starts_with("HTTP/1.1 ") {
            ex.status = lines[i][9..12].parse().ok();
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                if let Some((k, v)) = lines[i].split_once(": ") {
                    ex.response_headers.push((k.to_string(), v.to_string()));
                }
                i += 1;
            }
            i += 1;
            let mut body = Vec::new();
            while i < lines.len() && !lines[i].starts_with("-------- (") {
                body.push(lines[i]);
                i += 1;
            }
            let marker = lines.get(i).copied().unwrap_or_default();
            ex.partial = marker.contains("TRIMMED") || marker.contains("stream body");
            // One newline was added after the body by the capture tool.
            // Joining the lines drops exactly the newline the tool added.
            ex.response_body = body.join("\n");
            if marker.contains("no response body") {
                ex.response_body.clear();
            }
        }
        out.push(ex);
    }
    out
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && s.ends_with('Z')
        && b[..4].iter().all(u8::is_ascii_digit)
}

fn is_age(s: &str) -> bool {
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_digit() || "smhdy".contains(c))
        && s.chars().last().is_some_and(|c| "smhdy".contains(c))
}

/// The stored object's resourceVersion quoted in a message: `… does not match the
/// ResourceVersion in record (208) …` (45c). The client's own precondition value stays.
fn rv_in_message(s: &str) -> String {
    const MARK: &str = "ResourceVersion in record (";
    let Some(at) = s.find(MARK) else {
        return s.to_string();
    };
    let start = at + MARK.len();
    let digits = s[start..].chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || !s[start + digits..].starts_with(')') {
        return s.to_string();
    }
    format!("{}<rv>{}", &s[..start], &s[start + digits..])
}

/// Replaces the values that differ between runs: uids, timestamps, resourceVersions (also the
/// stored one quoted in a precondition message), ages.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = Some(i);
                break;
            }
        }
        let Some(end) = end else {
            out.push_str(&rest[start..]);
            return out;
        };
        let content = &after[..end];
        let trimmed = out.trim_end();
        let after_rv_key =
            trimmed.ends_with("\"resourceVersion\":") || trimmed.ends_with("\"resourceVersion\": ");
        let replaced = if is_uuid(content) {
            "<uid>".to_string()
        } else if is_timestamp(content) {
            "<time>".to_string()
        } else if after_rv_key && content.chars().all(|c| c.is_ascii_digit()) {
            "<rv>".to_string()
        } else if is_age(content) {
            "<age>".to_string()
        } else {
            rv_in_message(content)
        };
        out.push('"');
        out.push_str(&replaced);
        out.push('"');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A response as the tests see it.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request to a router (no TLS) and reads the whole answer.
pub async fn send(
    router: &axum::Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::from(body.to_string())).expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).to_string(),
    }
}

/// Replays an exchange of the corpus against a router. A PUT body naming a resourceVersion
/// (other than the deliberately stale "1") gets the object's current one: resourceVersions
/// are cluster-specific.
pub async fn replay(router: &axum::Router, ex: &Exchange) -> Answer {
    let mut body = ex.request_body.clone();
    if ex.method == "PUT"
        && body.contains("\"resourceVersion\":\"")
        && !body.contains("\"resourceVersion\":\"1\"")
    {
        let object_path = ex
            .path
            .split('?')
            .next()
            .unwrap_or_default()
            .trim_end_matches("/status")
            .to_string();
        let current = send(router, "GET", &object_path, &[], "").await;
        if let Some(rv) = serde_json::from_str::<serde_json::Value>(&current.body)
            .ok()
            .and_then(|v| {
                v["metadata"]["resourceVersion"]
                    .as_str()
                    .map(str::to_string)
            })
        {
            let mut v: serde_json::Value = serde_json::from_str(&body).expect("PUT body is JSON");
            v["metadata"]["resourceVersion"] = serde_json::Value::String(rv);
            body = v.to_string();
        }
    }
    let ex = &Exchange {
        request_body: body,
        ..ex.clone()
    };
    let headers: Vec<(&str, &str)> = ex
        .request_headers
        .iter()
        .filter(|(k, _)| k != "Authorization")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    send(router, &ex.method, &ex.path, &headers, &ex.request_body).await
}

/// The real kubectl, with its own cache and home directory.
pub struct Kubectl {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

pub const KUBECTL: &str = "/usr/bin/kubectl";

impl Kubectl {
    /// Fails loudly when kubectl is missing: these tests are never skipped.
    pub fn new(lab: &protect_lab_apiserver::Lab) -> Self {
        assert!(
            Path::new(KUBECTL).exists(),
            "{KUBECTL} is required by the lab's kubectl tests (see README: kubectl 1.32)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        lab.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        Kubectl { dir, kubeconfig }
    }

    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(KUBECTL);
        cmd.env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running kubectl")
    }

    /// Runs kubectl, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Writes a manifest into the temp dir and returns its path.
    pub fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("manifest");
        p.display().to_string()
    }
}

/// A kube-rs client for a lab context.
pub async fn client(lab: &protect_lab_apiserver::Lab, context: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(&lab.kubeconfig()).expect("kubeconfig");
    let opts = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// The corpus CRD (crd.yaml) as JSON.
pub fn corpus_crd() -> serde_json::Value {
    let text = std::fs::read_to_string(corpus_dir().join("crd.yaml")).expect("crd.yaml");
    serde_saphyr::from_str(&text).expect("crd yaml")
}
