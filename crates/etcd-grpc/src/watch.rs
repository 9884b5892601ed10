//! `etcdserverpb.Watch`: one bidirectional stream multiplexing many watchers (etcd's `serverWatchStream`).
//!
//! One task per stream reads the client's requests and the store's events and writes responses, in order,
//! into a bounded queue that gRPC drains. A client that stops reading fills the queue; the task then waits,
//! its store channel fills, and the store turns its watchers unsynced (they catch up from the backend later):
//! memory stays bounded and no other client is slowed.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use etcd_mvcc::{WatchEvents, WatchSpec};
use etcd_proto::Message as _;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::watch_server::Watch;
use etcd_proto::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use etcd_proto::mvccpb::Event;
use etcd_server::Server;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use crate::metrics::Method;
use crate::status::{refuse_learner, require_leader};

/// Responses queued per stream for gRPC to send.
const OUT_QUEUE: usize = 16;
/// Events messages queued per stream from the store (etcd's channel buffer).
const EVENTS_QUEUE: usize = 128;
/// How often watchers that asked for progress notifications get one (etcd's default).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(600);
/// How often the stream checks whether the store was replaced (by a snapshot from the leader).
const STORE_CHECK: Duration = Duration::from_secs(1);
/// The watch ID of a progress response to a progress request.
const PROGRESS_WATCH_ID: i64 = -1;

/// The Watch service of one member.
pub(crate) struct WatchService {
    pub(crate) server: Arc<Server>,
    /// `--max-request-bytes`: fragmented responses stay under it.
    pub(crate) max_request_bytes: usize,
    pub(crate) metrics: Arc<crate::metrics::GrpcMetrics>,
}

/// The responses of one stream.
pub struct WatchResponses(mpsc::Receiver<Result<WatchResponse, Status>>);

impl tonic::codegen::tokio_stream::Stream for WatchResponses {
    type Item = Result<WatchResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = WatchResponses;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<WatchResponses>, Status> {
        self.metrics.started(Method::Watch);
        if let Err(e) = require_leader(request.metadata(), &self.server)
            .and_then(|()| refuse_learner(&self.server, false))
        {
            self.metrics.handled(Method::Watch, e.code());
            return Err(e);
        }
        let identity = Identity::of(&request);
        let (out, responses) = mpsc::channel(OUT_QUEUE);
        let (events_tx, events) = mpsc::channel(EVENTS_QUEUE);
        let session = Session {
            identity,
            store: self.server.mvcc(),
            server: self.server.clone(),
            max_request_bytes: self.max_request_bytes,
            out,
            events_tx,
            watchers: HashMap::new(),
            by_store_id: HashMap::new(),
            next_id: 0,
        };
        let (server, metrics) = (self.server.clone(), self.metrics.clone());
        tokio::spawn(async move {
            server.count_watch_stream(true);
            session.run(request.into_inner(), events).await;
            server.count_watch_stream(false);
            metrics.handled(Method::Watch, tonic::Code::Ok);
        });
        Ok(Response::new(WatchResponses(responses)))
    }
}

/// One watcher of a stream.
struct Watcher {
    /// Its ID in the store it is registered with.
    store_id: i64,
    spec: WatchSpec,
    progress_notify: bool,
    fragment: bool,
}

/// The stream was closed by the client (or the member is stopping).
struct Closed;

/// What names the stream's caller, looked at again for each watcher created (permissions may change while a
/// stream lives).
struct Identity {
    token: Option<String>,
    common_name: Option<String>,
}

impl Identity {
    fn of<T>(request: &Request<T>) -> Identity {
        let (token, common_name) = crate::status::identity(request);
        Identity {
            token: token.map(str::to_owned),
            common_name: common_name.map(str::to_owned),
        }
    }

    /// Whether the caller may read what `create` watches (etcd's `isWatchPermitted`: any failure refuses).
    fn may_watch(&self, server: &Server, spec: &WatchSpec) -> bool {
        server
            .caller(self.token.as_deref(), self.common_name.as_deref())
            .and_then(|who| server.check_read(&who, &spec.key, &spec.range_end))
            .is_ok()
    }
}

struct Session {
    identity: Identity,
    server: Arc<Server>,
    /// The store the watchers are registered with.
    store: Arc<etcd_mvcc::Store>,
    max_request_bytes: usize,
    out: mpsc::Sender<Result<WatchResponse, Status>>,
    events_tx: mpsc::Sender<WatchEvents>,
    /// By the client's watch ID.
    watchers: HashMap<i64, Watcher>,
    /// Store watcher ID -> client watch ID.
    by_store_id: HashMap<i64, i64>,
    next_id: i64,
}

