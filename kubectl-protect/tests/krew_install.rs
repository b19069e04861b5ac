//! The krew package, installed the way krew lays a plugin out and run through the real kubectl.
//!
//! `cargo xtask krew-package` (here through the `xtask` library, packaging the binary this test
//! was built with, so no nested `cargo build`) writes the archive for this platform and the
//! manifest filled for it. The test checks the manifest against krew's validation rules and the
//! archive against the manifest's sha256, installs it as `kubectl krew install` would
//! (`$KREW_ROOT/store/protect/<version>/`, `$KREW_ROOT/bin/kubectl-protect` linked onto PATH,
//! `$KREW_ROOT/receipts/protect.yaml`), then runs `kubectl plugin list` and
//! `kubectl protect version` with `$KREW_ROOT/bin` on PATH.
//!
//! It uses /usr/bin/kubectl and fails, loudly, when it is missing: it never skips.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use xtask::krew::{self, PackageOptions, Platform};

const KUBECTL: &str = "/usr/bin/kubectl";

fn kubectl_path() -> &'static Path {
    let path = Path::new(KUBECTL);
    assert!(
        path.is_file(),
        "{KUBECTL} is missing: this test runs the krew-installed plugin through the real kubectl \
         (install kubectl 1.32 at {KUBECTL})"
    );
    path
}

