//! The raft layer's error type.

/// Why a raft operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RaftError {
    /// The proposal (or read) did not complete within the request timeout; it may still be applied later.
    #[error("request timed out")]
    Timeout,
    /// Raft refused the proposal: no leader known, a leadership transfer under way, or this member removed.
    #[error("proposal dropped: no leader, or leadership transfer in progress")]
    ProposalDropped,
    /// The entry at the proposal's index was replaced by another leader's; it will never be applied.
    #[error("proposal lost to a leader change")]
    LeaderChanged,
    /// The node has stopped.
    #[error("raft node stopped")]
    Stopped,
    /// The node is overloaded and refused the request.
    #[error("too many requests")]
    Busy,
    /// A configuration change was refused.
    #[error("configuration change refused: {0}")]
    ConfChange(String),
    /// The durable log failed; the node stops.
    #[error("raft storage: {0}")]
    Storage(String),
    /// Bytes from a peer or the disk were refused.
    #[error(transparent)]
    Wire(#[from] crate::wire::WireError),
}

impl From<etcd_wal::Error> for RaftError {
    fn from(e: etcd_wal::Error) -> RaftError {
        RaftError::Storage(e.to_string())
    }
}

impl From<etcd_snapshot::Error> for RaftError {
    fn from(e: etcd_snapshot::Error) -> RaftError {
        RaftError::Storage(e.to_string())
    }
}

/// raft-rs's error as ours; a function rather than a `From` impl, so no raft-rs type shows in the public API.
pub(crate) fn from_raft(e: raft::Error) -> RaftError {
    match e {
        raft::Error::ProposalDropped => RaftError::ProposalDropped,
        other => RaftError::Storage(other.to_string()),
    }
}
