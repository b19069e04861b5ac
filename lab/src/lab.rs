//! The lab: named clusters, each with its own CA, loopback HTTPS listener and store, and the
//! kubeconfig that reaches them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::cluster::{Cluster, ClusterConfig, ClusterState, UserInfo};

/// Why the lab could not start or write its kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("generating the certificates of cluster {cluster}: {source}")]
    Certificate {
        cluster: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("configuring TLS of cluster {cluster}: {source}")]
    Tls {
        cluster: String,
        #[source]
        source: rustls::Error,
    },
    #[error("binding the listener of cluster {cluster}: {source}")]
    Bind {
        cluster: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the kubeconfig to {path}: {source}")]
    WriteKubeconfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("duplicate cluster name {0}")]
    DuplicateCluster(String),
}

/// A running set of emulated clusters. Dropping it stops them.
pub struct Lab {
    clusters: Vec<Cluster>,
    shutdown: watch::Sender<bool>,
    servers: JoinSet<()>,
}

impl Lab {
    /// Starts one cluster per name, each on `127.0.0.1:0` with a fresh CA.
    pub async fn start(names: &[&str]) -> Result<Lab, LabError> {
        Self::start_with(names, ClusterConfig::default()).await
    }

    /// Starts clusters with explicit tunables (small watch windows, fast bookmarks…).
    pub async fn start_with(names: &[&str], config: ClusterConfig) -> Result<Lab, LabError> {
        let (shutdown, _) = watch::channel(false);
        let mut lab = Lab {
            clusters: Vec::new(),
            shutdown,
            servers: JoinSet::new(),
        };
        for name in names {
            if lab.clusters.iter().any(|c| c.name() == *name) {
                return Err(LabError::DuplicateCluster(name.to_string()));
            }
            let cluster = lab.start_cluster(name, config.clone()).await?;
            lab.clusters.push(cluster);
        }
        Ok(lab)
    }

    async fn start_cluster(
        &mut self,
        name: &str,
        config: ClusterConfig,
    ) -> Result<Cluster, LabError> {
        let cert_err = |source| LabError::Certificate {
            cluster: name.to_string(),
            source,
        };
        let ca_key = rcgen::KeyPair::generate().map_err(cert_err)?;
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("protect-lab-{name}-ca"));
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_err)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let server_key = rcgen::KeyPair::generate().map_err(cert_err)?;
        let mut server_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .map_err(cert_err)?;
        server_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-apiserver");
        server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(cert_err)?;

        let tls_err = |source| LabError::Tls {
            cluster: name.to_string(),
            source,
        };
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .map_err(tls_err)?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| LabError::Bind {
                cluster: name.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| LabError::Bind {
            cluster: name.to_string(),
            source,
        })?;

        let state = Arc::new(ClusterState::new(name, config));
        *state.address.lock().unwrap_or_else(|e| e.into_inner()) = addr.to_string();
        let token = format!("{name}-{}", uuid::Uuid::new_v4().simple());
        state.add_user(&token, UserInfo::admin());
        crate::server::seed(&state);

        let router = crate::server::router(state.clone());
        self.servers.spawn(serve(
            listener,
            TlsAcceptor::from(Arc::new(tls)),
            router,
            self.shutdown.subscribe(),
            addr,
            state.faults.clone(),
        ));
        tracing::info!(cluster = name, %addr, "cluster serving");
        Ok(Cluster {
            state,
            url: format!("https://{addr}"),
            ca_pem: ca_cert.pem(),
            token,
        })
    }

    /// The clusters, in the order they were started.
    pub fn clusters(&self) -> &[Cluster] {
        &self.clusters
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name() == name)
    }

    /// A kubeconfig with one context per cluster, named after it; the first is current.
    pub fn kubeconfig(&self) -> String {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut clusters = String::new();
        let mut contexts = String::new();
        let mut users = String::new();
        for c in &self.clusters {
            let n = c.name();
            clusters.push_str(&format!(
                "- name: {n}\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n",
                c.url(),
                b64(c.ca_pem())
            ));
            contexts.push_str(&format!(
                "- name: {n}\n  context:\n    cluster: {n}\n    user: {n}-admin\n"
            ));
            users.push_str(&format!(
                "- name: {n}-admin\n  user:\n    token: {}\n",
                c.token()
            ));
        }
        let current = self.clusters.first().map(|c| c.name()).unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\npreferences: {{}}\ncurrent-context: {current}\nclusters:\n{clusters}contexts:\n{contexts}users:\n{users}"
        )
    }

    /// Writes [`Lab::kubeconfig`] to `path` (mode 0600: it holds bearer tokens).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), LabError> {
        let err = |source| LabError::WriteKubeconfig {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        std::fs::write(path, self.kubeconfig()).map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
        Ok(())
    }

    /// Stops every listener and open connection (watches end) and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.servers.join_next().await.is_some() {}
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.servers.abort_all();
    }
}

async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
    addr: SocketAddr,
    faults: Arc<crate::faults::Injector>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                // A partition resets new connections and cuts open ones (faults.rs).
                let Some(tcp) = faults.refuse_if_partitioned(tcp) else { continue };
                let acceptor = acceptor.clone();
                let service = TowerToHyperService::new(router.clone());
                connections.spawn(faults.clone().severable(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    if let Err(error) = builder.serve_connection(TokioIo::new(tls), service).await {
                        tracing::debug!(%error, "connection ended");
                    }
                }));
            }
            _ = shutdown.changed() => break,
        }
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    tracing::info!(%addr, "cluster stopped");
}
