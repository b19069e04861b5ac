//! Platforms as krew names them: Go's `GOOS`/`GOARCH`, the labels `os` and `arch` that a
//! manifest's platform `selector` matches.

use std::fmt;

use anyhow::bail;

/// Every `<os, arch>` krew runs on, as listed by krew's `cmd/validate-krew-manifest`
/// (`allPlatforms()`): a manifest's platform whose selector matches none of them is rejected.
pub const SUPPORTED_PLATFORMS: [(&str, &str); 11] = [
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

/// An operating system and architecture in krew's (Go's) spelling, e.g. `linux/amd64`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    pub fn new(os: impl Into<String>, arch: impl Into<String>) -> Self {
        Self {
            os: os.into(),
            arch: arch.into(),
        }
    }

    /// The platform this program was compiled for.
    pub fn host() -> anyhow::Result<Self> {
        Self::from_rust(std::env::consts::OS, std::env::consts::ARCH)
    }

    /// Rust's names (`std::env::consts::{OS, ARCH}`) mapped to krew's: `macos` is `darwin`,
    /// `x86_64` is `amd64`, `aarch64` is `arm64`, `x86` is `386`.
    pub fn from_rust(os: &str, arch: &str) -> anyhow::Result<Self> {
        let krew_os = match os {
            "linux" => "linux",
            "macos" => "darwin",
            "windows" => "windows",
            other => bail!("krew has no platform for the operating system {other:?}"),
        };
        let krew_arch = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            other => bail!("krew has no platform for the architecture {other:?}"),
        };
        Ok(Self::new(krew_os, krew_arch))
    }

    /// `LINUX_AMD64`: the suffix of this platform's placeholders in the manifest template.
    pub fn placeholder_suffix(&self) -> String {
        format!("{}_{}", self.os, self.arch).to_uppercase()
    }

    /// Whether krew runs on this platform (see [`SUPPORTED_PLATFORMS`]).
    pub fn is_supported(&self) -> bool {
        SUPPORTED_PLATFORMS
            .iter()
            .any(|(os, arch)| self.os == *os && self.arch == *arch)
    }

    /// The name of an executable on this platform (`.exe` on Windows).
    pub fn executable(&self, name: &str) -> String {
        if self.os == "windows" {
            format!("{name}.exe")
        } else {
            name.to_owned()
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_names_map_to_krew_names() {
        for ((os, arch), (krew_os, krew_arch)) in [
            (("linux", "x86_64"), ("linux", "amd64")),
            (("linux", "aarch64"), ("linux", "arm64")),
            (("macos", "x86_64"), ("darwin", "amd64")),
            (("macos", "aarch64"), ("darwin", "arm64")),
            (("windows", "x86_64"), ("windows", "amd64")),
            (("linux", "x86"), ("linux", "386")),
            (("linux", "arm"), ("linux", "arm")),
        ] {
            let p = Platform::from_rust(os, arch).unwrap();
            assert_eq!(p, Platform::new(krew_os, krew_arch), "{os}/{arch}");
            assert!(p.is_supported(), "{p}");
        }
    }

    #[test]
    fn platforms_krew_does_not_know_are_errors() {
        let err = Platform::from_rust("freebsd", "x86_64").unwrap_err();
        assert!(err.to_string().contains("\"freebsd\""), "{err}");
        let err = Platform::from_rust("linux", "riscv64").unwrap_err();
        assert!(err.to_string().contains("\"riscv64\""), "{err}");
    }

    #[test]
    fn the_host_is_a_krew_platform() {
        // The machines this project builds on (linux and darwin, amd64 and arm64) all are.
        let host = Platform::host().unwrap();
        assert!(host.is_supported(), "{host}");
    }

    #[test]
    fn placeholder_suffix_display_and_executable_names() {
        let p = Platform::new("darwin", "arm64");
        assert_eq!(p.placeholder_suffix(), "DARWIN_ARM64");
        assert_eq!(p.to_string(), "darwin/arm64");
        assert_eq!(p.executable("kubectl-protect"), "kubectl-protect");
        assert_eq!(
            Platform::new("windows", "amd64").executable("kubectl-protect"),
            "kubectl-protect.exe"
        );
        assert!(!Platform::new("linux", "s390x").is_supported());
    }
}
