//! The v3 KV requests: validated, proposed through raft (writes) or served after a read index (linearizable
//! ranges), answered with etcd's response headers and errors.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use etcd_proto::etcdrs::internal_raft_request::Request as Kind;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use etcd_raft::RaftError;

use etcd_auth::Caller;

use crate::server::{Server, unix_nanos};
use crate::waiters::Outcome;

/// A v3 request's answer from the apply loop.
#[derive(Debug, Clone)]
pub enum V3Response {
    /// To a `PutRequest`.
    Put(PutResponse),
    /// To a `DeleteRangeRequest`.
    DeleteRange(DeleteRangeResponse),
    /// To a `TxnRequest`.
    Txn(TxnResponse),
    /// To a `CompactionRequest`.
    Compact(CompactionResponse),
    /// To a `LeaseGrantRequest`.
    LeaseGrant(etcd_proto::etcdserverpb::LeaseGrantResponse),
    /// To a `LeaseRevokeRequest`.
    LeaseRevoke(etcd_proto::etcdserverpb::LeaseRevokeResponse),
    /// To a renewal entry: each lease's granted TTL, in the entry's order (0: no such lease).
    LeaseRenewed(Vec<i64>),
    /// To an `AlarmRequest`.
    Alarm(etcd_proto::etcdserverpb::AlarmResponse),
    /// To a downgrade state change.
    DowngradeSet,
    /// To an auth request.
    Auth(crate::auth::AuthAnswer),
}

/// The gRPC status class of an error (the gRPC layer maps it to its status code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// `InvalidArgument`.
    InvalidArgument,
    /// `OutOfRange`.
    OutOfRange,
    /// `Unavailable`.
    Unavailable,
    /// `ResourceExhausted`.
    ResourceExhausted,
    /// `Canceled`.
    Canceled,
    /// `NotFound`.
    NotFound,
    /// `FailedPrecondition`.
    FailedPrecondition,
    /// `Unknown` (errors etcd returns without a gRPC code).
    Unknown,
    /// `Internal`.
    Internal,
    /// `PermissionDenied`.
    PermissionDenied,
    /// `Unauthenticated`.
    Unauthenticated,
    /// `DataLoss`.
    DataLoss,
    /// `Unimplemented`.
    Unimplemented,
}

