//! Watch through the proxy, coalesced: client watchers of the same key range that start "now" share one
//! upstream watch (a group), whose events are filtered and copied to each of them. A watcher that asks for an
//! older start revision gets a group of its own. 100 clients watching one key cost the member one watcher.
//!
//! A group asks the member for previous values always (a member of the group may want them) and strips them
//! for watchers that did not ask. If its member becomes unreachable, the group watches again on the next
//! endpoint from the revision after the last one it delivered, so watchers miss nothing. When the member
//! cancels the watch (compaction), every watcher of the group is cancelled with the member's answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::watch_server::Watch;
use etcd_proto::etcdserverpb::{
    RangeRequest, ResponseHeader, WatchCreateRequest, WatchRequest, WatchResponse,
};
use etcd_proto::mvccpb::event::EventType;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::metadata::{has_identity, upstream_request};
use super::metrics::ProxyMetrics;
use super::namespace::Namespace;
use super::upstream::Upstream;

/// Responses queued for one client stream.
const CLIENT_QUEUE: usize = 1024;
/// The longest wait between two attempts to watch again after the member went away.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

type Sink = mpsc::Sender<Result<WatchResponse, Status>>;

/// A watch's key and range end.
type KeyRange = (Vec<u8>, Vec<u8>);

pub(crate) struct WatchProxy {
    hub: Arc<Hub>,
}

impl WatchProxy {
    pub(crate) fn new(
        upstream: Arc<Upstream>,
        metrics: Arc<ProxyMetrics>,
        namespace: Namespace,
    ) -> WatchProxy {
        WatchProxy {
            hub: Arc::new(Hub {
                upstream,
                metrics,
                namespace,
                groups: Mutex::new(HashMap::new()),
                next_member: AtomicU64::new(1),
            }),
        }
    }
}

/// The shared groups, by key range.
struct Hub {
    upstream: Arc<Upstream>,
    metrics: Arc<ProxyMetrics>,
    namespace: Namespace,
    groups: Mutex<HashMap<KeyRange, Arc<Group>>>,
    next_member: AtomicU64,
}

/// One upstream watch and the client watchers it feeds.
struct Group {
    key: Vec<u8>,
    range_end: Vec<u8>,
    /// The metadata (auth token) of the client whose watcher made the group: its upstream watch is made with it.
    metadata: MetadataMap,
    /// Shared groups are in the hub's map; a watcher's own group is not.
    shared: bool,
    state: Mutex<GroupState>,
}

#[derive(Default)]
struct GroupState {
    members: HashMap<u64, Member>,
    /// The header of the member's last answer; `None` until the upstream watch is created.
    header: Option<ResponseHeader>,
    /// The revision to watch again from after a reconnection (0: from now).
    next_revision: i64,
    ended: bool,
}

/// A client watcher in a group.
struct Member {
    watch_id: i64,
    sink: Sink,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    /// Whether its `created` answer has been sent (it waits for the upstream watch).
    created: bool,
}

impl Member {
    fn of(watch_id: i64, create: &WatchCreateRequest, sink: Sink) -> Member {
        Member {
            watch_id,
            sink,
            no_put: create.filters.contains(&0),
            no_delete: create.filters.contains(&1),
            prev_kv: create.prev_kv,
            created: false,
        }
    }

    /// `response`'s events as this watcher asked for them; `None` when none are left.
    fn view(&self, response: &WatchResponse, namespace: &Namespace) -> Option<WatchResponse> {
        let events: Vec<_> = response
            .events
            .iter()
            .filter(|e| {
                let put = e.r#type == EventType::Put as i32;
                !(put && self.no_put || !put && self.no_delete)
            })
            .map(|e| {
                let mut e = e.clone();
                if !self.prev_kv {
                    e.prev_kv = None;
                }
                for kv in e.kv.iter_mut().chain(e.prev_kv.iter_mut()) {
                    namespace.strip_kv(kv);
                }
                e
            })
            .collect();
        (!events.is_empty()).then(|| WatchResponse {
            header: response.header,
            watch_id: self.watch_id,
            events,
            ..WatchResponse::default()
        })
    }

    fn created_answer(&self, header: ResponseHeader) -> WatchResponse {
        WatchResponse {
            header: Some(header),
            watch_id: self.watch_id,
            created: true,
            ..WatchResponse::default()
        }
    }
}

