//! krew's published validation rules for a plugin manifest, from the krew repository
//! (kubernetes-sigs/krew):
//!
//! 1. `internal/index/validation/validate.go` (`ValidatePlugin`, formerly
//!    `pkg/index/validation`), what `kubectl krew install` checks on every manifest it reads:
//!    `apiVersion` and `kind`; the plugin name is safe (`^[\w-]+$`, not a reserved Windows file
//!    name) and equals `metadata.name`; `shortDescription` set and on one line; `platforms`
//!    not empty; `version` set and a semantic version with a leading `v`
//!    (`internal/installation/semver`: `v` + `k8s.io/apimachinery/pkg/util/version.ParseSemantic`);
//!    each platform with `uri`, `sha256` matching `^[a-f0-9]{64}$`, `bin`, `files` absent or
//!    non-empty with `from` and `to` set, and a selector that is not empty and uses only the
//!    keys `os` and `arch`.
//! 2. `cmd/validate-krew-manifest/main.go`, what krew-index's CI runs on a submitted manifest:
//!    the file is `<name>.yaml`; every platform's selector selects a platform krew runs on;
//!    no two platforms select the same one; the LICENSE is installed; and (warnings there,
//!    errors here, since this project's own manifest has no reason to break them) lines of
//!    `description` and `caveats` at most 80 characters, of `shortDescription` at most 70.
//! 3. What `kubectl krew install` would refuse later (`internal/installation/install.go`,
//!    `move.go`), checked here when the file operations name plain paths: a `to` that is not a
//!    clean path, and a `bin` outside the install directory or installed by no file operation.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::manifest::{self, FileOperation, LabelSelector, PlatformSpec, Plugin};
use super::{API_VERSION, KIND, Platform, SUPPORTED_PLATFORMS, VERSION_PLACEHOLDER};

/// `safePluginRegexp`; Go's `\w` is ASCII.
static SAFE_PLUGIN_NAME: LazyLock<Regex> = LazyLock::new(|| constant_regex(r"^[0-9A-Za-z_-]+$"));

/// `sha256Pattern`.
const SHA256_PATTERN: &str = "^[a-f0-9]{64}$";
static SHA256: LazyLock<Regex> = LazyLock::new(|| constant_regex(SHA256_PATTERN));

/// `versionMatchRE` and `extraMatchRE` of `k8s.io/apimachinery/pkg/util/version` (Go's `\s`
/// is `[\t\n\f\r ]`).
static VERSION_MATCH: LazyLock<Regex> =
    LazyLock::new(|| constant_regex(r"^[\t\n\f\r ]*v?([0-9]+(?:\.[0-9]+)*)(.*)$"));
static EXTRA_MATCH: LazyLock<Regex> = LazyLock::new(|| {
    constant_regex(
        r"^(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?[\t\n\f\r ]*$",
    )
});

/// The patterns above are constants, covered by the tests.
fn constant_regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a constant pattern compiles")
}

/// `windowsForbidden`: names a plugin cannot have, compared case-insensitively.
const WINDOWS_FORBIDDEN: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// `licenseFiles` of `validate-krew-manifest`: names (lower-cased) that count as the license.
const LICENSE_FILES: [&str; 8] = [
    "license",
    "license.txt",
    "license.md",
    "licenses",
    "licenses.txt",
    "licenses.md",
    "copying",
    "copying.txt",
];

/// krew's `IsSafePluginName`.
pub fn is_safe_plugin_name(name: &str) -> bool {
    SAFE_PLUGIN_NAME.is_match(name)
        && !WINDOWS_FORBIDDEN
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
}

pub(crate) fn is_valid_sha256(s: &str) -> bool {
    SHA256.is_match(s)
}

