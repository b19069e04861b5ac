//! The serving certificate, reloaded from disk when its files change: a rustls
//! `ResolvesServerCert` whose certified key is swapped atomically, so handshakes in progress
//! and established connections are untouched and new handshakes get the new certificate.
//!
//! Change detection hashes the contents of both files (they are small): it works on
//! filesystems with coarse mtimes and across the symlink swap Kubernetes uses for Secret
//! volumes. A pair that does not load (e.g. the certificate was rewritten but the key not yet)
//! is retried on the next check; the old certificate keeps serving meanwhile.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::metrics::SharedMetrics;

/// Why the certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadCertificateError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{path} holds no PEM certificate")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no usable PEM private key.
    #[error("{path} holds no usable PEM private key: {detail}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The key does not match the certificate, or is of an unsupported type.
    #[error("the key in {key} does not fit the certificate in {cert}: {detail}")]
    Mismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// What rustls said.
        detail: String,
    },
}

/// The default crypto provider (ring), explicit so that no process-wide default is needed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, LoadCertificateError> {
    std::fs::read(path).map_err(|source| LoadCertificateError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Load a PEM certificate chain and private key.
///
/// # Errors
/// A file is unreadable, holds no PEM object of the right type, or the key does not match.
pub fn load(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<(CertifiedKey, [u8; 32]), LoadCertificateError> {
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let digest = content_digest(&cert_pem, &key_pem);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(LoadCertificateError::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| LoadCertificateError::BadKey {
            path: key_path.to_owned(),
            detail: e.to_string(),
        })?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        LoadCertificateError::Mismatch {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
            detail: e.to_string(),
        }
    })?;
    Ok((certified, digest))
}

fn content_digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((cert.len() as u64).to_be_bytes());
    hasher.update(cert);
    hasher.update(key);
    hasher.finalize().into()
}

/// The serving certificate, swapped in place when the files change.
#[derive(Debug)]
pub struct ReloadingCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    digest: Mutex<[u8; 32]>,
    metrics: Option<SharedMetrics>,
}

impl ReloadingCertificate {
    /// Load the certificate and key once.
    ///
    /// # Errors
    /// When they cannot be loaded: the server must not start without a certificate.
    pub fn load(
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
        metrics: Option<SharedMetrics>,
    ) -> Result<Self, LoadCertificateError> {
        let (cert_path, key_path) = (cert_path.into(), key_path.into());
        let provider = provider();
        let (certified, digest) = load(&cert_path, &key_path, &provider)?;
        Ok(Self {
            cert_path,
            key_path,
            provider,
            current: RwLock::new(Arc::new(certified)),
            digest: Mutex::new(digest),
            metrics,
        })
    }

    /// Reload when the files' contents changed. Returns `Ok(true)` when a new certificate is
    /// now served, `Ok(false)` when nothing changed.
    ///
    /// # Errors
    /// The files changed but do not load; the previous certificate keeps serving.
    pub fn reload_if_changed(&self) -> Result<bool, LoadCertificateError> {
        let cert_pem = read(&self.cert_path)?;
        let key_pem = read(&self.key_path)?;
        let digest = content_digest(&cert_pem, &key_pem);
        if self.digest.lock().map(|d| *d == digest).unwrap_or(false) {
            return Ok(false);
        }
        let result = load(&self.cert_path, &self.key_path, &self.provider);
        if let Some(metrics) = &self.metrics {
            metrics.observe_cert_reload(result.is_ok());
        }
        let (certified, digest) = result?;
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(certified);
        }
        if let Ok(mut stored) = self.digest.lock() {
            *stored = digest;
        }
        info!(cert = %self.cert_path.display(), "serving certificate reloaded");
        Ok(true)
    }

    /// Check for changes every `interval` until the returned task is aborted.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(error) = this.reload_if_changed() {
                    warn!(%error, "serving certificate changed on disk but cannot be loaded; keeping the previous one");
                }
            }
        })
    }

    /// The certificate currently served.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c))
    }

    /// A rustls server configuration serving this certificate (HTTP/1.1 and h2 via ALPN).
    ///
    /// # Errors
    /// When the crypto provider supports none of the default protocol versions (ring does).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, rustls::Error> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}
