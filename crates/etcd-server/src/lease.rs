//! Leases on a member: the v3 lease requests, their apply, and the leader's duties (expiry and checkpoints).
//!
//! Every change to a lease is a raft entry applied on every member in log order, so every member's lessor holds
//! the same leases, keys and renewal counts. A keepalive is a renewal entry: on a follower it is proposed like
//! any write, which raft carries to the leader over the peer port, and it is answered once applied here (so an
//! acknowledged keepalive is on a quorum). Keepalives that arrive while [`RENEWALS_IN_FLIGHT`] renewal entries
//! are already on their way share the next entry (up to [`PER_ENTRY`] leases), as a WAL batch shares an fsync. Only the leader decides expiry, and only after confirming with a
//! quorum (a read index) that it still leads; the expiry entry names each lease's renewal count, so it is void
//! for a lease a keepalive saved in the meantime (see `etcd-lease`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etcd_lease::{Checkpoint, Due, LEASE_TABLE, LeaseError, Lessor, MAX_LEASE_TTL, Record};
use etcd_proto::etcdrs::internal_raft_request::Request as Kind;
use etcd_proto::etcdrs::{
    LeaseExpireRequest, LeaseExpiry, LeaseRenewRequest, LeaseTimeCheckpoint,
    LeaseTimeCheckpointRequest,
};
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveResponse, LeaseLeasesResponse,
    LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus, LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
};
use etcd_proto::mvccpb::{Event, event::EventType};
use etcd_raft::Role;
use parking_lot::Mutex;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::server::{Server, unix_nanos};
use crate::v3::{V3Error, V3Response};

/// Most leases one expiry or checkpoint entry names.
const PER_ENTRY: usize = 1000;
/// How often the leader looks for run-out leases (etcd: 500 ms).
const EXPIRY_CHECK: Duration = Duration::from_millis(500);
/// How long an expiry proposed without effect waits before it is proposed again (etcd: 3 s).
const EXPIRY_RETRY: Duration = Duration::from_secs(3);
/// Renewal entries proposed and not yet applied, at most.
const RENEWALS_IN_FLIGHT: usize = 4;
/// Keepalives waiting for a renewal entry, at most (then keepalive streams wait).
const RENEWALS_QUEUED: usize = 16 * PER_ENTRY;

/// A keepalive waiting for its renewal: the lease, and where its granted TTL goes (0: no such lease).
type Renewal = (i64, oneshot::Sender<Result<i64, V3Error>>);

/// The member's leases and their counters.
pub(crate) struct Leases {
    pub(crate) lessor: Mutex<Lessor>,
    /// Expiries proposed and not yet applied, with when.
    revoking: Mutex<HashMap<i64, Instant>>,
    pub(crate) counters: LeaseCounters,
    /// The election timeout: a new leader's grace, and how long a renewal waits before it is proposed again.
    election_timeout: Duration,
    checkpoint_interval: Duration,
    /// Keepalives on their way to a renewal entry, and the queue's far end until [`renewer`] takes it.
    renewals: mpsc::Sender<Renewal>,
    renewals_queued: Mutex<Option<mpsc::Receiver<Renewal>>>,
}

/// How many power-of-two buckets `etcd_debugging_lease_ttl_total` has (etcd: 1 s doubling 24 times).
pub(crate) const TTL_BUCKETS: usize = 24;

/// Counters for `/metrics` (etcd's lease metrics).
#[derive(Default)]
pub(crate) struct LeaseCounters {
    pub(crate) granted: AtomicU64,
    pub(crate) revoked: AtomicU64,
    pub(crate) renewed: AtomicU64,
    pub(crate) expired: AtomicU64,
    /// Granted TTLs by power-of-two bucket ([`TTL_BUCKETS`] of them from 1 s, then the rest), and their sum.
    pub(crate) ttl_buckets: [AtomicU64; TTL_BUCKETS + 1],
    pub(crate) ttl_sum: AtomicU64,
}

