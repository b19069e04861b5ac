//! The plugin archive (a gzip-compressed tar, which krew recognises by its content) and its
//! sha256, written as krew's manifests want it: 64 lower-case hex digits.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::Platform;

/// `kubectl-protect_v0.1.0_linux_amd64.tar.gz`: the archive of one version for one platform.
pub fn archive_name(version: &str, platform: &Platform) -> String {
    format!(
        "{}_{version}_{}_{}.tar.gz",
        super::BINARY_NAME,
        platform.os,
        platform.arch
    )
}

/// One file of the archive: its name in the archive, its mode and where its bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    pub name: String,
    pub mode: u32,
    pub source: PathBuf,
}

impl ArchiveEntry {
    pub fn new(name: impl Into<String>, mode: u32, source: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            mode,
            source: source.into(),
        }
    }
}

/// The gzip level of release archives (zlib's default: most of `best`'s size for much less
/// time).
pub const DEFAULT_COMPRESSION: u32 = 6;

/// Writes `entries`, in order, as regular files at the archive's top level, owned by uid and
/// gid 0 and modified at `mtime` (seconds since the epoch), into a gzip stream on `out`
/// compressed at `level` (0 to 9), and returns `out`. Nothing of the machine leaks in (no user
/// names, no gzip file name or time), so the same files, `mtime` and `level` give the same
/// bytes, and so the same sha256.
pub fn write_tar_gz<W: Write>(
    out: W,
    entries: &[ArchiveEntry],
    mtime: u64,
    level: u32,
) -> io::Result<W> {
    let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::new(level.min(9))));
    for entry in entries {
        let file = File::open(&entry.source).map_err(|e| with_path(e, &entry.source))?;
        let len = file.metadata()?.len();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(len);
        header.set_mode(entry.mode);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        // At most `len` bytes, the size the header announces, even if the file grows meanwhile.
        tar.append_data(&mut header, &entry.name, BufReader::new(file).take(len))?;
    }
    tar.into_inner()?.finish()
}

/// One entry of an archive, as [`list_tar_gz`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    pub path: String,
    pub mode: u32,
    pub size: u64,
    pub regular_file: bool,
}

/// The entries of a gzip-compressed tar, in order (their contents are read past, not kept).
pub fn list_tar_gz(path: &Path) -> io::Result<Vec<ListedEntry>> {
    let file = File::open(path).map_err(|e| with_path(e, path))?;
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let mut listed = Vec::new();
    for entry in archive.entries()? {
        let entry = entry?;
        let header = entry.header();
        listed.push(ListedEntry {
            path: entry.path()?.to_string_lossy().into_owned(),
            mode: header.mode()?,
            size: header.size()?,
            regular_file: header.entry_type().is_file(),
        });
    }
    Ok(listed)
}

/// The sha256 of `bytes`, as 64 lower-case hex digits (the `sha256` of a krew platform).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The sha256 of a file's contents, as 64 lower-case hex digits (what `sha256sum` prints).
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path).map_err(|e| with_path(e, path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<ArchiveEntry> {
        std::fs::write(dir.join("bin"), b"#!/bin/sh\necho hi\n").unwrap();
        std::fs::write(dir.join("LICENSE"), b"Apache License 2.0\n").unwrap();
        vec![
            ArchiveEntry::new("kubectl-protect", 0o755, dir.join("bin")),
            ArchiveEntry::new("LICENSE", 0o644, dir.join("LICENSE")),
        ]
    }

    #[test]
    fn the_archive_holds_the_files_in_order_with_their_modes() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = write_tar_gz(
            Vec::new(),
            &files(dir.path()),
            1_700_000_000,
            DEFAULT_COMPRESSION,
        )
        .unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip stream");

        let path = dir.path().join("a.tar.gz");
        std::fs::write(&path, &bytes).unwrap();
        let listed = list_tar_gz(&path).unwrap();
        let summary: Vec<(&str, u32, u64, bool)> = listed
            .iter()
            .map(|e| (e.path.as_str(), e.mode, e.size, e.regular_file))
            .collect();
        assert_eq!(
            summary,
            [
                ("kubectl-protect", 0o755, 18, true),
                ("LICENSE", 0o644, 19, true)
            ]
        );

        let mut archive = tar::Archive::new(GzDecoder::new(&bytes[..]));
        let mut contents = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            assert_eq!(entry.header().mtime().unwrap(), 1_700_000_000);
            assert_eq!(entry.header().uid().unwrap(), 0);
            let mut s = String::new();
            entry.read_to_string(&mut s).unwrap();
            contents.push(s);
        }
        assert_eq!(contents, ["#!/bin/sh\necho hi\n", "Apache License 2.0\n"]);
    }

    #[test]
    fn the_same_files_give_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let entries = files(dir.path());
        let a = write_tar_gz(Vec::new(), &entries, 42, DEFAULT_COMPRESSION).unwrap();
        let b = write_tar_gz(Vec::new(), &entries, 42, DEFAULT_COMPRESSION).unwrap();
        assert_eq!(sha256_hex(&a), sha256_hex(&b));
        let c = write_tar_gz(Vec::new(), &entries, 43, DEFAULT_COMPRESSION).unwrap();
        assert_ne!(
            sha256_hex(&a),
            sha256_hex(&c),
            "the mtime is in the archive"
        );
        let fast = write_tar_gz(Vec::new(), &entries, 42, 1).unwrap();
        let mut tar = tar::Archive::new(GzDecoder::new(&fast[..]));
        assert_eq!(tar.entries().unwrap().count(), 2, "any level reads back");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = write_tar_gz(
            Vec::new(),
            &[ArchiveEntry::new("x", 0o644, "/no/such/file")],
            0,
            DEFAULT_COMPRESSION,
        )
        .unwrap_err();
        assert!(err.to_string().contains("/no/such/file"), "{err}");
    }

    #[test]
    fn sha256_is_lower_case_hex_of_64_digits() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(sha256_file(&path).unwrap(), sha256_hex(b"abc"));
        // Larger than the read buffer.
        let big = vec![7u8; (1 << 16) * 3 + 5];
        std::fs::write(&path, &big).unwrap();
        assert_eq!(sha256_file(&path).unwrap(), sha256_hex(&big));
    }

    #[test]
    fn archive_names_carry_version_and_platform() {
        assert_eq!(
            archive_name("v0.1.0", &Platform::new("linux", "amd64")),
            "kubectl-protect_v0.1.0_linux_amd64.tar.gz"
        );
        assert_eq!(
            archive_name("v1.2.3-rc.1", &Platform::new("darwin", "arm64")),
            "kubectl-protect_v1.2.3-rc.1_darwin_arm64.tar.gz"
        );
    }
}