impl Session {
    async fn run(
        mut self,
        mut requests: Streaming<WatchRequest>,
        mut events: mpsc::Receiver<WatchEvents>,
    ) {
        let mut progress = tokio::time::interval(PROGRESS_INTERVAL);
        progress.tick().await;
        let mut store_check = tokio::time::interval(STORE_CHECK);
        // A client may close its sending side and keep reading, as etcd allows: the watchers go on.
        let mut requests_open = true;
        loop {
            let step = tokio::select! {
                request = requests.message(), if requests_open => match request {
                    Ok(Some(request)) => self.handle(request, &mut events).await,
                    Ok(None) => {
                        requests_open = false;
                        Ok(())
                    }
                    Err(_) => Err(Closed),
                },
                // The client went away.
                () = self.out.closed() => Err(Closed),
                // The member stops: Unavailable, so that clients watch on through another member.
                () = self.server.shutting_down() => {
                    let stopped = crate::status::status(etcd_server::V3Error::Stopped);
                    let _ = self.out.send(Err(stopped)).await;
                    Err(Closed)
                }
                Some(message) = events.recv() => self.deliver(message).await,
                _ = progress.tick() => self.notify_progress().await,
                _ = store_check.tick() => {
                    self.follow_store_replacement();
                    Ok(())
                }
            };
            if step.is_err() {
                break;
            }
        }
        for w in self.watchers.values() {
            self.store.cancel_watch(w.store_id);
        }
    }

    async fn send(&self, response: WatchResponse) -> Result<(), Closed> {
        if !response.events.is_empty() {
            self.server.count_events_sent(response.events.len());
        }
        self.out.send(Ok(response)).await.map_err(|_| Closed)
    }

