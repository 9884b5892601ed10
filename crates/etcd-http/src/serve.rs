//! Serving on a listener, in the clear or over TLS.

use std::sync::Arc;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};

use crate::router::route;
use etcd_api::v2::Backend;

/// Serves client requests on `listener` (over TLS with `tls`) until the returned task is aborted. Each
/// connection runs on its own task; a slow client holds only its own.
pub fn serve(
    listener: impl Into<etcd_tls::Bound> + Send + 'static,
    tls: Option<etcd_tls::TlsAcceptor>,
    backend: Arc<dyn Backend>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(serve_forever(listener, tls, backend))
}

/// The accept loop of [`serve`], for callers that run it in a task of their own.
pub async fn serve_forever(
    listener: impl Into<etcd_tls::Bound> + Send + 'static,
    tls: Option<etcd_tls::TlsAcceptor>,
    backend: Arc<dyn Backend>,
) {
    let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
    loop {
        let etcd_tls::Accepted { stream, permit, .. } = listener.accept().await;
        let backend = backend.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let backend = backend.clone();
                async move { Ok::<_, std::convert::Infallible>(route(backend, request).await) }
            });
            serve_connection(stream, tls.as_ref(), service).await;
        });
    }
}

/// Serves HTTP/1.1 on one accepted connection with `service`, after a TLS handshake when `tls` is given. A
/// failed handshake (or a plain-HTTP client on a TLS port, which gets a `400` first) ends the connection.
pub async fn serve_connection<S, B>(
    stream: etcd_tls::Conn,
    tls: Option<&etcd_tls::TlsAcceptor>,
    service: S,
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
    let result = http
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
}
