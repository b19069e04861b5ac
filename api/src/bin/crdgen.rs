//! Writes the CRDs of protect-api to `deploy/crds/<plural>.siterecovery.trilio.io.yaml`.
//!
//! Usage: `cargo run -p protect-api --bin crdgen [OUTPUT_DIR]` (default: the workspace's
//! `deploy/crds`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds"));
    let files = match protect_api::crds::render_all() {
        Ok(files) => files,
        Err(err) => {
            eprintln!("crdgen: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = std::fs::create_dir_all(&dir) {
        eprintln!("crdgen: cannot create {}: {err}", dir.display());
        return ExitCode::FAILURE;
    }
    for file in files {
        let path = dir.join(&file.file_name);
        if let Err(err) = std::fs::write(&path, file.contents) {
            eprintln!("crdgen: cannot write {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
