//! Our own generated CRDs (`deploy/crds/`) installed with the real kubectl, as the guide's
//! Installation section does, and the guide's Example 1 applied and listed with the printer
//! columns the guide shows. The lab reads the files only; it imports no product crate.
//! These tests fail when kubectl is missing; never skipped.

mod common;

use std::path::PathBuf;

use common::Kubectl;
use protect_lab_apiserver::Lab;

fn repo_file(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_crds_install_and_example_1_lists_as_the_guide_prints_it() {
    let lab = Lab::start(&["quorum"]).await.expect("lab");
    let k = Kubectl::new(&lab);
    let run = |args: Vec<String>| {
        let k = &k;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        k.ok(&args)
    };
    let crds = repo_file("deploy/crds");
    let applied = tokio::task::block_in_place(|| run(vec!["apply".into(), "-f".into(), crds]));
    for crd in [
        "protectionrequests.siterecovery.trilio.io",
        "drbdreplicationpolicies.siterecovery.trilio.io",
        "drbdvolumes.siterecovery.trilio.io",
    ] {
        assert!(
            applied.contains(&format!(
                "customresourcedefinition.apiextensions.k8s.io/{crd} created"
            )),
            "{applied}"
        );
        tokio::task::block_in_place(|| {
            run(vec![
                "wait".into(),
                "--for=condition=Established".into(),
                format!("crd/{crd}"),
            ])
        });
    }
    // The apiserver defaults listKind, which the generated CRDs leave out.
    let list_kind = tokio::task::block_in_place(|| {
        run(vec![
            "get".into(),
            "crd".into(),
            "drbdvolumes.siterecovery.trilio.io".into(),
            "-o".into(),
            "jsonpath={.spec.names.listKind}".into(),
        ])
    });
    assert_eq!(list_kind, "DRBDVolumeList");

    let example = repo_file("api/tests/fixtures/protect-web-server.yaml");
    let namespace = k.file(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dr-deployment\n",
    );
    tokio::task::block_in_place(|| run(vec!["apply".into(), "-f".into(), namespace]));
    let created = tokio::task::block_in_place(|| run(vec!["apply".into(), "-f".into(), example]));
    assert_eq!(
        created,
        "protectionrequest.siterecovery.trilio.io/protect-web-server created\n"
    );

    // Guide, Usage: the three spellings list the same table, NAME PHASE AGE.
    for resource in ["protectionrequest", "pr", "protect"] {
        let table = tokio::task::block_in_place(|| {
            run(vec![
                "get".into(),
                resource.into(),
                "-n".into(),
                "dr-deployment".into(),
            ])
        });
        let header: Vec<&str> = table
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(header, ["NAME", "PHASE", "AGE"], "{table}");
        // No controller has written status: the CRD's status default reads as Pending.
        let row: Vec<&str> = table
            .lines()
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(row[..2], ["protect-web-server", "Pending"], "{table}");
    }
    // `status` is a reset field of the main endpoint: kubectl's apply owns no part of it, even
    // though defaulting filled it in (fieldmanager resetfields).
    let managed = tokio::task::block_in_place(|| {
        run(vec![
            "get".into(),
            "pr".into(),
            "protect-web-server".into(),
            "-n".into(),
            "dr-deployment".into(),
            "--show-managed-fields".into(),
            "-o".into(),
            "jsonpath={.metadata.managedFields[*].fieldsV1}".into(),
        ])
    });
    assert!(managed.contains("f:spec"), "{managed}");
    assert!(!managed.contains("f:status"), "{managed}");
    let wide = tokio::task::block_in_place(|| {
        run(vec![
            "get".into(),
            "pr".into(),
            "-n".into(),
            "dr-deployment".into(),
            "-o".into(),
            "wide".into(),
        ])
    });
    let header: Vec<&str> = wide
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "AGE", "VM", "SOURCE", "DR", "SYNC"],
        "{wide}"
    );
    assert!(
        wide.contains("web-server") && wide.contains("cluster1"),
        "{wide}"
    );
}
