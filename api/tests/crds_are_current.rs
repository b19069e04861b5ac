//! The committed `deploy/crds/` files are exactly what the types generate.

use std::path::PathBuf;

#[test]
fn committed_crds_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds");
    for file in protect_api::crds::render_all().unwrap() {
        let path = dir.join(&file.file_name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == file.contents,
            "{} is missing or stale; run `cargo run -p protect-api --bin crdgen` and commit the result",
            path.display()
        );
    }
}

#[test]
fn generated_files_parse_back_as_crds() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    for (file, crd) in protect_api::crds::render_all()
        .unwrap()
        .into_iter()
        .zip(protect_api::crds::crds())
    {
        let parsed: CustomResourceDefinition = serde_saphyr::from_str(&file.contents).unwrap();
        assert_eq!(parsed, crd, "{}", file.file_name);
    }
}