/// krew's `semver.Parse`: a leading `v`, then a semantic version as Kubernetes'
/// `version.ParseSemantic` reads it (exactly three numeric components without leading zeros,
/// then an optional pre-release and build metadata).
pub fn parse_version(s: &str) -> Result<(), String> {
    if !s.starts_with('v') {
        return Err(format!("version string {s:?} not starting with 'v'"));
    }
    let Some(parts) = VERSION_MATCH.captures(s) else {
        return Err(format!("could not parse {s:?} as version"));
    };
    let numbers = parts.get(1).map_or("", |m| m.as_str());
    let extra = parts.get(2).map_or("", |m| m.as_str());
    let components: Vec<&str> = numbers.split('.').collect();
    if components.len() != 3 {
        return Err(format!("illegal version string {s:?}"));
    }
    for comp in components {
        if comp.starts_with('0') && comp != "0" {
            return Err(format!(
                "illegal zero-prefixed version component {comp:?} in {s:?}"
            ));
        }
        if let Err(e) = comp.parse::<u64>() {
            return Err(format!(
                "illegal non-numeric version component {comp:?} in {s:?}: {e}"
            ));
        }
    }
    if !extra.is_empty() {
        let Some(extra_parts) = EXTRA_MATCH.captures(extra) else {
            return Err(format!(
                "could not parse pre-release/metadata ({extra}) in version {s:?}"
            ));
        };
        let pre_release = extra_parts.get(1).map_or("", |m| m.as_str());
        for comp in pre_release.split('.') {
            if comp.parse::<u64>().is_ok() && comp.starts_with('0') && comp != "0" {
                return Err(format!(
                    "illegal zero-prefixed version component {comp:?} in {s:?}"
                ));
            }
        }
    }
    Ok(())
}

/// Checks a filled manifest, saved as `file_name` (a file name or path), against krew's rules
/// (see the module's documentation); every violation is reported, each naming its field.
pub fn validate(manifest: &str, file_name: &str) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let base = Path::new(file_name).file_name().map_or_else(
        || file_name.to_owned(),
        |f| f.to_string_lossy().into_owned(),
    );
    // validate-krew-manifest: the manifest is `<plugin name>.yaml`.
    let name = match base.rsplit_once('.') {
        Some((stem, "yaml")) => stem.to_owned(),
        Some((stem, ext)) => {
            errors.push(format!(
                "{base}: expected manifest extension \".yaml\" but found \".{ext}\""
            ));
            stem.to_owned()
        }
        None => {
            errors.push(format!(
                "{base}: expected manifest extension \".yaml\" but found \"\""
            ));
            base.clone()
        }
    };
    let plugin = match manifest::parse(manifest) {
        Ok(plugin) => plugin,
        Err(e) => {
            errors.push(format!("{base}: not a krew plugin manifest: {e}"));
            return Err(errors);
        }
    };
    validate_plugin(&name, &plugin, &mut errors);
    validate_for_index(&plugin, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks the template `krew/protect.yaml` (saved as `file_name`) structurally: `version` is
/// `${VERSION}`; every platform selects one `os` and `arch` with `matchLabels` and has the
/// placeholders `${URI_<OS>_<ARCH>}` and `${SHA256_<OS>_<ARCH>}`; and the template, with every
/// placeholder filled with a well-formed value, passes [`validate`].
pub fn validate_template(template: &str, file_name: &str) -> Result<(), Vec<String>> {
    let plugin = manifest::parse(template)
        .map_err(|e| vec![format!("{file_name}: not a krew plugin manifest: {e}")])?;
    let mut errors = Vec::new();
    if plugin.spec.version != VERSION_PLACEHOLDER {
        errors.push(format!(
            "spec.version: is {:?}, the template wants the placeholder {VERSION_PLACEHOLDER}",
            plugin.spec.version
        ));
    }
    let mut platforms = Vec::new();
    for (i, p) in plugin.spec.platforms.iter().enumerate() {
        let labels = p.selector.as_ref().and_then(|s| s.match_labels.as_ref());
        let (Some(os), Some(arch)) = (
            labels.and_then(|l| l.get("os")),
            labels.and_then(|l| l.get("arch")),
        ) else {
            errors.push(format!(
                "spec.platforms[{i}].selector: the template needs matchLabels os and arch to name its placeholders"
            ));
            continue;
        };
        let platform = Platform::new(os, arch);
        for (field, value, want) in [
            ("uri", &p.uri, manifest::uri_placeholder(&platform)),
            ("sha256", &p.sha256, manifest::sha256_placeholder(&platform)),
        ] {
            if *value != want {
                errors.push(format!(
                    "spec.platforms[{i}].{field}: is {value:?}, the template wants the placeholder {want}"
                ));
            }
        }
        platforms.push(platform);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let dummy_sha = "0".repeat(64);
    let dummy_uris: Vec<String> = platforms
        .iter()
        .map(|p| format!("https://example.invalid/{}_{}.tar.gz", p.os, p.arch))
        .collect();
    let filled: Vec<(&Platform, &str, &str)> = platforms
        .iter()
        .zip(&dummy_uris)
        .map(|(p, uri)| (p, uri.as_str(), dummy_sha.as_str()))
        .collect();
    let rendered = manifest::render(template, "v0.0.0", &filled, "")
        .map_err(|e| vec![format!("{file_name}: {e:#}")])?;
    validate(&rendered, file_name).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| format!("{e} (with the placeholders filled)"))
            .collect()
    })
}