/// kubectl with only `$KREW_ROOT/bin` and kubectl's own directories on PATH, a `HOME` of its own
/// and no cluster configuration: what a user who installed the plugin with krew has.
fn kubectl(krew_root: &Path, home: &Path, args: &[&str]) -> Output {
    let kubectl = kubectl_path();
    let mut paths = vec![krew_root.join("bin")];
    paths.extend(kubectl.parent().map(Path::to_path_buf));
    paths.push(PathBuf::from("/bin"));
    Command::new(kubectl)
        .args(args)
        .env("PATH", std::env::join_paths(&paths).unwrap())
        .env("HOME", home)
        .env("KUBECONFIG", home.join("no-such-kubeconfig"))
        .env_remove("KUBECTL_PROTECT_NAMESPACE")
        .env_remove("KREW_ROOT")
        .env("NO_COLOR", "1")
        .output()
        .expect("kubectl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether two files hold the same bytes.
fn same_contents(a: &Path, b: &Path) -> bool {
    let (mut a, mut b) = (fs::File::open(a).unwrap(), fs::File::open(b).unwrap());
    if a.metadata().unwrap().len() != b.metadata().unwrap().len() {
        return false;
    }
    let (mut buf_a, mut buf_b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = a.read(&mut buf_a).unwrap();
        if n == 0 {
            return true;
        }
        b.read_exact(&mut buf_b[..n]).unwrap();
        if buf_a[..n] != buf_b[..n] {
            return false;
        }
    }
}

/// The file's sha256 as coreutils' `sha256sum` computes it (an implementation other than the
/// packager's), or as the packager does where `sha256sum` is not installed.
fn sha256_of(path: &Path) -> String {
    match Command::new("sha256sum").arg(path).output() {
        Ok(out) if out.status.success() => text(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned(),
        _ => krew::sha256_file(path).unwrap(),
    }
}

#[test]
fn the_krew_package_installs_as_krew_does_and_runs_through_kubectl() {
    kubectl_path();
    let work = tempfile::tempdir().unwrap();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-protect"));
    let license = xtask::workspace_root().join("LICENSE");
    let host = Platform::host().unwrap();
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));

    // Package, as `cargo xtask krew-package --binary <the test's binary> --out <dir>`.
    let out = work.path().join("out");
    let mut options = PackageOptions::new(&binary).unwrap();
    options.out_dir = out.clone();
    // The debug build packaged here is ~170 MB; the fastest gzip level keeps the test quick
    // (releases use the default level, and every level reads back alike).
    options.compression = 1;
    let package = krew::package(&options).unwrap();

    let archive_name = format!("kubectl-protect_{version}_{}_{}.tar.gz", host.os, host.arch);
    assert_eq!(package.archive, out.join(&archive_name));
    assert_eq!(package.manifest, out.join("protect.yaml"));
    let listed = krew::list_tar_gz(&package.archive).unwrap();
    let summary: Vec<(&str, u32, u64)> = listed
        .iter()
        .map(|e| (e.path.as_str(), e.mode, e.size))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "kubectl-protect",
                0o755,
                fs::metadata(&binary).unwrap().len()
            ),
            ("LICENSE", 0o644, fs::metadata(&license).unwrap().len()),
        ]
    );

    // The filled manifest passes krew's validation, offers this platform alone, and names the
    // archive by its sha256 and its release URL.
    let manifest = fs::read_to_string(&package.manifest).unwrap();
    if let Err(errors) = krew::validate(&manifest, "protect.yaml") {
        panic!(
            "the filled manifest fails krew's validation:\n  {}\n{manifest}",
            errors.join("\n  ")
        );
    }
    let plugin = krew::parse(&manifest).unwrap();
    assert_eq!(plugin.metadata.name, "protect");
    assert_eq!(plugin.spec.version, version);
    assert_eq!(plugin.spec.platforms.len(), 1, "{manifest}");
    let platform = plugin
        .platform_for(&host)
        .expect("a platform for this host");
    let sha256 = sha256_of(&package.archive);
    assert_eq!(platform.sha256, sha256);
    assert_eq!(package.sha256, sha256);
    assert_eq!(
        platform.uri,
        format!("{}/{version}/{archive_name}", krew::DEFAULT_BASE_URL)
    );
    assert_eq!(platform.bin, "kubectl-protect");

    // Installed as `kubectl krew install --manifest=protect.yaml --archive=<archive>` does.
    let krew_root = work.path().join("krew");
    let installed = krew::install(&krew_root, &manifest, &package.archive, &host, "default")
        .unwrap_or_else(|e| panic!("installing as krew does: {e:#}"));

    let store = krew_root.join("store").join("protect").join(&version);
    assert_eq!(installed.store_dir, store);
    let mut files: Vec<String> = fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["LICENSE", "kubectl-protect"]);
    assert!(same_contents(&store.join("kubectl-protect"), &binary));
    assert!(same_contents(&store.join("LICENSE"), &license));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(store.join("kubectl-protect"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{mode:o}");
    }

    let link = krew_root.join("bin").join("kubectl-protect");
    assert_eq!(installed.bin_link, link);
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_link(&link).unwrap(),
        Path::new("..")
            .join("store")
            .join("protect")
            .join(&version)
            .join("kubectl-protect")
    );
    assert_eq!(
        fs::canonicalize(&link).unwrap(),
        fs::canonicalize(store.join("kubectl-protect")).unwrap()
    );

    let receipt_path = krew_root.join("receipts").join("protect.yaml");
    assert_eq!(installed.receipt, receipt_path);
    let receipt: serde_json::Value =
        serde_saphyr::from_str(&fs::read_to_string(&receipt_path).unwrap()).unwrap();
    assert_eq!(receipt["status"]["source"]["name"], "default");
    assert_eq!(receipt["metadata"]["name"], "protect");
    assert_eq!(receipt["spec"]["version"], version.as_str());
    assert_eq!(receipt["spec"]["platforms"][0]["sha256"], sha256.as_str());

    // Through the real kubectl, with only $KREW_ROOT/bin added to PATH.
    let home = work.path().join("home");
    fs::create_dir(&home).unwrap();

    let out = kubectl(&krew_root, &home, &["plugin", "list"]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let listed: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with("/kubectl-protect"))
        .collect();
    assert_eq!(
        listed,
        [link.display().to_string()],
        "kubectl plugin list names the krew link, and only it: {stdout}\n{stderr}"
    );
    assert!(
        !stderr.to_lowercase().contains("warning"),
        "kubectl plugin list warns: {stderr}"
    );

    let out = kubectl(&krew_root, &home, &["protect", "version"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!("kubectl-protect {} (", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}
