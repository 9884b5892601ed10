//! How the transport dials a peer URL: `http://` and `https://` over TCP (hyper-rustls), `unix://` and
//! `unixs://` over a Unix socket whose path is the URL's `host:port` text (etcd's rule), in the clear or over TLS
//! (the host part is the name the peer's certificate is checked against).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Dials peers by URL scheme (a hyper-util client connector).
#[derive(Clone)]
pub(crate) struct PeerConnector {
    https: HttpsConnector<HttpConnector>,
    tls: Arc<rustls::ClientConfig>,
}

impl PeerConnector {
    /// A connector presenting and checking certificates with `tls` (for `https://` and `unixs://` peers).
    pub(crate) fn new(tls: Arc<rustls::ClientConfig>) -> PeerConnector {
        // No Nagle: peer messages are small and latency-bound; with Nagle and delayed ACKs a frame can wait 40 ms.
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        PeerConnector { https, tls }
    }
}

/// A connection to a peer.
pub(crate) enum PeerStream {
    /// `http://` or `https://`.
    Tcp(Box<MaybeHttpsStream<TokioIo<TcpStream>>>),
    /// `unix://`.
    Unix(TokioIo<UnixStream>),
    /// `unixs://`.
    UnixTls(Box<TokioIo<TlsStream<UnixStream>>>),
}

impl tower_service::Service<Uri> for PeerConnector {
    type Response = PeerStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<PeerStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.https.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let secure = match uri.scheme_str() {
            Some("unix") => false,
            Some("unixs") => true,
            _ => {
                let connecting = self.https.call(uri);
                return Box::pin(async move { Ok(PeerStream::Tcp(Box::new(connecting.await?))) });
            }
        };
        let tls = self.tls.clone();
        Box::pin(async move {
            let authority = uri
                .authority()
                .ok_or_else(|| format!("{uri}: no socket path"))?
                .as_str()
                .to_owned();
            let stream = UnixStream::connect(&authority).await?;
            if !secure {
                return Ok(PeerStream::Unix(TokioIo::new(stream)));
            }
            let host = uri.host().unwrap_or_default().to_owned();
            let name = rustls_pki_types::ServerName::try_from(host)?;
            let tls = tokio_rustls::TlsConnector::from(tls)
                .connect(name, stream)
                .await?;
            Ok(PeerStream::UnixTls(Box::new(TokioIo::new(tls))))
        })
    }
}

impl Connection for PeerStream {
    fn connected(&self) -> Connected {
        match self {
            PeerStream::Tcp(s) => s.connected(),
            PeerStream::Unix(_) | PeerStream::UnixTls(_) => Connected::new(),
        }
    }
}

impl Read for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            PeerStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::UnixTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            PeerStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            PeerStream::UnixTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s.as_mut()).poll_flush(cx),
            PeerStream::Unix(s) => Pin::new(s).poll_flush(cx),
            PeerStream::UnixTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            PeerStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::UnixTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
