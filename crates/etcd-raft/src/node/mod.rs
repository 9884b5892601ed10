//! The raft loop: one thread owns the `RawNode`, handles every input, and processes each `Ready` in the order
//! raft requires (messages, snapshot, committed entries, durable entries + hard state in one fsync, then the
//! messages that had to wait for it).
//!
//! Group commit falls out of the loop's shape: it takes every queued input before it handles a `Ready`, so
//! all proposals that arrived meanwhile share one WAL write and one fdatasync.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Instant;

use raft::eraftpb::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType,
};
use raft::{RawNode, SnapshotStatus, StateRole};
use tokio::sync::{mpsc, oneshot};

use crate::append_stats::AppendTracker;
use crate::config::RaftConfig;
use crate::disk::{DiskLog, LogDirs};
use crate::error::{RaftError, from_raft};
use crate::handle::{Input, RaftHandle};
use crate::logger::raft_logger;
use crate::membership::{
    bootstrap_log, force_single_member, own_id, replay_conf_changes, split_change_context,
};
use crate::storage::LogStore;
use crate::transport::{OutMessage, SnapshotSource, Transport};
use crate::types::*;
use crate::wire;

mod snapshots;
mod status;

/// Inputs the loop takes at once before it handles a `Ready`, so that ticks are never starved.
const MAX_INPUTS_PER_ROUND: usize = 4096;
/// Room in the loop's input queue.
const INPUT_QUEUE: usize = 16 * 1024;

/// Starts raft nodes.
#[derive(Debug)]
pub struct RaftNode;

impl RaftNode {
    /// Starts the member whose durable log lives in `dir` (`wal/` and `snap/` below it). With no log there,
    /// `bootstrap` says how to begin; with one, the member restarts from it and `bootstrap` is ignored.
    ///
    /// Returns the handle and the stream of [`ApplyEvent`]s the application must apply in order. At a
    /// restart the stream begins with the newest snapshot, then the committed entries after it.
    pub fn start(
        config: RaftConfig,
        dir: &Path,
        bootstrap: Bootstrap,
        transport: Box<dyn Transport>,
        snapshots: Box<dyn SnapshotSource>,
    ) -> Result<(RaftHandle, mpsc::UnboundedReceiver<ApplyEvent>), RaftError> {
        config
            .to_raft(0)
            .validate()
            .map_err(|e| RaftError::ConfChange(format!("invalid raft configuration: {e}")))?;
        let wal_options = etcd_wal::Options::default().segment_size(config.wal_segment_size);
        let dirs = LogDirs::new(dir, config.wal_dir.as_deref());
        if !DiskLog::exists(&dirs) {
            let (entries, hard_state) = bootstrap_log(&bootstrap);
            DiskLog::create(
                &dirs,
                config.id,
                config.cluster_id,
                &entries,
                &hard_state,
                wal_options.clone(),
            )?
            .close()?;
        }
        let (mut disk, mut recovered) = DiskLog::open(&dirs, wal_options)?;
        if recovered.node_id != config.id {
            return Err(RaftError::Storage(format!(
                "the log in {} belongs to member {:x}, not {:x}",
                dir.display(),
                recovered.node_id,
                config.id
            )));
        }
        if recovered.cluster_id != config.cluster_id {
            return Err(RaftError::Storage(format!(
                "the log in {} belongs to cluster {:x}, not {:x}",
                dir.display(),
                recovered.cluster_id,
                config.cluster_id
            )));
        }
        if config.force_new_cluster {
            force_single_member(&mut disk, &mut recovered, config.id)?;
        }
        let (apply_tx, apply_rx) = mpsc::unbounded_channel();
        let store = LogStore::new();
        let mut applied = 0;
        if let Some(snapshot) = recovered.snapshot {
            let meta = snapshot.get_metadata();
            applied = meta.index;
            let _ = apply_tx.send(ApplyEvent::Snapshot {
                index: meta.index,
                term: meta.term,
                data: snapshot.data.to_vec(),
            });
            store.apply_snapshot(snapshot);
        }
        store
            .append(&recovered.entries)
            .map_err(|e| RaftError::Storage(e.to_string()))?;
        let conf_state = replay_conf_changes(
            store.conf_state(),
            &recovered.entries,
            recovered.hard_state.commit,
        );
        store.set_conf_state(conf_state);
        store.set_hard_state(recovered.hard_state);

        let raw = RawNode::new(
            &config.to_raft(applied),
            store.clone(),
            &raft_logger(config.id),
        )
        .map_err(from_raft)?;
        let (tx, rx) = sync_channel(INPUT_QUEUE);
        let (leadership_tx, leadership_rx) = tokio::sync::watch::channel(Leadership {
            leader: 0,
            role: Role::Follower,
            term: raw.raft.term,
        });
        let appends = AppendTracker::default();
        let handle = RaftHandle::new(config.id, tx, leadership_rx, appends.reader());
        let mut node = Loop {
            appends,
            seq: 0,
            raw,
            store,
            disk: Some(disk),
            dir: dir.to_path_buf(),
            transport,
            snapshots,
            apply_tx,
            applied,
            proposals: HashMap::new(),
            by_index: HashMap::new(),
            member_changes: HashMap::new(),
            changes_applied: Vec::new(),
            deferred_changes: Vec::new(),
            reads: HashMap::new(),
            read_queue: Vec::new(),
            conf_history: VecDeque::new(),
            snapshot_for_new_member: None,
            snapshot_at: applied,
            leadership: leadership_tx,
            config,
        };
        std::thread::Builder::new()
            .name(format!("raft-{:x}", node.config.id))
            .spawn(move || node.run(rx))
            .map_err(|e| RaftError::Storage(format!("cannot start the raft thread: {e}")))?;
        Ok((handle, apply_rx))
    }
}

