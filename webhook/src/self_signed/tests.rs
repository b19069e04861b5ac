//! The generated bundle verifies as the apiserver would verify it (webpki through rustls: chain
//! to the CA, name, validity, serverAuth), loads as the server's certificate, and bad input is
//! refused with a message naming the flag and the rule.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::*;

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// Verify `bundle`'s serving certificate for `name` at `at`, trusting only `ca_pem`.
fn verify(bundle: &Bundle, ca_pem: &str, name: &str, at: SystemTime) -> Result<(), rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(der(ca_pem)).unwrap();
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), crate::tls::provider())
            .build()
            .unwrap();
    let since_epoch = at.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    verifier
        .verify_server_cert(
            &der(&bundle.cert_pem),
            &[],
            &ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            UnixTime::since_unix_epoch(since_epoch),
        )
        .map(|_| ())
}

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn the_serving_certificate_verifies_against_the_ca_for_each_service_name() {
    let now = SystemTime::now();
    let bundle = generate_at("protect-webhook", "dr-deployment", 30, now).unwrap();
    assert_eq!(
        bundle.dns_names,
        [
            "protect-webhook",
            "protect-webhook.dr-deployment",
            "protect-webhook.dr-deployment.svc",
            "protect-webhook.dr-deployment.svc.cluster.local",
        ]
    );
    for name in &bundle.dns_names {
        verify(&bundle, &bundle.ca_pem, name, now)
            .unwrap_or_else(|e| panic!("{name} does not verify: {e}"));
    }
}

#[test]
fn the_certificate_is_refused_for_other_names_other_cas_and_outside_its_validity() {
    let now = SystemTime::now();
    let bundle = generate_at("protect-webhook", "dr-deployment", 30, now).unwrap();
    let name = "protect-webhook.dr-deployment.svc";
    for other in [
        "protect-webhook.other.svc",
        "other.dr-deployment.svc",
        "localhost",
    ] {
        assert!(
            matches!(
                verify(&bundle, &bundle.ca_pem, other, now),
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{other} was accepted"
        );
    }
    // Another run's CA has the same subject, so webpki tries it and its signature fails.
    let stranger = generate_at("protect-webhook", "dr-deployment", 30, now).unwrap();
    let error = verify(&bundle, &stranger.ca_pem, name, now).unwrap_err();
    assert!(
        matches!(
            error,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadSignature | rustls::CertificateError::UnknownIssuer
            )
        ),
        "against another run's CA: {error:?}"
    );
    // Valid from an hour before it was made (clock skew) until `days` after.
    verify(
        &bundle,
        &bundle.ca_pem,
        name,
        now - Duration::from_secs(3000),
    )
    .unwrap();
    verify(
        &bundle,
        &bundle.ca_pem,
        name,
        now + 30 * DAY - Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(bundle.not_after, now + 30 * DAY);
    for (at, expected) in [
        (now + 30 * DAY + Duration::from_secs(60), "expired"),
        (now - Duration::from_secs(7200), "not yet valid"),
    ] {
        let error = verify(&bundle, &bundle.ca_pem, name, at).unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                        | rustls::CertificateError::ExpiredContext { .. }
                        | rustls::CertificateError::NotValidYet
                        | rustls::CertificateError::NotValidYetContext { .. }
                )
            ),
            "{expected}: {error}"
        );
    }
}

#[test]
fn the_written_files_load_as_the_servers_certificate_and_the_key_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new/certs");
    let bundle = generate("protect-webhook", "dr-deployment", 365).unwrap();
    let written = write(&bundle, &out, false).unwrap();
    let out = out.canonicalize().unwrap();
    assert_eq!(
        written,
        Written {
            cert: out.join("tls.crt"),
            key: out.join("tls.key"),
            ca: out.join("ca.crt"),
        }
    );
    assert_eq!(std::fs::read_to_string(&written.ca).unwrap(), bundle.ca_pem);
    let (certified, _) =
        crate::tls::load(&written.cert, &written.key, &crate::tls::provider()).unwrap();
    assert_eq!(certified.cert, vec![der(&bundle.cert_pem)]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&written.key), 0o600);
    }
}

