//! etcd's `gateway`: an L4 proxy. Each client connection is joined byte for byte to one endpoint (TLS, gRPC and
//! HTTP pass through untouched). An endpoint that refuses a connection is left out for `retry_delay`, and the
//! next is tried; with none left the client connection is closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};

/// How long a dial may take before the endpoint counts as down.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The endpoints behind a gateway, with when each last failed.
#[derive(Debug)]
pub struct TcpGateway {
    endpoints: Vec<(String, Mutex<Option<Instant>>)>,
    retry_delay: Duration,
    next: AtomicUsize,
}

impl TcpGateway {
    /// A gateway to `endpoints` (`host:port`, or URLs whose scheme is dropped as etcd drops it).
    pub fn new(endpoints: &[String], retry_delay: Duration) -> TcpGateway {
        TcpGateway {
            endpoints: endpoints
                .iter()
                .map(|e| {
                    let e = e.trim();
                    let e = e
                        .strip_prefix("http://")
                        .or_else(|| e.strip_prefix("https://"))
                        .unwrap_or(e);
                    (e.trim_end_matches('/').to_owned(), Mutex::new(None))
                })
                .collect(),
            retry_delay,
            next: AtomicUsize::new(0),
        }
    }

    /// The endpoints, as dialled.
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.iter().map(|(e, _)| e.clone()).collect()
    }

    /// Accepts clients on `listener` and joins each to an endpoint, until `shutdown` is cancelled; the joined
    /// connections then have [`etcd_tls::CONNECTION_GRACE`] to end before they are cut.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: CancellationToken) {
        let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
        let connections = TaskTracker::new();
        while let Some(accepted) = listener.accept_until(&shutdown).await {
            let gateway = self.clone();
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let _permit = accepted.permit;
                // Bytes are relayed as they come: there is no request boundary to finish at.
                etcd_tls::serve_until(gateway.join(accepted.stream), &shutdown, |_| {}).await;
            });
        }
        connections.close();
        connections.wait().await;
    }

    async fn join(&self, mut client: etcd_tls::Conn) {
        let Some(mut remote) = self.dial().await else {
            tracing::warn!("gateway: no endpoint is reachable; closing the client connection");
            return;
        };
        let _ = remote.set_nodelay(true);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut remote).await;
    }

    /// A connection to the next endpoint that takes one, starting after the last one used.
    async fn dial(&self) -> Option<TcpStream> {
        let n = self.endpoints.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let (addr, failed) = &self.endpoints[(start + i) % n];
            if failed
                .lock()
                .is_some_and(|at| at.elapsed() < self.retry_delay)
            {
                continue;
            }
            match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr.as_str())).await {
                Ok(Ok(stream)) => {
                    *failed.lock() = None;
                    return Some(stream);
                }
                Ok(Err(e)) => tracing::warn!("gateway: failed to connect to {addr}: {e}"),
                Err(_) => tracing::warn!("gateway: connecting to {addr} timed out"),
            }
            *failed.lock() = Some(Instant::now());
        }
        None
    }
}
