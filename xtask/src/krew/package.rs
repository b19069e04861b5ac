//! `cargo xtask krew-package`: the plugin archive for one platform, and the manifest template
//! filled for it.

use std::fs;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context as _, bail};

use super::validate::{clean_path, is_glob};
use super::{
    ArchiveEntry, BINARY_NAME, DEFAULT_BASE_URL, DEFAULT_COMPRESSION, Fill, Platform, archive_name,
    default_version, fill_template, parse, parse_version, sha256_file, validate, validate_template,
    write_tar_gz,
};

/// What to package, and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageOptions {
    /// The `kubectl-protect` executable built for `platform`.
    pub binary: PathBuf,
    /// The license shipped beside it (the repository's `LICENSE`).
    pub license: PathBuf,
    /// The manifest template (`krew/protect.yaml`); the filled manifest keeps its file name.
    pub template: PathBuf,
    /// The release's version, `v` + semver (krew requires the `v`).
    pub version: String,
    /// The archive's URI is `<base_url>/<version>/<archive name>`.
    pub base_url: String,
    pub out_dir: PathBuf,
    pub platform: Platform,
    /// The modification time of the archive's files, in seconds since the epoch; `None` takes
    /// `SOURCE_DATE_EPOCH` when set (reproducible builds), else the binary's.
    pub mtime: Option<u64>,
    /// The gzip level, 0 to 9 ([`DEFAULT_COMPRESSION`] for releases).
    pub compression: u32,
}

impl PackageOptions {
    /// The options for packaging `binary` from this workspace for the host: `krew/protect.yaml`,
    /// `LICENSE`, version `v<workspace version>`, [`DEFAULT_BASE_URL`], into `<target>/krew`.
    pub fn new(binary: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let root = crate::workspace_root();
        Ok(Self {
            binary: binary.into(),
            license: root.join("LICENSE"),
            template: root.join("krew").join("protect.yaml"),
            version: default_version(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            out_dir: crate::target_dir().join("krew"),
            platform: Platform::host()?,
            mtime: None,
            compression: DEFAULT_COMPRESSION,
        })
    }
}

/// What [`package`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `<out>/kubectl-protect_<version>_<os>_<arch>.tar.gz`.
    pub archive: PathBuf,
    /// The archive's sha256, 64 lower-case hex digits.
    pub sha256: String,
    /// Where the manifest says the archive is published.
    pub uri: String,
    /// `<out>/protect.yaml`: the template filled for `platform` alone.
    pub manifest: PathBuf,
    pub version: String,
    pub platform: Platform,
}

/// Builds the archive (the binary as the platform's `bin`, mode 0755, and `LICENSE`, 0644),
/// computes its sha256 and writes the manifest filled for that platform alone (see
/// [`fill_template`] for why the other platforms are left out), after checking the template
/// and the result against krew's rules.
pub fn package(opts: &PackageOptions) -> anyhow::Result<Package> {
    if let Err(e) = parse_version(&opts.version) {
        bail!(
            "--version {:?}: {e}; krew wants `v` and a semantic version, e.g. {}",
            opts.version,
            default_version()
        );
    }
    let template = fs::read_to_string(&opts.template)
        .with_context(|| format!("reading the template {}", opts.template.display()))?;
    let manifest_name = file_name(&opts.template)?;
    validate_template(&template, &manifest_name).map_err(|errors| {
        anyhow::anyhow!(
            "{} is not a valid krew manifest template:\n  {}",
            opts.template.display(),
            errors.join("\n  ")
        )
    })?;
    let plugin = parse(&template).map_err(anyhow::Error::msg)?;
    let Some(spec) = plugin.platform_for(&opts.platform) else {
        bail!(
            "{} has no platform for {}: krew could not install the plugin there",
            opts.template.display(),
            opts.platform
        );
    };

    let binary_name = opts.platform.executable(BINARY_NAME);
    if clean_path(&spec.bin) != binary_name {
        bail!(
            "the template's bin for {} is {:?}; the archive holds the plugin as {binary_name:?}",
            opts.platform,
            spec.bin
        );
    }
    let entries = [
        ArchiveEntry::new(binary_name, 0o755, &opts.binary),
        ArchiveEntry::new("LICENSE", 0o644, &opts.license),
    ];
    for op in spec.files.iter().flatten() {
        if !is_glob(&op.from) && !entries.iter().any(|e| e.name == clean_path(&op.from)) {
            bail!(
                "the template installs {:?} from the archive, which holds only {:?}",
                op.from,
                entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>()
            );
        }
    }
    for entry in &entries {
        if !entry.source.is_file() {
            bail!("{} is not a file", entry.source.display());
        }
    }
    let mtime = match opts.mtime {
        Some(mtime) => mtime,
        None => default_mtime(&opts.binary)?,
    };

    fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    let name = archive_name(&opts.version, &opts.platform);
    let archive = opts.out_dir.join(&name);
    let partial = opts.out_dir.join(format!("{name}.partial"));
    let file =
        fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut out = write_tar_gz(BufWriter::new(file), &entries, mtime, opts.compression)
        .with_context(|| format!("writing {}", partial.display()))?;
    out.flush()?;
    drop(out);
    fs::rename(&partial, &archive)?;
    let sha256 = sha256_file(&archive)?;

    let uri = format!(
        "{}/{}/{name}",
        opts.base_url.trim_end_matches('/'),
        opts.version
    );
    let filled = fill_template(
        &template,
        &Fill {
            version: &opts.version,
            platform: &opts.platform,
            uri: &uri,
            sha256: &sha256,
        },
    )?;
    validate(&filled, &manifest_name).map_err(|errors| {
        anyhow::anyhow!(
            "the filled manifest is not valid for krew:\n  {}",
            errors.join("\n  ")
        )
    })?;
    let manifest = opts.out_dir.join(&manifest_name);
    fs::write(&manifest, filled).with_context(|| format!("writing {}", manifest.display()))?;

    Ok(Package {
        archive,
        sha256,
        uri,
        manifest,
        version: opts.version.clone(),
        platform: opts.platform.clone(),
    })
}