impl Hub {
    /// Adds a watcher: to the group of its range when it starts now, else to a group of its own.
    fn join(
        self: &Arc<Self>,
        create: &WatchCreateRequest,
        mut member: Member,
        metadata: &MetadataMap,
    ) -> (Arc<Group>, u64) {
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let range = self.namespace.range(&create.key, &create.range_end);
        loop {
            let (group, new) = if create.start_revision == 0 {
                let mut groups = self.groups.lock();
                match groups.get(&range) {
                    Some(group) => (group.clone(), false),
                    None => {
                        let group = Group::new(range.clone(), true, 0, metadata);
                        groups.insert(range.clone(), group.clone());
                        (group, true)
                    }
                }
            } else {
                (
                    Group::new(range.clone(), false, create.start_revision, metadata),
                    true,
                )
            };
            {
                let mut state = group.state.lock();
                // Its last watcher left in between: the next turn finds or makes another group.
                if state.ended {
                    continue;
                }
                if let Some(header) = state.header {
                    // The group is running: the watcher starts at the group's revision, which no event after it
                    // is older than.
                    let _ = member.sink.try_send(Ok(member.created_answer(header)));
                    member.created = true;
                }
                if !state.members.is_empty() {
                    self.metrics.watchers_coalescing(1);
                }
                state.members.insert(id, member);
            }
            if new {
                tokio::spawn(self.clone().run(group.clone()));
            }
            return (group, id);
        }
    }

    /// With auth, whether the caller may read the range it wants to watch (a watcher joins a group another
    /// caller's token made): a one-key read of the range with the caller's token, as etcd's proxy checks it.
    async fn may_watch(
        &self,
        create: &WatchCreateRequest,
        metadata: &MetadataMap,
    ) -> Result<(), Status> {
        if !has_identity(metadata) {
            return Ok(());
        }
        let (key, range_end) = self.namespace.range(&create.key, &create.range_end);
        let (index, channel) = self.upstream.channel();
        let check = KvClient::new(channel)
            .range(upstream_request(
                metadata,
                RangeRequest {
                    key,
                    range_end,
                    limit: 1,
                    serializable: true,
                    keys_only: true,
                    ..RangeRequest::default()
                },
            ))
            .await;
        match check {
            Ok(_) => Ok(()),
            Err(status) => {
                if Upstream::unreachable(&status) {
                    self.upstream.failed(index);
                }
                Err(status)
            }
        }
    }

    /// Removes watcher `id`; the last one out ends the group.
    fn leave(&self, group: &Arc<Group>, id: u64) {
        let mut state = group.state.lock();
        if state.members.remove(&id).is_none() {
            return;
        }
        if state.members.is_empty() {
            state.ended = true;
            if group.shared {
                let mut groups = self.groups.lock();
                if groups
                    .get(&(group.key.clone(), group.range_end.clone()))
                    .is_some_and(|g| Arc::ptr_eq(g, group))
                {
                    groups.remove(&(group.key.clone(), group.range_end.clone()));
                }
            }
        } else {
            self.metrics.watchers_coalescing(-1);
        }
    }

    /// The group's upstream watch, watched again after a member failure, until the group ends.
    async fn run(self: Arc<Self>, group: Arc<Group>) {
        let mut backoff = Duration::from_millis(50);
        loop {
            if group.state.lock().ended {
                return;
            }
            let (index, channel) = self.upstream.channel();
            match self.watch_once(&group, channel).await {
                Ok(()) => return,
                Err(status) => {
                    if Upstream::unreachable(&status) || status.code() == tonic::Code::Unavailable {
                        self.upstream.failed(index);
                    }
                    tracing::debug!("grpc-proxy: upstream watch failed: {status}");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One upstream watch: `Ok` when the group ended (no watchers left, or the member cancelled the watch).
    async fn watch_once(
        &self,
        group: &Arc<Group>,
        channel: tonic::transport::Channel,
    ) -> Result<(), Status> {
        let start_revision = group.state.lock().next_revision;
        let (tx, rx) = mpsc::channel(4);
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: group.key.clone(),
                range_end: group.range_end.clone(),
                start_revision,
                prev_kv: true,
                ..WatchCreateRequest::default()
            })),
        };
        let _ = tx.send(create).await;
        let mut answers = WatchClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .watch(upstream_request(&group.metadata, ReceiverStream::new(rx)))
            .await?
            .into_inner();
        let mut check = tokio::time::interval(Duration::from_millis(500));
        loop {
            let answer = tokio::select! {
                answer = answers.message() => answer?,
                _ = check.tick() => {
                    if group.state.lock().ended {
                        return Ok(());
                    }
                    continue;
                }
            };
            let Some(answer) = answer else {
                return Err(Status::unavailable("the member ended the watch"));
            };
            if answer.canceled {
                self.cancel_all(group, &answer);
                return Ok(());
            }
            if !self.deliver(group, &answer).await {
                return Ok(());
            }
        }
    }

