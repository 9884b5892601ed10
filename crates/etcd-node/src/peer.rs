//! The peer port: raft traffic for `etcd-raft`, and `/members` and `/version` for joining members and proxies.

use std::sync::Arc;

use etcd_http::Backend;
use etcd_raft::RaftHandle;
use http_body_util::BodyExt;

/// Serves the peer port on `listener` until the task is aborted.
pub fn serve(
    listener: tokio::net::TcpListener,
    raft: RaftHandle,
    backend: Arc<dyn Backend>,
    cluster_id: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let raft = raft.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let raft = raft.clone();
                    let backend = backend.clone();
                    async move {
                        let response = match etcd_raft::serve_raft(request, &raft, cluster_id).await
                        {
                            Ok(response) => response.map(|body| body.boxed_unsync()),
                            Err(request) => etcd_http::route_peer(backend, request).await,
                        };
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!("peer connection ended: {e}");
                }
            });
        }
    })
}
