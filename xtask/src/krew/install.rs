//! Installing a plugin archive the way `kubectl krew install --manifest=… --archive=…` does
//! (krew's `internal/installation/install.go` and `move.go`, `internal/download`), without
//! krew itself or a network:
//!
//! ```text
//! $KREW_ROOT/store/<name>/<version>/…       the archive's files, placed by the `files` operations
//! $KREW_ROOT/bin/kubectl-<name>             a relative symbolic link to the store's `bin`
//! $KREW_ROOT/receipts/<name>.yaml           the manifest, with status.source.name (the index)
//! ```
//!
//! With `$KREW_ROOT/bin` on PATH, kubectl finds the plugin as it finds any krew-installed one.

use std::fs;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use flate2::read::GzDecoder;
use serde_json::{Value, json};

use super::manifest::{self, FileOperation};
use super::validate::{clean_path, is_glob};
use super::{Platform, sha256_file};

/// Where an installation put things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// `$KREW_ROOT/store/<name>/<version>`.
    pub store_dir: PathBuf,
    /// The plugin's executable in the store directory (the platform's `bin`).
    pub binary: PathBuf,
    /// `$KREW_ROOT/bin/kubectl-<name>`, a symbolic link to `binary`.
    pub bin_link: PathBuf,
    /// The link's target, relative to `$KREW_ROOT/bin` as krew writes it.
    pub link_target: PathBuf,
    /// `$KREW_ROOT/receipts/<name>.yaml`.
    pub receipt: PathBuf,
}

/// krew's `pluginNameToBin`: `kubectl-` + the name with dashes as underscores (`.exe` on
/// Windows), the file name kubectl's plugin discovery maps back to `kubectl <name>`.
pub fn plugin_bin_name(name: &str, platform: &Platform) -> String {
    platform.executable(&format!("kubectl-{}", name.replace('-', "_")))
}