type ChangeReply = oneshot::Sender<Result<(), RaftError>>;

struct PendingProposal {
    reply: oneshot::Sender<Result<Proposed, RaftError>>,
    deadline: Instant,
}

struct PendingChange {
    reply: oneshot::Sender<Result<(), RaftError>>,
    deadline: Instant,
}

type ReadReply = (oneshot::Sender<Result<u64, RaftError>>, Instant);

/// One read index raft is asked for, shared by every read that was waiting when it was issued (as etcd's
/// linearizable read loop batches them): each reply with its deadline.
struct PendingRead {
    replies: Vec<ReadReply>,
    index: Option<u64>,
    issued: Instant,
}

struct Loop {
    config: RaftConfig,
    raw: RawNode<LogStore>,
    store: LogStore,
    /// `None` once a storage failure stopped the node.
    disk: Option<DiskLog>,
    dir: PathBuf,
    transport: Box<dyn Transport>,
    snapshots: Box<dyn SnapshotSource>,
    apply_tx: mpsc::UnboundedSender<ApplyEvent>,
    applied: u64,
    /// Request sequence numbers, unique for this run of this member.
    seq: u64,
    proposals: HashMap<u64, PendingProposal>,
    /// Proposals this member appended as leader: index → (seq, term).
    by_index: HashMap<u64, (u64, u64)>,
    member_changes: HashMap<u64, PendingChange>,
    /// Membership changes raft refused because an earlier one was not yet applied; retried every tick.
    deferred_changes: Vec<(MemberChange, ChangeReply, Instant)>,
    /// Committed membership changes waiting for the application to apply them: (index, reply, outcome).
    changes_applied: Vec<(u64, ChangeReply, Result<(), RaftError>)>,
    reads: HashMap<u64, PendingRead>,
    /// Reads that arrived while a read index was being obtained; they share the next one.
    read_queue: Vec<ReadReply>,
    /// Configurations applied since the last snapshot, to give a snapshot the one at its index.
    conf_history: VecDeque<(u64, ConfState)>,
    /// The index of a member addition applied after the log was compacted: a snapshot at or past it is taken as
    /// soon as it is applied, because the new member can only start from a snapshot whose configuration has it
    /// (raft refuses any other; etcd sends a snapshot made at send time for the same reason).
    snapshot_for_new_member: Option<u64>,
    /// The index of the last snapshot taken or installed. The next is taken `snapshot_count` entries after it
    /// (the in-memory log keeps `snapshot_catchup_entries` behind a snapshot, so its first index is not this).
    snapshot_at: u64,
    /// Published to every handle when the leader, role or term changes.
    leadership: tokio::sync::watch::Sender<Leadership>,
    /// `/v2/stats` figures: append counts, follower latency.
    appends: AppendTracker,
}