/// Why a v3 request failed; each displays as etcd's exact message (clients match errors by text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V3Error {
    /// A store rule refused the request.
    #[error(transparent)]
    Mvcc(#[from] etcd_mvcc::Error),
    /// No leader is known.
    #[error("etcdserver: no leader")]
    NoLeader,
    /// Not applied within the request timeout.
    #[error("etcdserver: request timed out")]
    Timeout,
    /// Timed out after a leader change during the request.
    #[error("etcdserver: request timed out, possibly due to previous leader failure")]
    TimeoutDueToLeaderFail,
    /// The member is stopping.
    #[error("etcdserver: server stopped")]
    Stopped,
    /// Raft refused the request for a reason other than those above.
    #[error("etcdserver: request cancelled")]
    Canceled,
    /// The request is over `--max-request-bytes`.
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    /// Raft is overloaded.
    #[error("etcdserver: too many requests")]
    TooManyRequests,
    /// A lock's or campaign's lease ended while it waited (etcd's concurrency error).
    #[error("mutex: session is expired")]
    SessionExpired,
    /// `Proclaim` from a candidate that does not lead.
    #[error("election: not leader")]
    ElectionNotLeader,
    /// `Leader` of an election nobody campaigns in.
    #[error("election: no leader")]
    ElectionNoLeader,
    /// `Proclaim` or `Resign` without its leader key.
    #[error("\"leader\" field must be provided")]
    MissingLeaderKey,
    /// A lease request was refused.
    #[error(transparent)]
    Lease(#[from] etcd_lease::LeaseError),
    /// A NOSPACE alarm is active: nothing that adds data is accepted.
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    /// A CORRUPT alarm is active: no write is accepted.
    #[error("etcdserver: corrupt cluster")]
    Corrupt,
    /// A member with the ID a new member would get exists.
    #[error("etcdserver: member ID already exist")]
    MemberExists,
    /// Another member has one of the peer URLs.
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    /// No member has the ID (or it was removed).
    #[error("etcdserver: member not found")]
    MemberNotFound,
    /// A peer URL is not `scheme://host:port` with scheme http, https, unix or unixs.
    #[error("etcdserver: given member URLs are invalid")]
    MemberBadUrls,
    /// Members have not been reachable long enough for the change (`--strict-reconfig-check`).
    #[error("etcdserver: unhealthy cluster")]
    Unhealthy,
    /// Too few members started for the change (`--strict-reconfig-check`).
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    NotEnoughStarted,
    /// `MoveLeader` sent to a member that does not lead.
    #[error("etcdserver: not leader")]
    NotLeader,
    /// `MoveLeader` to a member that is not a voting member.
    #[error("etcdserver: bad leader transferee")]
    BadLeaderTransferee,
    /// The leadership did not move within the request timeout.
    #[error("etcdserver: request timed out, leader transfer took too long")]
    LeaderTransferTimeout,
    /// A learner would exceed `--max-learners`.
    #[error("etcdserver: too many learner members in cluster")]
    TooManyLearners,
    /// `MemberPromote` of a voting member.
    #[error("etcdserver: can only promote a learner member")]
    MemberNotLearner,
    /// `MemberPromote` of a learner whose log is behind the leader's.
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    /// A learner was asked for what only voting members serve.
    #[error("etcdserver: rpc not supported for learner")]
    NotSupportedForLearner,
    /// A downgrade target that is not a semantic version.
    #[error("etcdserver: wrong downgrade target version format")]
    WrongDowngradeVersionFormat,
    /// A downgrade target other than the cluster version's previous minor.
    #[error("etcdserver: invalid downgrade target version")]
    InvalidDowngradeTargetVersion,
    /// A downgrade is enabled already.
    #[error("etcdserver: cluster has a downgrade job in progress")]
    DowngradeInProcess,
    /// `CANCEL` with no downgrade enabled.
    #[error("etcdserver: no inflight downgrade job")]
    NoInflightDowngrade,
    /// The cluster version is not decided yet.
    #[error("etcdserver: cluster version not found during downgrade")]
    ClusterVersionUnavailable,
    /// An action etcd does not know.
    #[error("etcdserver: unknown method")]
    UnknownMethod,
    /// Auth refused the request (etcd's gRPC texts).
    #[error(transparent)]
    Auth(#[from] etcd_auth::AuthError),
    /// Auth refused a Maintenance request: etcd answers these with the auth package's own text, code Unknown.
    #[error("{}", .0.package_text())]
    AuthUnknown(etcd_auth::AuthError),
    /// Something failed that should not have; the text says what.
    #[error("etcdserver: {0}")]
    Internal(String),
    /// Something etcd serves that this member does not yet; the text names it.
    #[error("etcdserver: {0} is not supported by etcd-node yet")]
    NotSupported(&'static str),
}

impl V3Error {
    /// The gRPC status class etcd answers this error with.
    pub fn class(&self) -> ErrorClass {
        use etcd_mvcc::Error as M;
        match self {
            V3Error::Mvcc(M::Compacted | M::FutureRevision) => ErrorClass::OutOfRange,
            V3Error::Mvcc(
                M::EmptyKey
                | M::KeyNotFound
                | M::ValueProvided
                | M::LeaseProvided
                | M::TooManyOps
                | M::DuplicateKey,
            ) => ErrorClass::InvalidArgument,
            V3Error::Mvcc(M::LeaseNotFound) => ErrorClass::NotFound,
            V3Error::Mvcc(_) => ErrorClass::Internal,
            V3Error::Lease(etcd_lease::LeaseError::NotFound) => ErrorClass::NotFound,
            V3Error::Lease(etcd_lease::LeaseError::Exists) => ErrorClass::FailedPrecondition,
            V3Error::Lease(etcd_lease::LeaseError::TtlTooLarge) => ErrorClass::OutOfRange,
            V3Error::RequestTooLarge => ErrorClass::InvalidArgument,
            V3Error::SessionExpired
            | V3Error::ElectionNotLeader
            | V3Error::ElectionNoLeader
            | V3Error::MissingLeaderKey => ErrorClass::Unknown,
            V3Error::TooManyRequests | V3Error::NoSpace => ErrorClass::ResourceExhausted,
            V3Error::Corrupt => ErrorClass::DataLoss,
            V3Error::NotSupportedForLearner => ErrorClass::Unavailable,
            V3Error::WrongDowngradeVersionFormat
            | V3Error::InvalidDowngradeTargetVersion
            | V3Error::UnknownMethod => ErrorClass::InvalidArgument,
            V3Error::DowngradeInProcess | V3Error::NoInflightDowngrade => {
                ErrorClass::FailedPrecondition
            }
            V3Error::ClusterVersionUnavailable => ErrorClass::Unavailable,
            V3Error::MemberExists
            | V3Error::TooManyLearners
            | V3Error::MemberNotLearner
            | V3Error::LearnerNotReady
            | V3Error::PeerUrlExists
            | V3Error::NotEnoughStarted
            | V3Error::NotLeader
            | V3Error::BadLeaderTransferee => ErrorClass::FailedPrecondition,
            V3Error::LeaderTransferTimeout => ErrorClass::Unavailable,
            V3Error::MemberNotFound => ErrorClass::NotFound,
            V3Error::MemberBadUrls => ErrorClass::InvalidArgument,
            V3Error::Unhealthy => ErrorClass::Unavailable,
            V3Error::NotSupported(_) => ErrorClass::Unimplemented,
            V3Error::Auth(e) => auth_class(*e),
            V3Error::AuthUnknown(_) => ErrorClass::Unknown,
            V3Error::Internal(_) => ErrorClass::Internal,
            V3Error::Canceled => ErrorClass::Canceled,
            V3Error::NoLeader
            | V3Error::Timeout
            | V3Error::TimeoutDueToLeaderFail
            | V3Error::Stopped => ErrorClass::Unavailable,
        }
    }
}

/// The gRPC code etcd gives each auth error.
fn auth_class(e: etcd_auth::AuthError) -> ErrorClass {
    use etcd_auth::AuthError as A;
    match e {
        A::UserEmpty
        | A::RoleEmpty
        | A::AuthFailed
        | A::PermissionNotGiven
        | A::InvalidAuthMgmt => ErrorClass::InvalidArgument,
        A::PermissionDenied => ErrorClass::PermissionDenied,
        A::InvalidAuthToken => ErrorClass::Unauthenticated,
        A::NoPasswordUser | A::VerifyOnly | A::AuthOldRevision => ErrorClass::Unknown,
        A::RootUserNotExist
        | A::RootRoleNotExist
        | A::UserAlreadyExist
        | A::UserNotFound
        | A::RoleAlreadyExist
        | A::RoleNotFound
        | A::RoleNotGranted
        | A::PermissionNotGranted
        | A::AuthNotEnabled => ErrorClass::FailedPrecondition,
    }
}

impl Server {
    /// The header every v3 response carries.
    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.id,
            revision,
            raft_term: self.raft.leadership().term,
        }
    }

    /// The v3 store as it is now (a snapshot from the leader replaces it).
    pub fn mvcc(&self) -> Arc<etcd_mvcc::Store> {
        self.mvcc.read().clone()
    }

    /// Whether this member knows a leader.
    pub fn has_leader(&self) -> bool {
        self.raft.leadership().leader != 0
    }

    /// A range: linearizable (after a read index) unless `serializable`; `caller` must may read it.
    pub async fn range(
        &self,
        caller: &Caller,
        req: RangeRequest,
    ) -> Result<RangeResponse, V3Error> {
        if req.key.is_empty() {
            return Err(etcd_mvcc::Error::EmptyKey.into());
        }
        self.check_read(caller, &req.key, &req.range_end)?;
        self.read_range(req).await
    }

    /// A range with no permission check (the member's own reads).
    pub(crate) async fn read_range(&self, req: RangeRequest) -> Result<RangeResponse, V3Error> {
        if !req.serializable {
            self.linearizable_read().await?;
        }
        self.metrics.v3.ranges.fetch_add(1, RELAXED);
        let (found, revision) = self.mvcc().range(&req)?;
        Ok(RangeResponse {
            header: Some(self.header(revision)),
            kvs: found.kvs,
            more: found.more,
            count: found.count,
        })
    }

    /// A put, through raft.
    pub async fn put(&self, caller: &Caller, req: PutRequest) -> Result<PutResponse, V3Error> {
        if req.key.is_empty() {
            return Err(etcd_mvcc::Error::EmptyKey.into());
        }
        let cost = crate::quota::put_cost(&req);
        let request = Kind::Put(req);
        self.check_write(caller, &request)?;
        self.check_quota(cost).await?;
        match self.propose_v3_as(caller, request).await? {
            V3Response::Put(r) => Ok(r),
            _ => Err(V3Error::Canceled),
        }
    }

    /// A delete, through raft.
    pub async fn delete_range(
        &self,
        caller: &Caller,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, V3Error> {
        if req.key.is_empty() {
            return Err(etcd_mvcc::Error::EmptyKey.into());
        }
        let request = Kind::DeleteRange(req);
        self.check_write(caller, &request)?;
        match self.propose_v3_as(caller, request).await? {
            V3Response::DeleteRange(r) => Ok(r),
            _ => Err(V3Error::Canceled),
        }
    }

    /// A txn, through raft (checked against `--max-txn-ops` and for duplicate keys first).
    pub async fn txn(&self, caller: &Caller, req: TxnRequest) -> Result<TxnResponse, V3Error> {
        etcd_mvcc::check_txn(&req, self.limits.max_txn_ops)?;
        let cost = crate::quota::txn_cost(&req);
        let request = Kind::Txn(req);
        self.check_write(caller, &request)?;
        self.check_quota(cost).await?;
        match self.propose_v3_as(caller, request).await? {
            V3Response::Txn(r) => Ok(r),
            _ => Err(V3Error::Canceled),
        }
    }

    /// A compaction, through raft; with `physical`, answered once the old revisions are deleted.
    pub async fn compact(&self, req: CompactionRequest) -> Result<CompactionResponse, V3Error> {
        match self.propose_v3(Kind::Compaction(req)).await? {
            V3Response::Compact(r) => Ok(r),
            _ => Err(V3Error::Canceled),
        }
    }

    /// Waits until this member has applied everything committed before the call.
    pub(crate) async fn linearizable_read(&self) -> Result<(), V3Error> {
        let started = SystemTime::now();
        match tokio::time::timeout(self.limits.request_timeout, self.raft.read_index()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::ProposalDropped)) if !self.has_leader() => Err(V3Error::NoLeader),
            Ok(Err(e)) => Err(v3_raft_error(e)),
            Err(_) => Err(self.v3_timeout(started)),
        }
    }

    /// Proposes a v3 request of the member's own (no user) and waits for its outcome.
    pub(crate) async fn propose_v3(&self, request: Kind) -> Result<V3Response, V3Error> {
        self.propose_v3_within(&Caller::anonymous(), request, self.limits.request_timeout)
            .await
    }

    /// Proposes a client's v3 request, applied under its identity, and waits for its outcome.
    pub(crate) async fn propose_v3_as(
        &self,
        caller: &Caller,
        request: Kind,
    ) -> Result<V3Response, V3Error> {
        self.propose_v3_within(caller, request, self.limits.request_timeout)
            .await
    }

    /// Proposes a v3 request and waits for its outcome at most `within`.
    pub(crate) async fn propose_v3_within(
        &self,
        caller: &Caller,
        request: Kind,
        within: Duration,
    ) -> Result<V3Response, V3Error> {
        let (id, rx) = self.waiters.register();
        let bytes = crate::entry::encode(id, unix_nanos(), caller, request);
        if bytes.len() > self.limits.max_request_bytes {
            self.waiters.cancel(id);
            return Err(V3Error::RequestTooLarge);
        }
        let started = SystemTime::now();
        let outcome = self.propose_and_wait(id, bytes, rx, within).await;
        match outcome {
            Ok(Outcome::V3(result)) => result,
            Ok(Outcome::V2(_)) => Err(V3Error::Canceled),
            Err(ProposeFailure::Raft(e)) => Err(v3_raft_error(e)),
            Err(ProposeFailure::TimedOut) => Err(self.v3_timeout(started)),
            Err(ProposeFailure::Stopped) => Err(V3Error::Stopped),
        }
    }

    fn v3_timeout(&self, started: SystemTime) -> V3Error {
        if self.leader_failed_during(started) {
            V3Error::TimeoutDueToLeaderFail
        } else if !self.has_leader() {
            V3Error::NoLeader
        } else {
            V3Error::Timeout
        }
    }

    /// Proposes `bytes` (the entry of waiter `id`) and waits for its outcome, at most `within`.
    /// Without a leader raft drops proposals at once; etcd waits for one until the timeout.
    pub(crate) async fn propose_and_wait(
        &self,
        id: u64,
        bytes: Vec<u8>,
        rx: tokio::sync::oneshot::Receiver<Outcome>,
        within: Duration,
    ) -> Result<Outcome, ProposeFailure> {
        let pending = self.metrics.v2.pending_proposal();
        let outcome = tokio::time::timeout(within, async {
            loop {
                match self.raft.propose(bytes.clone()).await {
                    Ok(_) => break rx.await.map_err(|_| ProposeFailure::Stopped),
                    Err(RaftError::ProposalDropped) => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                    Err(e) => break Err(ProposeFailure::Raft(e)),
                }
            }
        })
        .await
        .unwrap_or(Err(ProposeFailure::TimedOut));
        drop(pending);
        if outcome.is_err() {
            self.waiters.cancel(id);
            self.metrics.v2.proposals_failed.fetch_add(1, RELAXED);
        }
        outcome
    }
}

const RELAXED: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Relaxed;

/// Why a proposal got no outcome.
#[derive(Debug)]
pub(crate) enum ProposeFailure {
    Raft(RaftError),
    TimedOut,
    Stopped,
}

fn v3_raft_error(e: RaftError) -> V3Error {
    match e {
        RaftError::Timeout => V3Error::Timeout,
        RaftError::LeaderChanged => V3Error::TimeoutDueToLeaderFail,
        RaftError::Stopped => V3Error::Stopped,
        RaftError::Busy => V3Error::TooManyRequests,
        _ => V3Error::Canceled,
    }
}
