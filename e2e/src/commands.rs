//! The commands `protect-lab up` prints: every command of the guide's Usage and Examples
//! sections, with `--kubeconfig DIR/kubeconfig --context quorum` (or `cluster1`) in place of
//! `$KUBECONFIG_QUORUM` / `$KUBECONFIG_CLUSTER1`, and the plugin's one-command protect.

use std::path::Path;

use protect_lab_apiserver::world::{PRIMARY, PROTECTION_NAMESPACE, QUORUM};

/// The guide's Example 1 manifest (`protect-web-server.yaml`), exactly as the guide prints it.
pub const EXAMPLE_1: &str = include_str!("../../api/tests/fixtures/protect-web-server.yaml");
/// File name of Example 1's manifest, as the guide's `kubectl apply -f` names it.
pub const EXAMPLE_1_FILE: &str = "protect-web-server.yaml";

/// A group of commands under a heading.
pub struct Section {
    /// What the commands show (the guide's wording).
    pub title: &'static str,
    /// Complete command lines.
    pub commands: Vec<String>,
}

/// Every command, grouped as the guide groups them. `manifest` is where Example 1's manifest
/// was written.
pub fn sections(kubeconfig: &Path, manifest: &Path) -> Vec<Section> {
    let k = |context: &str| {
        format!(
            "kubectl --kubeconfig {} --context {context}",
            kubeconfig.display()
        )
    };
    let q = k(QUORUM);
    let ns = PROTECTION_NAMESPACE;
    vec![
        Section {
            title: "The seeded world (the guide's prerequisites)",
            commands: vec![
                format!("{q} get crd protectionrequests.siterecovery.trilio.io"),
                format!("{q} get drbdreplicationpolicies -n {ns} -o yaml"),
                format!("{} get vm,vmi -n production", k(PRIMARY)),
                format!("{} get pvc -n production -o wide", k(PRIMARY)),
            ],
        },
        Section {
            title: "Usage: list, watch and inspect protection requests",
            commands: vec![
                format!("{q} get protectionrequest -n {ns}"),
                format!("{q} get pr -n {ns}"),
                format!("{q} get protect -n {ns}"),
                format!("{q} get pr -n {ns} -w"),
                format!("{q} get pr protect-web-server -n {ns} -o yaml"),
            ],
        },
        Section {
            title: "Example 1: protect a single VM (manifest written for you)",
            commands: vec![format!("{q} apply -f {}", manifest.display())],
        },
        Section {
            title: "Example 2: inspect detailed status during sync",
            commands: vec![format!("{q} get pr protect-web-server -n {ns} -o yaml")],
        },
        Section {
            title: "Example 3: list all protected VMs across a deployment namespace",
            commands: vec![format!("{q} get pr -n {ns}")],
        },
        Section {
            title: "Example 4: the DRBDVolumes created for a protected VM",
            commands: vec![format!(
                "{q} get drbdvolumes -n {ns} -l siterecovery.trilio.io/protected-vm=web-server"
            )],
        },
        Section {
            title: "Unprotect: delete the request; the controller puts the VM back on its PVCs",
            commands: vec![format!("{q} delete pr protect-web-server -n {ns}")],
        },
        Section {
            title: "Or, with the plugin (cargo build --release -p kubectl-protect; PATH=$PWD/target/release:$PATH)",
            commands: vec![
                format!(
                    "kubectl protect vm web-server -n production --source-cluster {PRIMARY} --kubeconfig {} --context {QUORUM} --wait",
                    kubeconfig.display()
                ),
                format!(
                    "kubectl protect status --kubeconfig {} --context {QUORUM}",
                    kubeconfig.display()
                ),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guide_command_names_the_kubeconfig_and_a_context() {
        let all = sections(Path::new("/d/kubeconfig"), Path::new("/d/x.yaml"));
        let commands: Vec<&String> = all.iter().flat_map(|s| &s.commands).collect();
        assert!(commands.len() >= 12);
        for c in commands {
            assert!(c.contains("--kubeconfig /d/kubeconfig"), "{c}");
            assert!(
                c.contains("--context quorum") || c.contains("--context cluster1"),
                "{c}"
            );
            assert!(!c.contains('$') || c.contains("PATH"), "{c}");
        }
    }

    #[test]
    fn example_1_is_the_guides_manifest() {
        assert!(EXAMPLE_1.contains("name: protect-web-server"));
        assert!(EXAMPLE_1.contains("sourceCluster: cluster1"));
    }
}
