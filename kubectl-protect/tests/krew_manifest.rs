//! The krew manifest template parses and names the plugin and binary krew will install.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plugin {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    version: String,
    homepage: String,
    short_description: String,
    description: String,
    caveats: Option<String>,
    platforms: Vec<Platform>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Platform {
    selector: Selector,
    uri: String,
    sha256: String,
    bin: String,
    files: Vec<FileOp>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct FileOp {
    from: String,
    to: String,
}

fn manifest_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../krew/protect.yaml")
}

fn manifest() -> Plugin {
    let text = std::fs::read_to_string(manifest_path()).expect("krew/protect.yaml is readable");
    serde_saphyr::from_str(&text).expect("krew/protect.yaml is valid YAML of a krew Plugin")
}

#[test]
fn the_manifest_is_a_krew_plugin_named_after_its_file() {
    let plugin = manifest();
    assert_eq!(
        plugin.api_version,
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(plugin.kind, "Plugin");
    // krew requires metadata.name to equal the file name without .yaml.
    let stem = manifest_path()
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(plugin.metadata.name, stem);
    assert_eq!(plugin.metadata.name, "protect");
    assert!(
        plugin.spec.version.contains("VERSION"),
        "version is a placeholder"
    );
    assert!(plugin.spec.homepage.starts_with("https://"));
    assert!(!plugin.spec.short_description.is_empty() && plugin.spec.short_description.len() <= 60);
    assert!(plugin.spec.description.contains("kubectl protect vm"));
    assert!(plugin.spec.caveats.is_some());
}

#[test]
fn every_platform_installs_the_kubectl_protect_binary_and_the_license() {
    let plugin = manifest();
    let mut platforms: Vec<(String, String)> = plugin
        .spec
        .platforms
        .iter()
        .map(|p| {
            (
                p.selector.match_labels["os"].clone(),
                p.selector.match_labels["arch"].clone(),
            )
        })
        .collect();
    platforms.sort();
    assert_eq!(
        platforms,
        [
            ("darwin", "amd64"),
            ("darwin", "arm64"),
            ("linux", "amd64"),
            ("linux", "arm64")
        ]
        .map(|(o, a)| (o.to_owned(), a.to_owned()))
    );
    for p in &plugin.spec.platforms {
        let os = &p.selector.match_labels["os"];
        let arch = &p.selector.match_labels["arch"];
        let suffix = format!("{}_{}", os.to_uppercase(), arch.to_uppercase());
        assert_eq!(p.bin, "kubectl-protect", "{os}/{arch}");
        assert_eq!(p.uri, format!("${{URI_{suffix}}}"), "{os}/{arch}");
        assert_eq!(p.sha256, format!("${{SHA256_{suffix}}}"), "{os}/{arch}");
        let froms: Vec<&str> = p.files.iter().map(|f| f.from.as_str()).collect();
        assert!(
            froms.contains(&"kubectl-protect") && froms.contains(&"LICENSE"),
            "{os}/{arch}: {froms:?}"
        );
        assert!(p.files.iter().all(|f| f.to == "."), "{os}/{arch}");
    }
}