impl LeaseCounters {
    fn count_grant(&self, ttl: i64) {
        self.granted.fetch_add(1, Ordering::Relaxed);
        let ttl = u64::try_from(ttl).unwrap_or(0);
        let bucket = (0..TTL_BUCKETS)
            .find(|&b| ttl <= 1u64 << b)
            .unwrap_or(TTL_BUCKETS);
        self.ttl_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.ttl_sum.fetch_add(ttl, Ordering::Relaxed);
    }
}

/// etcd's minimum TTL: one and a half election timeouts, in whole seconds rounded up.
pub(crate) fn min_ttl(heartbeat: Duration, election: Duration) -> i64 {
    let heartbeat_ms = heartbeat.as_millis().max(1);
    let ticks = election.as_millis() / heartbeat_ms;
    let min_ms = (3 * ticks / 2) * heartbeat_ms;
    i64::try_from(min_ms.div_ceil(1000))
        .unwrap_or(i64::MAX)
        .max(1)
}

impl Leases {
    pub(crate) fn new(
        lessor: Lessor,
        election_timeout: Duration,
        checkpoint_interval: Duration,
    ) -> Self {
        let (renewals, queued) = mpsc::channel(RENEWALS_QUEUED);
        Self {
            lessor: Mutex::new(lessor),
            revoking: Mutex::new(HashMap::new()),
            counters: LeaseCounters::default(),
            election_timeout,
            checkpoint_interval,
            renewals,
            renewals_queued: Mutex::new(Some(queued)),
        }
    }
}

/// The lessor of the v3 store `store`: its persisted leases and the keys that name them.
pub(crate) fn load(store: &etcd_mvcc::Store, min_ttl: i64) -> Result<Lessor, String> {
    let mut records = Vec::new();
    for (key, value) in store.aux_entries(LEASE_TABLE).map_err(|e| e.to_string())? {
        records.push(Record::decode(&key, &value).map_err(|e| e.to_string())?);
    }
    let keys = store.leased_keys().map_err(|e| e.to_string())?;
    Ok(Lessor::restore(min_ttl, records, keys, Instant::now()))
}

/// Keeps the lessor's key attachments in step with what one request changed.
pub(crate) fn follow_keys(lessor: &mut Lessor, events: &[Event]) {
    for e in events {
        if let Some(kv) = &e.kv {
            let lease = if e.r#type == EventType::Put as i32 {
                kv.lease
            } else {
                0
            };
            lessor.attach(&kv.key, lease);
        }
    }
}

fn persist(batch: &mut etcd_mvcc::WriteBatch<'_>, record: Option<Record>) -> etcd_mvcc::Result<()> {
    match record {
        Some(r) => batch.put_aux(LEASE_TABLE, &r.key(), &r.value()),
        None => Ok(()),
    }
}

/// Revokes one lease in the batch: its keys deleted at one revision, its record removed.
fn remove(
    batch: &mut etcd_mvcc::WriteBatch<'_>,
    id: i64,
    keys: &[Vec<u8>],
) -> etcd_mvcc::Result<()> {
    batch.delete_keys(keys)?;
    batch.delete_aux(LEASE_TABLE, &id.to_be_bytes())
}

