//! Why a proxy could not start.

use std::path::PathBuf;

/// A proxy start-up failure.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The saved cluster file could not be read or written.
    #[error("proxy cluster file {path}: {reason}", path = .0.display(), reason = .1)]
    ClusterFile(PathBuf, String),
    /// No peer URL to find the cluster through.
    #[error("the proxy has no peer URLs to find the cluster through (--initial-cluster)")]
    NoPeers,
    /// A v3 proxy's settings cannot be used (an endpoint that is not an address, TLS missing for https).
    #[error("{0}")]
    Config(String),
}
