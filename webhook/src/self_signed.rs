//! `protect-webhook self-signed`: for clusters without cert-manager, a CA and a serving
//! certificate for the webhook's Service, written as `tls.crt`, `tls.key` (mode 0600) and
//! `ca.crt`, with the caBundle and the kubectl commands that install them under the names
//! `deploy/webhook/` uses.
//!
//! The CA's private key is never written: nothing can be signed with it after this command
//! returns, and renewing means running the command again (a new CA, a new caBundle).
//!
//! The serving certificate names the Service the way the apiserver may address it:
//! `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc` (what a webhook configuration's `service`
//! reference resolves to) and `<svc>.<ns>.svc.cluster.local`. Keys are ECDSA P-256, as
//! cert-manager issues them in `deploy/cert-manager/`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use protect_api::naming::{is_dns1123_label, is_dns1123_subdomain};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The webhook's Service in `deploy/webhook/service.yaml`.
pub const DEFAULT_SERVICE: &str = "protect-webhook";
/// The namespace of the install bundle.
pub const DEFAULT_NAMESPACE: &str = "dr-deployment";
/// The TLS Secret the Deployment mounts (`deploy/webhook/deployment.yaml`).
pub const DEFAULT_SECRET: &str = "protect-webhook-tls";
/// Both webhook configurations' name (`deploy/webhook/webhook-configurations.yaml`).
pub const WEBHOOK_CONFIGURATION: &str = "protect-webhook";
/// The webhook of the ValidatingWebhookConfiguration.
pub const VALIDATING_WEBHOOK: &str = "validate.protect.siterecovery.trilio.io";
/// The webhook of the MutatingWebhookConfiguration.
pub const MUTATING_WEBHOOK: &str = "mutate.protect.siterecovery.trilio.io";
/// Default validity, in days.
pub const DEFAULT_DAYS: u32 = 365;
/// Longest validity accepted, in days (ten years).
pub const MAX_DAYS: u32 = 3650;
/// File names written into the output directory.
pub const CERT_FILE: &str = "tls.crt";
/// See [`CERT_FILE`].
pub const KEY_FILE: &str = "tls.key";
/// See [`CERT_FILE`].
pub const CA_FILE: &str = "ca.crt";

/// How far `notBefore` is set in the past, so that an apiserver whose clock is a little behind
/// accepts a certificate made a moment ago.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// Why no bundle was generated or written.
#[derive(Debug, thiserror::Error)]
pub enum SelfSignedError {
    /// A name that must be a DNS label is not one.
    #[error("{what} {name:?} is not valid: {problem}")]
    InvalidName {
        /// `the Service name (--service)`, `the namespace (--namespace)`, ….
        what: &'static str,
        /// The name given.
        name: String,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// `--days` out of range.
    #[error("--days {0} is out of range: give a validity of 1 to {MAX_DAYS} days")]
    Days(u32),
    /// rcgen refused the parameters or could not sign.
    #[error("cannot generate the certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// An output file exists and `--force` was not given.
    #[error("{} already exists; pass --force to overwrite tls.crt, tls.key and ca.crt", .0.display())]
    Exists(PathBuf),
    /// The output directory or a file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn invalid(what: &'static str, name: &str, problem: impl Into<String>) -> SelfSignedError {
    SelfSignedError::InvalidName {
        what,
        name: name.to_owned(),
        problem: problem.into(),
    }
}

/// Check an RFC 1123 label (a namespace) or, with `letter_first`, an RFC 1035 label (a
/// Service name), with the apiserver's wording.
fn check_label(what: &'static str, name: &str, letter_first: bool) -> Result<(), SelfSignedError> {
    let kind = if letter_first {
        "a DNS-1035 label"
    } else {
        "a lowercase RFC 1123 label"
    };
    if name.is_empty() {
        return Err(invalid(what, name, "it is empty"));
    }
    if name.len() > 63 {
        return Err(invalid(
            what,
            name,
            format!("it has {} characters; {kind} has at most 63", name.len()),
        ));
    }
    // A DNS-1035 label is a DNS-1123 label that starts with a letter.
    let valid = is_dns1123_label(name)
        && (!letter_first || name.starts_with(|c: char| c.is_ascii_lowercase()));
    if !valid {
        let rule = if letter_first {
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123')"
        } else {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')"
        };
        return Err(invalid(what, name, rule));
    }
    Ok(())
}

/// Check an RFC 1123 subdomain (a Secret name).
fn check_subdomain(what: &'static str, name: &str) -> Result<(), SelfSignedError> {
    if name.is_empty() {
        return Err(invalid(what, name, "it is empty"));
    }
    if name.len() > 253 {
        return Err(invalid(
            what,
            name,
            format!(
                "it has {} characters; a lowercase RFC 1123 subdomain has at most 253",
                name.len()
            ),
        ));
    }
    if !is_dns1123_subdomain(name) {
        return Err(invalid(
            what,
            name,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
        ));
    }
    Ok(())
}

/// The DNS names the serving certificate carries for Service `service` in `namespace`:
/// `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local`.
///
/// # Errors
/// The Service name is not a DNS-1035 label or the namespace not an RFC 1123 label (as the
/// apiserver requires of them).
pub fn dns_names(service: &str, namespace: &str) -> Result<Vec<String>, SelfSignedError> {
    check_label("the Service name (--service)", service, true)?;
    check_label("the namespace (--namespace)", namespace, false)?;
    Ok(vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ])
}