impl Loop {
    fn run(&mut self, rx: Receiver<Input>) {
        let tick = self.config.tick_interval;
        let mut next_tick = Instant::now() + tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let first = match rx.recv_timeout(wait) {
                Ok(input) => Some(input),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut shutdown = None;
            for input in first
                .into_iter()
                .chain(rx.try_iter().take(MAX_INPUTS_PER_ROUND))
            {
                match input {
                    Input::Shutdown(reply) => {
                        shutdown = Some(reply);
                        break;
                    }
                    input => self.handle(input),
                }
            }
            if shutdown.is_some() {
                self.stop();
                if let Some(reply) = shutdown {
                    let _ = reply.send(());
                }
                return;
            }
            let now = Instant::now();
            if now >= next_tick {
                self.raw.tick();
                self.expire(now);
                next_tick = now + tick;
            }
            if self.raw.has_ready()
                && let Err(e) = self.on_ready()
            {
                tracing::error!(member = %format!("{:x}", self.config.id), dir = %self.dir.display(), "raft storage failed, stopping: {e}");
                self.stop();
                return;
            }
            if self.disk.is_none() {
                return;
            }
            // A batch of reads that got its read index lets the next batch go; never between `ready()` and
            // `advance`, where a follower's new message would trip raft-rs.
            self.issue_reads();
        }
        self.stop();
    }

    fn next_context(&mut self) -> (u64, Vec<u8>) {
        self.seq += 1;
        let mut ctx = Vec::with_capacity(16);
        ctx.extend_from_slice(&self.config.id.to_be_bytes());
        ctx.extend_from_slice(&self.seq.to_be_bytes());
        (self.seq, ctx)
    }