/// `ValidatePlugin(name, p)` of `internal/index/validation/validate.go`.
fn validate_plugin(name: &str, p: &Plugin, errors: &mut Vec<String>) {
    if p.api_version != API_VERSION {
        errors.push(format!(
            "apiVersion: plugin manifest has apiVersion={:?}, not supported (want {API_VERSION:?})",
            p.api_version
        ));
    }
    if p.kind != KIND {
        errors.push(format!(
            "kind: plugin manifest has kind={:?}, but only {KIND:?} is supported",
            p.kind
        ));
    }
    if !is_safe_plugin_name(name) {
        errors.push(format!(
            "the plugin name {name:?} (from the file name) is not allowed, must match \"^[\\w-]+$\" and not be a reserved Windows name"
        ));
    }
    if p.metadata.name != name {
        errors.push(format!(
            "metadata.name: plugin should be named {name:?} (its file name), not {:?}",
            p.metadata.name
        ));
    }
    let spec = &p.spec;
    if spec.short_description.is_empty() {
        errors.push("spec.shortDescription: should have a short description".to_owned());
    }
    if spec.short_description.contains(['\r', '\n']) {
        errors.push(
            "spec.shortDescription: should not have line breaks in short description".to_owned(),
        );
    }
    if spec.platforms.is_empty() {
        errors.push("spec.platforms: should have a platform specified".to_owned());
    }
    if spec.version.is_empty() {
        errors.push("spec.version: should have a version specified".to_owned());
    } else if let Err(e) = parse_version(&spec.version) {
        errors.push(format!("spec.version: failed to parse plugin version: {e}"));
    }
    for (i, platform) in spec.platforms.iter().enumerate() {
        validate_platform(&format!("spec.platforms[{i}]"), platform, errors);
    }
}

/// `validatePlatform`, `validateFiles` and `validateSelector`.
fn validate_platform(at: &str, p: &PlatformSpec, errors: &mut Vec<String>) {
    if p.uri.is_empty() {
        errors.push(format!("{at}.uri: `uri` has to be set"));
    }
    if p.sha256.is_empty() {
        errors.push(format!("{at}.sha256: `sha256` sum has to be set"));
    } else if !is_valid_sha256(&p.sha256) {
        errors.push(format!(
            "{at}.sha256: `sha256` value {} is not valid, must match pattern {SHA256_PATTERN}",
            p.sha256
        ));
    }
    if p.bin.is_empty() {
        errors.push(format!("{at}.bin: `bin` has to be set"));
    }
    if let Some(files) = &p.files {
        if files.is_empty() {
            errors.push(format!(
                "{at}.files: `files` has to be unspecified or non-empty"
            ));
        }
        for (j, op) in files.iter().enumerate() {
            if op.from.is_empty() {
                errors.push(format!("{at}.files[{j}].from: `from` field has to be set"));
            } else if op.to.is_empty() {
                errors.push(format!("{at}.files[{j}].to: `to` field has to be set"));
            }
        }
    }
    match &p.selector {
        None => errors.push(format!("{at}.selector: nil selector is not supported")),
        Some(selector) => validate_selector(&format!("{at}.selector"), selector, errors),
    }
}

fn validate_selector(at: &str, sel: &LabelSelector, errors: &mut Vec<String>) {
    let expressions = sel.match_expressions.as_deref().unwrap_or_default();
    if sel.match_labels.is_none() && expressions.is_empty() {
        errors.push(format!("{at}: empty selector is not supported"));
        return;
    }
    let keys = sel
        .match_labels
        .iter()
        .flat_map(|l| l.keys())
        .chain(expressions.iter().map(|e| &e.key));
    for key in keys {
        if key != "os" && key != "arch" {
            errors.push(format!("{at}: key {key:?} not supported"));
        }
    }
    if sel.match_labels.as_ref().is_some_and(|l| l.is_empty()) {
        errors.push(format!("{at}: `matchLabels` specified but empty"));
    }
    if sel.match_expressions.as_ref().is_some_and(|e| e.is_empty()) {
        errors.push(format!("{at}: `matchExpressions` specified but empty"));
    }
}

