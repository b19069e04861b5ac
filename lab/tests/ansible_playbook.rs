//! `ansible/deploy-dr-deployment.yml`, run as the guide's Installation section runs it
//! (`ansible-playbook ansible/deploy-dr-deployment.yml --extra-vars "target_cluster=quorum"`)
//! against a lab quorum cluster, twice: the first run installs the bundle through the
//! `kubernetes.core` collection, the second changes nothing (`changed=0`).
//!
//! The lab has no kubelet or Deployment controller, so the run passes `wait_for_rollout=false`
//! (no pod ever becomes Available); everything else is the playbook as users run it.
//! cert-manager's CRDs are installed first, as a real quorum cluster has them.
//!
//! Needs `ansible-playbook` (PyPI `ansible`, which ships kubernetes.core) and the `kubernetes`
//! Python package; `.ci/run` installs both. Fails loudly when they are missing; never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Kubectl;
use protect_lab_apiserver::Lab;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `ansible-playbook` on PATH, or a failure that says how to install it.
fn ansible_playbook() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("ansible-playbook"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "ansible-playbook is not on PATH: this test runs the guide's Installation playbook. \
             Install it with `pip install ansible==12.3.0 kubernetes==37.0.2` (.ci/run does)"
        )
    })
}

/// The `PLAY RECAP` counters of a run, e.g. `changed` → 0.
fn recap(output: &str, counter: &str) -> u32 {
    let line = output
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.starts_with("localhost"))
        .unwrap_or_else(|| panic!("no PLAY RECAP for localhost:\n{output}"));
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{counter}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {counter}= in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installation_playbook_installs_the_bundle_and_a_second_run_changes_nothing() {
    let playbook = ansible_playbook();
    let lab = Lab::start(&["quorum"]).await.expect("lab");
    let k = Kubectl::new(&lab);
    let ansible_home = tempfile::tempdir().expect("tempdir");
    let run_playbook = || {
        let out = Command::new(&playbook)
            .current_dir(repo())
            .env("KUBECONFIG", &k.kubeconfig)
            .env("ANSIBLE_HOME", ansible_home.path())
            .env("ANSIBLE_LOCAL_TEMP", ansible_home.path().join("tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("ANSIBLE_LOCALHOST_WARNING", "false")
            .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false")
            .env("KUBECACHEDIR", k.dir.path().join("cache"))
            .args([
                "ansible/deploy-dr-deployment.yml",
                "--extra-vars",
                "target_cluster=quorum",
                "--extra-vars",
                "wait_for_rollout=false",
            ])
            .output()
            .expect("running ansible-playbook");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "ansible-playbook failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };

    tokio::task::block_in_place(|| {
        // Without cert-manager the playbook stops with a message saying so.
        let out = Command::new(&playbook)
            .current_dir(repo())
            .env("KUBECONFIG", &k.kubeconfig)
            .env("ANSIBLE_HOME", ansible_home.path())
            .env("ANSIBLE_LOCAL_TEMP", ansible_home.path().join("tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCALHOST_WARNING", "false")
            .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false")
            .args([
                "ansible/deploy-dr-deployment.yml",
                "--extra-vars",
                "target_cluster=quorum",
            ])
            .output()
            .expect("running ansible-playbook");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{stdout}");
        assert!(
            stdout.contains(
                "cert-manager's CRD certificates.cert-manager.io is not installed on cluster quorum"
            ),
            "{stdout}"
        );

        k.ok(&[
            "apply",
            "-f",
            &repo()
                .join("lab/tests/fixtures/cert-manager-crds.yaml")
                .display()
                .to_string(),
        ]);
        k.ok(&[
            "wait",
            "--for=condition=Established",
            "crd/certificates.cert-manager.io",
            "crd/issuers.cert-manager.io",
        ]);

        let first = run_playbook();
        assert_eq!(recap(&first, "failed"), 0, "{first}");
        assert!(recap(&first, "changed") >= 1, "{first}");

        let second = run_playbook();
        assert_eq!(recap(&second, "failed"), 0, "{second}");
        assert_eq!(
            recap(&second, "changed"),
            0,
            "the second run changed something:\n{second}"
        );

        // What the guide checks, and the rest of the bundle.
        k.ok(&["get", "crd", "protectionrequests.siterecovery.trilio.io"]);
        let controller = k.ok(&[
            "get",
            "deployments",
            "-n",
            "dr-deployment",
            "-l",
            "app=protection-controller",
            "-o",
            "name",
        ]);
        assert_eq!(controller, "deployment.apps/protection-controller\n");
        for object in [
            "deployment/protect-webhook",
            "service/protect-webhook",
            "serviceaccount/protect-webhook",
            "role/protect-webhook",
            "rolebinding/protect-webhook",
            "role/protection-controller",
            "certificate.cert-manager.io/protect-webhook-serving",
            "certificate.cert-manager.io/protect-webhook-ca",
            "issuer.cert-manager.io/protect-selfsigned",
            "issuer.cert-manager.io/protect-webhook-ca",
        ] {
            k.ok(&["get", "-n", "dr-deployment", object]);
        }
        for object in [
            "validatingwebhookconfiguration/protect-webhook",
            "mutatingwebhookconfiguration/protect-webhook",
            "crd/drbdvolumes.siterecovery.trilio.io",
            "crd/drbdreplicationpolicies.siterecovery.trilio.io",
        ] {
            k.ok(&["get", object]);
        }
        // Server-side apply under the playbook's field manager.
        let managers = k.ok(&[
            "get",
            "deployment/protect-webhook",
            "-n",
            "dr-deployment",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ]);
        assert!(managers.contains("protect-ansible"), "{managers}");
    });
    lab.shutdown().await;
}
