//! Raft messages between members over HTTP on the peer URLs.
//!
//! Wire format (version 1 of this transport):
//! - `POST /raft/stream`: a long-lived request per direction whose body is a sequence of frames, each an
//!   8-byte big-endian length and that many bytes of a protobuf raft message. The sender opens it and keeps it
//!   open; the receiver steps every frame as it arrives and answers `204` when the sender closes it.
//! - `POST /raft`: one message as the whole body; used while the stream is down.
//! - `POST /raft/snapshot`: one snapshot message as the whole body, on its own request, one at a time per peer;
//!   its outcome is reported to raft.
//! - `GET /raft/probing`: answers `200` with `{"health":true}`; each member probes each peer this way every
//!   `PROBE_INTERVAL` to know since when it has been reachable (etcd's strict reconfiguration check needs that).
//! - Every request carries `X-Etcd-Cluster-ID` (hex) and `X-Server-From` (hex member ID); a request from another
//!   cluster is refused with `412`. Bytes that are not a valid raft message for this member get `400`.
//!
//! Sending never blocks the raft loop: each peer has bounded queues, and a full queue refuses the message,
//! which raft then treats as an unreachable peer.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Method, Request, StatusCode};
use tokio::sync::mpsc;

use crate::handle::RaftHandle;
use crate::transport::{OutMessage, Transport};

/// Messages queued per peer (etcd's stream buffer is 4096).
const MESSAGE_QUEUE: usize = 4096;
/// The largest frame or message accepted from a peer (a snapshot may be larger: see `MAX_SNAPSHOT`).
pub(crate) const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// The largest snapshot message accepted.
pub(crate) const MAX_SNAPSHOT: usize = 1024 * 1024 * 1024;
/// Pause before reopening a broken stream.
const RECONNECT_DELAY: Duration = Duration::from_millis(100);
/// How often each peer is probed.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// How long a probe may take before the peer counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where peers are probed.
pub(crate) const PROBE_PATH: &str = "/raft/probing";

/// Header naming the cluster a peer request belongs to.
pub const CLUSTER_ID_HEADER: &str = "X-Etcd-Cluster-ID";
/// Header naming the member that sent a peer request.
pub const FROM_HEADER: &str = "X-Server-From";

use crate::peer_client::{HttpClient, PeerClient};

/// Sends raft messages to peers over HTTP; see the module documentation for the wire format.
#[derive(Debug)]
pub struct HttpTransport {
    local_id: u64,
    cluster_id: u64,
    client: HttpClient,
    runtime: tokio::runtime::Handle,
    peers: Mutex<HashMap<u64, PeerQueues>>,
    raft: Arc<OnceLock<RaftHandle>>,
    removed: Arc<tokio::sync::Notify>,
}

#[derive(Debug)]
struct PeerQueues {
    /// Where the peer is reached (for calls outside raft, [`HttpTransport::call_peer`]).
    link: Link,
    messages: mpsc::Sender<OutMessage>,
    snapshots: mpsc::Sender<OutMessage>,
    /// Since when every probe of the peer succeeded; `None` while it is unreachable. Dropping it ends the
    /// prober.
    active_since: Arc<Mutex<Option<Instant>>>,
}

impl HttpTransport {
    /// A transport for member `local_id` of cluster `cluster_id`; its tasks run on `runtime`. It dials
    /// `http://` peers only; see [`HttpTransport::with_tls`] for `https://` ones.
    pub fn new(
        local_id: u64,
        cluster_id: u64,
        runtime: tokio::runtime::Handle,
    ) -> Arc<HttpTransport> {
        HttpTransport::with_tls(local_id, cluster_id, runtime, None)
    }

