//! What the member knows of raft without asking the raft thread: the last raft status (refreshed by the
//! status task), when the current leader was elected, the last applied position, and whether this member is
//! a learner. Read by stats, metrics, timeouts and the learner checks; written by the status task and the apply
//! loop only.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use etcd_api::v2::RaftPosition;
use etcd_raft::Status;

/// The member's cached view of raft.
pub(crate) struct RaftView {
    status: RwLock<Option<Status>>,
    start_time: SystemTime,
    leader_since: RwLock<Option<SystemTime>>,
    applied_index: AtomicU64,
    applied_term: AtomicU64,
    learner: AtomicBool,
}

impl RaftView {
    pub(crate) fn new() -> RaftView {
        RaftView {
            status: RwLock::new(None),
            start_time: SystemTime::now(),
            leader_since: RwLock::new(None),
            applied_index: AtomicU64::new(0),
            applied_term: AtomicU64::new(0),
            learner: AtomicBool::new(false),
        }
    }

    /// The raft status as last refreshed (WAL figures, progress); `None` before the first refresh.
    pub(crate) fn status(&self) -> Option<Status> {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_status(&self, status: Status) {
        *self.status.write().unwrap_or_else(|p| p.into_inner()) = Some(status);
    }

    /// When this member started.
    pub(crate) fn start_time(&self) -> SystemTime {
        self.start_time
    }

    /// When the current leader was elected, as this member saw it; `None` before any election.
    pub(crate) fn leader_since(&self) -> Option<SystemTime> {
        *self.leader_since.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that a new leader was just elected.
    pub(crate) fn leader_elected_now(&self) {
        *self.leader_since.write().unwrap_or_else(|p| p.into_inner()) = Some(SystemTime::now());
    }

    /// The last applied entry's index and term (`X-Raft-Index`, `X-Raft-Term`).
    pub(crate) fn applied(&self) -> RaftPosition {
        RaftPosition {
            index: self.applied_index.load(Ordering::Relaxed),
            term: self.applied_term.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_applied(&self, index: u64, term: u64) {
        self.applied_index.store(index, Ordering::Relaxed);
        self.applied_term.store(term, Ordering::Relaxed);
    }

    /// Whether this member is a learner, as of the membership applied so far.
    pub(crate) fn is_learner(&self) -> bool {
        self.learner.load(Ordering::Relaxed)
    }

    pub(crate) fn set_learner(&self, learner: bool) {
        self.learner.store(learner, Ordering::Relaxed);
    }
}