/// What applying a lease request answers: a response for its waiter (if any), or a store failure.
pub(crate) fn apply(
    server: &Server,
    lessor: &mut Lessor,
    batch: &mut etcd_mvcc::WriteBatch<'_>,
    request: Kind,
    now: Instant,
) -> etcd_mvcc::Result<Option<Result<V3Response, V3Error>>> {
    let counters = &server.leases.counters;
    Ok(Some(match request {
        Kind::LeaseGrant(req) => match lessor.grant(req.id, req.ttl, now) {
            Ok(record) => {
                persist(batch, Some(record))?;
                counters.count_grant(record.ttl);
                Ok(V3Response::LeaseGrant(LeaseGrantResponse {
                    header: Some(server.header(batch.revision())),
                    id: record.id,
                    ttl: record.ttl,
                    error: String::new(),
                }))
            }
            Err(e) => Err(V3Error::Lease(e)),
        },
        Kind::LeaseRevoke(req) => match lessor.revoke(req.id) {
            Ok(keys) => {
                remove(batch, req.id, &keys)?;
                counters.revoked.fetch_add(1, Ordering::Relaxed);
                Ok(V3Response::LeaseRevoke(LeaseRevokeResponse {
                    header: Some(server.header(batch.revision())),
                }))
            }
            Err(e) => Err(V3Error::Lease(e)),
        },
        Kind::LeaseRenew(req) => {
            let mut ttls = Vec::with_capacity(req.ids.len());
            for id in &req.ids {
                match lessor.renew(*id, now) {
                    Ok(ttl) => {
                        persist(batch, lessor.record(*id))?;
                        counters.renewed.fetch_add(1, Ordering::Relaxed);
                        ttls.push(ttl);
                    }
                    Err(_) => ttls.push(0),
                }
            }
            Ok(V3Response::LeaseRenewed(ttls))
        }
        Kind::LeaseTimeCheckpoint(req) => {
            for cp in req.checkpoints {
                let cp = Checkpoint {
                    id: cp.id,
                    remaining_ms: cp.remaining_ms,
                    renewals: cp.renewals,
                };
                if lessor.checkpoint(cp, now) {
                    persist(batch, lessor.record(cp.id))?;
                }
            }
            return Ok(None);
        }
        Kind::LeaseExpire(req) => {
            for due in req.leases {
                server.leases.revoking.lock().remove(&due.id);
                let due = Due {
                    id: due.id,
                    renewals: due.renewals,
                };
                if let Some(keys) = lessor.expire(due) {
                    remove(batch, due.id, &keys)?;
                    counters.revoked.fetch_add(1, Ordering::Relaxed);
                    counters.expired.fetch_add(1, Ordering::Relaxed);
                }
            }
            return Ok(None);
        }
        // Not a lease request: the caller's.
        _ => return Ok(None),
    }))
}