    /// A transport that dials `https://` peers with `tls` (which presents this member's peer certificate and
    /// verifies the peers'), and `http://` peers in the clear. Without `tls`, an `https://` peer cannot be
    /// verified and stays unreachable.
    pub fn with_tls(
        local_id: u64,
        cluster_id: u64,
        runtime: tokio::runtime::Handle,
        tls: Option<etcd_tls::ClientTls>,
    ) -> Arc<HttpTransport> {
        let client = PeerClient::new(tls).http;
        Arc::new(HttpTransport {
            local_id,
            cluster_id,
            client,
            runtime,
            peers: Mutex::new(HashMap::new()),
            raft: Arc::new(OnceLock::new()),
            removed: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Connects the transport to its raft node, for reporting unreachable peers and snapshot outcomes.
    pub fn attach(&self, raft: RaftHandle) {
        let _ = self.raft.set(raft);
    }

    /// Starts sending to `peer` at `url` (its first peer URL, e.g. `http://10.0.0.2:2380`); replaces an earlier
    /// address.
    pub fn add_peer(&self, peer: u64, url: &str) {
        let (messages, message_rx) = mpsc::channel(MESSAGE_QUEUE);
        let (snapshots, snapshot_rx) = mpsc::channel(1);
        let link = Link {
            peer,
            url: url.trim_end_matches('/').to_owned(),
            local_id: self.local_id,
            cluster_id: self.cluster_id,
            client: self.client.clone(),
            raft: self.raft.clone(),
            removed: self.removed.clone(),
        };
        let active_since = Arc::new(Mutex::new(None));
        self.runtime.spawn(link.clone().run_messages(message_rx));
        self.runtime
            .spawn(link.clone().run_probes(Arc::downgrade(&active_since)));
        self.runtime.spawn(link.clone().run_snapshots(snapshot_rx));
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        // Dropping the old queues ends the old tasks.
        peers.insert(
            peer,
            PeerQueues {
                link,
                messages,
                snapshots,
                active_since,
            },
        );
    }

    /// Notified when a peer answers `410 Gone`: this member was removed from the cluster (etcd's peers answer a
    /// removed member that way) and should stop.
    pub fn removed(&self) -> Arc<tokio::sync::Notify> {
        self.removed.clone()
    }

    /// Since when `peer` has answered every probe; `None` when it is unreachable now or unknown.
    pub fn active_since(&self, peer: u64) -> Option<Instant> {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let since = peers.get(&peer)?.active_since.lock();
        *since.unwrap_or_else(|p| p.into_inner())
    }

    /// POSTs `path` (no body) to `peer`'s peer port, with this member's cluster and member headers, and answers
    /// the status and body: for requests a member hands to the leader outside raft (etcd's
    /// `/members/promote/<id>`). Answers `Err` when the peer is unknown or does not answer within `timeout`.
    pub async fn call_peer(
        &self,
        peer: u64,
        path: &str,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), String> {
        let link = {
            let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
            peers
                .get(&peer)
                .map(|q| q.link.clone())
                .ok_or_else(|| format!("no peer {peer:x}"))?
        };
        let request = link
            .request(path, FrameBody::full(Bytes::new()))
            .ok_or_else(|| format!("bad peer path {path}"))?;
        let call = async {
            let response = link
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = http_body_util::Limited::new(response.into_body(), MAX_MESSAGE)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((status, body.to_vec()))
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| format!("peer {peer:x} did not answer in {timeout:?}"))?
    }

    /// Makes `peers` (ID, first peer URL) the whole peer list: starts sending to the new ones and to those whose
    /// URL changed, stops sending to those not listed, and leaves the others' queues and streams alone. For a
    /// membership that arrives whole (a snapshot), where no single change says who came or went.
    pub fn set_peers(&self, peers: &[(u64, String)]) {
        let changed: Vec<&(u64, String)> = {
            let mut known = self.peers.lock().unwrap_or_else(|p| p.into_inner());
            known.retain(|id, _| peers.iter().any(|(p, _)| p == id));
            peers
                .iter()
                .filter(|(id, url)| {
                    known
                        .get(id)
                        .is_none_or(|q| q.link.url != url.trim_end_matches('/'))
                })
                .collect()
        };
        for (id, url) in changed {
            self.add_peer(*id, url);
        }
    }

    /// Stops sending to `peer`.
    pub fn remove_peer(&self, peer: u64) {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&peer);
    }
}

impl Transport for Arc<HttpTransport> {
    fn send(&self, message: OutMessage) -> bool {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(queues) = peers.get(&message.to) else {
            return false;
        };
        let queue = if message.is_snapshot {
            &queues.snapshots
        } else {
            &queues.messages
        };
        queue.try_send(message).is_ok()
    }
}

#[derive(Debug, Clone)]
struct Link {
    peer: u64,
    url: String,
    local_id: u64,
    cluster_id: u64,
    client: HttpClient,
    raft: Arc<OnceLock<RaftHandle>>,
    removed: Arc<tokio::sync::Notify>,
}

impl Link {
    /// Whether a peer's answer says this member was removed; tells the member if so.
    fn check_removed(&self, status: StatusCode) -> bool {
        if status == StatusCode::GONE {
            self.removed.notify_one();
            return true;
        }
        false
    }

    fn request(&self, path: &str, body: FrameBody) -> Option<Request<FrameBody>> {
        Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.url))
            .header(CLUSTER_ID_HEADER, format!("{:x}", self.cluster_id))
            .header(FROM_HEADER, format!("{:x}", self.local_id))
            .header("Content-Type", "application/octet-stream")
            .body(body)
            .ok()
    }

    fn unreachable(&self) {
        if let Some(raft) = self.raft.get() {
            raft.report_unreachable(self.peer);
        }
    }

