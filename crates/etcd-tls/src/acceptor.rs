//! Accepting TLS connections on a listener, with a quick answer for a plain-HTTP client.

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::conn::Conn;
use crate::either_stream::MaybeTls;

/// How long a client may take to complete the handshake (or send its first byte).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// What Go's HTTPS server answers a plain-HTTP request with, so clients see the same message from us.
const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// How long a refused plain-HTTP client is given to read the answer before the socket is closed.
const LINGER: Duration = Duration::from_secs(1);

/// Reads and drops what the client sent until it closes (or `LINGER` passes). Closing a socket with unread
/// bytes makes the kernel send a reset, which can reach the client before it has read our answer.
async fn drain_before_close(stream: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Completes TLS handshakes for a server configuration.
#[derive(Clone)]
pub struct TlsAcceptor(tokio_rustls::TlsAcceptor, bool);

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsAcceptor")
    }
}

impl TlsAcceptor {
    /// An acceptor serving with `config`.
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor(tokio_rustls::TlsAcceptor::from(config), false)
    }

    /// The same acceptor on a port that also serves plain HTTP (`http://` and `https://` URLs on one address, as
    /// etcd allows): a connection that does not begin with a TLS handshake is served in the clear.
    pub fn with_plain_http(&self) -> TlsAcceptor {
        TlsAcceptor(self.0.clone(), true)
    }

    /// Whether plain HTTP is served beside TLS.
    pub fn serves_plain_http(&self) -> bool {
        self.1
    }

    /// The same acceptor offering these ALPN protocols, in preference order (the client port offers `h2` for
    /// gRPC before `http/1.1`, as etcd does; gRPC clients refuse a TLS server without `h2`).
    pub fn with_alpn(&self, protocols: &[&[u8]]) -> TlsAcceptor {
        let mut config = (**self.0.config()).clone();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        TlsAcceptor(tokio_rustls::TlsAcceptor::from(Arc::new(config)), self.1)
    }

    /// Completes the handshake on `stream`. A client that speaks plain HTTP gets Go's `400` answer and the
    /// connection is closed; a client that stalls is dropped after a timeout; either way this returns an
    /// error, as for a failed handshake (an unknown CA, a revoked or refused certificate).
    pub async fn accept(&self, stream: TcpStream) -> std::io::Result<TlsStream<Conn>> {
        match self.accept_either(Conn::Tcp(stream)).await? {
            MaybeTls::Tls(stream) => Ok(*stream),
            MaybeTls::Plain(_) => Err(std::io::Error::other("a plain connection")),
        }
    }

    /// Completes the handshake on `stream`, or (on a TCP port that also serves plain HTTP, and for a connection
    /// that does not begin with one) hands the connection back as it is. Otherwise as [`TlsAcceptor::accept`].
    pub async fn accept_either(&self, stream: Conn) -> std::io::Result<MaybeTls> {
        let mut stream = match stream {
            Conn::Tcp(stream) => stream,
            // A `unixs://` socket is TLS only: there is no plain HTTP to tell apart.
            unix @ Conn::Unix(_) => {
                let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.0.accept(unix))
                    .await
                    .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
                return Ok(MaybeTls::Tls(Box::new(tls)));
            }
        };
        let mut first = [0u8; 1];
        let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first))
            .await
            .map_err(|_| std::io::Error::other("no TLS handshake before the timeout"))??;
        if peeked == 1 && first[0] != TLS_HANDSHAKE_RECORD {
            if self.1 {
                return Ok(MaybeTls::Plain(Conn::Tcp(stream)));
            }
            let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
            let _ = stream.shutdown().await;
            drain_before_close(&mut stream).await;
            return Err(std::io::Error::other(
                "a plain-HTTP request on an HTTPS port",
            ));
        }
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.0.accept(Conn::Tcp(stream)))
            .await
            .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
        Ok(MaybeTls::Tls(Box::new(tls)))
    }
}

/// `stream` after the TLS handshake when the port has an acceptor, as it is when it has none; `None` when the
/// handshake failed (already logged, and the connection closed), so a server just drops the connection.
pub async fn handshake(stream: Conn, tls: Option<&TlsAcceptor>) -> Option<MaybeTls> {
    match tls {
        None => Some(MaybeTls::Plain(stream)),
        Some(acceptor) => match acceptor.accept_either(stream).await {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::debug!("TLS handshake failed: {e}");
                None
            }
        },
    }
}