    /// The sequence number in a context this member made, if it made it.
    fn own_seq(&self, ctx: &[u8]) -> Option<u64> {
        let id: [u8; 8] = ctx.get(..8)?.try_into().ok()?;
        let seq: [u8; 8] = ctx.get(8..16)?.try_into().ok()?;
        (u64::from_be_bytes(id) == self.config.id).then(|| u64::from_be_bytes(seq))
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Step(message, size) => {
                self.appends.on_receive(&message, size);
                // Errors here are a stale response or a message for a removed peer; raft ignores them.
                let _ = self.raw.step(*message);
            }
            Input::Propose(data, reply) => self.propose(data, reply),
            Input::ChangeMember(change, reply) => {
                let deadline = Instant::now() + self.config.request_timeout;
                self.propose_change(change, reply, deadline);
            }
            Input::ReadIndex(reply) => {
                let deadline = Instant::now() + self.config.request_timeout;
                self.read_queue.push((reply, deadline));
                self.issue_reads();
            }
            Input::Applied(index) => self.on_applied(index),
            Input::TransferLeader(to) => self.raw.transfer_leader(to),
            Input::Campaign => {
                let _ = self.raw.campaign();
            }
            Input::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Input::Unreachable(peer) => {
                self.appends.on_unreachable(peer);
                self.raw.report_unreachable(peer);
            }
            Input::SnapshotDone(peer, ok) => {
                let status = if ok {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                };
                self.raw.report_snapshot(peer, status);
            }
            Input::Shutdown(_) => {}
        }
    }

    fn propose(&mut self, data: Vec<u8>, reply: oneshot::Sender<Result<Proposed, RaftError>>) {
        let (seq, ctx) = self.next_context();
        let before = self.raw.raft.raft_log.last_index();
        if let Err(e) = self.raw.propose(ctx, data) {
            let _ = reply.send(Err(from_raft(e)));
            return;
        }
        let after = self.raw.raft.raft_log.last_index();
        if after == before + 1 && self.raw.raft.state == StateRole::Leader {
            self.by_index.insert(after, (seq, self.raw.raft.term));
        }
        self.proposals.insert(
            seq,
            PendingProposal {
                reply,
                deadline: Instant::now() + self.config.request_timeout,
            },
        );
    }

    fn propose_change(
        &mut self,
        change: MemberChange,
        reply: oneshot::Sender<Result<(), RaftError>>,
        deadline: Instant,
    ) {
        let (seq, ctx) = self.next_context();
        let mut cc = ConfChange::default();
        cc.id = seq;
        cc.node_id = change.node_id;
        cc.change_type = match change.kind {
            MemberChangeKind::AddMember
            | MemberChangeKind::PromoteLearner
            | MemberChangeKind::UpdateMember => ConfChangeType::AddNode,
            MemberChangeKind::RemoveMember => ConfChangeType::RemoveNode,
            MemberChangeKind::AddLearner => ConfChangeType::AddLearnerNode,
        };
        let mut context = Vec::with_capacity(1 + change.context.len() + ctx.len());
        context.push(change.kind.to_byte());
        context.extend_from_slice(&ctx);
        context.extend_from_slice(&change.context);
        cc.context = context.into();
        let before = self.raw.raft.raft_log.last_index();
        if let Err(e) = self.raw.propose_conf_change(Vec::new(), cc) {
            let _ = reply.send(Err(from_raft(e)));
            return;
        }
        // A leader turns a conf change into an empty entry while an earlier one may be unapplied (always, for
        // a while, after an election): try again as more of the log is applied, until the deadline.
        let after = self.raw.raft.raft_log.last_index();
        if after == before + 1 {
            let appended =
                self.raw
                    .raft
                    .raft_log
                    .entries(after, 1, raft::GetEntriesContext::empty(false));
            if matches!(appended.as_deref(), Ok([e]) if e.entry_type != EntryType::EntryConfChange)
            {
                self.deferred_changes.push((change, reply, deadline));
                return;
            }
        }
        self.member_changes
            .insert(seq, PendingChange { reply, deadline });
    }

    fn on_applied(&mut self, index: u64) {
        if index <= self.applied {
            return;
        }
        self.applied = index;
        self.raw.advance_apply_to(index);
        self.resolve_reads();
        self.resolve_member_changes();
        let for_new_member = self
            .snapshot_for_new_member
            .is_some_and(|at| self.applied >= at);
        if for_new_member || self.applied >= self.snapshot_at + self.config.snapshot_count {
            if for_new_member {
                self.snapshot_for_new_member = None;
            }
            if let Err(e) = self.take_snapshot() {
                tracing::warn!("snapshot failed: {e}");
            }
        }
    }

    /// Asks raft for one read index for every queued read, unless a read index is already being obtained (the
    /// queued reads then wait for it to arrive and share the next one).
    fn issue_reads(&mut self) {
        if self.read_queue.is_empty() || self.reads.values().any(|r| r.index.is_none()) {
            return;
        }
        let (seq, ctx) = self.next_context();
        self.raw.read_index(ctx);
        self.reads.insert(
            seq,
            PendingRead {
                replies: std::mem::take(&mut self.read_queue),
                index: None,
                issued: Instant::now(),
            },
        );
    }

    /// Answers the reads whose read index the application has reached.
    fn resolve_reads(&mut self) {
        let applied = self.applied;
        let done: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.index.is_some_and(|i| i <= applied))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in done {
            if let Some(read) = self.reads.remove(&seq) {
                let index = read.index.unwrap_or(applied);
                for (reply, _) in read.replies {
                    let _ = reply.send(Ok(index));
                }
            }
        }
    }

    /// Answers the membership changes the application has applied: raft accepts the next change only then.
    fn resolve_member_changes(&mut self) {
        let applied = self.applied;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.changes_applied)
            .into_iter()
            .partition(|(index, _, _)| *index <= applied);
        self.changes_applied = waiting;
        for (_, reply, result) in done {
            let _ = reply.send(result);
        }
    }

    fn expire(&mut self, now: Instant) {
        for (change, reply, deadline) in std::mem::take(&mut self.deferred_changes) {
            if deadline <= now {
                let _ = reply.send(Err(RaftError::ConfChange(
                    "another membership change is still being applied".to_owned(),
                )));
            } else {
                self.propose_change(change, reply, deadline);
            }
        }
        for (_, p) in self.proposals.extract_if(|_, p| p.deadline <= now) {
            let _ = p.reply.send(Err(RaftError::Timeout));
        }
        self.by_index
            .retain(|_, (seq, _)| self.proposals.contains_key(seq));
        for (_, p) in self.member_changes.extract_if(|_, p| p.deadline <= now) {
            let _ = p.reply.send(Err(RaftError::Timeout));
        }
        let expire = |replies: &mut Vec<ReadReply>| {
            for (reply, _) in replies.extract_if(.., |(_, deadline)| *deadline <= now) {
                let _ = reply.send(Err(RaftError::Timeout));
            }
        };
        expire(&mut self.read_queue);
        for r in self.reads.values_mut() {
            expire(&mut r.replies);
        }
        self.reads.retain(|_, r| !r.replies.is_empty());
        // Raft drops a read index silently (no leader, or a leader with nothing committed in its term): ask
        // again every election timeout.
        let retry_after = self.config.election_timeout();
        let mut reissue = Vec::new();
        for (seq, r) in &mut self.reads {
            if r.index.is_none() && now.duration_since(r.issued) >= retry_after {
                r.issued = now;
                reissue.push(*seq);
            }
        }
        for seq in reissue {
            let mut ctx = Vec::with_capacity(16);
            ctx.extend_from_slice(&self.config.id.to_be_bytes());
            ctx.extend_from_slice(&seq.to_be_bytes());
            self.raw.read_index(ctx);
        }
        self.issue_reads();
    }

    fn on_ready(&mut self) -> Result<(), RaftError> {
        let mut rd = self.raw.ready();
        self.publish_leadership();
        if let Some(ss) = rd.ss() {
            tracing::debug!(member = %format!("{:x}", self.config.id), leader = ss.leader_id, role = ?ss.raft_state, "raft role");
        }
        for rs in rd.take_read_states() {
            if let Some(seq) = self.own_seq(&rs.request_ctx)
                && let Some(read) = self.reads.get_mut(&seq)
            {
                read.index = Some(rs.index);
            }
        }
        self.resolve_reads();
        self.send_messages(rd.take_messages());
        if !rd.snapshot().is_empty() {
            let snapshot = rd.snapshot().clone();
            let meta = snapshot.get_metadata();
            let (index, term) = (meta.index, meta.term);
            let disk = self.disk.as_mut().ok_or(RaftError::Stopped)?;
            disk.save_snapshot(&snapshot)?;
            let data = snapshot.data.to_vec();
            self.conf_history.clear();
            self.conf_history
                .push_back((index, snapshot.get_metadata().get_conf_state().clone()));
            self.store.apply_snapshot(snapshot);
            self.snapshot_at = self.snapshot_at.max(index);
            disk.release_before(index)?;
            let _ = self
                .apply_tx
                .send(ApplyEvent::Snapshot { index, term, data });
        }
        let committed = rd.take_committed_entries();
        self.deliver(committed);
        let disk = self.disk.as_mut().ok_or(RaftError::Stopped)?;
        disk.persist(rd.entries(), rd.hs(), rd.must_sync())?;
        self.store
            .append(rd.entries())
            .map_err(|e| RaftError::Storage(e.to_owned()))?;
        if let Some(hs) = rd.hs() {
            self.store.set_hard_state(hs.clone());
        }
        self.send_messages(rd.take_persisted_messages());
        let mut light = self.raw.advance_append(rd);
        if let Some(commit) = light.commit_index() {
            self.store.set_commit(commit);
            let hs: HardState = self.store.hard_state();
            if let Some(disk) = self.disk.as_mut() {
                disk.persist(&[], Some(&hs), false)?;
            }
        }
        self.send_messages(light.take_messages());
        let committed = light.take_committed_entries();
        self.deliver(committed);
        Ok(())
    }

    fn publish_leadership(&mut self) {
        let raft = &self.raw.raft;
        let role = role_of(raft.state);
        let now = Leadership {
            leader: raft.leader_id,
            role,
            term: raft.term,
        };
        let mut new_leadership = false;
        self.leadership.send_if_modified(|l| {
            let changed = *l != now;
            new_leadership = l.role != now.role || l.term != now.term;
            *l = now;
            changed
        });
        if new_leadership {
            self.appends.on_leadership_change();
        }
    }

    fn send_messages(&mut self, messages: Vec<Message>) {
        for mut m in messages {
            let to = m.to;
            let is_snapshot = m.msg_type == MessageType::MsgSnapshot;
            if is_snapshot {
                let index = m.get_snapshot().get_metadata().index;
                if let Some(data) = self.snapshots.for_follower(index, &m.get_snapshot().data) {
                    m.mut_snapshot().data = data.into();
                }
            }
            let bytes = wire::encode_message(&m);
            let size = bytes.len();
            let sent = self.transport.send(OutMessage {
                to,
                from: m.from,
                is_snapshot,
                bytes,
            });
            self.appends.on_send(&m, size, sent);
            if !sent {
                self.raw.report_unreachable(to);
                if is_snapshot {
                    self.raw.report_snapshot(to, SnapshotStatus::Failure);
                }
            }
        }
    }

    /// Hands committed entries to the application, applying conf changes to raft first and resolving the
    /// proposals they settle.
    fn deliver(&mut self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let kind = match e.entry_type {
                EntryType::EntryConfChange => self.apply_conf_change(&e),
                // We never propose v2 changes; a v2 entry from elsewhere is applied as a no-op.
                EntryType::EntryConfChangeV2 => EntryKind::Normal(Vec::new()),
                EntryType::EntryNormal => {
                    self.settle_proposal(&e);
                    EntryKind::Normal(e.data.to_vec())
                }
            };
            out.push(CommittedEntry {
                index: e.index,
                term: e.term,
                kind,
            });
        }
        let _ = self.apply_tx.send(ApplyEvent::Entries(out));
    }

    fn settle_proposal(&mut self, e: &Entry) {
        let own = self.own_seq(&e.context);
        // Another leader's entry took the index this proposal had: it will never be applied.
        if let Some((seq, _)) = self.by_index.remove(&e.index)
            && own != Some(seq)
            && let Some(p) = self.proposals.remove(&seq)
        {
            let _ = p.reply.send(Err(RaftError::LeaderChanged));
        }
        if let Some(seq) = own
            && let Some(p) = self.proposals.remove(&seq)
        {
            let _ = p.reply.send(Ok(Proposed {
                index: e.index,
                term: e.term,
            }));
        }
    }

    fn apply_conf_change(&mut self, e: &Entry) -> EntryKind {
        let Ok(cc) = wire::decode_conf_change(&e.data) else {
            tracing::warn!(
                index = e.index,
                "undecodable conf change entry applied as a no-op"
            );
            return EntryKind::Normal(Vec::new());
        };
        let (kind, seq, context) = split_change_context(&cc.context, cc.change_type);
        let change = MemberChange {
            kind,
            node_id: cc.node_id,
            context,
        };
        let result = self.raw.apply_conf_change(&cc);
        let applied = result.is_ok();
        if let Ok(cs) = &result {
            if cc.change_type == ConfChangeType::RemoveNode {
                self.appends.forget(cc.node_id);
            }
            self.store.set_conf_state(cs.clone());
            self.conf_history.push_back((e.index, cs.clone()));
            let added = matches!(
                cc.change_type,
                ConfChangeType::AddNode | ConfChangeType::AddLearnerNode
            );
            if added && self.store.snapshot_index() > 0 {
                self.snapshot_for_new_member = Some(e.index);
            }
        }
        if let Some(seq) = seq.filter(|_| own_id(&cc.context) == Some(self.config.id))
            && let Some(p) = self.member_changes.remove(&seq)
        {
            let reply = result
                .map(|_| ())
                .map_err(|e| RaftError::ConfChange(e.to_string()));
            let _ = p.reply.send(reply);
        }
        EntryKind::MemberChange { change, applied }
    }

    fn stop(&mut self) {
        for (_, p) in self.proposals.drain() {
            let _ = p.reply.send(Err(RaftError::Stopped));
        }
        for (_, p) in self.member_changes.drain() {
            let _ = p.reply.send(Err(RaftError::Stopped));
        }
        let queued = std::mem::take(&mut self.read_queue);
        for (reply, _) in self
            .reads
            .drain()
            .flat_map(|(_, r)| r.replies)
            .chain(queued)
        {
            let _ = reply.send(Err(RaftError::Stopped));
        }
        for (_, reply, _) in self.changes_applied.drain(..) {
            let _ = reply.send(Err(RaftError::Stopped));
        }
        for (_, reply, _) in self.deferred_changes.drain(..) {
            let _ = reply.send(Err(RaftError::Stopped));
        }
        if let Some(disk) = self.disk.take()
            && let Err(e) = disk.close()
        {
            tracing::warn!("closing the raft log: {e}");
        }
    }
}

fn role_of(state: StateRole) -> Role {
    match state {
        StateRole::Leader => Role::Leader,
        StateRole::Candidate => Role::Candidate,
        StateRole::PreCandidate => Role::PreCandidate,
        StateRole::Follower => Role::Follower,
    }
}