    /// Copies `answer` to every watcher of the group; `false` when the group has ended.
    async fn deliver(&self, group: &Arc<Group>, answer: &WatchResponse) -> bool {
        let mut sends = Vec::new();
        {
            let mut state = group.state.lock();
            if state.ended {
                return false;
            }
            if let Some(header) = answer.header {
                state.header = Some(header);
            }
            if let Some(last) = answer.events.last().and_then(|e| e.kv.as_ref()) {
                state.next_revision = last.mod_revision + 1;
            } else if answer.created && state.next_revision == 0 {
                state.next_revision = answer.header.map_or(0, |h| h.revision + 1);
            }
            let header = state.header;
            for member in state.members.values_mut() {
                if !member.created
                    && let Some(header) = header
                {
                    sends.push((member.sink.clone(), member.created_answer(header)));
                    member.created = true;
                }
                if let Some(view) = member.view(answer, &self.namespace) {
                    sends.push((member.sink.clone(), view));
                }
            }
        }
        if !answer.events.is_empty() && sends.len() > 1 {
            self.metrics.events_coalescing((sends.len() - 1) as u64);
        }
        // A slow client holds its group back rather than lose events (its queue is large).
        for (sink, response) in sends {
            let _ = sink.send(Ok(response)).await;
        }
        true
    }

    /// The member cancelled the group's watch (compaction): every watcher is cancelled with its reason.
    fn cancel_all(&self, group: &Arc<Group>, answer: &WatchResponse) {
        let members: Vec<Member> = {
            let mut state = group.state.lock();
            state.ended = true;
            state.members.drain().map(|(_, m)| m).collect()
        };
        if group.shared {
            self.groups.lock().retain(|_, g| !Arc::ptr_eq(g, group));
        }
        self.metrics
            .watchers_coalescing(-(members.len().saturating_sub(1) as i64));
        for member in members {
            let _ = member.sink.try_send(Ok(WatchResponse {
                header: answer.header,
                watch_id: member.watch_id,
                created: !member.created,
                canceled: true,
                compact_revision: answer.compact_revision,
                cancel_reason: answer.cancel_reason.clone(),
                ..WatchResponse::default()
            }));
        }
    }
}

impl Group {
    fn new(
        range: KeyRange,
        shared: bool,
        start_revision: i64,
        metadata: &MetadataMap,
    ) -> Arc<Group> {
        Arc::new(Group {
            key: range.0,
            range_end: range.1,
            metadata: metadata.clone(),
            shared,
            state: Mutex::new(GroupState {
                next_revision: start_revision,
                ..GroupState::default()
            }),
        })
    }
}

#[tonic::async_trait]
impl Watch for WatchProxy {
    type WatchStream = ReceiverStream<Result<WatchResponse, Status>>;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (sink, responses) = mpsc::channel(CLIENT_QUEUE);
        let hub = self.hub.clone();
        let metadata = request.metadata().clone();
        let mut requests = request.into_inner();
        tokio::spawn(async move {
            let mut watchers: HashMap<i64, (Arc<Group>, u64)> = HashMap::new();
            let mut next_id = 0;
            let mut requests_open = true;
            loop {
                let request = tokio::select! {
                    request = requests.message(), if requests_open => request,
                    () = sink.closed() => break,
                };
                let request = match request {
                    Ok(Some(request)) => request,
                    // A client may close its side and keep reading, as etcd allows.
                    Ok(None) => {
                        requests_open = false;
                        continue;
                    }
                    Err(_) => break,
                };
                match request.request_union {
                    Some(RequestUnion::CreateRequest(create)) => {
                        let id = if create.watch_id != 0 {
                            create.watch_id
                        } else {
                            while watchers.contains_key(&next_id) {
                                next_id += 1;
                            }
                            next_id
                        };
                        if watchers.contains_key(&id) {
                            let _ = sink
                                .send(Ok(WatchResponse {
                                    watch_id: -1,
                                    created: true,
                                    canceled: true,
                                    cancel_reason:
                                        "mvcc: duplicate watch ID provided on the WatchStream"
                                            .to_owned(),
                                    ..WatchResponse::default()
                                }))
                                .await;
                            continue;
                        }
                        if let Err(status) = hub.may_watch(&create, &metadata).await {
                            let _ = sink
                                .send(Ok(WatchResponse {
                                    header: Some(ResponseHeader::default()),
                                    watch_id: -1,
                                    created: true,
                                    canceled: true,
                                    cancel_reason: status.message().to_owned(),
                                    ..WatchResponse::default()
                                }))
                                .await;
                            continue;
                        }
                        let member = Member::of(id, &create, sink.clone());
                        watchers.insert(id, hub.join(&create, member, &metadata));
                    }
                    Some(RequestUnion::CancelRequest(cancel)) => {
                        if let Some((group, member)) = watchers.remove(&cancel.watch_id) {
                            let header = group.state.lock().header;
                            hub.leave(&group, member);
                            let _ = sink
                                .send(Ok(WatchResponse {
                                    header,
                                    watch_id: cancel.watch_id,
                                    canceled: true,
                                    ..WatchResponse::default()
                                }))
                                .await;
                        }
                    }
                    // Progress is the member's to report: a coalesced watch has no stream of its own to ask on.
                    Some(RequestUnion::ProgressRequest(_)) | None => {}
                }
            }
            for (group, member) in watchers.values() {
                hub.leave(group, *member);
            }
        });
        Ok(Response::new(ReceiverStream::new(responses)))
    }
}
