//! What the raft node needs from a transport, and what it gives one.

/// A message for a peer, already encoded (protobuf, the project's own types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    /// The recipient.
    pub to: u64,
    /// The sender (this member).
    pub from: u64,
    /// Whether this is a snapshot: the transport must then report the outcome with
    /// [`RaftHandle::report_snapshot`](crate::RaftHandle::report_snapshot).
    pub is_snapshot: bool,
    /// The encoded message.
    pub bytes: Vec<u8>,
}

/// Carries messages to peers. Called on the raft loop, so it must never block: queue the message or refuse it.
pub trait Transport: Send + 'static {
    /// Queues `message`; `false` when it could not be queued (the peer is then reported unreachable).
    fn send(&self, message: OutMessage) -> bool;
}

/// The application's state, for snapshots. Called on the raft loop when a snapshot is due.
pub trait SnapshotSource: Send + 'static {
    /// The application's state as bytes and the last applied index it contains, or `None` to skip this time.
    fn snapshot(&mut self) -> Option<(u64, Vec<u8>)>;

    /// The data to send a follower that needs the snapshot at `index` whose stored data is `stored`; `None`
    /// sends `stored`. An application whose state lives in its own durable store (and so is not in every
    /// snapshot file) adds it here. Called on the raft loop.
    fn for_follower(&mut self, index: u64, stored: &[u8]) -> Option<Vec<u8>> {
        let _ = (index, stored);
        None
    }
}
