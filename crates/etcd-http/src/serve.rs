//! Serving on a listener, in the clear or over TLS.

use std::sync::Arc;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::router::route;
use etcd_api::v2::Backend;

/// Serves client requests on `listener` (over TLS with `tls`) in a task of its own, until `shutdown` is
/// cancelled and its connections have finished ([`serve_until`]).
pub fn serve(
    listener: impl Into<etcd_tls::Bound> + Send + 'static,
    tls: Option<etcd_tls::TlsAcceptor>,
    backend: Arc<dyn Backend>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(serve_until(listener, tls, backend, shutdown))
}

/// The accept loop of [`serve`]. Each connection runs on its own task (a slow client holds only its own); once
/// `shutdown` is cancelled no connection is accepted, each one answers what it is answering and closes, and this
/// returns when all have ended.
pub async fn serve_until(
    listener: impl Into<etcd_tls::Bound> + Send + 'static,
    tls: Option<etcd_tls::TlsAcceptor>,
    backend: Arc<dyn Backend>,
    shutdown: CancellationToken,
) {
    let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
    let connections = TaskTracker::new();
    while let Some(etcd_tls::Accepted { stream, permit, .. }) =
        listener.accept_until(&shutdown).await
    {
        let backend = backend.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let backend = backend.clone();
                async move { Ok::<_, std::convert::Infallible>(route(backend, request).await) }
            });
            serve_connection(stream, tls.as_ref(), service, &shutdown).await;
        });
    }
    connections.close();
    connections.wait().await;
}

/// Serves HTTP/1.1 on one accepted connection with `service`, after a TLS handshake when `tls` is given. A
/// failed handshake (or a plain-HTTP client on a TLS port, which gets a `400` first) ends the connection. Once
/// `shutdown` is cancelled the request in flight is answered and the connection closed
/// ([`etcd_tls::serve_until`]).
pub async fn serve_connection<S, B>(
    stream: etcd_tls::Conn,
    tls: Option<&etcd_tls::TlsAcceptor>,
    service: S,
    shutdown: &tokio_util::sync::CancellationToken,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Answers are small and latency-bound: no Nagle (set when the connection was accepted).
    let mut http = hyper::server::conn::http1::Builder::new();
    // Header names as Go writes them (`X-Etcd-Index`, `Content-Type`), for clients that compare them exactly.
    http.title_case_headers(true);
    let Some(stream) = etcd_tls::handshake(stream, tls).await else {
        return;
    };
    let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    let finished = etcd_tls::serve_until(connection, shutdown, |c| c.graceful_shutdown()).await;
    if let Some(Err(e)) = finished {
        tracing::debug!("connection ended: {e}");
    }
}
