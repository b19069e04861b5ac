//! The command line of `protect-webhook`.
//!
//! Serving is the default: `protect-webhook --tls-cert … --tls-key …` (what the Deployment in
//! `deploy/webhook/` runs) and `protect-webhook serve --tls-cert … --tls-key …` are the same.
//! `protect-webhook self-signed --out DIR` writes a CA and a serving certificate for clusters
//! without cert-manager ([`crate::self_signed`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::self_signed::{DEFAULT_DAYS, DEFAULT_NAMESPACE, DEFAULT_SECRET, DEFAULT_SERVICE};
use crate::server::Config;

/// Validating and mutating admission webhook of kubectl-protect (HTTPS only).
///
/// Serves POST /validate and POST /mutate (AdmissionReview admission.k8s.io/v1), GET /healthz,
/// GET /readyz (ready once the quorum caches have synced) and GET /metrics. The certificate
/// and key are reloaded when their files change. SIGTERM or Ctrl-C stops accepting and drains
/// in-flight reviews.
///
/// Without a subcommand, serves with the flags below (same as `serve`).
#[derive(Debug, Parser)]
#[command(
    name = "protect-webhook",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// What to do; serving when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The serving flags, when no subcommand is given.
    #[command(flatten)]
    pub serve: Option<Config>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve admission over HTTPS (the default when no subcommand is given).
    Serve(Config),
    /// Generate a CA and a serving certificate for the webhook's Service, for clusters without
    /// cert-manager; print the caBundle and the kubectl commands that install them.
    ///
    /// Writes DIR/tls.crt, DIR/tls.key (mode 0600) and DIR/ca.crt. The certificate names
    /// <service>, <service>.<namespace>, <service>.<namespace>.svc and
    /// <service>.<namespace>.svc.cluster.local. The CA's key is not kept: renew by running
    /// this again and re-running the printed commands.
    SelfSigned(SelfSignedArgs),
}

/// Flags of `protect-webhook self-signed`.
#[derive(Clone, Debug, Args)]
pub struct SelfSignedArgs {
    /// Name of the webhook's Service.
    #[arg(long, default_value = DEFAULT_SERVICE)]
    pub service: String,
    /// Namespace of the Service and of the TLS Secret.
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Directory to write tls.crt, tls.key and ca.crt into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Validity of the CA and the serving certificate, in days (1 to 3650).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DAYS)]
    pub days: u32,
    /// Name of the TLS Secret the Deployment mounts, for the printed commands.
    #[arg(long, default_value = DEFAULT_SECRET)]
    pub secret: String,
    /// Replace tls.crt, tls.key and ca.crt when they exist in DIR.
    #[arg(long)]
    pub force: bool,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Action {
    /// Serve admission.
    Serve(Box<Config>),
    /// Write a self-signed bundle.
    SelfSigned(SelfSignedArgs),
}

impl Cli {
    /// What to do. `None` only if clap let through neither a subcommand nor the serving flags,
    /// which its required flags prevent.
    pub fn action(self) -> Option<Action> {
        match (self.command, self.serve) {
            (Some(Command::Serve(config)), _) | (None, Some(config)) => {
                Some(Action::Serve(Box::new(config)))
            }
            (Some(Command::SelfSigned(args)), _) => Some(Action::SelfSigned(args)),
            (None, None) => None,
        }
    }
}

