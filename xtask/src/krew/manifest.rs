//! The krew `Plugin` manifest: its model (krew's `pkg/index` types), parsing, and filling the
//! template's placeholders for the platforms an archive was built for.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{Platform, VERSION_PLACEHOLDER};

/// A krew plugin manifest, as krew reads it (`index.Plugin`). Fields krew reads with Go's
/// zero values when absent or null are plain values here; the two whose absence means
/// something to krew (`selector` and `files`) are `Option`s. Unknown fields are ignored, as
/// krew ignores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    #[serde(default, deserialize_with = "nullable")]
    pub api_version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: Spec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub homepage: String,
    #[serde(default, deserialize_with = "nullable")]
    pub short_description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub caveats: String,
    #[serde(default, deserialize_with = "nullable")]
    pub platforms: Vec<PlatformSpec>,
}

/// One entry of `spec.platforms`: where the archive for the selected platforms is, its sha256,
/// which files to install from it and which of them is the executable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSpec {
    #[serde(default)]
    pub selector: Option<LabelSelector>,
    #[serde(default, deserialize_with = "nullable")]
    pub uri: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sha256: String,
    #[serde(default, deserialize_with = "nullable")]
    pub bin: String,
    /// `None` (absent) installs every file of the archive (`from: "*"`, `to: "."`).
    #[serde(default)]
    pub files: Option<Vec<FileOperation>>,
}

/// A Kubernetes label selector (`metav1.LabelSelector`) over the labels `os` and `arch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub match_expressions: Option<Vec<LabelSelectorRequirement>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LabelSelectorRequirement {
    #[serde(default, deserialize_with = "nullable")]
    pub key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub operator: String,
    #[serde(default, deserialize_with = "nullable")]
    pub values: Vec<String>,
}

/// Copies `from` (a path or a glob in the archive) to `to` (relative to the install directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FileOperation {
    #[serde(default, deserialize_with = "nullable")]
    pub from: String,
    #[serde(default, deserialize_with = "nullable")]
    pub to: String,
}

/// A YAML null reads as the type's zero value, as Go's decoder leaves it.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads a manifest's YAML.
pub fn parse(text: &str) -> Result<Plugin, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

impl Plugin {
    /// The first platform whose selector selects `platform`: the one krew installs there
    /// (krew's `installation.GetMatchingPlatform`).
    pub fn platform_for(&self, platform: &Platform) -> Option<&PlatformSpec> {
        self.spec.platforms.iter().find(|p| p.selects(platform))
    }
}

impl PlatformSpec {
    /// Whether this platform's selector selects `platform` (a missing or invalid selector
    /// selects nothing).
    pub fn selects(&self, platform: &Platform) -> bool {
        self.selector
            .as_ref()
            .is_some_and(|s| s.matches(platform) == Ok(true))
    }
}

