//! The receiving side of the transport (its wire format is in `http_transport`'s documentation): what arrives on
//! `/raft`, `/raft/stream`, `/raft/snapshot` and `/raft/probing` is stepped into raft. The HTTP layer that owns the
//! peer port hands a request over as a [`PeerRequest`] and writes the [`PeerReply`] back, so no HTTP library's
//! type is part of this crate's API. [`spawn_peer_server`] is a complete peer server for a cluster of raft nodes.

use std::future::Future;

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Response, StatusCode};

use crate::handle::RaftHandle;
use crate::http_transport::{
    CLUSTER_ID_HEADER, FROM_HEADER, MAX_MESSAGE, MAX_SNAPSHOT, PROBE_PATH,
};

/// The method of a request on the peer port, as far as raft cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMethod {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// Any other method.
    Other,
}

impl PeerMethod {
    /// The method named `name` (`"GET"`, `"POST"`, ...).
    pub fn from_name(name: &str) -> PeerMethod {
        match name {
            "GET" => PeerMethod::Get,
            "POST" => PeerMethod::Post,
            _ => PeerMethod::Other,
        }
    }
}

/// The body of a peer request: its bytes, in order, as they arrive.
pub trait PeerBody: Send {
    /// The next bytes; `None` at the end, `Err` with the reason when the body broke off.
    fn next_chunk(&mut self) -> impl Future<Output = Option<Result<Bytes, String>>> + Send;
}

/// A request on the peer port for raft.
#[derive(Debug)]
pub struct PeerRequest<B> {
    /// Its method.
    pub method: PeerMethod,
    /// Its path, without the query.
    pub path: String,
    /// The `X-Etcd-Cluster-ID` header ([`CLUSTER_ID_HEADER`]).
    pub cluster_id: Option<String>,
    /// The `X-Server-From` header ([`FROM_HEADER`]).
    pub from: Option<String>,
    /// Its body.
    pub body: B,
}

/// The answer to a [`PeerRequest`]: an HTTP status and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerReply {
    /// The HTTP status code.
    pub status: u16,
    /// The body.
    pub text: String,
}

impl PeerReply {
    fn new(status: u16, text: impl Into<String>) -> PeerReply {
        PeerReply {
            status,
            text: text.into(),
        }
    }
}

fn not_allowed() -> PeerReply {
    PeerReply::new(405, "Method Not Allowed")
}

fn gone() -> PeerReply {
    PeerReply::new(
        410,
        "the member has been permanently removed from the cluster\n",
    )
}

/// Whether requests for `path` are raft's ([`serve_raft`] answers them); others belong to the peer port's
/// other handlers.
pub fn is_raft_path(path: &str) -> bool {
    matches!(
        path,
        "/raft" | "/raft/stream" | "/raft/snapshot" | PROBE_PATH
    )
}