/// A generated CA and serving certificate, in PEM.
#[derive(Clone)]
pub struct Bundle {
    /// The CA certificate: the webhook configurations' caBundle.
    pub ca_pem: String,
    /// The serving certificate (`tls.crt`).
    pub cert_pem: String,
    /// The serving certificate's PKCS#8 private key (`tls.key`).
    pub key_pem: String,
    /// The serving certificate's DNS names.
    pub dns_names: Vec<String>,
    /// End of validity of both certificates.
    pub not_after: SystemTime,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("dns_names", &self.dns_names)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Bundle {
    /// `clientConfig.caBundle`: the CA certificate's PEM, base64-encoded.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }
}

/// Generate a CA and a serving certificate for `service` in `namespace`, valid for `days`
/// from now.
///
/// # Errors
/// An invalid name or validity (nothing is generated), or rcgen failed.
pub fn generate(service: &str, namespace: &str, days: u32) -> Result<Bundle, SelfSignedError> {
    generate_at(service, namespace, days, SystemTime::now())
}

/// [`generate`] as if the time were `now`.
///
/// # Errors
/// As [`generate`].
pub fn generate_at(
    service: &str,
    namespace: &str,
    days: u32,
    now: SystemTime,
) -> Result<Bundle, SelfSignedError> {
    let names = dns_names(service, namespace)?;
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(SelfSignedError::Days(days));
    }
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let validity = Duration::from_secs(u64::from(days) * 86_400);
    let not_before = epoch + since_epoch.saturating_sub(CLOCK_SKEW);
    let not_after = epoch + since_epoch + validity;

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{service}-ca.{namespace}"));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.clone())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{service}.{namespace}.svc"));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.signed_by(&key, &issuer)?;

    Ok(Bundle {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        dns_names: names,
        not_after: now + validity,
    })
}

/// Where [`write`] put the files (absolute paths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// `DIR/tls.crt`.
    pub cert: PathBuf,
    /// `DIR/tls.key`, mode 0600.
    pub key: PathBuf,
    /// `DIR/ca.crt`.
    pub ca: PathBuf,
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> SelfSignedError + '_ {
    move |source| SelfSignedError::Write {
        path: path.to_owned(),
        source,
    }
}

/// Write `contents` to a new file at `path` with `mode` (on Unix), replacing any file there.
fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), SelfSignedError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(write_error(path)(e)),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(write_error(path))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_error(path))
}

