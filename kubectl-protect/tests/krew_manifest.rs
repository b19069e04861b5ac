//! The krew manifest template `krew/protect.yaml`: it passes krew's validation rules (the
//! `xtask::krew` validator, with its placeholders filled), and it offers what this project
//! promises: linux and darwin on amd64 and arm64, each installing the `kubectl-protect` binary
//! and the LICENSE. `tests/krew_install.rs` packages and installs it for this platform.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use xtask::krew::{self, Fill, Platform, Plugin};

fn manifest_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../krew/protect.yaml")
}

fn template() -> String {
    std::fs::read_to_string(manifest_path()).expect("krew/protect.yaml is readable")
}

fn manifest() -> Plugin {
    krew::parse(&template()).expect("krew/protect.yaml is valid YAML of a krew Plugin")
}

const PLATFORMS: [(&str, &str); 4] = [
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("linux", "amd64"),
    ("linux", "arm64"),
];

#[test]
fn the_template_passes_krews_validation_rules() {
    let file_name = manifest_path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    if let Err(errors) = krew::validate_template(&template(), &file_name) {
        panic!(
            "krew/protect.yaml breaks krew's rules:\n  {}",
            errors.join("\n  ")
        );
    }
}

#[test]
fn the_manifest_is_a_krew_plugin_named_after_its_file() {
    let plugin = manifest();
    assert_eq!(plugin.api_version, krew::API_VERSION);
    assert_eq!(plugin.kind, "Plugin");
    // krew requires metadata.name to equal the file name without .yaml.
    let stem = manifest_path()
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(plugin.metadata.name, stem);
    assert_eq!(plugin.metadata.name, krew::PLUGIN_NAME);
    assert_eq!(
        plugin.spec.version, "${VERSION}",
        "version is a placeholder"
    );
    assert!(plugin.spec.homepage.starts_with("https://"));
    assert!(!plugin.spec.short_description.is_empty() && plugin.spec.short_description.len() <= 60);
    assert!(plugin.spec.description.contains("kubectl protect vm"));
    assert!(!plugin.spec.caveats.is_empty());
}

#[test]
fn every_platform_installs_the_kubectl_protect_binary_and_the_license() {
    let plugin = manifest();
    let mut platforms: Vec<(String, String)> = plugin
        .spec
        .platforms
        .iter()
        .map(|p| {
            let labels = p.selector.as_ref().unwrap().match_labels.as_ref().unwrap();
            (labels["os"].clone(), labels["arch"].clone())
        })
        .collect();
    platforms.sort();
    assert_eq!(
        platforms,
        PLATFORMS.map(|(o, a)| (o.to_owned(), a.to_owned()))
    );
    for p in &plugin.spec.platforms {
        let labels = p.selector.as_ref().unwrap().match_labels.as_ref().unwrap();
        let platform = Platform::new(&labels["os"], &labels["arch"]);
        assert_eq!(p.bin, "kubectl-protect", "{platform}");
        assert_eq!(p.uri, krew::uri_placeholder(&platform), "{platform}");
        assert_eq!(p.sha256, krew::sha256_placeholder(&platform), "{platform}");
        let files = p.files.as_ref().unwrap();
        let froms: Vec<&str> = files.iter().map(|f| f.from.as_str()).collect();
        assert!(
            froms.contains(&"kubectl-protect") && froms.contains(&"LICENSE"),
            "{platform}: {froms:?}"
        );
        assert!(files.iter().all(|f| f.to == "."), "{platform}");
    }
}

#[test]
fn filled_for_any_of_its_platforms_the_template_is_a_manifest_krew_accepts() {
    let sha256 = krew::sha256_hex(b"an archive");
    for (os, arch) in PLATFORMS {
        let platform = Platform::new(os, arch);
        let uri = format!("https://example.com/v1.2.3/kubectl-protect_v1.2.3_{os}_{arch}.tar.gz");
        let filled = krew::fill_template(
            &template(),
            &Fill {
                version: "v1.2.3",
                platform: &platform,
                uri: &uri,
                sha256: &sha256,
            },
        )
        .unwrap();
        if let Err(errors) = krew::validate(&filled, "protect.yaml") {
            panic!("{platform}:\n  {}\n{filled}", errors.join("\n  "));
        }
        let plugin = krew::parse(&filled).unwrap();
        assert_eq!(plugin.spec.version, "v1.2.3");
        assert_eq!(plugin.spec.platforms.len(), 1, "{platform}");
        let p = plugin.platform_for(&platform).unwrap();
        assert_eq!(
            (p.uri.as_str(), p.sha256.as_str()),
            (uri.as_str(), sha256.as_str())
        );
        assert_eq!(plugin.spec.description, manifest().spec.description);
    }
}
