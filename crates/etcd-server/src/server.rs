//! The member: the v2 store, the v3 store, the raft node and the waiters that join them; the v2 API's
//! [`Backend`].

use etcd_store::{Depth, Watching};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use etcd_api::v2::{
    Backend, BoxFuture, Error, ErrorCode, Event, EventStream, FollowerView, LeaderStats, Member,
    MemberError, Method, RaftPosition, RaftRole, Request, SelfStats, StoreStats, TrafficRate,
};
use etcd_raft::{
    FollowerStats, HttpTransport, MemberChange, MemberChangeKind, RaftError, RaftHandle, Rate, Role,
};
use etcd_store::{Store, WatchReceiver};

use crate::members;
use crate::v3::ProposeFailure;
use crate::waiters::{Outcome, Waiters};

/// The v2 state: the store and the last raft index applied to it, changed together.
pub(crate) struct State {
    pub(crate) store: Store,
    pub(crate) applied: u64,
}

/// etcd's request limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_txn_ops: usize,
    pub(crate) max_request_bytes: usize,
    /// How long a request waits for raft before it times out.
    pub(crate) request_timeout: Duration,
}

/// etcd's membership change policy: `--strict-reconfig-check` and `--max-learners`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MembershipPolicy {
    pub(crate) strict_reconfig: bool,
    pub(crate) max_learners: usize,
}

/// One etcd member: what [`start`](crate::start) runs. Its parts each have one job: the stores, raft and
/// its cached view, the waiters of proposals, the policies and limits, the metrics, the leases, alarms and auth.
pub struct Server {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) cluster_id: u64,
    pub(crate) token: String,
    pub(crate) client_urls: Vec<String>,
    /// `--server-version`.
    pub(crate) server_version: String,
    pub(crate) raft: RaftHandle,
    pub(crate) transport: Arc<HttpTransport>,
    /// What the member knows of raft without asking the raft thread.
    pub(crate) raft_view: RaftView,
    pub(crate) state: Arc<RwLock<State>>,
    pub(crate) mvcc: Arc<parking_lot::RwLock<Arc<etcd_mvcc::Store>>>,
    /// `<data-dir>/member/snap/db`.
    pub(crate) mvcc_path: std::path::PathBuf,
    /// Held while the v3 database file is rewritten: by a defragmentation, and by the install of a snapshot from
    /// the leader, so neither renames a file over the other's.
    pub(crate) backend_file: Arc<parking_lot::Mutex<()>>,
    pub(crate) waiters: Waiters,
    pub(crate) limits: Limits,
    pub(crate) policy: MembershipPolicy,
    /// `--quota-backend-bytes` and the backend's measured size.
    pub(crate) quota: crate::quota::BackendQuota,
    /// `--cors`.
    pub(crate) cors: Vec<String>,
    pub(crate) metrics: Metrics,
    pub(crate) lifecycle: Lifecycle,
    /// The leases (`etcd-lease`) and their counters.
    pub(crate) leases: crate::lease::Leases,
    /// The active alarms.
    pub(crate) alarms: parking_lot::Mutex<crate::alarms::Alarms>,
    /// Users, roles, permissions and tokens.
    pub(crate) auth: crate::auth::Auth,
}

use crate::lifecycle::Lifecycle;
pub use crate::lifecycle::StopReason;
pub use crate::metrics::MetricSource;
use crate::metrics::Metrics;
use crate::raft_view::RaftView;

pub use etcd_api::unix_nanos;

impl Server {
    /// This member's ID.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The cluster's ID.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// The raft node.
    pub fn raft(&self) -> &RaftHandle {
        &self.raft
    }

    /// Adds Prometheus text to what `/metrics` shows.
    pub fn add_metric_source(&self, source: MetricSource) {
        self.metrics.sources.write().push(source);
    }

