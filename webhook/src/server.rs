//! The HTTPS server: [`Server::new`] loads the certificate, binds the listener and starts the
//! caches; [`Server::run`] serves until shutdown, then drains in-flight reviews;
//! [`Server::router`] is exposed so tests drive the routes with `oneshot`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use kube::config::KubeConfigOptions;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::cache::ClusterFacts;
use crate::facts::SharedFacts;
use crate::metrics::{Metrics, SharedMetrics};
use crate::review::{Endpoint, error_status, review};
use crate::tls::{LoadCertificateError, ReloadingCertificate};

/// Largest AdmissionReview body accepted: 4 MiB. A ProtectionRequest or policy review is a few
/// KiB; the apiserver's own request limit is 3 MiB per object, and a review carries at most
/// two copies, so anything larger is not a review we could be sent. Larger bodies get 413.
pub const MAX_REVIEW_BYTES: usize = 4 * 1024 * 1024;

/// How the server runs. The CLI flags are the fields (see `protect-webhook --help`).
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Address to listen on for HTTPS. Loopback by default; the Deployment passes 0.0.0.0:8443.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// PEM certificate chain to serve; reloaded when the file changes.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: PathBuf,
    /// PEM private key of the certificate; reloaded when the file changes.
    #[arg(long, value_name = "FILE")]
    pub tls_key: PathBuf,
    /// Kubeconfig of the quorum cluster; without it, in-cluster config or $KUBECONFIG.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig to use (default: its current context).
    #[arg(long)]
    pub context: Option<String>,
    /// Quorum namespace whose policies, requests and Secrets to watch (default: all).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Deadline for a direct lookup on a primary cluster when its cache misses; keep it well
    /// under the webhook configuration's timeoutSeconds.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub cache_miss_timeout: Duration,
    /// How often to check the certificate files for changes.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub cert_check_interval: Duration,
    /// How long shutdown waits for in-flight reviews before closing connections.
    #[arg(long, default_value = "25s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
}

/// Parse `500ms`, `2s`, `1m`.
///
/// # Errors
/// Anything else, with the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |i| text.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 2s or 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{text:?} is not a duration like 500ms, 2s or 1m")),
    }
}

/// Why the server could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The certificate or key could not be loaded.
    #[error("cannot load the serving certificate: {0}")]
    LoadCertificate(#[from] LoadCertificateError),
    /// The TLS configuration could not be built.
    #[error("cannot configure TLS: {0}")]
    ConfigureTls(#[from] rustls::Error),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The quorum cluster's client configuration could not be loaded.
    #[error("cannot configure the quorum cluster client: {0}")]
    QuorumClient(String),
}

/// State shared by the routes.
#[derive(Clone)]
pub struct AppState {
    /// Where the facts come from.
    pub facts: SharedFacts,
    /// Metrics.
    pub metrics: SharedMetrics,
}

/// The admission server, bound and ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    certificate: Arc<ReloadingCertificate>,
    acceptor: TlsAcceptor,
    state: AppState,
    config: Config,
}

impl Server {
    /// Load the certificate, connect to the quorum cluster, start the caches and bind.
    ///
    /// # Errors
    /// When the certificate, the quorum kubeconfig or the listen address is unusable.
    pub async fn new(config: Config) -> Result<Self, ServerError> {
        let quorum = quorum_client(&config).await?;
        let facts = ClusterFacts::start(
            quorum,
            config.namespace.as_deref(),
            config.cache_miss_timeout,
        );
        Self::with_facts(config, facts).await
    }

