//! Serving the client API on a listener.

use std::sync::Arc;

use crate::backend::Backend;
use crate::router::route;

/// Serves client requests on `listener` until the returned task is aborted. Each connection runs on its own
/// task; a slow client holds only its own.
pub fn serve(
    listener: tokio::net::TcpListener,
    backend: Arc<dyn Backend>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(serve_forever(listener, backend))
}

/// The accept loop of [`serve`], for callers that run it in a task of their own.
pub async fn serve_forever(listener: tokio::net::TcpListener, backend: Arc<dyn Backend>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let backend = backend.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let backend = backend.clone();
                async move { Ok::<_, std::convert::Infallible>(route(backend, request).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!("client connection ended: {e}");
            }
        });
    }
}