    /// Counts a watch stream opening (`+1`) or closing (`-1`), for `etcd_debugging_mvcc_watch_stream_total`.
    pub fn count_watch_stream(&self, opened: bool) {
        let streams = &self.metrics.v3.watch_streams;
        if opened {
            streams.fetch_add(1, Ordering::Relaxed);
        } else {
            streams.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Counts watch events sent to clients, for `etcd_debugging_mvcc_events_total`.
    pub fn count_events_sent(&self, events: usize) {
        self.metrics
            .v3
            .events_sent
            .fetch_add(events as u64, Ordering::Relaxed);
    }

    /// Told when a peer says this member was removed from the cluster.
    pub fn removed_by_peers(&self) -> Arc<tokio::sync::Notify> {
        self.transport.removed()
    }

    /// Resolves once the member serves clients (its attributes are published).
    pub async fn ready(&self) {
        self.lifecycle.ready().await;
    }

    /// Resolves with the reason once the member must stop by itself.
    pub async fn stopped(&self) -> StopReason {
        self.lifecycle.stopped().await
    }

    /// Tells the long-lived client streams (watches, lease keepalives, observes) to end: the member is
    /// shutting down, and they would otherwise hold their connections open until the drain's deadline.
    pub fn begin_shutdown(&self) {
        self.lifecycle.begin_shutdown();
    }

    /// Resolves once the member begins to shut down ([`Server::begin_shutdown`]).
    pub async fn shutting_down(&self) {
        self.lifecycle.shutting_down().await;
    }

    pub(crate) fn fail(&self, why: String) {
        tracing::error!("{why}; stopping this member");
        self.lifecycle.stop(StopReason::Fatal(why));
    }

    pub(crate) fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        f(&state.store)
    }

    /// Adds a member with `peer_urls`, voting or not, after etcd's checks (`--strict-reconfig-check`'s rules
    /// first, which count voting members only, then the change itself).
    pub(crate) async fn add_member_as(
        &self,
        peer_urls: Vec<String>,
        voting: Voting,
    ) -> Result<Member, MemberError> {
        let learners = self
            .raft
            .status()
            .await
            .map_err(|_| MemberError::Internal)?
            .learners;
        let existing = self.members();
        let voters: Vec<Member> = existing
            .iter()
            .filter(|m| !learners.contains(&m.id))
            .cloned()
            .collect();
        if self.policy.strict_reconfig && voting == Voting::Voter && !ready_to_add(&voters) {
            tracing::warn!(
                "refused to add a member: too few started members (--strict-reconfig-check)"
            );
            return Err(MemberError::NotEnoughStarted);
        }
        if self.policy.strict_reconfig
            && self.connected_since_health_interval(&voters) < voters.len()
        {
            tracing::warn!(
                "refused to add a member: not every member has been reachable for {HEALTH_INTERVAL:?} (--strict-reconfig-check)"
            );
            return Err(MemberError::Unhealthy);
        }
        if existing
            .iter()
            .any(|m| m.peer_urls.iter().any(|u| peer_urls.contains(u)))
        {
            return Err(MemberError::PeerUrlExists);
        }
        if voting == Voting::Learner && learners.len() + 1 > self.policy.max_learners {
            return Err(MemberError::TooManyLearners);
        }
        let secs = unix_nanos() / 1_000_000_000;
        let id = etcd_raft::member_id(&peer_urls, &self.token, Some(secs));
        if existing.iter().any(|m| m.id == id) {
            return Err(MemberError::IdExists);
        }
        let change = MemberChange {
            kind: match voting {
                Voting::Voter => MemberChangeKind::AddMember,
                Voting::Learner => MemberChangeKind::AddLearner,
            },
            node_id: id,
            context: members::member_context(&peer_urls),
        };
        self.change(change).await?;
        Ok(Member {
            id,
            name: String::new(),
            peer_urls,
            client_urls: Vec::new(),
        })
    }

    /// Proposes a v2 request through raft and waits for the result of applying it, at most the request timeout.
    pub(crate) async fn propose_request(&self, mut request: Request) -> Result<Arc<Event>, Error> {
        if request.method == Method::QGet {
            return self.quorum_read(&request).await;
        }
        let (id, rx) = self.waiters.register();
        request.id = id;
        let started = SystemTime::now();
        let bytes = crate::entry::encode_v2(&request, unix_nanos());
        match self
            .propose_and_wait(id, bytes, rx, self.limits.request_timeout)
            .await
        {
            Ok(Outcome::V2(result)) => result,
            Ok(Outcome::V3(_)) => Err(raft_internal("etcdserver: request cancelled")),
            Err(ProposeFailure::Raft(e)) => Err(raft_error(e)),
            Err(ProposeFailure::Stopped) => Err(raft_internal("etcdserver: server stopped")),
            Err(ProposeFailure::TimedOut) => Err(raft_internal(self.timeout_cause(started))),
        }
    }

    /// A quorum GET: linearizable through raft's read index (a heartbeat round, shared by the reads waiting at
    /// the same time) instead of a log entry as in etcd, so it costs no fsync; answered from the store once it
    /// has applied everything committed before the read began, exactly as applying it in the log would answer.
    async fn quorum_read(&self, request: &Request) -> Result<Arc<Event>, Error> {
        let started = SystemTime::now();
        match tokio::time::timeout(self.limits.request_timeout, self.raft.read_index()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(raft_error(e)),
            Err(_) => return Err(raft_internal(self.timeout_cause(started))),
        }
        match self.write_state().store.apply(request, unix_nanos())? {
            etcd_store::Applied::Write(event) | etcd_store::Applied::Read(event) => Ok(event),
            etcd_store::Applied::Expired(_) => Err(raft_internal("etcdserver: request cancelled")),
        }
    }

    /// Whether a leader was elected after `started`, within two election timeouts of it: etcd's sign that the
    /// previous leader failed under a request.
    pub(crate) fn leader_failed_during(&self, started: SystemTime) -> bool {
        let elected = self.raft_view.leader_since();
        let two_elections = self
            .limits
            .request_timeout
            .saturating_sub(Duration::from_secs(5));
        matches!(elected, Some(elected) if started < elected && started + two_elections > elected)
    }

    /// Why a v2 request that started at `started` timed out, in etcd's words.
    fn timeout_cause(&self, started: SystemTime) -> &'static str {
        if self.leader_failed_during(started) {
            "etcdserver: request timed out, possibly due to previous leader failure"
        } else {
            "etcdserver: request timed out"
        }
    }