    /// Like [`Server::new`], with the facts supplied (tests, or an embedding that builds its
    /// own caches).
    ///
    /// # Errors
    /// When the certificate or the listen address is unusable.
    pub async fn with_facts(config: Config, facts: SharedFacts) -> Result<Self, ServerError> {
        let metrics: SharedMetrics = Arc::new(Metrics::default());
        let certificate = Arc::new(ReloadingCertificate::load(
            &config.tls_cert,
            &config.tls_key,
            Some(Arc::clone(&metrics)),
        )?);
        let acceptor = TlsAcceptor::from(Arc::new(certificate.server_config()?));
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    address: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            address: config.listen,
            source,
        })?;
        Ok(Self {
            listener,
            local_addr,
            certificate,
            acceptor,
            state: AppState { facts, metrics },
            config,
        })
    }

    /// The bound address (with the real port when listening on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `https://<address>`, for a webhook configuration's `url` or a test client.
    pub fn url(&self) -> String {
        format!("https://{}", self.local_addr)
    }

    /// The serving certificate, e.g. to trigger a reload check in a test.
    pub fn certificate(&self) -> Arc<ReloadingCertificate> {
        Arc::clone(&self.certificate)
    }

    /// The routes, for `oneshot` tests.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serve until `shutdown` completes, then stop accepting, let in-flight reviews finish
    /// (up to the drain timeout) and return.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let reload = self.certificate.watch(self.config.cert_check_interval);
        let router = router(self.state.clone());
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        info!(address = %self.local_addr, "protect-webhook serving HTTPS");
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            warn!(%error, "accept failed");
                            continue;
                        }
                    };
                    let acceptor = self.acceptor.clone();
                    let service = TowerToHyperService::new(router.clone());
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(error)) => {
                                debug!(%peer, %error, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                        let builder = auto::Builder::new(TokioExecutor::new());
                        let connection = builder.serve_connection(TokioIo::new(tls), service);
                        if let Err(error) = watcher.watch(connection.into_owned()).await {
                            debug!(%peer, %error, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        reload.abort();
        drop(self.listener);
        info!("shutting down: draining in-flight reviews");
        if tokio::time::timeout(self.config.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            warn!("drain timeout elapsed; closing remaining connections");
        }
    }
}

async fn quorum_client(config: &Config) -> Result<kube::Client, ServerError> {
    let error = |e: &dyn std::fmt::Display| ServerError::QuorumClient(e.to_string());
    let client_config = match (&config.kubeconfig, &config.context) {
        (Some(path), context) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| error(&e))?;
            let options = KubeConfigOptions {
                context: context.clone(),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| error(&e))?
        }
        (None, Some(context)) => {
            let options = KubeConfigOptions {
                context: Some(context.clone()),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| error(&e))?
        }
        (None, None) => kube::Config::infer().await.map_err(|e| error(&e))?,
    };
    kube::Client::try_from(client_config).map_err(|e| error(&e))
}

/// All routes: `POST /validate`, `POST /mutate`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_REVIEW_BYTES))
        .with_state(state)
}

async fn validate(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    answer(Endpoint::Validate, &state, body).await
}

async fn mutate(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    answer(Endpoint::Mutate, &state, body).await
}

async fn answer(
    endpoint: Endpoint,
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "the AdmissionReview body is larger than the {} MiB limit of protect-webhook",
                    MAX_REVIEW_BYTES / (1024 * 1024)
                )
            } else {
                format!("cannot read the request body: {}", rejection.body_text())
            };
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "RequestEntityTooLarge"
            } else {
                "BadRequest"
            };
            let body = error_status(status.as_u16(), reason, &message).to_string();
            return json_response(status, body.into_bytes());
        }
    };
    let started = Instant::now();
    let reply = review(endpoint, &body, state.facts.as_ref()).await;
    state
        .metrics
        .observe_review(endpoint, &reply.outcome, started.elapsed());
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    json_response(status, reply.body)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.facts.synced() {
        (StatusCode::OK, "ok").into_response()
    } else {
        let waiting: Vec<String> = state
            .facts
            .cache_states()
            .into_iter()
            .filter(|c| !c.synced)
            .map(|c| c.cache)
            .collect();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("caches not synced: {}", waiting.join(", ")),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state.facts.cache_states());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