/// `cmd/validate-krew-manifest` (krew-index's CI), and what `krew install` would refuse later.
fn validate_for_index(p: &Plugin, errors: &mut Vec<String>) {
    let spec = &p.spec;
    for (field, text, max) in [
        ("spec.description", &spec.description, 80),
        ("spec.shortDescription", &spec.short_description, 70),
        ("spec.caveats", &spec.caveats, 80),
    ] {
        if !lines_within(text, max) {
            errors.push(format!("{field}: line length exceeds {max} characters"));
        }
    }

    let supported: Vec<Platform> = SUPPORTED_PLATFORMS
        .iter()
        .map(|(os, arch)| Platform::new(*os, *arch))
        .collect();
    for (i, platform) in spec.platforms.iter().enumerate() {
        let at = format!("spec.platforms[{i}]");
        if let Some(selector) = &platform.selector {
            match supported
                .iter()
                .map(|s| selector.matches(s))
                .collect::<Result<Vec<bool>, String>>()
            {
                Err(e) => errors.push(format!("{at}.selector: {e}")),
                Ok(matches) if !matches.contains(&true) => errors.push(format!(
                    "{at}.selector: doesn't match any supported platforms"
                )),
                Ok(_) => {}
            }
        }
        validate_files_install(&at, platform, errors);
    }
    for s in &supported {
        let selecting: Vec<usize> = spec
            .platforms
            .iter()
            .enumerate()
            .filter(|(_, p)| p.selects(s))
            .map(|(i, _)| i)
            .collect();
        if selecting.len() > 1 {
            errors.push(format!(
                "spec.platforms: multiple spec.platforms (at indexes {selecting:?}) have overlapping selectors that select {s}"
            ));
        }
    }
}

/// `validateLineLength`: a line may be longer only if it is one word.
fn lines_within(text: &str, max: usize) -> bool {
    text.split('\n')
        .all(|line| line.len() <= max || !line.trim().contains(' '))
}

/// The license is installed (validate-krew-manifest installs every platform and looks for
/// it); `to` is clean and `bin` is installed inside the install directory (`move.go`,
/// `install.go`). Checked statically when no `from` is a glob; a glob is checked only by an
/// install (see [`super::install`]).
fn validate_files_install(at: &str, p: &PlatformSpec, errors: &mut Vec<String>) {
    let default = [FileOperation {
        from: "*".to_owned(),
        to: ".".to_owned(),
    }];
    let files = p.files.as_deref().unwrap_or(&default);
    for (j, op) in files.iter().enumerate() {
        if !op.to.is_empty() && op.to != clean_path(&op.to) {
            errors.push(format!(
                "{at}.files[{j}].to: the provided path is not clean, {:?} should be {:?}",
                op.to,
                clean_path(&op.to)
            ));
        }
    }
    if files.iter().any(|op| is_glob(&op.from)) {
        return;
    }
    let installed: Vec<String> = files
        .iter()
        .map(|op| {
            if clean_path(&op.to) == "." {
                clean_path(&op.from)
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                clean_path(&op.to)
            }
        })
        .collect();
    let has_license = installed.iter().any(|path| {
        let base = path.rsplit('/').next().unwrap_or_default();
        LICENSE_FILES.contains(&base.to_lowercase().as_str())
    });
    if !has_license {
        errors.push(format!(
            "{at}.files: no LICENSE (or alike) file is installed; krew-index requires one ({})",
            LICENSE_FILES.join(", ")
        ));
    }
    if !p.bin.is_empty() {
        let bin = clean_path(&p.bin);
        if bin == ".." || bin.starts_with("../") || bin.starts_with('/') {
            errors.push(format!(
                "{at}.bin: {:?} is outside the plugin's install directory",
                p.bin
            ));
        } else if !installed
            .iter()
            .any(|path| bin == *path || bin.starts_with(&format!("{path}/")))
        {
            errors.push(format!(
                "{at}.bin: {:?} is not installed by any of `files`; krew could not link it",
                p.bin
            ));
        }
    }
}

/// Whether `pattern` has the metacharacters of Go's `filepath.Match`.
pub(crate) fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '\\'])
}

