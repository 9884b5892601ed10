//! The in-memory raft log raft-rs reads through its `Storage` trait, like etcd's `MemoryStorage`.
//!
//! Raft calls `Storage` synchronously and panics on most errors, so the log it reads lives in memory; the
//! WAL (see `disk.rs`) is only appended to and replayed at boot. `entries[0]` is a dummy that carries the
//! index and term of the compaction point (the last snapshot), so `term(first_index - 1)` always works.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};

#[derive(Debug)]
struct Core {
    hard_state: HardState,
    conf_state: ConfState,
    entries: Vec<Entry>,
    /// The latest snapshot, data included, for followers that need one.
    snapshot: Snapshot,
}

/// A cheaply cloned handle to the shared in-memory log.
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    core: Arc<RwLock<Core>>,
}

impl LogStore {
    pub fn new() -> LogStore {
        LogStore {
            core: Arc::new(RwLock::new(Core {
                hard_state: HardState::default(),
                conf_state: ConfState::default(),
                entries: vec![Entry::default()],
                snapshot: Snapshot::default(),
            })),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Core> {
        // Every writer leaves the core consistent before it can panic, so a poisoned lock is still usable.
        self.core.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Core> {
        self.core.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn hard_state(&self) -> HardState {
        self.read().hard_state.clone()
    }

    pub fn set_hard_state(&self, hs: HardState) {
        self.write().hard_state = hs;
    }

    pub fn set_commit(&self, commit: u64) {
        let mut core = self.write();
        if commit > core.hard_state.commit {
            core.hard_state.commit = commit;
        }
    }

    pub fn conf_state(&self) -> ConfState {
        self.read().conf_state.clone()
    }

    pub fn set_conf_state(&self, cs: ConfState) {
        self.write().conf_state = cs;
    }

    pub fn snapshot_index(&self) -> u64 {
        self.read().entries[0].index
    }

    /// Appends entries, dropping any conflicting suffix. Entries at or before the compaction point are
    /// ignored (they are in the snapshot); a gap after the last entry is refused.
    pub fn append(&self, entries: &[Entry]) -> Result<(), &'static str> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let mut core = self.write();
        let offset = core.entries[0].index;
        let last = offset + core.entries.len() as u64 - 1;
        if first.index > last + 1 {
            return Err("raft log entries would leave a gap");
        }
        let skip = (offset + 1).saturating_sub(first.index) as usize;
        let Some(entries) = entries.get(skip..) else {
            return Ok(());
        };
        let Some(first) = entries.first() else {
            return Ok(());
        };
        core.entries.truncate((first.index - offset) as usize);
        core.entries.extend_from_slice(entries);
        Ok(())
    }

    /// Replaces the log by a snapshot: the log restarts after it, the conf state is the snapshot's.
    pub fn apply_snapshot(&self, snapshot: Snapshot) {
        let mut core = self.write();
        let meta = snapshot.get_metadata();
        let mut dummy = Entry::default();
        dummy.index = meta.index;
        dummy.term = meta.term;
        core.entries = vec![dummy];
        core.conf_state = meta.get_conf_state().clone();
        if core.hard_state.commit < meta.index {
            core.hard_state.commit = meta.index;
        }
        if core.hard_state.term < meta.term {
            core.hard_state.term = meta.term;
        }
        core.snapshot = snapshot;
    }

    /// Records a snapshot of the application's state at `index` (which must be in the log) and keeps it for
    /// followers; the log itself is compacted separately.
    pub fn create_snapshot(
        &self,
        index: u64,
        conf_state: ConfState,
        data: Vec<u8>,
    ) -> Result<Snapshot, &'static str> {
        let mut core = self.write();
        let offset = core.entries[0].index;
        if index <= core.snapshot.get_metadata().index {
            return Err("snapshot is not newer than the last one");
        }
        let term = index
            .checked_sub(offset)
            .and_then(|i| core.entries.get(i as usize))
            .map(|e| e.term)
            .ok_or("snapshot index is not in the log")?;
        let mut snapshot = Snapshot::default();
        snapshot.data = data.into();
        let meta = snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(conf_state);
        core.snapshot = snapshot.clone();
        Ok(snapshot)
    }

    /// Drops the entries before `index`, keeping `index` itself as the new dummy.
    pub fn compact(&self, index: u64) {
        let mut core = self.write();
        let offset = core.entries[0].index;
        if index <= offset {
            return;
        }
        let last = offset + core.entries.len() as u64 - 1;
        let index = index.min(last);
        let mut kept = core.entries.split_off((index - offset) as usize);
        kept[0].data = Default::default();
        kept[0].context = Default::default();
        core.entries = kept;
    }
}

impl raft::Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let core = self.read();
        Ok(RaftState::new(
            core.hard_state.clone(),
            core.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let core = self.read();
        let offset = core.entries[0].index;
        if low <= offset {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        let last = offset + core.entries.len() as u64 - 1;
        if high > last + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let mut entries = core.entries[(low - offset) as usize..(high - offset) as usize].to_vec();
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let core = self.read();
        let offset = core.entries[0].index;
        if idx < offset {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        core.entries
            .get((idx - offset) as usize)
            .map(|e| e.term)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.read().entries[0].index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        let core = self.read();
        Ok(core.entries[0].index + core.entries.len() as u64 - 1)
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let core = self.read();
        let index = core.snapshot.get_metadata().index;
        let conf = core.snapshot.get_metadata().get_conf_state();
        // A member added after this snapshot would refuse it: it waits for the one taken once its addition is
        // applied (sending this one would only move bytes).
        let knows_member = to == 0
            || conf
                .get_voters()
                .iter()
                .chain(conf.get_learners())
                .chain(conf.get_voters_outgoing())
                .chain(conf.get_learners_next())
                .any(|id| *id == to);
        if index == 0 || index < request_index || !knows_member {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(core.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::Storage;

    fn entry(index: u64, term: u64) -> Entry {
        let mut e = Entry::default();
        e.index = index;
        e.term = term;
        e
    }

    #[test]
    fn append_truncates_conflicts_and_refuses_gaps() {
        let s = LogStore::new();
        s.append(&[entry(1, 1), entry(2, 1), entry(3, 1)])
            .expect("append");
        s.append(&[entry(2, 2)]).expect("overwrite");
        assert_eq!(s.last_index().expect("last"), 2);
        assert_eq!(s.term(2).expect("term"), 2);
        assert!(s.append(&[entry(5, 2)]).is_err());
    }

    #[test]
    fn compaction_keeps_the_term_before_the_first_entry() {
        let s = LogStore::new();
        s.append(&(1..=10).map(|i| entry(i, 1 + i / 5)).collect::<Vec<_>>())
            .expect("append");
        s.compact(6);
        assert_eq!(s.first_index().expect("first"), 7);
        assert_eq!(s.term(6).expect("term of the compaction point"), 2);
        assert!(matches!(
            s.term(5),
            Err(raft::Error::Store(StorageError::Compacted))
        ));
        assert!(matches!(
            s.entries(6, 8, None, GetEntriesContext::empty(false)),
            Err(raft::Error::Store(StorageError::Compacted))
        ));
        assert_eq!(
            s.entries(7, 11, None, GetEntriesContext::empty(false))
                .expect("entries")
                .len(),
            4
        );
    }

    #[test]
    fn snapshots_are_offered_only_once_made() {
        let s = LogStore::new();
        assert!(s.snapshot(0, 2).is_err());
        s.append(&[entry(1, 1), entry(2, 1)]).expect("append");
        let snap = s
            .create_snapshot(2, ConfState::from((vec![1, 2], vec![])), b"state".to_vec())
            .expect("snapshot");
        assert_eq!(snap.get_metadata().term, 1);
        assert_eq!(s.snapshot(0, 2).expect("offered").get_data(), b"state");
        // A member the snapshot's configuration does not have would refuse it: it is not offered to it.
        assert!(s.snapshot(0, 3).is_err());
        let fresh = LogStore::new();
        fresh.apply_snapshot(snap);
        assert_eq!(fresh.first_index().expect("first"), 3);
        assert_eq!(fresh.hard_state().commit, 2);
        assert_eq!(fresh.conf_state().voters, vec![1, 2]);
    }
}
