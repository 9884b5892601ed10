//! TLS for etcd-in-Rust, with etcd's semantics, on rustls.
//!
//! etcd configures TLS twice, for clients and for peers, from the same set of flags (`--cert-file`,
//! `--key-file`, `--trusted-ca-file`, `--client-cert-auth`, `--client-crl-file`, `--auto-tls`, their `--peer-`
//! twins, `--peer-cert-allowed-cn` and `--cipher-suites`). A [`TlsInfo`] holds one side's flags and builds
//! the rustls server configuration to listen with and the client configuration to dial with:
//!
//! - a trusted CA file alone turns client-certificate checking on;
//! - a CRL file refuses revoked client certificates;
//! - `--peer-cert-allowed-cn` refuses a client certificate with another Common Name;
//! - auto TLS ([`self_signed`]) writes a self-signed certificate for the listen hosts once and reuses it;
//!   dialing with it does not verify servers, as etcd's `InsecureSkipVerify`;
//! - certificates, keys (RSA, ECDSA, Ed25519; PKCS#8, SEC1, PKCS#1) and CRLs are read from PEM, and every
//!   error names the file.
//!
//! [`TlsAcceptor`] completes handshakes on accepted connections and answers a plain-HTTP client at once with
//! Go's `400 Client sent an HTTP request to an HTTPS server.` instead of leaving it hanging.
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), etcd_tls::TlsError> {
//! let dir = tempfile::tempdir().unwrap();
//! let info = etcd_tls::self_signed(&dir.path().join("fixtures/client"), &["127.0.0.1".to_owned()])?;
//! assert!(info.self_signed && dir.path().join("fixtures/client/cert.pem").exists());
//! let server = info.server_config()?; // to listen with
//! let client = info.client_config()?; // to dial other members with
//! # let _ = (server, client);
//! # Ok(())
//! # }
//! ```

mod acceptor;
mod auto;
mod cipher;
mod client_check;
mod client_tls;
mod conn;
mod either_stream;
mod error;
mod info;
mod listener;
mod pem;
mod remote_error;
#[cfg(feature = "testing")]
pub mod testing;

pub use crate::{
    acceptor::{TlsAcceptor, handshake},
    auto::self_signed,
    client_tls::ClientTls,
    conn::{Bound, Conn, SocketFile},
    either_stream::{ClientCommonName, MaybeTls},
    error::TlsError,
    info::TlsInfo,
    listener::{Accepted, CONNECTION_GRACE, DEFAULT_MAX_CONNECTIONS, Listener, serve_until},
    remote_error::remote_tls_error,
};
/// The rustls configuration types the builders return.
pub use rustls::{ClientConfig, ServerConfig};