    /// How many of `members` (this one included) have been reachable for the whole `HEALTH_INTERVAL`.
    fn connected_since_health_interval(&self, members: &[Member]) -> usize {
        let since = Instant::now().checked_sub(HEALTH_INTERVAL);
        members
            .iter()
            .filter(|m| {
                m.id == self.id
                    || matches!((self.transport.active_since(m.id), since), (Some(a), Some(s)) if a <= s)
            })
            .count()
    }

    /// etcd's check before removing `id`: a member that is down now may go; otherwise the members that stay
    /// and have been reachable for `HEALTH_INTERVAL` must be a quorum of the cluster as it is.
    fn quorum_survives_removal(&self, id: u64) -> bool {
        if id != self.id && self.transport.active_since(id).is_none() {
            return true;
        }
        let members = self.members();
        let active = self.connected_since_health_interval(&members);
        active.saturating_sub(1) > (members.len() - 1) / 2
    }

    /// Whether `id` was removed from the cluster.
    pub fn is_removed(&self, id: u64) -> bool {
        self.with_store(|store| members::is_removed(store, id))
    }

    fn member_by_id(&self, id: u64) -> Option<Member> {
        self.with_store(members::list)
            .into_iter()
            .find(|m| m.id == id)
    }
}

fn raft_internal(cause: &str) -> Error {
    Error::new(ErrorCode::RaftInternal, cause, 0)
}

fn raft_error(e: RaftError) -> Error {
    let cause = match e {
        RaftError::Timeout => "etcdserver: request timed out",
        RaftError::LeaderChanged => {
            "etcdserver: request timed out, possibly due to previous leader failure"
        }
        RaftError::Stopped => "etcdserver: server stopped",
        _ => "etcdserver: request cancelled",
    };
    raft_internal(cause)
}

struct StoreWatch(WatchReceiver);

impl EventStream for StoreWatch {
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Event>>> {
        self.0.poll_recv(cx)
    }
}

impl Backend for Server {
    fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    fn raft_position(&self) -> RaftPosition {
        self.raft_view.applied()
    }

    fn cors_origins(&self) -> Vec<String> {
        self.cors.clone()
    }

    fn client_cert_auth(&self) -> bool {
        self.auth.client_cert_auth()
    }

    fn check_access(&self) {
        // etcd reads /2/enabled when it starts (as etcd-http does on every keys request that parsed, through
        // `get`); with auth never set up that read fails and counts in getsFail, which clients can see.
        let _ = self.with_store(|store| store.get("/2/enabled", Depth::Shallow, 0));
    }