/// Go's `path.Clean` for slash-separated paths: no `.` segments, `..` resolved where it can
/// be, no repeated or trailing slashes, `"."` for an empty result.
pub(crate) fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn platform(os: &str, arch: &str) -> String {
        format!(
            "  - selector:\n      matchLabels:\n        os: {os}\n        arch: {arch}\n    \
             uri: https://example.com/{os}-{arch}.tar.gz\n    sha256: {SHA}\n    files:\n    \
             - from: kubectl-protect\n      to: .\n    - from: LICENSE\n      to: .\n    \
             bin: kubectl-protect\n"
        )
    }

    fn manifest() -> String {
        format!(
            "apiVersion: krew.googlecontainertools.github.com/v1alpha2\nkind: Plugin\n\
             metadata:\n  name: protect\nspec:\n  version: v0.1.0\n  \
             homepage: https://example.com\n  shortDescription: Protect VMs\n  \
             description: |\n    Protects VMs.\n  platforms:\n{}{}",
            platform("linux", "amd64"),
            platform("darwin", "arm64"),
        )
    }

    /// The errors of `manifest()` with `from` replaced by `to`.
    fn errors_with(from: &str, to: &str) -> Vec<String> {
        let text = manifest().replacen(from, to, 1);
        assert_ne!(text, manifest(), "{from:?} is in the manifest");
        validate(&text, "protect.yaml").unwrap_err()
    }

    fn assert_error(errors: &[String], needle: &str) {
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "no error containing {needle:?} in {errors:#?}"
        );
    }

    #[test]
    fn a_well_formed_manifest_is_valid() {
        assert_eq!(validate(&manifest(), "protect.yaml"), Ok(()));
        assert_eq!(validate(&manifest(), "/some/dir/protect.yaml"), Ok(()));
    }

    #[test]
    fn the_plugin_name_is_the_file_name_and_a_safe_name() {
        assert_error(
            &validate(&manifest(), "other.yaml").unwrap_err(),
            "plugin should be named \"other\"",
        );
        assert_error(
            &validate(&manifest(), "protect.yml").unwrap_err(),
            "expected manifest extension \".yaml\"",
        );
        let errors = validate(
            &manifest().replace("name: protect", "name: con"),
            "con.yaml",
        )
        .unwrap_err();
        assert_error(&errors, "is not allowed");
        assert!(is_safe_plugin_name("protect"));
        assert!(is_safe_plugin_name("view-secret_2"));
        assert!(!is_safe_plugin_name("a.b"));
        assert!(!is_safe_plugin_name("../x"));
        assert!(!is_safe_plugin_name(""));
        assert!(!is_safe_plugin_name("Lpt1"));
        assert!(!is_safe_plugin_name("é"));
    }

    #[test]
    fn api_version_and_kind_are_krews() {
        assert_error(
            &errors_with("v1alpha2", "v1alpha1"),
            "apiVersion=\"krew.googlecontainertools.github.com/v1alpha1\"",
        );
        assert_error(
            &errors_with("kind: Plugin", "kind: Plugins"),
            "kind=\"Plugins\"",
        );
    }

    #[test]
    fn short_description_is_required_on_one_short_line() {
        assert_error(
            &errors_with("shortDescription: Protect VMs", "shortDescription: \"\""),
            "should have a short description",
        );
        assert_error(
            &errors_with(
                "shortDescription: Protect VMs",
                "shortDescription: \"a\\nb\"",
            ),
            "line breaks",
        );
        let long = format!("shortDescription: {}", "word ".repeat(15));
        assert_error(
            &errors_with("shortDescription: Protect VMs", &long),
            "spec.shortDescription: line length exceeds 70",
        );
        let long = format!("description: |\n    {}\n", "word ".repeat(17));
        assert_error(
            &errors_with("description: |\n    Protects VMs.\n", &long),
            "spec.description: line length exceeds 80",
        );
        // One long word is allowed.
        let url = format!("description: |\n    https://{}\n", "x".repeat(90));
        let text = manifest().replacen("description: |\n    Protects VMs.\n", &url, 1);
        assert_eq!(validate(&text, "protect.yaml"), Ok(()));
    }

    #[test]
    fn the_version_is_semver_with_a_leading_v() {
        assert_error(
            &errors_with("version: v0.1.0", "version: \"\""),
            "should have a version specified",
        );
        assert_error(
            &errors_with("version: v0.1.0", "version: 0.1.0"),
            "not starting with 'v'",
        );
        for ok in [
            "v0.1.0",
            "v1.22.333",
            "v1.0.0-rc.1",
            "v1.0.0+build.5",
            "v1.0.0-0.3.7",
            "v0.1.0-alpha-x",
        ] {
            assert_eq!(parse_version(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("v1.0", "illegal version string"),
            ("v1.0.0.0", "illegal version string"),
            ("v01.0.0", "zero-prefixed"),
            ("v1.00.0", "zero-prefixed"),
            ("v1.0.0-01", "zero-prefixed"),
            ("v1.0.0_x", "could not parse pre-release"),
            ("vx.y.z", "could not parse"),
            ("v99999999999999999999.0.0", "non-numeric"),
            ("V1.0.0", "not starting with 'v'"),
            ("${VERSION}", "not starting with 'v'"),
        ] {
            let err = parse_version(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn platforms_are_required() {
        let text = manifest();
        let cut = text.find("  platforms:").unwrap();
        let errors = validate(
            &format!("{}  platforms: []\n", &text[..cut]),
            "protect.yaml",
        )
        .unwrap_err();
        assert_error(&errors, "should have a platform specified");
    }

    #[test]
    fn each_platform_has_uri_sha256_bin_and_files() {
        assert_error(
            &errors_with("uri: https://example.com/linux-amd64.tar.gz", "uri: \"\""),
            "spec.platforms[0].uri: `uri` has to be set",
        );
        assert_error(
            &errors_with(&format!("sha256: {SHA}"), "sha256: \"\""),
            "spec.platforms[0].sha256: `sha256` sum has to be set",
        );
        for bad in [
            &SHA.to_uppercase(),
            &SHA[1..],
            "${SHA256_LINUX_AMD64}",
            &format!("{SHA}0"),
        ] {
            assert_error(
                &errors_with(&format!("sha256: {SHA}"), &format!("sha256: \"{bad}\"")),
                "must match pattern ^[a-f0-9]{64}$",
            );
        }
        assert_error(
            &errors_with("bin: kubectl-protect", "bin: \"\""),
            "spec.platforms[0].bin: `bin` has to be set",
        );
        assert_error(
            &errors_with(
                "files:\n    - from: kubectl-protect\n      to: .\n    - from: LICENSE\n      to: .\n",
                "files: []\n",
            ),
            "`files` has to be unspecified or non-empty",
        );
        assert_error(
            &errors_with(
                "- from: LICENSE\n      to: .",
                "- from: LICENSE\n      to: \"\"",
            ),
            "spec.platforms[0].files[1].to: `to` field has to be set",
        );
        assert_error(
            &errors_with("- from: LICENSE", "- from: \"\""),
            "spec.platforms[0].files[1].from: `from` field has to be set",
        );
    }

    #[test]
    fn selectors_are_required_non_empty_on_os_and_arch() {
        let labels = "selector:\n      matchLabels:\n        os: linux\n        arch: amd64\n";
        assert_error(
            &errors_with(&format!("{labels}    "), ""),
            "spec.platforms[0].selector: nil selector",
        );
        assert_error(
            &errors_with(labels, "selector: {}\n"),
            "empty selector is not supported",
        );
        assert_error(
            &errors_with(labels, "selector:\n      matchLabels: {}\n"),
            "`matchLabels` specified but empty",
        );
        assert_error(
            &errors_with(
                labels,
                "selector:\n      matchLabels:\n        os: linux\n        cpu: x\n",
            ),
            "key \"cpu\" not supported",
        );
        assert_error(
            &errors_with(labels, "selector:\n      matchLabels:\n        os: plan9\n"),
            "doesn't match any supported platforms",
        );
        assert_error(
            &errors_with(
                labels,
                "selector:\n      matchExpressions:\n      - key: os\n        operator: Near\n        values: [linux]\n",
            ),
            "not a valid label selector operator",
        );
        // An expression selecting linux on every architecture is fine…
        let expr = "selector:\n      matchExpressions:\n      - key: os\n        operator: In\n        values: [linux]\n";
        assert_eq!(
            validate(&manifest().replacen(labels, expr, 1), "protect.yaml"),
            Ok(())
        );
        // …but not next to one for linux/arm64, which it also selects.
        let text = manifest()
            .replacen(labels, expr, 1)
            .replacen("os: darwin", "os: linux", 1);
        assert_error(
            &validate(&text, "protect.yaml").unwrap_err(),
            "(at indexes [0, 1]) have overlapping selectors that select linux/arm64",
        );
    }

    #[test]
    fn overlapping_selectors_are_refused() {
        let text = manifest().replacen("os: darwin", "os: linux", 1).replacen(
            "arch: arm64",
            "arch: amd64",
            1,
        );
        assert_error(
            &validate(&text, "protect.yaml").unwrap_err(),
            "multiple spec.platforms (at indexes [0, 1]) have overlapping selectors that select linux/amd64",
        );
    }

    #[test]
    fn the_license_and_the_binary_are_installed_and_paths_are_clean() {
        assert_error(
            &errors_with("    - from: LICENSE\n      to: .\n", ""),
            "spec.platforms[0].files: no LICENSE",
        );
        assert_error(
            &errors_with("bin: kubectl-protect", "bin: kubectl-other"),
            "spec.platforms[0].bin: \"kubectl-other\" is not installed",
        );
        assert_error(
            &errors_with("bin: kubectl-protect", "bin: ../kubectl-protect"),
            "outside the plugin's install directory",
        );
        assert_error(
            &errors_with(
                "- from: LICENSE\n      to: .",
                "- from: LICENSE\n      to: ./doc/",
            ),
            "not clean, \"./doc/\" should be \"doc\"",
        );
        // Renamed on install, or in a directory: still found.
        let renamed = manifest()
            .replacen(
                "- from: LICENSE\n      to: .",
                "- from: LICENSE\n      to: doc/COPYING",
                1,
            )
            .replacen(
                "- from: kubectl-protect\n      to: .",
                "- from: build/kp\n      to: bin/kubectl-protect",
                1,
            )
            .replacen("bin: kubectl-protect", "bin: bin/kubectl-protect", 1);
        assert_eq!(validate(&renamed, "protect.yaml"), Ok(()));
        // A glob is left to the install; absent `files` installs everything.
        let globbed = manifest().replacen("- from: LICENSE", "- from: \"*\"", 1);
        assert_eq!(validate(&globbed, "protect.yaml"), Ok(()));
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let text = manifest()
            .replacen("kind: Plugin", "kind: Pluginn", 1)
            .replacen("version: v0.1.0", "version: 0.1", 1)
            .replacen(&format!("sha256: {SHA}"), "sha256: nope", 1);
        let errors = validate(&text, "protect.yaml").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:#?}");
    }

    #[test]
    fn text_that_is_not_a_manifest_is_one_error() {
        let errors = validate("spec: [unclosed", "protect.yaml").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("not a krew plugin manifest"),
            "{errors:?}"
        );
    }

    #[test]
    fn clean_path_is_gos() {
        for (path, clean) in [
            (".", "."),
            ("", "."),
            ("./", "."),
            ("a/b", "a/b"),
            ("a//b/", "a/b"),
            ("./a/./b", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("/", "/"),
        ] {
            assert_eq!(clean_path(path), clean, "{path:?}");
        }
    }

    #[test]
    fn the_template_is_checked_with_its_placeholders_filled() {
        let template = manifest()
            .replace("version: v0.1.0", "version: ${VERSION}")
            .replace(
                "https://example.com/linux-amd64.tar.gz",
                "${URI_LINUX_AMD64}",
            )
            .replace(
                "https://example.com/darwin-arm64.tar.gz",
                "${URI_DARWIN_ARM64}",
            )
            .replacen(SHA, "${SHA256_LINUX_AMD64}", 1)
            .replacen(SHA, "${SHA256_DARWIN_ARM64}", 1);
        assert_eq!(validate_template(&template, "protect.yaml"), Ok(()));

        let swapped = template.replace("${URI_DARWIN_ARM64}", "${URI_LINUX_ARM64}");
        let errors = validate_template(&swapped, "protect.yaml").unwrap_err();
        assert_error(
            &errors,
            "spec.platforms[1].uri: is \"${URI_LINUX_ARM64}\", the template wants the placeholder ${URI_DARWIN_ARM64}",
        );
        let fixed = template.replace("${VERSION}", "v1.0.0");
        assert_error(
            &validate_template(&fixed, "protect.yaml").unwrap_err(),
            "spec.version: is \"v1.0.0\"",
        );
        let no_bin = template.replace("bin: kubectl-protect", "bin: \"\"");
        assert_error(
            &validate_template(&no_bin, "protect.yaml").unwrap_err(),
            "`bin` has to be set (with the placeholders filled)",
        );
        assert_error(
            &validate_template(&template, "krew.yaml").unwrap_err(),
            "plugin should be named \"krew\"",
        );
    }
}
