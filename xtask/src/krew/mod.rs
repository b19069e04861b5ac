//! Packaging `kubectl-protect` for [krew](https://krew.sigs.k8s.io), the kubectl plugin manager.
//!
//! - [`package`]: builds the plugin archive for one platform (`kubectl-protect` and `LICENSE` in a
//!   `.tar.gz`), and fills the manifest template `krew/protect.yaml` for it.
//! - [`validate`] and [`validate_template`]: krew's published validation rules for a plugin
//!   manifest (see `validate.rs` for the rules and where each comes from).
//! - [`install`]: lays an archive out the way `kubectl krew install` does (store directory per
//!   version, `bin/kubectl-<name>` link, receipt), so a test can run the installed plugin
//!   through the real kubectl without krew or a network.
//!
//! The pure parts (archive bytes, sha256, platform names, template filling, validation) are
//! unit-tested here; `kubectl-protect/tests/krew_install.rs` runs the whole chain.

mod archive;
mod install;
mod manifest;
mod package;
mod platform;
mod validate;

pub use archive::{
    ArchiveEntry, DEFAULT_COMPRESSION, ListedEntry, archive_name, list_tar_gz, sha256_file,
    sha256_hex, write_tar_gz,
};
pub use install::{Installed, install, plugin_bin_name};
pub use manifest::{
    FileOperation, Fill, LabelSelector, LabelSelectorRequirement, Metadata, PlatformSpec, Plugin,
    Spec, fill_template, parse, sha256_placeholder, uri_placeholder,
};
pub use package::{Package, PackageOptions, package};
pub use platform::{Platform, SUPPORTED_PLATFORMS};
pub use validate::{is_safe_plugin_name, parse_version, validate, validate_template};

/// The plugin's name in krew (`kubectl krew install protect`, `kubectl protect`).
pub const PLUGIN_NAME: &str = "protect";

/// The executable krew links onto PATH, named as kubectl's plugin discovery expects.
pub const BINARY_NAME: &str = "kubectl-protect";

/// The only `apiVersion` of a krew `Plugin` (krew's `constants.CurrentAPIVersion`).
pub const API_VERSION: &str = "krew.googlecontainertools.github.com/v1alpha2";

/// The only `kind` of a krew plugin manifest (krew's `constants.PluginKind`).
pub const KIND: &str = "Plugin";

/// Where the release archives are published: `<base>/<version>/<archive name>`.
pub const DEFAULT_BASE_URL: &str =
    "https://github.com/kubectl-protect/kubectl-protect/releases/download";

/// The placeholder of the template for the plugin's version (`v` + semver).
pub const VERSION_PLACEHOLDER: &str = "${VERSION}";

/// The version a release of this workspace is tagged with: `v` + the workspace version.
pub fn default_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}