    async fn handle(
        &mut self,
        request: WatchRequest,
        events: &mut mpsc::Receiver<WatchEvents>,
    ) -> Result<(), Closed> {
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
            Some(RequestUnion::CancelRequest(cancel)) => {
                let Some(w) = self.watchers.remove(&cancel.watch_id) else {
                    return Ok(());
                };
                self.store.cancel_watch(w.store_id);
                self.by_store_id.remove(&w.store_id);
                let header = self.server.header(self.store.current_revision());
                self.send(WatchResponse {
                    header: Some(header),
                    watch_id: cancel.watch_id,
                    canceled: true,
                    ..WatchResponse::default()
                })
                .await
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                // Events already queued go first: a progress response promises nothing older is still coming.
                let revision = self.store.current_revision();
                while let Ok(message) = events.try_recv() {
                    self.deliver(message).await?;
                }
                let synced = self
                    .watchers
                    .values()
                    .all(|w| self.store.watcher_synced(w.store_id).unwrap_or(true));
                if !synced {
                    return Ok(());
                }
                self.send(WatchResponse {
                    header: Some(self.server.header(revision)),
                    watch_id: PROGRESS_WATCH_ID,
                    ..WatchResponse::default()
                })
                .await
            }
            None => Ok(()),
        }
    }

    async fn create(&mut self, create: WatchCreateRequest) -> Result<(), Closed> {
        let revision = self.store.current_revision();
        let spec = WatchSpec {
            // etcd: an empty key is the smallest key; a range end of "\0" means every key from `key` on.
            key: if create.key.is_empty() {
                vec![0]
            } else {
                create.key
            },
            range_end: create.range_end,
            // "From now" is pinned to a revision, so that the watcher can resume exactly on another store.
            start_revision: if create.start_revision > 0 {
                create.start_revision
            } else {
                revision + 1
            },
            no_put: create.filters.contains(&0),
            no_delete: create.filters.contains(&1),
            prev_kv: create.prev_kv,
        };
        let empty_range = !spec.range_end.is_empty()
            && spec.range_end != [0]
            && spec.key.as_slice() >= spec.range_end.as_slice();
        // As etcd: a watch the caller may not read, or an empty range, is refused before an ID is taken. The
        // refusal names the ID asked for when permission is what is missing, else -1.
        let id = if !self.identity.may_watch(&self.server, &spec) {
            Err((
                create.watch_id,
                "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
            ))
        } else if empty_range {
            Err((-1, "mvcc: watcher range is empty"))
        } else if create.watch_id == 0 {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id += 1;
            Ok(self.next_id - 1)
        } else if self.watchers.contains_key(&create.watch_id) {
            Err((-1, "mvcc: duplicate watch ID provided on the WatchStream"))
        } else {
            Ok(create.watch_id)
        };
        let header = Some(self.server.header(revision));
        let id = match id {
            Ok(id) => id,
            Err((watch_id, reason)) => {
                return self
                    .send(WatchResponse {
                        header,
                        watch_id,
                        created: true,
                        canceled: true,
                        cancel_reason: reason.to_owned(),
                        ..WatchResponse::default()
                    })
                    .await;
            }
        };
        // The created response goes first: the store's first events reach this task's queue, behind it.
        self.send(WatchResponse {
            header,
            watch_id: id,
            created: true,
            ..WatchResponse::default()
        })
        .await?;
        match self.store.watch(spec.clone(), self.events_tx.clone()) {
            Ok(store_id) => {
                self.by_store_id.insert(store_id, id);
                self.watchers.insert(
                    id,
                    Watcher {
                        store_id,
                        spec,
                        progress_notify: create.progress_notify,
                        fragment: create.fragment,
                    },
                );
                Ok(())
            }
            Err(e) => {
                self.send(WatchResponse {
                    header: Some(self.server.header(revision)),
                    watch_id: id,
                    canceled: true,
                    cancel_reason: e.to_string(),
                    ..WatchResponse::default()
                })
                .await
            }
        }
    }

    async fn deliver(&mut self, message: WatchEvents) -> Result<(), Closed> {
        let Some(&id) = self.by_store_id.get(&message.watch_id) else {
            // Cancelled meanwhile.
            return Ok(());
        };
        if message.compact_revision != 0 {
            // etcd's compaction response carries no revision in its header.
            let header = Some(self.server.header(0));
            if let Some(w) = self.watchers.remove(&id) {
                self.by_store_id.remove(&w.store_id);
            }
            return self
                .send(WatchResponse {
                    header,
                    watch_id: id,
                    canceled: true,
                    compact_revision: message.compact_revision,
                    ..WatchResponse::default()
                })
                .await;
        }
        let header = Some(self.server.header(message.revision));
        let Some(w) = self.watchers.get_mut(&id) else {
            return Ok(());
        };
        if let Some(last) = message.events.last().and_then(|e| e.kv.as_ref()) {
            // Where a re-registration (after the store is replaced) resumes.
            w.spec.start_revision = last.mod_revision + 1;
        }
        let chunks = if w.fragment {
            fragments(message.events, self.max_request_bytes)
        } else {
            vec![message.events]
        };
        let last = chunks.len().saturating_sub(1);
        for (i, events) in chunks.into_iter().enumerate() {
            self.send(WatchResponse {
                header,
                watch_id: id,
                events,
                fragment: i < last,
                ..WatchResponse::default()
            })
            .await?;
        }
        Ok(())
    }

    async fn notify_progress(&mut self) -> Result<(), Closed> {
        let revision = self.store.current_revision();
        let due: Vec<i64> = self
            .watchers
            .iter()
            .filter(|(_, w)| {
                w.progress_notify && self.store.watcher_synced(w.store_id).unwrap_or(false)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.send(WatchResponse {
                header: Some(self.server.header(revision)),
                watch_id: id,
                ..WatchResponse::default()
            })
            .await?;
        }
        Ok(())
    }

    /// A snapshot from the leader replaced the store: the watchers move to the new one, each resuming from the
    /// revision after the last it delivered, so none misses or repeats an event.
    fn follow_store_replacement(&mut self) {
        let current = self.server.mvcc();
        if Arc::ptr_eq(&current, &self.store) {
            return;
        }
        for w in self.watchers.values() {
            self.store.cancel_watch(w.store_id);
        }
        self.store = current;
        self.by_store_id.clear();
        for (id, w) in self.watchers.iter_mut() {
            match self.store.watch(w.spec.clone(), self.events_tx.clone()) {
                Ok(store_id) => {
                    w.store_id = store_id;
                    self.by_store_id.insert(store_id, *id);
                }
                Err(e) => tracing::warn!(watch = id, "cannot move a watcher to the new store: {e}"),
            }
        }
    }
}

/// Events split so that each response stays under `limit` bytes (at least one event each).
fn fragments(events: Vec<Event>, limit: usize) -> Vec<Vec<Event>> {
    let total: usize = events.iter().map(|e| e.encoded_len()).sum();
    if total <= limit {
        return vec![events];
    }
    let mut chunks = Vec::new();
    let mut chunk = Vec::new();
    let mut size = 0;
    for e in events {
        let len = e.encoded_len();
        if !chunk.is_empty() && size + len > limit {
            chunks.push(std::mem::take(&mut chunk));
            size = 0;
        }
        size += len;
        chunk.push(e);
    }
    chunks.push(chunk);
    chunks
}
