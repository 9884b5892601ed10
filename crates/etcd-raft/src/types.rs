//! The raft layer's public data: what goes in, what comes out. No raft-rs type appears here.

use std::collections::BTreeMap;

/// A member of the initial cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMember {
    /// Its ID.
    pub id: u64,
    /// Bytes the application attaches to the member (etcd: its peer URLs), seen again when the bootstrap
    /// conf-change entries are applied.
    pub context: Vec<u8>,
}

/// How a member with no log on disk starts. A member with a log always restarts from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// A new cluster of these members (etcd's `--initial-cluster-state new`). Every member writes the same
    /// first entries: one "add member" per initial member, at term 1, committed.
    NewCluster(Vec<InitialMember>),
    /// Join a running cluster that has already added this member (`--initial-cluster-state existing`): start
    /// empty and learn everything from the leader.
    Join,
}

/// A change of the cluster's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberChangeKind {
    /// A new voting member.
    AddMember,
    /// Remove a member (voter or learner).
    RemoveMember,
    /// A new non-voting member.
    AddLearner,
    /// Make a learner a voter.
    PromoteLearner,
    /// New attributes for an existing member (etcd's UpdateNode); raft's configuration does not change.
    UpdateMember,
}

impl MemberChangeKind {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            MemberChangeKind::AddMember => 0,
            MemberChangeKind::RemoveMember => 1,
            MemberChangeKind::AddLearner => 2,
            MemberChangeKind::PromoteLearner => 3,
            MemberChangeKind::UpdateMember => 4,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<MemberChangeKind> {
        Some(match b {
            0 => MemberChangeKind::AddMember,
            1 => MemberChangeKind::RemoveMember,
            2 => MemberChangeKind::AddLearner,
            3 => MemberChangeKind::PromoteLearner,
            4 => MemberChangeKind::UpdateMember,
            _ => return None,
        })
    }
}

/// A membership change, proposed through [`RaftHandle::change_member`](crate::RaftHandle::change_member) and
/// seen again, committed, in the apply stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChange {
    /// What changes.
    pub kind: MemberChangeKind,
    /// The member it is about.
    pub node_id: u64,
    /// The application's bytes for the member (etcd: its attributes).
    pub context: Vec<u8>,
}

/// What a committed entry carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A proposal's bytes; empty for the no-op a new leader commits.
    Normal(Vec<u8>),
    /// A membership change, already applied to raft's configuration. `applied` is false when raft refused it
    /// (it is then a no-op).
    MemberChange {
        /// The change.
        change: MemberChange,
        /// Whether raft's configuration took it.
        applied: bool,
    },
}

/// One committed entry, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEntry {
    /// Its index.
    pub index: u64,
    /// Its term.
    pub term: u64,
    /// What it carries.
    pub kind: EntryKind,
}

/// What the application must apply, in order. Report progress with
/// [`RaftHandle::report_applied`](crate::RaftHandle::report_applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyEvent {
    /// Replace the whole state with this snapshot's data (at boot, or when the leader sent one).
    Snapshot {
        /// The last index the snapshot contains.
        index: u64,
        /// Its term.
        term: u64,
        /// The application's bytes, as its [`SnapshotSource`](crate::SnapshotSource) made them.
        data: Vec<u8>,
    },
    /// Entries to apply, in order.
    Entries(Vec<CommittedEntry>),
}

/// Where a committed proposal landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposed {
    /// Its index.
    pub index: u64,
    /// Its term.
    pub term: u64,
}

/// A member's raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Following a leader (or waiting for one).
    Follower,
    /// Asking for votes.
    Candidate,
    /// Asking whether an election could be won (pre-vote).
    PreCandidate,
    /// The leader.
    Leader,
}

/// How the leader replicates to one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationState {
    /// Finding where the member's log matches.
    Probe,
    /// Streaming entries.
    Replicate,
    /// Sending a snapshot.
    Snapshot,
}

/// The leader's view of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerProgress {
    /// Highest index known to be on the member.
    pub matched: u64,
    /// Next index to send it.
    pub next: u64,
    /// How it is being replicated to.
    pub state: ReplicationState,
    /// Whether it is a learner.
    pub is_learner: bool,
}

/// A snapshot of the node's raft state.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// This member.
    pub id: u64,
    /// The leader, 0 when none is known.
    pub leader: u64,
    /// The current term.
    pub term: u64,
    /// The commit index.
    pub commit: u64,
    /// The applied index the application reported.
    pub applied: u64,
    /// This member's role.
    pub role: Role,
    /// Voting members.
    pub voters: Vec<u64>,
    /// Learners.
    pub learners: Vec<u64>,
    /// Per-member progress (on the leader only).
    pub progress: BTreeMap<u64, PeerProgress>,
    /// WAL fdatasyncs since the node started.
    pub wal_syncs: u64,
    /// Raft entries written to the WAL since the node started; with `wal_syncs`, entries per fsync.
    pub wal_entries: u64,
    /// How long the WAL's fdatasyncs took.
    pub wal_fsync_seconds: Histogram,
}

/// A latency histogram with etcd's WAL fsync buckets (1 ms doubling to 8.192 s).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Observations at or below each bound of [`Histogram::BOUNDS`] (not cumulative).
    pub buckets: [u64; 14],
    /// Observations above the last bound.
    pub overflow: u64,
    /// Sum of all observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Upper bounds of the buckets, in seconds (Prometheus `ExponentialBuckets(0.001, 2, 14)`).
    pub const BOUNDS: [f64; 14] = [
        0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
        8.192,
    ];

    /// Records one observation.
    pub fn observe(&mut self, seconds: f64) {
        match Histogram::BOUNDS.iter().position(|b| seconds <= *b) {
            Some(i) => self.buckets[i] += 1,
            None => self.overflow += 1,
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// Who leads, as this member knows it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leadership {
    /// The leader, 0 when none is known.
    pub leader: u64,
    /// This member's role.
    pub role: Role,
    /// The current term.
    pub term: u64,
}
