//! The handle to a running raft node, and the inputs it sends to the raft loop.

use std::sync::mpsc::{SyncSender, TrySendError};

use raft::eraftpb::Message;
use tokio::sync::oneshot;

use crate::append_stats::{AppendStats, AppendStatsReader};
use crate::error::RaftError;
use crate::types::{Leadership, MemberChange, Proposed, Status};
use crate::wire;

pub(crate) enum Input {
    /// A message and its encoded size.
    Step(Box<Message>, usize),
    Propose(Vec<u8>, oneshot::Sender<Result<Proposed, RaftError>>),
    ChangeMember(MemberChange, oneshot::Sender<Result<(), RaftError>>),
    ReadIndex(oneshot::Sender<Result<u64, RaftError>>),
    Applied(u64),
    TransferLeader(u64),
    Campaign,
    Status(oneshot::Sender<Status>),
    Unreachable(u64),
    SnapshotDone(u64, bool),
    Shutdown(oneshot::Sender<()>),
}

/// A handle to a running raft node; cheap to clone, usable from any thread or task.
#[derive(Debug, Clone)]
pub struct RaftHandle {
    id: u64,
    tx: SyncSender<Input>,
    leadership: tokio::sync::watch::Receiver<Leadership>,
    appends: AppendStatsReader,
}

impl RaftHandle {
    pub(crate) fn new(
        id: u64,
        tx: SyncSender<Input>,
        leadership: tokio::sync::watch::Receiver<Leadership>,
        appends: AppendStatsReader,
    ) -> RaftHandle {
        RaftHandle {
            id,
            tx,
            leadership,
            appends,
        }
    }

    /// Who leads now, without a round trip to the raft thread: updated the moment raft's view changes.
    pub fn leadership(&self) -> Leadership {
        *self.leadership.borrow()
    }

    /// Leadership as it changes: the receiver wakes on each change (`changed()`), with no polling.
    pub fn leadership_changes(&self) -> tokio::sync::watch::Receiver<Leadership> {
        self.leadership.clone()
    }

    /// Append counts and, on the leader, per-follower replication figures; without a round trip to the raft
    /// thread.
    pub fn append_stats(&self) -> AppendStats {
        self.appends.read()
    }
}

impl RaftHandle {
    /// This member's ID.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Proposes `data`; resolves once it is committed, or fails (never hangs: the request timeout bounds it).
    /// A failure after a timeout does not prove the entry will never be applied, as in etcd.
    pub async fn propose(&self, data: Vec<u8>) -> Result<Proposed, RaftError> {
        let (reply, rx) = oneshot::channel();
        self.send(Input::Propose(data, reply))?;
        rx.await.map_err(|_| RaftError::Stopped)?
    }

    /// Changes the membership; resolves once the change is committed and applied to raft's configuration.
    pub async fn change_member(&self, change: MemberChange) -> Result<(), RaftError> {
        let (reply, rx) = oneshot::channel();
        self.send(Input::ChangeMember(change, reply))?;
        rx.await.map_err(|_| RaftError::Stopped)?
    }

    /// A linearizable read point: resolves with an index once the application has applied up to it, so a read
    /// of the local state then sees every write committed before the call.
    pub async fn read_index(&self) -> Result<u64, RaftError> {
        let (reply, rx) = oneshot::channel();
        self.send(Input::ReadIndex(reply))?;
        rx.await.map_err(|_| RaftError::Stopped)?
    }

    /// The node's raft state.
    pub async fn status(&self) -> Result<Status, RaftError> {
        let (reply, rx) = oneshot::channel();
        self.send(Input::Status(reply))?;
        rx.await.map_err(|_| RaftError::Stopped)
    }

    /// Asks the leader to hand leadership to `to`.
    pub fn transfer_leader(&self, to: u64) -> Result<(), RaftError> {
        self.send(Input::TransferLeader(to))
    }

    /// Starts an election now.
    pub fn campaign(&self) -> Result<(), RaftError> {
        self.send(Input::Campaign)
    }

    /// Hands a message from a peer to raft. It is decoded and validated here, on the caller's thread; bytes
    /// that are not a valid raft message for this member are refused with an error, never a panic.
    pub fn step(&self, bytes: &[u8]) -> Result<(), RaftError> {
        let message = wire::decode_message(bytes)?;
        if message.to != self.id {
            return Err(RaftError::Wire(wire::WireError::Invalid(
                "message for another member",
            )));
        }
        // A full queue drops the message: raft recovers from lost messages, and the network must never stall
        // the loop.
        match self
            .tx
            .try_send(Input::Step(Box::new(message), bytes.len()))
        {
            Ok(()) | Err(TrySendError::Full(_)) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(RaftError::Stopped),
        }
    }

    /// Reports that the application has applied everything up to `index`.
    pub fn report_applied(&self, index: u64) {
        let _ = self.tx.send(Input::Applied(index));
    }

    /// Reports that messages to `peer` could not be delivered.
    pub fn report_unreachable(&self, peer: u64) {
        let _ = self.tx.try_send(Input::Unreachable(peer));
    }

    /// Reports how sending a snapshot to `peer` ended.
    pub fn report_snapshot(&self, peer: u64, delivered: bool) {
        let _ = self.tx.send(Input::SnapshotDone(peer, delivered));
    }

    /// Stops the node: pending requests fail with [`RaftError::Stopped`], the WAL is closed.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Input::Shutdown(reply)).is_ok() {
            let _ = rx.await;
        }
    }

    fn send(&self, input: Input) -> Result<(), RaftError> {
        match self.tx.try_send(input) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(RaftError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(RaftError::Stopped),
        }
    }
}