impl LabelSelector {
    /// Whether the selector selects the labels `os` and `arch` of `platform`, as Kubernetes'
    /// `metav1.LabelSelectorAsSelector(selector).Matches(labels)` decides; an error for what
    /// that conversion rejects: an unknown operator, `In`/`NotIn` without values,
    /// `Exists`/`DoesNotExist` with values. An empty selector selects everything.
    pub fn matches(&self, platform: &Platform) -> Result<bool, String> {
        let label = |key: &str| match key {
            "os" => Some(platform.os.as_str()),
            "arch" => Some(platform.arch.as_str()),
            _ => None,
        };
        let mut selected = true;
        for (key, value) in self.match_labels.iter().flatten() {
            selected &= label(key) == Some(value.as_str());
        }
        for r in self.match_expressions.iter().flatten() {
            let value = label(&r.key);
            let ok = match r.operator.as_str() {
                "In" | "NotIn" if r.values.is_empty() => {
                    return Err(format!(
                        "{:?} on key {:?} needs values: for 'in', 'notin' operators, values set can't be empty",
                        r.operator, r.key
                    ));
                }
                "Exists" | "DoesNotExist" if !r.values.is_empty() => {
                    return Err(format!(
                        "{:?} on key {:?} takes no values: values set must be empty for exists and does not exist",
                        r.operator, r.key
                    ));
                }
                "In" => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
                "NotIn" => value.is_none_or(|v| r.values.iter().all(|x| x != v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            selected &= ok;
        }
        Ok(selected)
    }
}

/// `${URI_LINUX_AMD64}`: where the template wants the archive's URL for a platform.
pub fn uri_placeholder(platform: &Platform) -> String {
    format!("${{URI_{}}}", platform.placeholder_suffix())
}

/// `${SHA256_LINUX_AMD64}`: where the template wants the archive's sha256 for a platform.
pub fn sha256_placeholder(platform: &Platform) -> String {
    format!("${{SHA256_{}}}", platform.placeholder_suffix())
}

/// What one archive fills in the template: the version, and the archive's platform, URL and
/// sha256.
#[derive(Debug, Clone, Copy)]
pub struct Fill<'a> {
    pub version: &'a str,
    pub platform: &'a Platform,
    pub uri: &'a str,
    pub sha256: &'a str,
}

/// The template with `${VERSION}` and the placeholders of `fill.platform` replaced, keeping only
/// the template's platform for `fill.platform`.
///
/// The other platforms are dropped rather than left with placeholders: a manifest whose
/// `sha256` is not 64 hex digits fails krew's validation as a whole, and the archives for the
/// other platforms were not built here, so no honest value exists for them. A manifest for one
/// platform is what `kubectl krew install --manifest=protect.yaml --archive=<archive>` wants.
pub fn fill_template(template: &str, fill: &Fill<'_>) -> anyhow::Result<String> {
    if let Err(e) = super::parse_version(fill.version) {
        bail!(
            "the version {:?} is not one krew accepts: {e}",
            fill.version
        );
    }
    if !super::validate::is_valid_sha256(fill.sha256) {
        bail!(
            "the sha256 {:?} is not 64 lower-case hex digits",
            fill.sha256
        );
    }
    if fill.uri.is_empty() {
        bail!("the archive's URI is empty");
    }
    let header = format!(
        "# krew plugin manifest of {} {} for {} only, generated by `cargo xtask krew-package`\n\
         # from the template krew/protect.yaml; install with\n\
         #   kubectl krew install --manifest=protect.yaml --archive=<the archive>\n",
        super::BINARY_NAME,
        fill.version,
        fill.platform
    );
    render(
        template,
        fill.version,
        &[(fill.platform, fill.uri, fill.sha256)],
        &header,
    )
}

/// The template, keeping the platforms that select one of `filled` (each exactly one), with
/// `${VERSION}` and those platforms' placeholders replaced wherever they occur. Any `${…}`
/// left over is an error: the result is a manifest, not a template.
pub(crate) fn render(
    template: &str,
    version: &str,
    filled: &[(&Platform, &str, &str)],
    header: &str,
) -> anyhow::Result<String> {
    let plugin = parse(template)
        .map_err(anyhow::Error::msg)
        .context("the template is not a krew plugin manifest")?;
    let mut keep: Vec<usize> = Vec::new();
    for (platform, _, _) in filled {
        let matching: Vec<usize> = plugin
            .spec
            .platforms
            .iter()
            .enumerate()
            .filter(|(_, p)| p.selects(platform))
            .map(|(i, _)| i)
            .collect();
        match matching.as_slice() {
            [] => bail!("the template has no platform for {platform}"),
            [i] if keep.contains(i) => bail!(
                "spec.platforms[{i}] of the template selects more than one of the platforms filled; \
                 the template needs one platform per os/arch"
            ),
            [i] => keep.push(*i),
            many => bail!(
                "spec.platforms{many:?} of the template all select {platform}; krew refuses overlapping selectors"
            ),
        }
    }
    keep.sort_unstable();

    let mut doc: Value = serde_saphyr::from_str(template).context("the template is not YAML")?;
    let Some(Value::Array(platforms)) = doc.pointer_mut("/spec/platforms") else {
        bail!("the template has no list spec.platforms");
    };
    let all = std::mem::take(platforms);
    *platforms = all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, p)| p)
        .collect();

    let mut replacements = vec![(VERSION_PLACEHOLDER.to_owned(), version.to_owned())];
    for (platform, uri, sha256) in filled {
        replacements.push((uri_placeholder(platform), (*uri).to_owned()));
        replacements.push((sha256_placeholder(platform), (*sha256).to_owned()));
    }
    let mut left = Vec::new();
    replace_in(&mut doc, &replacements, "", &mut left);
    if !left.is_empty() {
        bail!("placeholders left unfilled: {}", left.join(", "));
    }
    Ok(format!("{header}{}", to_yaml(&doc)?))
}