/// Run `protect-webhook self-signed`: generate, write, and return what to print.
///
/// # Errors
/// Invalid names or validity, an existing file without `--force`, or a write failure; nothing
/// is written when the input is invalid.
pub fn self_signed(args: &SelfSignedArgs) -> Result<String, crate::self_signed::SelfSignedError> {
    use crate::self_signed;
    self_signed::check_secret_name(&args.secret)?;
    let bundle = self_signed::generate(&args.service, &args.namespace, args.days)?;
    let written = self_signed::write(&bundle, &args.out, args.force)?;
    Ok(self_signed::instructions(
        &bundle,
        &written,
        &args.service,
        &args.namespace,
        &args.secret,
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use clap::Parser as _;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Action, clap::Error> {
        let cli =
            Cli::try_parse_from(std::iter::once("protect-webhook").chain(args.iter().copied()))?;
        Ok(cli.action().expect("clap returns an action or an error"))
    }

    /// The `args:` of the webhook container in deploy/webhook/deployment.yaml.
    fn deployment_args() -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/webhook/deployment.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines().skip_while(|l| l.trim() != "args:").skip(1);
        let mut args = Vec::new();
        for line in lines.by_ref() {
            let Some(arg) = line.trim().strip_prefix("- ") else {
                break;
            };
            args.push(arg.trim_matches('"').to_owned());
        }
        assert!(args.len() >= 3, "no args found in {}", path.display());
        args
    }

    #[test]
    fn the_deployments_flags_serve_without_a_subcommand() {
        let args = deployment_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let Action::Serve(config) = parse(&args).unwrap() else {
            panic!("the Deployment's args do not serve");
        };
        assert_eq!(config.listen.to_string(), "0.0.0.0:8443");
        assert_eq!(
            config.tls_cert,
            PathBuf::from("/etc/protect-webhook/tls/tls.crt")
        );
        assert_eq!(
            config.tls_key,
            PathBuf::from("/etc/protect-webhook/tls/tls.key")
        );
        assert_eq!(config.namespace.as_deref(), Some("dr-deployment"));
        assert_eq!(config.cache_miss_timeout, Duration::from_secs(2));
    }

    #[test]
    fn serve_is_the_same_as_no_subcommand() {
        let flags = [
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--drain-timeout",
            "5s",
        ];
        let Action::Serve(bare) = parse(&flags).unwrap() else {
            panic!("bare flags do not serve")
        };
        let with: Vec<&str> = std::iter::once("serve").chain(flags).collect();
        let Action::Serve(explicit) = parse(&with).unwrap() else {
            panic!("serve does not serve")
        };
        assert_eq!(format!("{bare:?}"), format!("{explicit:?}"));
        assert_eq!(bare.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(bare.drain_timeout, Duration::from_secs(5));
    }

    #[test]
    fn serving_still_requires_the_certificate_flags() {
        for args in [&[][..], &["--tls-cert", "c.pem"][..], &["serve"][..]] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::MissingRequiredArgument, "{args:?}");
            assert!(error.to_string().contains("--tls-"), "{error}");
        }
    }

    #[test]
    fn self_signed_takes_its_flags_and_defaults_to_the_bundles_names() {
        let Action::SelfSigned(args) = parse(&["self-signed", "--out", "certs"]).unwrap() else {
            panic!("not self-signed")
        };
        assert_eq!(
            (
                args.service.as_str(),
                args.namespace.as_str(),
                args.secret.as_str(),
                args.days,
                args.force
            ),
            (
                "protect-webhook",
                "dr-deployment",
                "protect-webhook-tls",
                365,
                false
            )
        );
        assert_eq!(args.out, PathBuf::from("certs"));
        let Action::SelfSigned(args) = parse(&[
            "self-signed",
            "--service",
            "hook",
            "--namespace",
            "ops",
            "--out",
            "d",
            "--days",
            "30",
            "--force",
        ])
        .unwrap() else {
            panic!("not self-signed")
        };
        assert_eq!(
            (
                args.service.as_str(),
                args.namespace.as_str(),
                args.days,
                args.force
            ),
            ("hook", "ops", 30, true)
        );
    }

    #[test]
    fn self_signed_needs_out_and_does_not_mix_with_serving_flags() {
        let error = parse(&["self-signed"]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::MissingRequiredArgument);
        assert!(error.to_string().contains("--out"), "{error}");
        let error = parse(&[
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "self-signed",
            "--out",
            "d",
        ])
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict, "{error}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn an_invalid_secret_name_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("certs");
        let args = SelfSignedArgs {
            service: "protect-webhook".into(),
            namespace: "dr-deployment".into(),
            out: out.clone(),
            days: 365,
            secret: "Not_A_Secret".into(),
            force: false,
        };
        let error = self_signed(&args).unwrap_err().to_string();
        assert!(
            error.starts_with("the Secret name (--secret) \"Not_A_Secret\" is not valid: a lowercase RFC 1123 subdomain"),
            "{error}"
        );
        assert!(!out.exists());
    }
}
