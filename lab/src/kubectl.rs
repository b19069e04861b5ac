//! The real kubectl (`/usr/bin/kubectl`) pointed at a lab, for the end-to-end tests of every
//! crate: each instance has its own kubeconfig, discovery cache (`KUBECACHEDIR`, which kubectl
//! keys by host:port) and `HOME`, so tests never share state. Missing kubectl is an error
//! naming what to install — tests that need kubectl fail loudly, they never skip.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::Lab;

/// Where the tests expect kubectl 1.32 (a version dispatcher, see `shared/LAB.md`).
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// Why kubectl cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KubectlError {
    #[error(
        "{KUBECTL} is missing: the end-to-end tests drive the real kubectl 1.32; install it (README, Before you start)"
    )]
    Missing,
    #[error("preparing a private directory for kubectl: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the lab's kubeconfig: {0}")]
    Kubeconfig(#[from] crate::LabError),
}

/// kubectl with a private kubeconfig (every lab context), cache and home.
pub struct Kubectl {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// Prepares kubectl for `lab`.
    ///
    /// # Errors
    /// When `/usr/bin/kubectl` is missing or the private directory cannot be written.
    pub fn new(lab: &Lab) -> Result<Self, KubectlError> {
        if !Path::new(KUBECTL).exists() {
            return Err(KubectlError::Missing);
        }
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        lab.write_kubeconfig(&kubeconfig)?;
        Ok(Kubectl { dir, kubeconfig })
    }

    /// The kubeconfig kubectl uses (contexts named after the lab's clusters).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A `kubectl --kubeconfig … <args>` command with the private cache and home.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(KUBECTL);
        command
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .kill_on_drop(true);
        command
    }

    /// Runs kubectl to completion.
    ///
    /// # Errors
    /// When kubectl cannot be started.
    pub async fn run(&self, args: &[&str]) -> std::io::Result<Output> {
        self.command(args).output().await
    }

    /// Writes a manifest into the private directory and returns its path.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn file(&self, name: &str, content: &str) -> std::io::Result<String> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content)?;
        Ok(path.display().to_string())
    }
}