/// Installs `archive` under `krew_root` for `platform` as krew would from `manifest`, recording
/// `index_name` (`default` for krew's default index) as the receipt's source.
///
/// Like krew it refuses a manifest that fails validation, a plugin already installed, a
/// platform the manifest does not offer, an archive whose sha256 is not the manifest's, an
/// archive entry escaping the extraction directory or of a type other than file or directory,
/// a file operation matching nothing or leaving its directory, and a `bin` missing after the
/// moves.
pub fn install(
    krew_root: &Path,
    manifest_text: &str,
    archive: &Path,
    platform: &Platform,
    index_name: &str,
) -> anyhow::Result<Installed> {
    let plugin = manifest::parse(manifest_text)
        .map_err(anyhow::Error::msg)
        .context("failed to decode plugin manifest")?;
    let name = plugin.metadata.name.clone();
    super::validate(manifest_text, &format!("{name}.yaml")).map_err(|errors| {
        anyhow!(
            "plugin manifest validation error:\n  {}",
            errors.join("\n  ")
        )
    })?;
    let version = plugin.spec.version.clone();

    let receipt = krew_root.join("receipts").join(format!("{name}.yaml"));
    if receipt.exists() {
        bail!("can't install, the newest version is already installed");
    }
    let candidate = plugin.platform_for(platform).with_context(|| {
        format!("plugin {name:?} does not offer installation for this platform ({platform})")
    })?;

    // download.NewSha256Verifier
    let sha256 = sha256_file(archive)?;
    if sha256 != candidate.sha256 {
        bail!(
            "checksum does not match, want: {}, got {sha256}",
            candidate.sha256
        );
    }

    fs::create_dir_all(krew_root).with_context(|| format!("creating {}", krew_root.display()))?;
    // Staged inside KREW_ROOT, so the final moves are renames on one file system.
    let staging = tempfile::Builder::new()
        .prefix(".krew-install-")
        .tempdir_in(krew_root)?;
    let extracted = staging.path().join("download");
    let moved = staging.path().join("move");
    fs::create_dir(&extracted)?;
    fs::create_dir(&moved)?;
    set_dir_mode(&moved)?;
    extract_tar_gz(archive, &extracted).context("failed to unpack the plugin archive")?;

    // applyDefaults: no `files` installs everything.
    let files = candidate.files.clone().unwrap_or_else(|| {
        vec![FileOperation {
            from: "*".to_owned(),
            to: ".".to_owned(),
        }]
    });
    for op in &files {
        for (from, to) in find_moves(&extracted, &moved, op)
            .with_context(|| format!("could not find move targets for {op:?}"))?
        {
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)?;
            }
            if to.is_dir() {
                fs::remove_dir_all(&to)?;
            }
            fs::rename(&from, &to).with_context(|| {
                format!("could not move {} to {}", from.display(), to.display())
            })?;
        }
    }

    let store_dir = krew_root.join("store").join(&name).join(&version);
    if let Some(parent) = store_dir.parent() {
        fs::create_dir_all(parent)?;
    }
    if store_dir.is_dir() {
        fs::remove_dir_all(&store_dir)?;
    }
    fs::rename(&moved, &store_dir)
        .with_context(|| format!("moving the plugin into {}", store_dir.display()))?;

    let bin = clean_path(&candidate.bin);
    if !stays_inside(&bin) {
        bail!(
            "the path {:?} does not extend the install directory",
            candidate.bin
        );
    }
    let binary = store_dir.join(&bin);
    if !binary.exists() {
        bail!(
            "can't create symbolic link, source binary ({}) cannot be found in extracted archive",
            binary.display()
        );
    }
    let bin_dir = krew_root.join("bin");
    fs::create_dir_all(&bin_dir)?;
    let bin_link = bin_dir.join(plugin_bin_name(&name, platform));
    remove_link(&bin_link)?;
    let link_target = Path::new("..")
        .join("store")
        .join(&name)
        .join(&version)
        .join(&bin);
    symlink(&link_target, &bin_link)?;

    fs::create_dir_all(krew_root.join("receipts"))?;
    fs::write(&receipt, receipt_yaml(manifest_text, index_name)?)
        .with_context(|| format!("writing {}", receipt.display()))?;

    Ok(Installed {
        store_dir,
        binary,
        bin_link,
        link_target,
        receipt,
    })
}

/// krew's `receipt.New`: the manifest, stamped with `metadata.creationTimestamp`, and
/// `status.source.name` naming the index it came from.
fn receipt_yaml(manifest_text: &str, index_name: &str) -> anyhow::Result<String> {
    let mut doc: Value = serde_saphyr::from_str(manifest_text)?;
    let Value::Object(root) = &mut doc else {
        bail!("the manifest is not a mapping");
    };
    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())?;
    if let Some(Value::Object(metadata)) = root.get_mut("metadata") {
        metadata.insert("creationTimestamp".to_owned(), json!(now.to_string()));
    }
    root.insert(
        "status".to_owned(),
        json!({ "source": { "name": index_name } }),
    );
    manifest::to_yaml(&doc)
}

/// `extractTARGZ`: directories and regular files only, no path leaving `dir`.
fn extract_tar_gz(archive: &Path, dir: &Path) -> anyhow::Result<()> {
    let file = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    for entry in tar.entries().context("failed to create gzip reader")? {
        let mut entry = entry.context("tar extraction error")?;
        let entry_type = entry.header().entry_type();
        if entry_type == tar::EntryType::XGlobalHeader {
            continue;
        }
        let path = entry.path()?.into_owned();
        if path.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        }) {
            bail!(
                "refusing to unpack suspicious path {:?}",
                path.display().to_string()
            );
        }
        if !(entry_type.is_dir() || entry_type.is_file()) {
            bail!(
                "unable to handle file type {:?} for {:?} in tar",
                entry_type,
                path.display().to_string()
            );
        }
        entry
            .unpack_in(dir)
            .with_context(|| format!("unpacking {}", path.display()))?;
    }
    Ok(())
}