    fn get(&self, path: &str, recursive: bool) -> Result<Event, Error> {
        self.with_store(|store| store.get(path, Depth::recursive_if(recursive), unix_nanos()))
    }

    fn watch(
        &self,
        path: &str,
        recursive: bool,
        stream: bool,
        since: u64,
    ) -> Result<(Box<dyn EventStream>, u64), Error> {
        let watch = self.write_state().store.watch(
            path,
            Depth::recursive_if(recursive),
            Watching::stream_if(stream),
            since,
        )?;
        Ok((Box::new(StoreWatch(watch.receiver)), watch.etcd_index))
    }

    fn propose(&self, request: Request) -> BoxFuture<'_, Result<Arc<Event>, Error>> {
        Box::pin(self.propose_request(request))
    }

    fn store_stats(&self) -> StoreStats {
        self.with_store(Store::stats)
    }

    fn self_stats(&self) -> SelfStats {
        let leadership = self.raft.leadership();
        let role = match leadership.role {
            Role::Leader => RaftRole::Leader,
            Role::Candidate => RaftRole::Candidate,
            Role::PreCandidate => RaftRole::PreCandidate,
            Role::Follower => RaftRole::Follower,
        };
        let appends = self.raft.append_stats();
        let since = self
            .raft_view
            .leader_since()
            .unwrap_or(self.raft_view.start_time());
        let rate = |r: Option<Rate>| {
            r.map(|r| TrafficRate {
                packets: r.packets,
                bytes: r.bytes,
            })
        };
        SelfStats {
            name: self.name.clone(),
            id: self.id,
            role,
            start_time: to_nanos(self.raft_view.start_time()),
            leader: leadership.leader,
            leader_uptime: since.elapsed().unwrap_or_default(),
            leader_start_time: to_nanos(since),
            received_appends: appends.received,
            receive_rate: rate(appends.receive_rate),
            sent_appends: appends.sent,
            send_rate: rate(appends.send_rate),
        }
    }

    fn leader_stats(&self) -> Option<LeaderStats> {
        if self.raft.leadership().role != Role::Leader {
            return None;
        }
        let mut followers: BTreeMap<u64, FollowerView> = self
            .raft
            .append_stats()
            .followers
            .into_iter()
            .map(|(id, f)| (id, follower_view(&f)))
            .collect();
        for member in self.members() {
            if member.id != self.id {
                followers.entry(member.id).or_default();
            }
        }
        Some(LeaderStats {
            leader: self.id,
            followers,
        })
    }

    fn members(&self) -> Vec<Member> {
        self.with_store(members::list)
    }

    fn leader(&self) -> Option<Member> {
        let leader = self.raft.leadership().leader;
        self.member_by_id(leader)
    }

    fn add_member(&self, peer_urls: Vec<String>) -> BoxFuture<'_, Result<Member, MemberError>> {
        Box::pin(self.add_member_as(peer_urls, Voting::Voter))
    }

    fn remove_member(&self, id: u64) -> BoxFuture<'_, Result<(), MemberError>> {
        Box::pin(async move {
            if self.with_store(|store| members::is_removed(store, id)) {
                return Err(MemberError::Removed(id));
            }
            if self.member_by_id(id).is_none() {
                return Err(MemberError::NotFound(id));
            }
            if self.policy.strict_reconfig && !ready_to_remove(&self.members(), id) {
                tracing::warn!(
                    "refused to remove a member: too few started members (--strict-reconfig-check)"
                );
                return Err(MemberError::NotEnoughStarted);
            }
            if self.policy.strict_reconfig && !self.quorum_survives_removal(id) {
                tracing::warn!(
                    "refused to remove a member: the members reachable for {HEALTH_INTERVAL:?} would not be a quorum without it (--strict-reconfig-check)"
                );
                return Err(MemberError::Unhealthy);
            }
            let change = MemberChange {
                kind: MemberChangeKind::RemoveMember,
                node_id: id,
                context: Vec::new(),
            };
            self.change(change).await
        })
    }

    fn update_member(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> BoxFuture<'_, Result<(), MemberError>> {
        Box::pin(async move {
            if self.member_by_id(id).is_none() {
                return Err(MemberError::NotFound(id));
            }
            let others = self.members();
            if others
                .iter()
                .any(|m| m.id != id && m.peer_urls.iter().any(|u| peer_urls.contains(u)))
            {
                return Err(MemberError::PeerUrlExists);
            }
            let change = MemberChange {
                kind: MemberChangeKind::UpdateMember,
                node_id: id,
                context: members::member_context(&peer_urls),
            };
            self.change(change).await
        })
    }

    fn health(&self, excluded: Vec<String>, serializable: bool) -> BoxFuture<'_, Option<String>> {
        Box::pin(self.health_reason(excluded, serializable))
    }

    fn probes(&self, ready: bool) -> BoxFuture<'_, Vec<(&'static str, Option<String>)>> {
        Box::pin(self.probe_results(ready))
    }

    fn versions(&self) -> etcd_api::v2::Versions {
        let cluster = self
            .with_store(|store| store.peek("/0/version", Depth::Shallow, 0).ok())
            .and_then(|e| e.node.value)
            .unwrap_or_else(|| "not_decided".to_owned());
        etcd_api::v2::Versions {
            server: self.server_version.clone(),
            cluster,
        }
    }

    fn metrics(&self) -> Vec<etcd_api::metrics::MetricFamily> {
        crate::metrics::render(self)
    }
}