/// Write `tls.crt`, `tls.key` (mode 0600) and `ca.crt` into `dir`, creating it. Refuses to
/// replace existing files unless `force`; nothing is written when one exists.
///
/// # Errors
/// A file exists (without `force`), or the directory or a file cannot be written.
pub fn write(bundle: &Bundle, dir: &Path, force: bool) -> Result<Written, SelfSignedError> {
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let dir = dir.canonicalize().map_err(write_error(dir))?;
    let written = Written {
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
        ca: dir.join(CA_FILE),
    };
    if !force {
        for path in [&written.cert, &written.key, &written.ca] {
            if path.symlink_metadata().is_ok() {
                return Err(SelfSignedError::Exists(path.clone()));
            }
        }
    }
    write_new(&written.key, &bundle.key_pem, 0o600)?;
    write_new(&written.cert, &bundle.cert_pem, 0o644)?;
    write_new(&written.ca, &bundle.ca_pem, 0o644)?;
    Ok(written)
}

/// Quote `word` for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The kubectl commands that install the bundle: the TLS Secret the Deployment mounts (created,
/// or replaced when renewing), then the caBundle of both webhook configurations, patched by
/// webhook name. One command per line, ready for a shell.
pub fn kubectl_commands(
    bundle: &Bundle,
    written: &Written,
    namespace: &str,
    secret: &str,
) -> Vec<String> {
    let ca_bundle = bundle.ca_bundle();
    let patch = |webhook: &str| {
        let body = serde_json::json!({
            "webhooks": [{"name": webhook, "clientConfig": {"caBundle": ca_bundle}}]
        });
        shell_word(&body.to_string())
    };
    vec![
        format!(
            "kubectl -n {} create secret tls {} {} {} --dry-run=client -o yaml | kubectl apply -f -",
            shell_word(namespace),
            shell_word(secret),
            shell_word(&format!("--cert={}", written.cert.display())),
            shell_word(&format!("--key={}", written.key.display())),
        ),
        format!(
            "kubectl patch validatingwebhookconfiguration {WEBHOOK_CONFIGURATION} --type=strategic -p {}",
            patch(VALIDATING_WEBHOOK)
        ),
        format!(
            "kubectl patch mutatingwebhookconfiguration {WEBHOOK_CONFIGURATION} --type=strategic -p {}",
            patch(MUTATING_WEBHOOK)
        ),
    ]
}

/// What the subcommand prints: the files, the caBundle and the commands.
pub fn instructions(
    bundle: &Bundle,
    written: &Written,
    service: &str,
    namespace: &str,
    secret: &str,
) -> String {
    let until = bundle
        .not_after
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(
            || "?".to_owned(),
            |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
    let mut out = String::new();
    out.push_str(&format!(
        "Wrote a CA and a serving certificate for Service {service} in namespace {namespace}, valid until {until}:\n"
    ));
    out.push_str(&format!(
        "  {}  serving certificate for {}\n",
        written.cert.display(),
        bundle.dns_names.join(", ")
    ));
    out.push_str(&format!(
        "  {}  its private key (mode 0600)\n",
        written.key.display()
    ));
    out.push_str(&format!(
        "  {}  the CA certificate (the CA's key was not kept: renew by running this again)\n\n",
        written.ca.display()
    ));
    out.push_str("caBundle:\n");
    out.push_str(&bundle.ca_bundle());
    out.push_str("\n\n");
    out.push_str("Install them on the quorum cluster (kubectl's current context; or export KUBECONFIG=$KUBECONFIG_QUORUM first),\n");
    out.push_str("after applying deploy/ without cert-manager (docs/operations.md, \"Installing the webhook without cert-manager\"):\n\n");
    for command in kubectl_commands(bundle, written, namespace, secret) {
        out.push_str(&command);
        out.push('\n');
    }
    out.push_str("\nRunning pods pick up a renewed Secret within a minute or two (the kubelet updates the\nvolume, the webhook reloads it); no restart is needed.\n");
    out
}

/// Check the Secret name (an RFC 1123 subdomain).
///
/// # Errors
/// When it is not one.
pub fn check_secret_name(secret: &str) -> Result<(), SelfSignedError> {
    check_subdomain("the Secret name (--secret)", secret)
}

#[cfg(test)]
mod tests;