    /// Keeps a stream open to the peer and feeds it; while it is down, sends messages one by one.
    async fn run_messages(self, mut queue: mpsc::Receiver<OutMessage>) {
        loop {
            let (frames, body) = FrameBody::channel();
            let Some(request) = self.request("/raft/stream", body) else {
                return;
            };
            let mut response = Box::pin(self.client.request(request));
            let failed;
            loop {
                tokio::select! {
                    // The stream ended: the peer closed it or the connection broke.
                    result = &mut response => {
                        if let Ok(r) = &result
                            && self.check_removed(r.status())
                        {
                            return;
                        }
                        failed = !matches!(&result, Ok(r) if r.status().is_success());
                        break;
                    }
                    message = queue.recv() => {
                        let Some(message) = message else { return };
                        if frames.send(frame(&message.bytes)).await.is_err() {
                            self.unreachable();
                            failed = true;
                            break;
                        }
                    }
                }
            }
            if failed {
                self.unreachable();
            }
            // Fall back to one request per message until the stream can be opened again.
            let deadline = tokio::time::Instant::now() + RECONNECT_DELAY;
            while let Ok(Some(message)) = tokio::time::timeout_at(deadline, queue.recv()).await {
                self.post_one(message).await;
            }
            if queue.is_closed() && queue.is_empty() {
                return;
            }
        }
    }

    async fn post_one(&self, message: OutMessage) {
        let Some(request) = self.request("/raft", FrameBody::full(Bytes::from(message.bytes)))
        else {
            return;
        };
        let ok = match self.client.request(request).await {
            Ok(r) => {
                self.check_removed(r.status());
                r.status().is_success()
            }
            Err(_) => false,
        };
        if !ok {
            self.unreachable();
        }
    }

    /// Probes the peer every `PROBE_INTERVAL` while the transport keeps `active_since`, recording since when
    /// it has been reachable.
    async fn run_probes(self, active_since: Weak<Mutex<Option<Instant>>>) {
        // The last TLS refusal logged, so a peer that keeps refusing is logged once, not every probe.
        let mut refusal_logged: Option<String> = None;
        loop {
            let reachable = match Request::builder()
                .method(Method::GET)
                .uri(format!("{}{PROBE_PATH}", self.url))
                .header(FROM_HEADER, format!("{:x}", self.local_id))
                .body(FrameBody::full(Bytes::new()))
            {
                Ok(request) => {
                    match tokio::time::timeout(PROBE_TIMEOUT, self.client.request(request)).await {
                        Ok(Ok(r)) => r.status().is_success(),
                        Ok(Err(e)) => {
                            let refusal = etcd_tls::remote_tls_error(&e);
                            if let Some(text) = &refusal
                                && refusal_logged.as_ref() != Some(text)
                            {
                                tracing::warn!(
                                    remote_peer_id = %format!("{:x}", self.peer),
                                    url = %self.url,
                                    "peer refused this member's TLS connection: {text}"
                                );
                            }
                            refusal_logged = refusal;
                            false
                        }
                        Err(_) => false,
                    }
                }
                Err(_) => false,
            };
            let Some(since) = active_since.upgrade() else {
                return;
            };
            {
                let mut since = since.lock().unwrap_or_else(|p| p.into_inner());
                *since = if reachable {
                    Some(since.unwrap_or_else(Instant::now))
                } else {
                    None
                };
            }
            drop(since);
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    /// Sends snapshots, each on its own request, and reports each outcome to raft.
    async fn run_snapshots(self, mut queue: mpsc::Receiver<OutMessage>) {
        while let Some(message) = queue.recv().await {
            let delivered = match self.request(
                "/raft/snapshot",
                FrameBody::full(Bytes::from(message.bytes)),
            ) {
                Some(request) => {
                    matches!(self.client.request(request).await, Ok(r) if r.status().is_success())
                }
                None => false,
            };
            if let Some(raft) = self.raft.get() {
                raft.report_snapshot(self.peer, delivered);
                if !delivered {
                    raft.report_unreachable(self.peer);
                }
            }
        }
    }
}

/// A TLS client configuration that trusts no one: what plain-HTTP transports hold for `https://` URLs.
fn frame(bytes: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + bytes.len());
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
    out.freeze()
}

/// A request body fed from a channel (the stream) or given whole (single messages).
#[derive(Debug)]
pub(crate) struct FrameBody {
    rx: Option<mpsc::Receiver<Bytes>>,
    whole: Option<Bytes>,
}

impl FrameBody {
    fn channel() -> (mpsc::Sender<Bytes>, FrameBody) {
        let (tx, rx) = mpsc::channel(64);
        (
            tx,
            FrameBody {
                rx: Some(rx),
                whole: None,
            },
        )
    }

    pub(crate) fn full(bytes: Bytes) -> FrameBody {
        FrameBody {
            rx: None,
            whole: Some(bytes),
        }
    }
}

impl Body for FrameBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(bytes) = self.whole.take() {
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        match self.rx.as_mut() {
            Some(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rx.is_none() && self.whole.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.whole, &self.rx) {
            (Some(b), None) => SizeHint::with_exact(b.len() as u64),
            (None, None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
