//! The webhook's serving certificate: a CA generated for this run and a certificate for
//! 127.0.0.1 signed by it. The CA goes into the webhook configurations' `caBundle`, as
//! cert-manager's CA injector would put it there in a real install.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The files written and the CA, PEM.
pub struct WebhookCertificates {
    /// The CA certificate (PEM), for `caBundle`.
    pub ca_pem: String,
    /// The serving certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// Write `ca.crt`, `tls.crt` and `tls.key` into `dir` (created if missing).
///
/// # Errors
/// When a certificate cannot be generated or a file written.
pub fn write(dir: &Path) -> anyhow::Result<WebhookCertificates> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "protect-lab webhook CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)
        .context("generating the webhook CA")?;

    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "protect-webhook");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params
        .signed_by(&key, &ca)
        .context("signing the webhook's serving certificate")?;

    let ca_pem = ca.pem();
    let files = WebhookCertificates {
        ca_pem: ca_pem.clone(),
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    write_file(&dir.join("ca.crt"), &ca_pem, 0o644)?;
    write_file(&files.cert, &cert.pem(), 0o644)?;
    write_file(&files.key, &key.serialize_pem(), 0o600)?;
    Ok(files)
}

fn write_file(path: &Path, content: &str, mode: u32) -> anyhow::Result<()> {
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}
