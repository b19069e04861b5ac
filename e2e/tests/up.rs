//! `protect-lab up` as a user runs it: it starts, writes DIR/kubeconfig, serves (the real
//! kubectl sees the policy on quorum and the VM on cluster1; the webhook denies the uncovered
//! VM; the controller protects web-server), prints the plugin command, and stops cleanly on
//! SIGINT. Needs /usr/bin/kubectl; fails, never skips, without it.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KUBECTL: &str = "/usr/bin/kubectl";

/// The `up` process, killed if the test fails before stopping it.
struct Up {
    child: Child,
    lines: mpsc::Receiver<Option<String>>,
    seen: Vec<String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Up {
    fn start(dir: &Path) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_protect-lab"))
            .arg("up")
            .arg("--dir")
            .arg(dir)
            .args(["--sync-bandwidth", "instant", "--tick-ms", "100"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("protect-lab up starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(Some(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(None);
        });
        Up {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Read stdout until a line equal to `wanted` (or until it closes, `wanted` = None).
    fn read_until(&mut self, wanted: Option<&str>, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Some(line)) => {
                    let done = wanted == Some(line.as_str());
                    self.seen.push(line);
                    if done {
                        return;
                    }
                }
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) if wanted.is_none() => {
                    return;
                }
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                    "protect-lab up closed its output before {wanted:?}:\n{}",
                    self.seen.join("\n")
                ),
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "no {wanted:?} from protect-lab up within {limit:?}:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

struct Kubectl {
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(KUBECTL)
            .env("HOME", self.home.path())
            .env("KUBECACHEDIR", self.home.path().join("cache"))
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    fn succeed(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn up_serves_the_guides_world_with_webhook_and_controller_and_stops_on_sigint() {
    assert!(
        Path::new(KUBECTL).exists(),
        "{KUBECTL} is missing: this test drives the real kubectl 1.32; install it (README, Before you start)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut up = Up::start(dir.path());
    up.read_until(Some("Ctrl-C stops it."), Duration::from_secs(90));

    let state = dir.path().canonicalize().unwrap();
    let kubeconfig = state.join("kubeconfig");
    assert!(
        kubeconfig.is_file(),
        "{} was not written",
        kubeconfig.display()
    );
    let printed = up.seen.join("\n");
    let plugin = format!(
        "kubectl protect vm web-server -n production --source-cluster cluster1 --kubeconfig {} --context quorum --wait",
        kubeconfig.display()
    );
    assert!(printed.contains(&plugin), "{printed}");
    for guide in [
        "get pr -n dr-deployment -w",
        "get drbdvolumes -n dr-deployment -l siterecovery.trilio.io/protected-vm=web-server",
    ] {
        assert!(
            printed.contains(&format!(
                "kubectl --kubeconfig {} --context quorum {guide}",
                kubeconfig.display()
            )),
            "{guide}: {printed}"
        );
    }

    let k = Kubectl {
        home: tempfile::tempdir().unwrap(),
        kubeconfig,
    };
    let policies = k.succeed(&[
        "--context",
        "quorum",
        "get",
        "drbdreplicationpolicies",
        "-n",
        "dr-deployment",
        "-o",
        "name",
    ]);
    assert!(policies.contains("dr-policy"), "{policies}");
    let vms = k.succeed(&[
        "--context",
        "cluster1",
        "get",
        "vm",
        "-n",
        "production",
        "-o",
        "name",
    ]);
    assert!(vms.contains("web-server"), "{vms}");

    // The webhook is wired: the uncovered VM is denied at admission.
    let analytics = state.join("protect-analytics.yaml");
    std::fs::write(
        &analytics,
        "apiVersion: siterecovery.trilio.io/v1alpha1\nkind: ProtectionRequest\nmetadata:\n  name: protect-analytics\n  namespace: dr-deployment\nspec:\n  vmName: analytics\n  vmNamespace: production\n  sourceCluster: cluster1\n",
    )
    .unwrap();
    let out = k.run(&[
        "--context",
        "quorum",
        "apply",
        "-f",
        analytics.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "admission webhook \"validate.protect.siterecovery.trilio.io\" denied the request"
        ),
        "{stderr}"
    );

    // The controller runs: Example 1, as written in DIR, reaches Protected.
    let manifest = state.join("protect-web-server.yaml");
    let created = k.succeed(&[
        "--context",
        "quorum",
        "apply",
        "-f",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(
        created,
        "protectionrequest.siterecovery.trilio.io/protect-web-server created\n"
    );
    k.succeed(&[
        "--context",
        "quorum",
        "wait",
        "--for=jsonpath={.status.phase}=Protected",
        "pr/protect-web-server",
        "-n",
        "dr-deployment",
        "--timeout=60s",
    ]);

    // SIGINT stops it cleanly.
    let kill = Command::new("kill")
        .args(["-INT", &up.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    up.read_until(None, Duration::from_secs(30));
    let status = up.child.wait().unwrap();
    assert!(status.success(), "exit {status:?}:\n{}", up.seen.join("\n"));
    assert_eq!(
        up.seen.iter().rev().take(2).collect::<Vec<_>>(),
        ["stopped", "stopping"]
    );
}