impl Server {
    /// `LeaseGrant`: the server picks the ID when the request's is 0.
    pub async fn lease_grant(
        &self,
        mut req: LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse, V3Error> {
        if req.ttl > MAX_LEASE_TTL {
            return Err(V3Error::Lease(LeaseError::TtlTooLarge));
        }
        self.check_quota(crate::quota::LEASE_OVERHEAD).await?;
        if req.id == 0 {
            // etcd takes the ID from its request ID generator, top bit cleared.
            req.id = (self.waiters.next_id() & (i64::MAX as u64)) as i64;
        }
        match self.propose_v3(Kind::LeaseGrant(req)).await? {
            V3Response::LeaseGrant(r) => Ok(r),
            _ => Err(V3Error::Canceled),
        }
    }

    /// `LeaseRevoke`: the lease and every key attached to it, at one revision.
    pub async fn lease_revoke(
        &self,
        caller: &etcd_auth::Caller,
        req: LeaseRevokeRequest,
    ) -> Result<LeaseRevokeResponse, V3Error> {
        let request = Kind::LeaseRevoke(req);
        self.check_write(caller, &request)?;
        match self.propose_v3_as(caller, request).await? {
            V3Response::LeaseRevoke(r) => Ok(r),
            _ => Err(V3Error::Canceled),
        }
    }

    /// One keepalive of a `LeaseKeepAlive` stream: answered once the renewal is applied here, with the granted
    /// TTL; a lease that does not exist (or, on the leader, has run out) is answered with TTL 0, as etcd does.
    pub async fn lease_keep_alive(&self, id: i64) -> Result<LeaseKeepAliveResponse, V3Error> {
        let gone = || LeaseKeepAliveResponse {
            header: Some(self.header(self.mvcc().current_revision())),
            id,
            ttl: 0,
        };
        // The leader refuses a lease that has run out by its clock (its expiry is on the way). A follower does not
        // judge: its clock may disagree with the leader's grace after a leader change, and a lease it does not
        // know may be one it has not applied yet; raft decides.
        if self.raft.leadership().role == Role::Leader {
            let lessor = self.leases.lessor.lock();
            if lessor.contains(id) && lessor.has_run_out(id, Instant::now()) {
                return Ok(gone());
            }
        }
        let (tx, rx) = oneshot::channel();
        if self.leases.renewals.send((id, tx)).await.is_err() {
            return Err(V3Error::Stopped);
        }
        match rx.await {
            Ok(Ok(ttl)) if ttl > 0 => Ok(LeaseKeepAliveResponse {
                header: Some(self.header(self.mvcc().current_revision())),
                id,
                ttl,
            }),
            Ok(Ok(_)) => Ok(gone()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(V3Error::Stopped),
        }
    }

    /// `LeaseTimeToLive`: linearizable; TTL -1 for a lease that does not exist, as etcd answers.
    pub async fn lease_time_to_live(
        &self,
        req: LeaseTimeToLiveRequest,
    ) -> Result<LeaseTimeToLiveResponse, V3Error> {
        self.linearizable_read().await?;
        let header = Some(self.header(self.mvcc().current_revision()));
        let found = self
            .leases
            .lessor
            .lock()
            .time_to_live(req.id, Instant::now());
        Ok(match found {
            Some(t) => LeaseTimeToLiveResponse {
                header,
                id: req.id,
                ttl: t.remaining,
                granted_ttl: t.granted,
                keys: if req.keys { t.keys } else { Vec::new() },
            },
            None => LeaseTimeToLiveResponse {
                header,
                id: req.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
        })
    }

    /// `LeaseLeases`: every lease, linearizable.
    pub async fn lease_leases(&self) -> Result<LeaseLeasesResponse, V3Error> {
        self.linearizable_read().await?;
        let header = Some(self.header(self.mvcc().current_revision()));
        let leases = self
            .leases
            .lessor
            .lock()
            .ids()
            .into_iter()
            .map(|id| LeaseStatus { id })
            .collect();
        Ok(LeaseLeasesResponse { header, leases })
    }

    /// Whether lease `id` exists on this member.
    pub fn lease_exists(&self, id: i64) -> bool {
        self.leases.lessor.lock().contains(id)
    }
}

/// Turns queued keepalives into renewal entries: whatever has gathered while [`RENEWALS_IN_FLIGHT`] entries were
/// on their way goes in the next one, and each keepalive gets its lease's answer.
pub(crate) async fn renewer(server: Arc<Server>) {
    let Some(mut queued) = server.leases.renewals_queued.lock().take() else {
        return;
    };
    let in_flight = Arc::new(Semaphore::new(RENEWALS_IN_FLIGHT));
    loop {
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = queued.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < PER_ENTRY {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let server = server.clone();
        tokio::spawn(async move {
            let ids = batch.iter().map(|(id, _)| *id).collect();
            let outcome = renew(&server, LeaseRenewRequest { ids }).await;
            match outcome {
                Ok(V3Response::LeaseRenewed(ttls)) if ttls.len() == batch.len() => {
                    for ((_, answer), ttl) in batch.into_iter().zip(ttls) {
                        let _ = answer.send(Ok(ttl));
                    }
                }
                Ok(_) => {
                    for (_, answer) in batch {
                        let _ = answer.send(Err(V3Error::Canceled));
                    }
                }
                Err(e) => {
                    for (_, answer) in batch {
                        let _ = answer.send(Err(e.clone()));
                    }
                }
            }
            drop(slot);
        });
    }
}

/// Proposes one renewal entry until it is applied or the request timeout has passed. A proposal forwarded to a
/// leader that then lost its leadership is lost without a word, and waiting the whole request timeout for it
/// could outlast the leases it renews: after two election timeouts without an outcome it is proposed again
/// (renewing a lease twice is harmless).
async fn renew(server: &Server, request: LeaseRenewRequest) -> Result<V3Response, V3Error> {
    let deadline = Instant::now() + server.limits.request_timeout;
    let attempt = server.leases.election_timeout * 2;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = server
            .propose_v3_within(
                &etcd_auth::Caller::anonymous(),
                Kind::LeaseRenew(request.clone()),
                attempt.min(left),
            )
            .await;
        match outcome {
            Err(V3Error::Timeout | V3Error::TimeoutDueToLeaderFail | V3Error::NoLeader)
                if Instant::now() < deadline => {}
            other => return other,
        }
    }
}

/// The leader's lease duties: on taking over, the grace; then every 500 ms, the expiry of run-out leases (after a
/// read index confirms the leadership with a quorum); every checkpoint interval, the remaining times.
pub(crate) async fn duties(server: Arc<Server>) {
    let mut leadership = server.raft.leadership_changes();
    let mut tick = tokio::time::interval(EXPIRY_CHECK);
    let mut was_leader = false;
    let mut last_checkpoint = Instant::now();
    loop {
        tokio::select! {
            changed = leadership.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        let leads = server.raft.leadership().role == Role::Leader;
        let now = Instant::now();
        if leads && !was_leader {
            server
                .leases
                .lessor
                .lock()
                .promote(now, server.leases.election_timeout);
            server.leases.revoking.lock().clear();
            last_checkpoint = now;
        }
        was_leader = leads;
        if !leads {
            continue;
        }
        propose_expiries(&server, now).await;
        if now.duration_since(last_checkpoint) >= server.leases.checkpoint_interval {
            last_checkpoint = now;
            let checkpoints = server.leases.lessor.lock().checkpoints(now);
            for chunk in checkpoints.chunks(PER_ENTRY) {
                let request = LeaseTimeCheckpointRequest {
                    checkpoints: chunk
                        .iter()
                        .map(|c| LeaseTimeCheckpoint {
                            id: c.id,
                            remaining_ms: c.remaining_ms,
                            renewals: c.renewals,
                        })
                        .collect(),
                };
                fire(&server, Kind::LeaseTimeCheckpoint(request)).await;
            }
        }
    }
}

async fn propose_expiries(server: &Server, now: Instant) {
    let due: Vec<Due> = {
        let revoking = server.leases.revoking.lock();
        server
            .leases
            .lessor
            .lock()
            .expired(now, usize::MAX)
            .into_iter()
            .filter(|d| {
                revoking
                    .get(&d.id)
                    .is_none_or(|at| now.duration_since(*at) >= EXPIRY_RETRY)
            })
            .take(PER_ENTRY)
            .collect()
    };
    if due.is_empty() {
        return;
    }
    // A leader cut off from the quorum (or already replaced) must not decide anything: confirm first.
    let confirmed =
        tokio::time::timeout(server.limits.request_timeout, server.raft.read_index()).await;
    if !matches!(confirmed, Ok(Ok(_))) {
        return;
    }
    {
        let mut revoking = server.leases.revoking.lock();
        for d in &due {
            revoking.insert(d.id, now);
        }
    }
    let request = LeaseExpireRequest {
        leases: due
            .iter()
            .map(|d| LeaseExpiry {
                id: d.id,
                renewals: d.renewals,
            })
            .collect(),
    };
    fire(server, Kind::LeaseExpire(request)).await;
}

/// Proposes an entry nobody waits for.
async fn fire(server: &Server, request: Kind) {
    let bytes = crate::entry::encode(0, unix_nanos(), &etcd_auth::Caller::anonymous(), request);
    if let Err(e) = server.raft.propose(bytes).await {
        tracing::debug!("a lease duty was not proposed: {e}");
    }
}
