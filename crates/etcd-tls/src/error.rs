//! Why a TLS set-up failed; every error about a file names it.

use std::path::PathBuf;

/// A TLS configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CRL file could not be read or parsed.
    #[error("cannot read {what} {}: {reason}", path.display())]
    File {
        /// What the file should hold ("certificate file", "key file", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key does not belong to the certificate.
    #[error("the key in {} does not match the certificate in {}: {reason}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// Only one of a certificate and a key was given.
    #[error("{0}")]
    Incomplete(String),
    /// A cipher suite rustls does not offer.
    #[error(
        "cipher suite {0} is not supported (rustls offers only AEAD suites with ECDHE: {1}); TLS 1.3 suites are always on"
    )]
    CipherSuite(String, String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// Auto TLS could not make or store its certificate.
    #[error("auto TLS in {}: {reason}", dir.display())]
    AutoTls {
        /// Where the certificate goes.
        dir: PathBuf,
        /// Why it failed.
        reason: String,
    },
}
