//! The members behind a grpc-proxy: one HTTP/2 connection (a tonic [`Channel`]) to the endpoint in use, and the
//! next endpoint taken when a call finds it unreachable.
//!
//! Endpoints are `host:port` or URLs; `https://` ones, or all of them when a CA or client certificate is given
//! (`--cacert`, `--cert`, `--key`), are dialled over TLS with ALPN `h2`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use parking_lot::RwLock;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// How long a dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The members, and the channel to the one in use.
pub(crate) struct Upstream {
    endpoints: Vec<Endpoint>,
    tls: Option<Arc<rustls::ClientConfig>>,
    current: RwLock<(usize, Channel)>,
}

impl Upstream {
    /// An upstream over `endpoints`; `tls` dials them over TLS.
    pub(crate) fn new(
        endpoints: &[String],
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Upstream, String> {
        let endpoints = endpoints
            .iter()
            .map(|e| {
                let e = e.trim();
                let https = e.starts_with("https://") || tls.is_some();
                let host = e
                    .strip_prefix("http://")
                    .or_else(|| e.strip_prefix("https://"))
                    .unwrap_or(e)
                    .trim_end_matches('/');
                let scheme = if https { "https" } else { "http" };
                Endpoint::from_shared(format!("{scheme}://{host}"))
                    .map(|e| {
                        e.connect_timeout(DIAL_TIMEOUT)
                            .tcp_nodelay(true)
                            .http2_keep_alive_interval(Duration::from_secs(10))
                            .keep_alive_timeout(Duration::from_secs(5))
                    })
                    .map_err(|err| format!("bad endpoint {e:?}: {err}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err("no endpoints".to_owned());
        }
        if endpoints
            .iter()
            .any(|e| e.uri().scheme_str() == Some("https"))
            && tls.is_none()
        {
            return Err("an https endpoint needs TLS settings".to_owned());
        }
        let channel = channel(&endpoints[0], tls.clone());
        Ok(Upstream {
            endpoints,
            tls,
            current: RwLock::new((0, channel)),
        })
    }

    /// The channel in use, and which endpoint it goes to (for [`Upstream::failed`]).
    pub(crate) fn channel(&self) -> (usize, Channel) {
        self.current.read().clone()
    }

    /// Reports that the endpoint `index` could not be reached: calls go to the next one from now on (unless
    /// another caller moved on already).
    pub(crate) fn failed(&self, index: usize) {
        let mut current = self.current.write();
        if current.0 != index {
            return;
        }
        let next = (index + 1) % self.endpoints.len();
        tracing::warn!(
            "grpc-proxy: endpoint {} unreachable, switching to {}",
            self.endpoints[index].uri(),
            self.endpoints[next].uri()
        );
        *current = (next, channel(&self.endpoints[next], self.tls.clone()));
    }

    /// Whether `status` says the member could not be reached (rather than answering an error).
    pub(crate) fn unreachable(status: &tonic::Status) -> bool {
        status.code() == tonic::Code::Unavailable
            && (status.message().contains("transport error")
                || status.message().contains("connection")
                || status.message().contains("tcp connect"))
    }
}

fn channel(endpoint: &Endpoint, tls: Option<Arc<rustls::ClientConfig>>) -> Channel {
    match tls {
        None => endpoint.connect_lazy(),
        Some(tls) => endpoint.connect_with_connector_lazy(TlsConnector(tls)),
    }
}

/// A stream that is plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Dials `https://` endpoints over TLS with ALPN `h2`, `http://` ones in the clear.
#[derive(Clone)]
struct TlsConnector(Arc<rustls::ClientConfig>);

impl tower_service::Service<Uri> for TlsConnector {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut config = (*self.0).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let config = Arc::new(config);
        Box::pin(async move {
            let host = uri.host().unwrap_or("localhost").to_owned();
            let port = uri.port_u16().unwrap_or(2379);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            if uri.scheme_str() != Some("https") {
                return Ok(TokioIo::new(Box::new(tcp) as Box<dyn Io>));
            }
            let name =
                rustls_pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok(TokioIo::new(Box::new(tls) as Box<dyn Io>))
        })
    }
}
