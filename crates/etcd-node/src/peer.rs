//! The peer port: raft traffic for `etcd-raft`, and `/members` and `/version` for joining members and proxies.

use std::sync::Arc;

use etcd_http::{Backend, ResponseBody};
use etcd_server::Server;
use http_body_util::BodyExt;
use hyper::{Request, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Serves the peer port on `listener` until `shutdown` is cancelled and its connections have ended.
pub async fn serve(
    listener: impl Into<etcd_tls::Bound> + Send + 'static,
    tls: Option<etcd_tls::TlsAcceptor>,
    server: Arc<Server>,
    shutdown: CancellationToken,
) {
    let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
    let connections = TaskTracker::new();
    while let Some(accepted) = listener.accept_until(&shutdown).await {
        let server = server.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _permit = accepted.permit;
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(request, server).await) }
            });
            etcd_http::serve_connection(accepted.stream, tls.as_ref(), service, &shutdown).await;
        });
    }
    connections.close();
    connections.wait().await;
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    server: Arc<Server>,
) -> Response<ResponseBody> {
    if request.method() == hyper::Method::POST
        && let Some(id) = request.uri().path().strip_prefix(etcd_server::PROMOTE_PATH)
    {
        return promote(&server, id).await;
    }
    if request.method() == hyper::Method::POST && request.uri().path() == etcd_server::HASHKV_PATH {
        return hash_kv(&server, request.uri().query().unwrap_or_default());
    }
    if !etcd_raft::is_raft_path(request.uri().path()) {
        return etcd_http::route_peer(server as Arc<dyn Backend>, request).await;
    }
    let header = |name: &str| {
        let value = request.headers().get(name)?.to_str().ok()?;
        Some(value.to_owned())
    };
    let raft_request = etcd_raft::PeerRequest {
        method: etcd_raft::PeerMethod::from_name(request.method().as_str()),
        path: request.uri().path().to_owned(),
        cluster_id: header(etcd_raft::CLUSTER_ID_HEADER),
        from: header(etcd_raft::FROM_HEADER),
        body: RequestBody(request.into_body()),
    };
    // A member removed from the cluster is told so (410), and stops, as etcd's peers answer it.
    let removed = |id: u64| server.is_removed(id);
    let reply =
        etcd_raft::serve_raft(raft_request, server.raft(), server.cluster_id(), &removed).await;
    plain(reply.status, reply.text)
}

/// A request body as raft's transport reads it.
struct RequestBody(hyper::body::Incoming);

impl etcd_raft::PeerBody for RequestBody {
    async fn next_chunk(&mut self) -> Option<Result<hyper::body::Bytes, String>> {
        loop {
            match self.0.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some(Ok(data));
                    }
                }
                Err(e) => return Some(Err(e.to_string())),
            }
        }
    }
}

/// A peer's corruption check: this member's `HashKV` at `?revision=` as JSON, or 400 with the error's text.
fn hash_kv(server: &Server, query: &str) -> Response<ResponseBody> {
    let revision = query
        .split('&')
        .find_map(|p| p.strip_prefix("revision="))
        .and_then(|r| r.parse::<i64>().ok());
    let (status, body) = match revision.map(|r| server.hash_kv_for_peer(r)) {
        Some(Ok(json)) => (200, json),
        Some(Err(e)) => (400, e.to_string()),
        None => (400, "a revision is required".to_owned()),
    };
    plain(status, body)
}

fn plain(status: u16, body: String) -> Response<ResponseBody> {
    let mut response =
        Response::new(http_body_util::Full::new(hyper::body::Bytes::from(body)).boxed_unsync());
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// A promotion handed over by a member that does not lead: 200 once made, else the error's text (404 for an
/// unknown member, 412 for one that cannot be promoted, 500 otherwise, as etcd's peer handler answers).
async fn promote(server: &Server, id: &str) -> Response<ResponseBody> {
    let Ok(id) = id.parse::<u64>() else {
        return plain(400, format!("invalid member ID {id:?}"));
    };
    match server.promote_as_leader(id).await {
        Ok(()) => plain(200, String::new()),
        Err(e) => {
            let status = match e {
                etcd_server::V3Error::MemberNotFound => 404,
                etcd_server::V3Error::MemberNotLearner | etcd_server::V3Error::LearnerNotReady => {
                    412
                }
                _ => 500,
            };
            plain(status, e.to_string())
        }
    }
}
