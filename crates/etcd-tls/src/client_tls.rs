//! What a client dials with, as the project's own type: crates that dial (etcd-raft's transport) take it, so
//! no rustls type appears in their APIs and the rustls version stays this crate's business.

use std::sync::Arc;

use rustls::ClientConfig;

/// A client TLS configuration: the certificate presented and how servers are verified.
#[derive(Clone)]
pub struct ClientTls(Arc<ClientConfig>);

impl ClientTls {
    /// Dials with `config` (from [`TlsInfo::client_config`](crate::TlsInfo::client_config)).
    pub fn new(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls(config)
    }

    /// Presents no certificate and trusts no server: what a member without peer TLS dials `https://` peers
    /// with, so they stay unreachable rather than unverified.
    pub fn trusting_none() -> ClientTls {
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports TLS 1.2 and 1.3")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
        ClientTls(Arc::new(config))
    }

    /// The rustls configuration, for the connectors inside the crates that dial.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.0
    }
}

impl From<Arc<ClientConfig>> for ClientTls {
    fn from(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls(config)
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("alpn", &self.0.alpn_protocols)
            .finish_non_exhaustive()
    }
}
