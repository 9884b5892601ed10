//! Compaction: the index forgets history at once; the backend's records are deleted in the background.
//!
//! `compact(rev)` records the compaction point (table `meta`, `scheduled_compact`), compacts the index, and starts
//! a job that deletes every record at or below `rev` that the index no longer names, 1,000 records per backend
//! transaction, taking the writer's turn only for each short transaction: writes go on meanwhile. The job writes
//! `finished_compact` when done; a restart finishes a job a crash interrupted. One job runs at a time.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use redb::ReadableDatabase;

use crate::backend::{self, Backend, KV, META};
use crate::error::{Error, Result};
use crate::revision::Revision;
use crate::store::Store;

const DELETE_BATCH: usize = 1000;

/// The running compaction job, if any.
#[derive(Default)]
pub(crate) struct Compactor {
    running: Mutex<Option<JoinHandle<()>>>,
}

/// Waits for a compaction's backend deletions (etcd's `physical` compaction).
#[derive(Debug, Clone)]
pub struct CompactionHandle {
    done: Arc<(Mutex<Option<Result<()>>>, Condvar)>,
}

impl CompactionHandle {
    /// Blocks until the deleted records are gone from the backend.
    pub fn wait(&self) -> Result<()> {
        let (lock, cv) = &*self.done;
        let mut done = lock.lock();
        while done.is_none() {
            cv.wait(&mut done);
        }
        done.clone().unwrap_or(Ok(()))
    }
}

impl Compactor {
    /// Starts the deletion job for a compaction at `rev` whose index compaction kept `keep`.
    pub(crate) fn start(
        &self,
        store: &Store,
        rev: i64,
        keep: HashSet<Revision>,
    ) -> Result<CompactionHandle> {
        let mut running = self.running.lock();
        if let Some(previous) = running.take() {
            let _ = previous.join();
        }
        let done = Arc::new((Mutex::new(None), Condvar::new()));
        let handle = CompactionHandle { done: done.clone() };
        let backend = store.backend.clone();
        let writer = store.writer.clone();
        let job = std::thread::Builder::new()
            .name("mvcc-compaction".into())
            .spawn(move || {
                let result = delete_compacted(&backend, &writer, rev, &keep);
                let (lock, cv) = &*done;
                *lock.lock() = Some(result);
                cv.notify_all();
            })
            .map_err(|e| Error::Backend {
                path: store.backend.path.clone(),
                detail: format!("compaction thread: {e}"),
            })?;
        *running = Some(job);
        Ok(handle)
    }

    /// Waits for the running job (before a new compaction, or at close).
    pub(crate) fn finish(&self) {
        if let Some(job) = self.running.lock().take() {
            let _ = job.join();
        }
    }
}

fn delete_compacted(
    backend: &Backend,
    writer: &Mutex<()>,
    rev: i64,
    keep: &HashSet<Revision>,
) -> Result<()> {
    let upto = Revision::new(rev + 1, 0).to_bytes();
    let mut from = Revision::new(0, 0).to_bytes();
    loop {
        let mut doomed: Vec<[u8; 16]> = Vec::new();
        {
            let tx = backend.db.begin_read().map_err(|e| backend.err(e))?;
            let table = tx.open_table(KV).map_err(|e| backend.err(e))?;
            for item in table
                .range(from.as_slice()..upto.as_slice())
                .map_err(|e| backend.err(e))?
            {
                let (k, _) = item.map_err(|e| backend.err(e))?;
                let r = Revision::from_bytes(k.value())
                    .ok_or_else(|| backend.corrupt("table kv has a key that is not a revision"))?;
                from = Revision::new(r.main, r.sub + 1).to_bytes();
                if !keep.contains(&r) {
                    doomed.push(r.to_bytes());
                    if doomed.len() == DELETE_BATCH {
                        break;
                    }
                }
            }
        }
        let last_batch = doomed.len() < DELETE_BATCH;
        {
            let _turn = writer.lock();
            let mut tx = backend.db.begin_write().map_err(|e| backend.err(e))?;
            {
                let mut table = tx.open_table(KV).map_err(|e| backend.err(e))?;
                for k in &doomed {
                    table.remove(k.as_slice()).map_err(|e| backend.err(e))?;
                }
                if last_batch {
                    let mut meta = tx.open_table(META).map_err(|e| backend.err(e))?;
                    backend::put_meta(&mut meta, "finished_compact", rev as u64)
                        .map_err(|e| backend.err(e))?;
                }
            }
            tx.set_durability(redb::Durability::None)
                .map_err(|e| backend.err(redb::Error::from(e)))?;
            tx.commit().map_err(|e| backend.err(e))?;
        }
        if last_batch {
            return Ok(());
        }
    }
}

impl Store {
    /// Compacts history at main revision `rev` (etcd's rules: at or below the compaction point is
    /// [`Error::Compacted`], above the current revision [`Error::FutureRevision`]); `consistent` is the raft
    /// entry that asked for it. Reads below `rev` fail from now on; the returned handle waits for the backend's
    /// space to be freed.
    pub fn compact(&self, rev: i64, consistent: Option<(u64, u64)>) -> Result<CompactionHandle> {
        // A previous job must end first; it takes the writer's turn, so wait before taking it.
        self.compactor.finish();
        let keep = {
            let _writer = self.writer.lock();
            {
                let state = self.state.read();
                if rev <= state.compacted {
                    return Err(Error::Compacted);
                }
                if rev > state.current {
                    return Err(Error::FutureRevision);
                }
            }
            let backend = &self.backend;
            let mut tx = backend.db.begin_write().map_err(|e| backend.err(e))?;
            {
                let mut meta = tx.open_table(META).map_err(|e| backend.err(e))?;
                backend::put_meta(&mut meta, "scheduled_compact", rev as u64)
                    .map_err(|e| backend.err(e))?;
                if let Some((index, term)) = consistent {
                    backend::put_meta(&mut meta, "consistent_index", index)
                        .map_err(|e| backend.err(e))?;
                    backend::put_meta(&mut meta, "consistent_term", term)
                        .map_err(|e| backend.err(e))?;
                }
            }
            tx.set_durability(redb::Durability::None)
                .map_err(|e| backend.err(redb::Error::from(e)))?;
            tx.commit().map_err(|e| backend.err(e))?;
            if let Some((index, term)) = consistent {
                self.set_consistent_index(index, term);
            }
            let mut state = self.state.write();
            state.compacted = rev;
            state.index.compact(rev)
        };
        self.compact_watchers();
        self.compactor.start(self, rev, keep)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.compactor.finish();
    }
}