/// `findMoveTargets`: a direct move when `from` names an existing path, else a glob.
fn find_moves(
    from_dir: &Path,
    to_dir: &Path,
    op: &FileOperation,
) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    if op.to != clean_path(&op.to) {
        bail!(
            "the provided path is not clean, {:?} should be {:?}",
            op.to,
            clean_path(&op.to)
        );
    }
    let from = clean_path(&op.from);
    if !stays_inside(&from) || !stays_inside(&op.to) {
        bail!("can't move, move target {op:?} is out of bounds");
    }
    let direct = from_dir.join(&from);
    if !is_glob(&op.from) && direct.exists() {
        let to = if op.to == "." {
            from.rsplit('/').next().unwrap_or(&from).to_owned()
        } else {
            op.to.clone()
        };
        return Ok(vec![(direct, to_dir.join(to))]);
    }
    let matches = glob(from_dir, &from)?;
    if matches.is_empty() {
        bail!(
            "no files in the plugin archive matched the glob pattern={}",
            op.from
        );
    }
    let new_dir = to_dir.join(&op.to);
    Ok(matches
        .into_iter()
        .filter_map(|m| {
            let base = m.file_name()?.to_owned();
            Some((m, new_dir.join(base)))
        })
        .collect())
}

/// Whether a clean relative path stays inside its base directory.
fn stays_inside(clean: &str) -> bool {
    !(clean == ".." || clean.starts_with("../") || clean.starts_with('/'))
}

/// Go's `filepath.Glob` for `*` and `?` (any run of characters, any one character, within a
/// path segment), in lexical order. Character classes and escapes are not supported here.
fn glob(root: &Path, pattern: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut current = vec![root.to_path_buf()];
    for segment in pattern.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if segment.contains(['[', '\\']) {
            bail!(
                "the glob pattern {pattern:?} uses character classes or escapes, which this emulation does not support"
            );
        }
        let mut next = Vec::new();
        for dir in &current {
            if !is_glob(segment) {
                let path = dir.join(segment);
                if path.symlink_metadata().is_ok() {
                    next.push(path);
                }
                continue;
            }
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            next.extend(
                names
                    .into_iter()
                    .filter(|name| wildcard(segment.as_bytes(), name.as_bytes()))
                    .map(|name| dir.join(name)),
            );
        }
        current = next;
    }
    Ok(current.into_iter().filter(|p| p != root).collect())
}

fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            wildcard(rest, name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some((b'?', rest)), Some((_, name_rest))) => wildcard(rest, name_rest),
        (Some((p, rest)), Some((n, name_rest))) if p == n => wildcard(rest, name_rest),
        _ => false,
    }
}

/// `removeLink`: nothing there is fine, a symbolic link is removed, anything else is an error.
fn remove_link(path: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            Err(e).with_context(|| format!("failed to read the symlink in {}", path.display()))
        }
        Ok(meta) if meta.file_type().is_symlink() => Ok(fs::remove_file(path)?),
        Ok(meta) => bail!(
            "file {} is not a symlink (mode={:?})",
            path.display(),
            meta.permissions()
        ),
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::symlink(target, link).with_context(|| {
        format!(
            "failed to create a symlink from {} to {}",
            target.display(),
            link.display()
        )
    })
}

#[cfg(not(unix))]
fn symlink(_target: &Path, link: &Path) -> anyhow::Result<()> {
    bail!(
        "linking {} is only emulated on Unix (krew copies the binary on Windows)",
        link.display()
    )
}

/// `mktemp` gives 0700; the store directory is 0755, as krew makes it.
#[cfg(unix)]
fn set_dir_mode(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    Ok(fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?)
}