/// A manifest as YAML: multi-line strings as literal blocks (`|`), and long one-line strings
/// (a URI) on their line rather than folded.
pub(crate) fn to_yaml(doc: &Value) -> anyhow::Result<String> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX;
    serde_saphyr::to_string_with_options(doc, options).context("writing the manifest as YAML")
}

/// Replaces the placeholders in every string of `value`; collects where `${` is still left.
fn replace_in(
    value: &mut Value,
    replacements: &[(String, String)],
    at: &str,
    left: &mut Vec<String>,
) {
    match value {
        Value::String(s) => {
            for (placeholder, with) in replacements {
                if s.contains(placeholder.as_str()) {
                    *s = s.replace(placeholder.as_str(), with);
                }
            }
            if let Some(start) = s.find("${") {
                let rest = &s[start..];
                let end = rest.find('}').map_or(rest.len(), |i| i + 1);
                left.push(format!("{} at {at}", &rest[..end]));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                replace_in(item, replacements, &format!("{at}[{i}]"), left);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                replace_in(item, replacements, &path, left);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn platform_yaml(os: &str, arch: &str) -> String {
        let suffix = format!("{os}_{arch}").to_uppercase();
        format!(
            "  - selector:\n      matchLabels:\n        os: {os}\n        arch: {arch}\n    \
             uri: ${{URI_{suffix}}}\n    sha256: ${{SHA256_{suffix}}}\n    files:\n    \
             - from: kubectl-protect\n      to: .\n    - from: LICENSE\n      to: .\n    \
             bin: kubectl-protect\n"
        )
    }

    fn template() -> String {
        format!(
            "# a comment\napiVersion: krew.googlecontainertools.github.com/v1alpha2\nkind: Plugin\n\
             metadata:\n  name: protect\nspec:\n  version: ${{VERSION}}\n  \
             homepage: https://example.com\n  shortDescription: Protect VMs\n  \
             description: |\n    First line.\n    Second line, version ${{VERSION}}.\n  \
             platforms:\n{}{}{}",
            platform_yaml("linux", "amd64"),
            platform_yaml("linux", "arm64"),
            platform_yaml("darwin", "arm64"),
        )
    }

    #[test]
    fn a_template_parses_with_its_placeholders() {
        let plugin = parse(&template()).unwrap();
        assert_eq!(plugin.metadata.name, "protect");
        assert_eq!(plugin.spec.version, "${VERSION}");
        assert_eq!(plugin.spec.platforms.len(), 3);
        let p = &plugin.spec.platforms[1];
        assert_eq!(p.uri, "${URI_LINUX_ARM64}");
        assert_eq!(p.files.as_ref().unwrap()[1].from, "LICENSE");
        assert_eq!(p.files.as_ref().unwrap()[1].to, ".");
        assert_eq!(plugin.spec.caveats, "", "absent is the zero value");
        assert!(
            plugin
                .platform_for(&Platform::new("darwin", "arm64"))
                .is_some()
        );
        assert!(
            plugin
                .platform_for(&Platform::new("darwin", "amd64"))
                .is_none()
        );
    }

    #[test]
    fn nulls_read_as_zero_values_and_absent_files_as_none() {
        let plugin = parse(
            "apiVersion:\nkind: Plugin\nspec:\n  platforms:\n  - uri: x\n    files:\n    sha256: ~\n",
        )
        .unwrap();
        assert_eq!(plugin.api_version, "");
        assert_eq!(plugin.metadata.name, "");
        assert_eq!(plugin.spec.platforms[0].sha256, "");
        assert_eq!(plugin.spec.platforms[0].files, None);
        assert_eq!(plugin.spec.platforms[0].selector, None);
    }

    #[test]
    fn filling_keeps_the_platform_built_and_fills_every_placeholder_of_it() {
        let linux = Platform::new("linux", "arm64");
        let out = fill_template(
            &template(),
            &Fill {
                version: "v1.2.3",
                platform: &linux,
                uri: "https://example.com/v1.2.3/a.tar.gz",
                sha256: SHA,
            },
        )
        .unwrap();
        assert!(
            out.starts_with(
                "# krew plugin manifest of kubectl-protect v1.2.3 for linux/arm64 only"
            )
        );
        assert!(!out.contains("${"), "{out}");
        let plugin = parse(&out).unwrap();
        assert_eq!(plugin.spec.version, "v1.2.3");
        assert_eq!(
            plugin.spec.description,
            "First line.\nSecond line, version v1.2.3.\n"
        );
        assert_eq!(plugin.spec.platforms.len(), 1);
        let p = &plugin.spec.platforms[0];
        assert!(p.selects(&linux));
        assert_eq!(p.uri, "https://example.com/v1.2.3/a.tar.gz");
        assert_eq!(p.sha256, SHA);
        assert_eq!(p.bin, "kubectl-protect");
        assert_eq!(p.files.as_ref().unwrap().len(), 2);
        // The order of the template's keys is kept.
        let api = out.find("apiVersion").unwrap();
        assert!(api < out.find("metadata").unwrap() && out.find("metadata") < out.find("spec:"));
    }

    #[test]
    fn filling_refuses_a_platform_the_template_lacks_and_bad_values() {
        let fill = |platform: &Platform, version: &str, sha: &str| {
            fill_template(
                &template(),
                &Fill {
                    version,
                    platform,
                    uri: "https://x/y.tar.gz",
                    sha256: sha,
                },
            )
            .unwrap_err()
            .to_string()
        };
        let darwin_amd64 = Platform::new("darwin", "amd64");
        let linux = Platform::new("linux", "amd64");
        assert!(fill(&darwin_amd64, "v1.0.0", SHA).contains("no platform for darwin/amd64"));
        assert!(fill(&linux, "1.0.0", SHA).contains("not one krew accepts"));
        assert!(fill(&linux, "v1.0.0", &SHA.to_uppercase()).contains("64 lower-case hex"));
        assert!(fill(&linux, "v1.0.0", "abc").contains("64 lower-case hex"));
    }

    #[test]
    fn a_placeholder_left_over_is_an_error_naming_where() {
        let t = template().replace("homepage: https://example.com", "homepage: ${HOMEPAGE}");
        let err = fill_template(
            &t,
            &Fill {
                version: "v1.0.0",
                platform: &Platform::new("linux", "amd64"),
                uri: "https://x/y.tar.gz",
                sha256: SHA,
            },
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("${HOMEPAGE} at spec.homepage"),
            "{err}"
        );
    }

    #[test]
    fn overlapping_selectors_in_the_template_are_refused() {
        let t = template().replace("arch: arm64", "arch: amd64");
        let err = render(
            &t,
            "v1.0.0",
            &[(&Platform::new("linux", "amd64"), "u", SHA)],
            "",
        )
        .unwrap_err();
        assert!(err.to_string().contains("overlapping"), "{err}");
    }

    fn selector(yaml: &str) -> LabelSelector {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn label_selectors_match_as_kubernetes_does() {
        let linux = Platform::new("linux", "amd64");
        let darwin = Platform::new("darwin", "arm64");
        let s = selector("matchLabels:\n  os: linux\n");
        assert_eq!(s.matches(&linux), Ok(true));
        assert_eq!(s.matches(&darwin), Ok(false));
        let s = selector(
            "matchExpressions:\n- key: os\n  operator: In\n  values: [linux, darwin]\n\
             - key: arch\n  operator: NotIn\n  values: [arm64]\n",
        );
        assert_eq!(s.matches(&linux), Ok(true));
        assert_eq!(s.matches(&darwin), Ok(false));
        let s = selector("matchExpressions:\n- key: os\n  operator: Exists\n");
        assert_eq!(s.matches(&darwin), Ok(true));
        let s = selector("matchExpressions:\n- key: os\n  operator: DoesNotExist\n");
        assert_eq!(s.matches(&darwin), Ok(false));
        // An empty selector selects everything (krew's validation refuses it separately).
        assert_eq!(selector("{}").matches(&darwin), Ok(true));

        let s = selector("matchExpressions:\n- key: os\n  operator: In\n");
        assert!(s.matches(&linux).unwrap_err().contains("can't be empty"));
        let s = selector("matchExpressions:\n- key: os\n  operator: Exists\n  values: [x]\n");
        assert!(s.matches(&linux).unwrap_err().contains("must be empty"));
        let s = selector("matchExpressions:\n- key: os\n  operator: in\n  values: [linux]\n");
        assert!(s.matches(&linux).unwrap_err().contains("not a valid"));
    }

    #[test]
    fn placeholders_are_named_after_the_platform() {
        let p = Platform::new("linux", "amd64");
        assert_eq!(uri_placeholder(&p), "${URI_LINUX_AMD64}");
        assert_eq!(sha256_placeholder(&p), "${SHA256_LINUX_AMD64}");
    }
}
