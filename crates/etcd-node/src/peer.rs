//! The peer port: raft traffic for `etcd-raft`, and `/members` and `/version` for joining members and proxies.

use std::sync::Arc;

use etcd_http::{Backend, ResponseBody};
use etcd_raft::RaftHandle;
use http_body_util::BodyExt;
use hyper::{Request, Response};

use crate::server::Server;

/// Serves the peer port on `listener` until the task is aborted.
pub fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<etcd_tls::TlsAcceptor>,
    raft: RaftHandle,
    server: Arc<Server>,
    cluster_id: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let raft = raft.clone();
            let server = server.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let raft = raft.clone();
                    let server = server.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            answer(request, &raft, server, cluster_id).await,
                        )
                    }
                });
                etcd_http::serve_connection(stream, tls.as_ref(), service).await;
            });
        }
    })
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    raft: &RaftHandle,
    server: Arc<Server>,
    cluster_id: u64,
) -> Response<ResponseBody> {
    // A member removed from the cluster is told so (410), and stops, as etcd's peers answer it.
    let removed = |id: u64| server.is_removed(id);
    match etcd_raft::serve_raft(request, raft, cluster_id, &removed).await {
        Ok(response) => response.map(|body| body.boxed_unsync()),
        Err(request) => etcd_http::route_peer(server as Arc<dyn Backend>, request).await,
    }
}
