//! The peer port: raft traffic for `etcd-raft`, and `/members` and `/version` for joining members and proxies.

use std::sync::Arc;

use etcd_http::{Backend, ResponseBody};
use etcd_server::Server;
use http_body_util::BodyExt;
use hyper::{Request, Response};

/// Serves the peer port on `listener` until the task is aborted.
pub fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<etcd_tls::TlsAcceptor>,
    server: Arc<Server>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
        loop {
            let accepted = listener.accept().await;
            let server = server.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let _permit = accepted.permit;
                let service = hyper::service::service_fn(move |request| {
                    let server = server.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(request, server).await) }
                });
                etcd_http::serve_connection(accepted.stream, tls.as_ref(), service).await;
            });
        }
    })
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    server: Arc<Server>,
) -> Response<ResponseBody> {
    // A member removed from the cluster is told so (410), and stops, as etcd's peers answer it.
    let removed = |id: u64| server.is_removed(id);
    match etcd_raft::serve_raft(request, server.raft(), server.cluster_id(), &removed).await {
        Ok(response) => response.map(|body| body.boxed_unsync()),
        Err(request) => etcd_http::route_peer(server as Arc<dyn Backend>, request).await,
    }
}
