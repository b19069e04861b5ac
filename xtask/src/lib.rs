//! Project tasks run with `cargo xtask …` (the alias is in `.cargo/config.toml`).
//!
//! The binary (`src/main.rs`) is a thin command line over this library, so the tests of other
//! crates can drive the same code without a nested `cargo build`:
//! `kubectl-protect/tests/krew_install.rs` packages the plugin binary it was built with.

use std::path::{Path, PathBuf};

pub mod krew;

/// The workspace's root directory (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask
        .parent()
        .map_or_else(|| xtask.join(".."), Path::to_path_buf)
}

/// The workspace's target directory: `CARGO_TARGET_DIR` when set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target"),
    }
}