fn file_name(path: &Path) -> anyhow::Result<String> {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no file name", path.display()))
}

/// `SOURCE_DATE_EPOCH` when set, else the binary's modification time.
fn default_mtime(binary: &Path) -> anyhow::Result<u64> {
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        return epoch
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds"));
    }
    let modified = fs::metadata(binary)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading the modification time of {}", binary.display()))?;
    Ok(modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::super::{list_tar_gz, sha256_hex};
    use super::*;

    fn options(dir: &Path) -> PackageOptions {
        let binary = dir.join("kubectl-protect-built");
        fs::write(&binary, b"#!/bin/sh\necho fake\n").unwrap();
        let mut opts = PackageOptions::new(binary).unwrap();
        opts.out_dir = dir.join("out");
        opts.platform = Platform::new("linux", "arm64");
        opts.mtime = Some(1_700_000_000);
        opts
    }

    #[test]
    fn packages_the_archive_and_fills_the_repository_template_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path());
        let p = package(&opts).unwrap();

        let name = format!("kubectl-protect_{}_linux_arm64.tar.gz", default_version());
        assert_eq!(p.archive, opts.out_dir.join(&name));
        assert_eq!(p.manifest, opts.out_dir.join("protect.yaml"));
        assert_eq!(p.sha256, sha256_hex(&fs::read(&p.archive).unwrap()));
        assert_eq!(
            p.uri,
            format!("{DEFAULT_BASE_URL}/{}/{name}", default_version())
        );
        let listed = list_tar_gz(&p.archive).unwrap();
        let summary: Vec<(&str, u32)> = listed.iter().map(|e| (e.path.as_str(), e.mode)).collect();
        assert_eq!(summary, [("kubectl-protect", 0o755), ("LICENSE", 0o644)]);
        assert!(!opts.out_dir.join(format!("{name}.partial")).exists());

        let text = fs::read_to_string(&p.manifest).unwrap();
        assert_eq!(validate(&text, "protect.yaml"), Ok(()));
        let plugin = parse(&text).unwrap();
        assert_eq!(plugin.spec.version, default_version());
        assert_eq!(plugin.spec.platforms.len(), 1);
        let platform = &plugin.spec.platforms[0];
        assert!(platform.selects(&Platform::new("linux", "arm64")));
        assert_eq!(platform.sha256, p.sha256);
        assert_eq!(platform.uri, p.uri);

        // Same inputs, same archive.
        let again = package(&opts).unwrap();
        assert_eq!(again.sha256, p.sha256);
    }

    #[test]
    fn version_base_url_and_out_dir_are_the_callers() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path());
        opts.version = "v2.0.0-rc.1".to_owned();
        opts.base_url = "https://downloads.example.com/kp/".to_owned();
        let p = package(&opts).unwrap();
        assert_eq!(
            p.uri,
            "https://downloads.example.com/kp/v2.0.0-rc.1/kubectl-protect_v2.0.0-rc.1_linux_arm64.tar.gz"
        );
        let plugin = parse(&fs::read_to_string(&p.manifest).unwrap()).unwrap();
        assert_eq!(plugin.spec.version, "v2.0.0-rc.1");
    }

    #[test]
    fn refuses_a_bad_version_a_platform_without_template_entry_and_a_missing_binary() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path());
        opts.version = "0.1.0".to_owned();
        let err = package(&opts).unwrap_err().to_string();
        assert!(err.contains("not starting with 'v'"), "{err}");

        let mut opts = options(dir.path());
        opts.platform = Platform::new("windows", "amd64");
        let err = package(&opts).unwrap_err().to_string();
        assert!(err.contains("no platform for windows/amd64"), "{err}");

        let mut opts = options(dir.path());
        opts.binary = dir.path().join("missing");
        let err = package(&opts).unwrap_err().to_string();
        assert!(err.contains("missing is not a file"), "{err}");
        assert!(!opts.out_dir.exists(), "nothing written");
    }
}