impl Server {
    /// A membership change, answered once this member's store records it (as etcd answers): raft reports the
    /// change when its configuration takes it, and a read index after that resolves only once the apply loop
    /// has applied the entry, so a member list right after shows it.
    pub(crate) async fn change(&self, change: MemberChange) -> Result<(), MemberError> {
        match tokio::time::timeout(self.limits.request_timeout, self.raft.change_member(change))
            .await
        {
            Ok(Ok(())) => {}
            _ => return Err(MemberError::Internal),
        }
        // A member that removed itself may get no read index: the change is made all the same.
        let _ = tokio::time::timeout(self.limits.request_timeout, self.raft.read_index()).await;
        Ok(())
    }
}

/// How long every member must have been reachable before a strict membership change (etcd's health
/// interval).
pub(crate) const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// Whether a member added votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Voting {
    /// A voting member.
    Voter,
    /// A learner: it replicates the log but does not vote.
    Learner,
}

/// etcd's strict reconfiguration check for an addition: the started members must be a quorum of the cluster
/// that will exist, except that a single started member may add a second (to restore from a backup).
fn ready_to_add(members: &[Member]) -> bool {
    let started = members.iter().filter(|m| !m.name.is_empty()).count();
    let after = members.len() + 1;
    (started == 1 && after == 2) || started > after / 2
}

/// etcd's strict reconfiguration check for a removal: the started members left must be a quorum.
fn ready_to_remove(members: &[Member], id: u64) -> bool {
    let left: Vec<&Member> = members.iter().filter(|m| m.id != id).collect();
    let started = left.iter().filter(|m| !m.name.is_empty()).count();
    started > left.len() / 2
}

use etcd_api::to_unix_nanos as to_nanos;

/// A follower's replication as `/v2/stats/leader` shows it.
fn follower_view(f: &FollowerStats) -> FollowerView {
    let l = &f.latency;
    FollowerView {
        success: f.success,
        fail: f.fail,
        latency_current: l.current,
        latency_average: l.average(),
        latency_standard_deviation: l.standard_deviation(),
        latency_minimum: l.minimum,
        latency_maximum: l.maximum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, started: bool) -> Member {
        Member {
            id,
            name: if started {
                format!("m{id}")
            } else {
                String::new()
            },
            peer_urls: Vec::new(),
            client_urls: Vec::new(),
        }
    }

    #[test]
    fn strict_reconfig_check_follows_etcd() {
        assert!(
            ready_to_add(&[member(1, true)]),
            "1 -> 2 is allowed, to restore a backup"
        );
        assert!(
            !ready_to_add(&[member(1, true), member(2, false)]),
            "1 of 3 started"
        );
        assert!(ready_to_add(&[member(1, true), member(2, true)]));
        assert!(
            !ready_to_add(&[member(1, true), member(2, true), member(3, false)]),
            "2 started of 4 is no quorum"
        );
        assert!(ready_to_remove(
            &[member(1, true), member(2, true), member(3, false)],
            3
        ));
        assert!(!ready_to_remove(
            &[member(1, true), member(2, false), member(3, false)],
            3
        ));
    }
}
