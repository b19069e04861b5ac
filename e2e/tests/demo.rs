//! `protect-lab demo` as a user runs it: exit 0, the guide's seven phases in order, the
//! admission denial as kubectl prints it, and the unprotect confirmation.

use std::process::Command;

const PHASES: [&str; 7] = [
    "Pending",
    "Validating",
    "CreatingDRBD",
    "Syncing",
    "ReadyToActivate",
    "Activating",
    "Protected",
];

#[test]
fn demo_protects_web_server_through_the_guides_phases_denies_analytics_and_unprotects() {
    let out = Command::new(env!("CARGO_BIN_EXE_protect-lab"))
        .args(["demo", "--timeout", "90"])
        .env_remove("RUST_LOG")
        .output()
        .expect("protect-lab runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "protect-lab demo exited {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );

    // (a) The table: header, then one line per phase change, the guide's seven in order, each
    // with an AGE as kubectl prints it.
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.split_whitespace().eq(["NAME", "PHASE", "AGE"]))
        .unwrap_or_else(|| panic!("no NAME PHASE AGE header:\n{stdout}"));
    let rows: Vec<Vec<&str>> = lines[header + 1..]
        .iter()
        .take_while(|l| l.starts_with("protect-web-server "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let phases: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(phases, PHASES, "{stdout}");
    for row in &rows {
        assert_eq!(row.len(), 3, "{row:?}");
        let age = row[2];
        assert!(
            age.ends_with('s') && age[..age.len() - 1].chars().all(|c| c.is_ascii_digit()),
            "AGE {age:?} is not kubectl's seconds form (the demo is under two minutes)"
        );
    }
    assert!(
        stdout.contains(
            "VM production/web-server is Running on DRBD-backed PVCs web-server-root-drbd, web-server-data-drbd"
        ),
        "{stdout}"
    );

    // (b) The denial, as kubectl prints it.
    let denial = lines
        .iter()
        .find(|l| l.starts_with("Error from server (Forbidden): "))
        .unwrap_or_else(|| panic!("no denial line:\n{stdout}"));
    assert!(
        denial.starts_with(
            "Error from server (Forbidden): error when creating \"protect-analytics.yaml\": admission webhook \"validate.protect.siterecovery.trilio.io\" denied the request: "
        ) && denial.contains("PVC \"analytics-data\" uses storage class \"local-path\""),
        "{denial}"
    );
    let denial_at = lines.iter().position(|l| l == denial).unwrap();
    assert!(
        denial_at > header + rows.len(),
        "the denial comes after the table"
    );

    // (c) Unprotect, after the denial.
    let restored = lines
        .iter()
        .position(|l| {
            *l == "VM production/web-server is Running on its original PVCs web-server-root, web-server-data"
        })
        .unwrap_or_else(|| panic!("no unprotect confirmation:\n{stdout}"));
    assert!(restored > denial_at);
    assert!(
        stdout.contains("DRBDVolumes left: none on quorum, cluster1 or cluster2"),
        "{stdout}"
    );
    assert!(stdout.contains("demo passed"), "{stdout}");
}