#[test]
fn existing_files_are_kept_unless_forced_and_the_key_stays_private_when_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.crt"), "old CA").unwrap();
    let bundle = generate("protect-webhook", "dr-deployment", 365).unwrap();
    let error = write(&bundle, dir.path(), false).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{} already exists; pass --force to overwrite tls.crt, tls.key and ca.crt",
            dir.path().canonicalize().unwrap().join("ca.crt").display()
        )
    );
    assert!(!dir.path().join("tls.key").exists(), "nothing is written");
    assert!(!dir.path().join("tls.crt").exists(), "nothing is written");

    // A key file left world-readable by someone else is replaced by a private one.
    std::fs::write(dir.path().join("tls.key"), "old key").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.path().join("tls.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let written = write(&bundle, dir.path(), true).unwrap();
    assert_eq!(std::fs::read_to_string(&written.ca).unwrap(), bundle.ca_pem);
    assert_eq!(
        std::fs::read_to_string(&written.key).unwrap(),
        bundle.key_pem
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&written.key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn bad_names_and_validities_are_refused_with_the_rule() {
    let cases: [(&str, &str, u32, &str); 9] = [
        (
            "",
            "dr-deployment",
            365,
            "the Service name (--service) \"\" is not valid: it is empty",
        ),
        (
            "protect-webhook",
            "",
            365,
            "the namespace (--namespace) \"\" is not valid: it is empty",
        ),
        (
            "Protect-Webhook",
            "dr-deployment",
            365,
            "the Service name (--service) \"Protect-Webhook\" is not valid: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123')",
        ),
        (
            "1webhook",
            "dr-deployment",
            365,
            "the Service name (--service) \"1webhook\" is not valid: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123')",
        ),
        (
            "protect-webhook",
            "dr.deployment",
            365,
            "the namespace (--namespace) \"dr.deployment\" is not valid: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')",
        ),
        (
            "protect-webhook",
            "dr-deployment-",
            365,
            "the namespace (--namespace) \"dr-deployment-\" is not valid: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')",
        ),
        (
            "protect_webhook",
            "dr-deployment",
            365,
            "the Service name (--service) \"protect_webhook\" is not valid: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123')",
        ),
        (
            "protect-webhook",
            "dr-deployment",
            0,
            "--days 0 is out of range: give a validity of 1 to 3650 days",
        ),
        (
            "protect-webhook",
            "dr-deployment",
            3651,
            "--days 3651 is out of range: give a validity of 1 to 3650 days",
        ),
    ];
    for (service, namespace, days, expected) in cases {
        let error = generate(service, namespace, days).unwrap_err();
        assert_eq!(error.to_string(), expected);
    }
    let long = "a".repeat(64);
    assert_eq!(
        generate(&long, "dr-deployment", 1).unwrap_err().to_string(),
        format!(
            "the Service name (--service) \"{long}\" is not valid: it has 64 characters; a DNS-1035 label has at most 63"
        )
    );
    // The longest names that are valid still make a certificate.
    let longest = "a".repeat(63);
    let bundle = generate(&longest, &longest, 1).unwrap();
    verify(
        &bundle,
        &bundle.ca_pem,
        &format!("{longest}.{longest}.svc.cluster.local"),
        SystemTime::now(),
    )
    .unwrap();
}

#[test]
fn secret_names_are_rfc_1123_subdomains() {
    check_secret_name("protect-webhook-tls").unwrap();
    check_secret_name("webhook.tls").unwrap();
    for bad in ["", "TLS", "tls.", ".tls", "tls..x", "tls_x"] {
        assert!(check_secret_name(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn the_commands_install_the_secret_and_patch_both_configurations_by_webhook_name() {
    let bundle = generate("protect-webhook", "dr-deployment", 365).unwrap();
    let written = Written {
        cert: "/tmp/my certs/tls.crt".into(),
        key: "/tmp/my certs/tls.key".into(),
        ca: "/tmp/my certs/ca.crt".into(),
    };
    let ca = bundle.ca_bundle();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&ca)
            .unwrap(),
        bundle.ca_pem.as_bytes()
    );
    assert_eq!(
        kubectl_commands(&bundle, &written, "dr-deployment", "protect-webhook-tls"),
        [
            "kubectl -n dr-deployment create secret tls protect-webhook-tls '--cert=/tmp/my certs/tls.crt' '--key=/tmp/my certs/tls.key' --dry-run=client -o yaml | kubectl apply -f -".to_owned(),
            format!(
                r#"kubectl patch validatingwebhookconfiguration protect-webhook --type=strategic -p '{{"webhooks":[{{"name":"validate.protect.siterecovery.trilio.io","clientConfig":{{"caBundle":"{ca}"}}}}]}}'"#
            ),
            format!(
                r#"kubectl patch mutatingwebhookconfiguration protect-webhook --type=strategic -p '{{"webhooks":[{{"name":"mutate.protect.siterecovery.trilio.io","clientConfig":{{"caBundle":"{ca}"}}}}]}}'"#
            ),
        ]
    );
    let text = instructions(
        &bundle,
        &written,
        "protect-webhook",
        "dr-deployment",
        "protect-webhook-tls",
    );
    assert!(text.contains(&format!("caBundle:\n{ca}\n")), "{text}");
}

#[test]
fn shell_words_are_quoted_only_when_needed() {
    assert_eq!(shell_word("--cert=/a/b.crt"), "--cert=/a/b.crt");
    assert_eq!(shell_word("a b"), "'a b'");
    assert_eq!(shell_word("it's"), r"'it'\''s'");
    assert_eq!(shell_word(""), "''");
    assert_eq!(shell_word("$HOME"), "'$HOME'");
}