/// Answers a request for raft (a path for which [`is_raft_path`] holds; any other is `404`), stepping what it
/// carries into `raft`. A sender for which `removed` is true (checked when the request starts and again for every
/// frame of a stream) is answered `410 Gone`, which tells it to stop, as etcd does.
pub async fn serve_raft<B: PeerBody>(
    request: PeerRequest<B>,
    raft: &RaftHandle,
    cluster_id: u64,
    removed: &(dyn Fn(u64) -> bool + Sync),
) -> PeerReply {
    let path = request.path.as_str();
    if path == PROBE_PATH {
        return match request.method {
            PeerMethod::Get => PeerReply::new(200, r#"{"health":true}"#),
            _ => not_allowed(),
        };
    }
    if !is_raft_path(path) {
        return PeerReply::new(404, "404 page not found\n");
    }
    if request.method != PeerMethod::Post {
        return not_allowed();
    }
    if request.cluster_id.as_deref() != Some(format!("{cluster_id:x}").as_str()) {
        return PeerReply::new(412, "cluster ID mismatch");
    }
    let from = request
        .from
        .as_deref()
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .unwrap_or(0);
    if removed(from) {
        return gone();
    }
    let mut body = request.body;
    let result = match path {
        "/raft/stream" => match step_stream(&mut body, raft, &|| removed(from)).await {
            Err(StreamEnd::Removed) => return gone(),
            Err(StreamEnd::Bad(why)) => Err(why),
            Ok(()) => Ok(()),
        },
        "/raft/snapshot" => step_whole(&mut body, raft, MAX_SNAPSHOT).await,
        _ => step_whole(&mut body, raft, MAX_MESSAGE).await,
    };
    match result {
        Ok(()) => PeerReply::new(204, ""),
        Err(why) => PeerReply::new(400, why),
    }
}

async fn step_whole<B: PeerBody>(
    body: &mut B,
    raft: &RaftHandle,
    limit: usize,
) -> Result<(), String> {
    let mut whole = BytesMut::new();
    while let Some(chunk) = body.next_chunk().await {
        let chunk = chunk.map_err(|e| format!("reading the message: {e}"))?;
        if whole.len() + chunk.len() > limit {
            return Err(format!("the message exceeds {limit} bytes"));
        }
        whole.extend_from_slice(&chunk);
    }
    raft.step(&whole).map_err(|e| e.to_string())
}

/// Why a stream ended early.
enum StreamEnd {
    /// The sender was removed from the cluster.
    Removed,
    /// The stream was malformed.
    Bad(String),
}

async fn step_stream<B: PeerBody>(
    body: &mut B,
    raft: &RaftHandle,
    removed: &(dyn Fn() -> bool + Sync),
) -> Result<(), StreamEnd> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next_chunk().await {
        let chunk = chunk.map_err(|e| StreamEnd::Bad(format!("reading the stream: {e}")))?;
        buf.extend_from_slice(&chunk);
        loop {
            if buf.len() < 8 {
                break;
            }
            let mut len = [0u8; 8];
            len.copy_from_slice(&buf[..8]);
            let len = usize::try_from(u64::from_be_bytes(len)).unwrap_or(usize::MAX);
            if len > MAX_MESSAGE {
                return Err(StreamEnd::Bad(format!(
                    "frame of {len} bytes exceeds the limit"
                )));
            }
            if buf.len() < 8 + len {
                break;
            }
            buf.advance(8);
            let message = buf.split_to(len);
            if removed() {
                return Err(StreamEnd::Removed);
            }
            // One bad frame does not end the stream: the message is dropped, as raft tolerates.
            if let Err(e) = raft.step(&message) {
                tracing::debug!("dropped a peer message: {e}");
            }
        }
    }
    if buf.is_empty() {
        Ok(())
    } else {
        Err(StreamEnd::Bad("stream ended inside a frame".to_owned()))
    }
}

/// A hyper request body as a [`PeerBody`].
struct IncomingBody(Incoming);

impl PeerBody for IncomingBody {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, String>> {
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

/// Serves raft peer traffic on `listener` (other paths get `404`) until the returned task is aborted. The
/// full peer server, with `/members` and `/version`, belongs to the HTTP layer; this one is enough for a
/// cluster of raft nodes.
pub fn spawn_peer_server(
    listener: impl Into<etcd_tls::Bound> + Send + 'static,
    raft: RaftHandle,
    cluster_id: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
        loop {
            let etcd_tls::Accepted { stream, permit, .. } = listener.accept().await;
            let raft = raft.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let service =
                    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        let raft = raft.clone();
                        async move {
                            let header = |name: &str| {
                                let value = request.headers().get(name)?.to_str().ok()?;
                                Some(value.to_owned())
                            };
                            let peer_request = PeerRequest {
                                method: PeerMethod::from_name(request.method().as_str()),
                                path: request.uri().path().to_owned(),
                                cluster_id: header(CLUSTER_ID_HEADER),
                                from: header(FROM_HEADER),
                                body: IncomingBody(request.into_body()),
                            };
                            let reply =
                                serve_raft(peer_request, &raft, cluster_id, &|_| false).await;
                            let mut response = Response::new(Full::new(Bytes::from(reply.text)));
                            *response.status_mut() = StatusCode::from_u16(reply.status)
                                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    })
}
