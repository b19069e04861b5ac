//! `kubectl protect version`: the crate version and build information that needs no git.

use serde::Serialize;

use crate::cli::VersionArgs;
use crate::error::Error;
use crate::exit::Exit;
use crate::render::output;

/// What this binary is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Crate version.
    pub version: &'static str,
    /// API group/version this plugin speaks.
    pub api_version: &'static str,
    /// Target OS and architecture.
    pub platform: String,
    /// debug or release.
    pub profile: &'static str,
}

/// This binary's version information.
pub fn info() -> VersionInfo {
    VersionInfo {
        version: env!("CARGO_PKG_VERSION"),
        api_version: protect_api::well_known::API_VERSION,
        platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    }
}

/// One line: `kubectl-protect 0.1.0 (siterecovery.trilio.io/v1alpha1, linux/x86_64, release)`.
pub fn line(info: &VersionInfo) -> String {
    format!(
        "kubectl-protect {} ({}, {}, {})",
        info.version, info.api_version, info.platform, info.profile
    )
}

/// Print the version.
pub fn run(args: VersionArgs) -> Result<Exit, Error> {
    let info = info();
    let text = match args.output {
        Some(format) => output::format(&info, format)?,
        None => format!("{}\n", line(&info)),
    };
    print!("{text}");
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_names_the_crate_version_and_api() {
        let text = line(&info());
        assert!(text.starts_with(&format!("kubectl-protect {} (", env!("CARGO_PKG_VERSION"))));
        assert!(text.contains("siterecovery.trilio.io/v1alpha1"));
    }
}