#[cfg(not(unix))]
fn set_dir_mode(_dir: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::super::{ArchiveEntry, sha256_file, write_tar_gz};
    use super::*;

    const MANIFEST: &str = "apiVersion: krew.googlecontainertools.github.com/v1alpha2\n\
        kind: Plugin\nmetadata:\n  name: protect\nspec:\n  version: v1.2.3\n  \
        shortDescription: Protect VMs\n  platforms:\n  - selector:\n      matchLabels:\n        \
        os: linux\n        arch: amd64\n    uri: https://example.com/a.tar.gz\n    sha256: SHA\n    \
        files:\n    - from: kubectl-protect\n      to: .\n    - from: LICENSE\n      to: .\n    \
        bin: kubectl-protect\n";

    struct Fixture {
        dir: tempfile::TempDir,
        archive: PathBuf,
        manifest: String,
    }

    fn fixture(extra: &[(&str, u32)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = Vec::new();
        for (name, mode) in [("kubectl-protect", 0o755), ("LICENSE", 0o644)]
            .iter()
            .chain(extra)
        {
            let source = dir.path().join(format!("src-{}", name.replace('/', "_")));
            fs::write(&source, format!("contents of {name}\n")).unwrap();
            entries.push(ArchiveEntry::new(*name, *mode, source));
        }
        let archive = dir.path().join("a.tar.gz");
        let file = fs::File::create(&archive).unwrap();
        write_tar_gz(file, &entries, 1_700_000_000, 1).unwrap();
        let manifest = MANIFEST.replace("SHA", &sha256_file(&archive).unwrap());
        Fixture {
            dir,
            archive,
            manifest,
        }
    }

    fn linux() -> Platform {
        Platform::new("linux", "amd64")
    }

    #[test]
    fn installs_into_the_store_links_the_binary_and_writes_the_receipt() {
        let f = fixture(&[]);
        let root = f.dir.path().join("krew");
        let installed = install(&root, &f.manifest, &f.archive, &linux(), "default").unwrap();

        let store = root.join("store/protect/v1.2.3");
        assert_eq!(installed.store_dir, store);
        let mut names: Vec<String> = fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["LICENSE", "kubectl-protect"]);
        let mode = fs::metadata(store.join("kubectl-protect"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            fs::metadata(&store).unwrap().permissions().mode() & 0o777,
            0o755
        );

        let link = root.join("bin/kubectl-protect");
        assert_eq!(installed.bin_link, link);
        assert_eq!(
            fs::read_link(&link).unwrap(),
            Path::new("../store/protect/v1.2.3/kubectl-protect")
        );
        assert_eq!(
            fs::read_to_string(&link).unwrap(),
            "contents of kubectl-protect\n"
        );

        let receipt = fs::read_to_string(root.join("receipts/protect.yaml")).unwrap();
        let doc: Value = serde_saphyr::from_str(&receipt).unwrap();
        assert_eq!(doc["status"]["source"]["name"], "default");
        assert_eq!(doc["spec"]["version"], "v1.2.3");
        let stamp = doc["metadata"]["creationTimestamp"].as_str().unwrap();
        assert!(stamp.parse::<jiff::Timestamp>().is_ok(), "{stamp}");
        assert!(crate::krew::validate(&receipt, "protect.yaml").is_ok());

        // Nothing staged is left behind.
        let mut top: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(top, ["bin", "receipts", "store"]);

        let again = install(&root, &f.manifest, &f.archive, &linux(), "default").unwrap_err();
        assert!(again.to_string().contains("already installed"), "{again}");
    }

    #[test]
    fn refuses_a_wrong_checksum_an_unknown_platform_and_an_invalid_manifest() {
        let f = fixture(&[]);
        let root = f.dir.path().join("krew");
        let sha = sha256_file(&f.archive).unwrap();
        let wrong = f.manifest.replace(&sha, &"0".repeat(64));
        let err = install(&root, &wrong, &f.archive, &linux(), "default").unwrap_err();
        assert!(err.to_string().contains("checksum does not match"), "{err}");

        let err = install(
            &root,
            &f.manifest,
            &f.archive,
            &Platform::new("darwin", "arm64"),
            "default",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("does not offer installation"),
            "{err}"
        );

        let invalid = f.manifest.replace("version: v1.2.3", "version: 1.2.3");
        let err = install(&root, &invalid, &f.archive, &linux(), "default").unwrap_err();
        assert!(err.to_string().contains("validation error"), "{err}");
        assert!(!root.join("bin").exists() && !root.join("store").exists());
    }

    #[test]
    fn file_operations_rename_and_glob_as_krew_does() {
        let f = fixture(&[("docs/README.md", 0o644), ("docs/NOTES.md", 0o644)]);
        let root = f.dir.path().join("krew");
        let manifest = f.manifest.replace(
            "    - from: LICENSE\n      to: .\n",
            "    - from: LICENSE\n      to: legal/LICENSE.txt\n    - from: docs/*.md\n      to: doc\n",
        );
        let installed = install(&root, &manifest, &f.archive, &linux(), "default").unwrap();
        let store = installed.store_dir;
        assert!(store.join("legal/LICENSE.txt").is_file());
        assert!(store.join("doc/README.md").is_file());
        assert!(store.join("doc/NOTES.md").is_file());
        assert!(!store.join("docs").exists());
    }

    #[test]
    fn a_glob_matching_nothing_or_a_missing_bin_is_refused() {
        let f = fixture(&[]);
        let root = f.dir.path().join("krew");
        let manifest = f.manifest.replace(
            "- from: kubectl-protect\n      to: .",
            "- from: \"*.exe\"\n      to: .",
        );
        let err = install(&root, &manifest, &f.archive, &linux(), "default").unwrap_err();
        assert!(
            format!("{err:#}").contains("matched the glob pattern=*.exe"),
            "{err:#}"
        );

        // With a glob, only the install can tell that `bin` is not among the files.
        let f = fixture(&[]);
        let root = f.dir.path().join("krew");
        let manifest = f
            .manifest
            .replace(
                "- from: kubectl-protect\n      to: .",
                "- from: \"*\"\n      to: .",
            )
            .replace("    - from: LICENSE\n      to: .\n", "")
            .replace("bin: kubectl-protect", "bin: kubectl-other");
        assert_eq!(crate::krew::validate(&manifest, "protect.yaml"), Ok(()));
        let err = install(&root, &manifest, &f.archive, &linux(), "default").unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot be found in extracted archive"),
            "{err}"
        );
        assert!(!root.join("bin/kubectl-protect").exists());
    }

    #[test]
    fn globs_match_within_a_segment() {
        assert!(wildcard(b"*", b"anything"));
        assert!(wildcard(b"*.md", b"README.md"));
        assert!(!wildcard(b"*.md", b"README.txt"));
        assert!(wildcard(b"kubectl-?rotect", b"kubectl-protect"));
        assert!(!wildcard(b"?", b""));
        assert!(wildcard(b"a*b*c", b"aXbYc"));
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        for name in ["b", "a", "d/x"] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        let found = glob(dir.path(), "*").unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a", "b", "d"]);
        let found = glob(dir.path(), "d/*").unwrap();
        assert_eq!(found, [dir.path().join("d/x")]);
        assert!(glob(dir.path(), "[ab]").is_err());
    }

    #[test]
    fn bin_names_are_krews() {
        assert_eq!(plugin_bin_name("protect", &linux()), "kubectl-protect");
        assert_eq!(
            plugin_bin_name("view-secret", &linux()),
            "kubectl-view_secret"
        );
        assert_eq!(
            plugin_bin_name("protect", &Platform::new("windows", "amd64")),
            "kubectl-protect.exe"
        );
    }

    #[test]
    fn suspicious_archive_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("evil.tar.gz");
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            fs::File::create(&archive).unwrap(),
            flate2::Compression::default(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        // `append_data` refuses `..`; write the name into the header directly.
        header.as_old_mut().name[..7].copy_from_slice(b"../evil");
        header.set_cksum();
        tar.append(&header, &b"x"[..]).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let err = extract_tar_gz(&archive, &out).unwrap_err();
        assert!(err.to_string().contains("suspicious path"), "{err}");
        assert!(!dir.path().join("evil").exists());
    }
}
