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
use crate::write::WriteBatch;

const DELETE_BATCH: usize = 1000;

/// One compaction's backend deletions, queued for the worker.
struct Job {
    rev: i64,
    keep: HashSet<Revision>,
    done: CompactionHandle,
}

/// The compaction worker: one thread, started at the first compaction, that runs jobs in order.
#[derive(Default)]
pub(crate) struct Compactor {
    queue: Mutex<Option<(std::sync::mpsc::Sender<Job>, JoinHandle<()>)>>,
}

/// Waits for a compaction's backend deletions (etcd's `physical` compaction).
#[derive(Debug, Clone)]
pub struct CompactionHandle {
    done: Arc<(Mutex<Option<Result<()>>>, Condvar)>,
}

impl CompactionHandle {
    pub(crate) fn new() -> Self {
        Self {
            done: Arc::new((Mutex::new(None), Condvar::new())),
        }
    }

    fn finish(&self, result: Result<()>) {
        let (lock, cv) = &*self.done;
        *lock.lock() = Some(result);
        cv.notify_all();
    }

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
    /// Queues the deletions of a compaction at `rev` whose index compaction kept `keep`. Never waits for the
    /// writer's turn, so it can be called while a batch is open.
    pub(crate) fn enqueue(
        &self,
        store: &Store,
        rev: i64,
        keep: HashSet<Revision>,
        done: CompactionHandle,
    ) {
        let mut queue = self.queue.lock();
        if queue.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            let shared = store.backend.clone();
            let maintenance = store.maintenance.clone();
            let writer = store.writer.clone();
            let spawned = std::thread::Builder::new()
                .name("mvcc-compaction".into())
                .spawn(move || {
                    for job in rx {
                        // No defragmentation swaps the database while the job deletes from it.
                        let _turn = maintenance.lock();
                        let backend = shared.read().clone();
                        job.done
                            .finish(delete_compacted(&backend, &writer, job.rev, &job.keep));
                    }
                });
            match spawned {
                Ok(worker) => *queue = Some((tx, worker)),
                Err(e) => {
                    done.finish(Err(Error::Backend {
                        path: store.backend().path.clone(),
                        detail: format!("starting the compaction thread: {e}"),
                    }));
                    return;
                }
            }
        }
        if let Some((tx, _)) = queue.as_ref()
            && let Err(std::sync::mpsc::SendError(job)) = tx.send(Job { rev, keep, done })
        {
            job.done.finish(Err(Error::Backend {
                path: store.backend().path.clone(),
                detail: "the compaction thread stopped".into(),
            }));
        }
    }

    /// Lets queued jobs finish and stops the worker (at close).
    pub(crate) fn finish(&self) {
        if let Some((tx, worker)) = self.queue.lock().take() {
            drop(tx);
            let _ = worker.join();
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
    /// Compacts history at main revision `rev` as one batch of its own (see [`WriteBatch::compact`]); `consistent`
    /// is the raft entry that asked for it.
    pub fn compact(&self, rev: i64, consistent: Option<(u64, u64)>) -> Result<CompactionHandle> {
        let mut batch = self.write()?;
        let handle = batch.compact(rev)?;
        if let Some((index, term)) = consistent {
            batch.set_consistent_index(index, term);
        }
        batch.commit()?;
        Ok(handle)
    }

    /// At commit: the index forgets history below `rev`, the deletions are queued, watchers left below it told.
    pub(crate) fn finish_compaction(&self, rev: i64, done: CompactionHandle) {
        let keep = {
            let mut state = self.state.write();
            state.compacted = rev;
            state.index.compact(rev)
        };
        self.compactor.enqueue(self, rev, keep, done);
        // Unsynced watchers now below the compaction point are told and removed.
        let _ = self.sync_watchers();
    }
}

impl WriteBatch<'_> {
    /// Compacts history at main revision `rev` when the batch commits (etcd's rules: at or below the compaction
    /// point is [`Error::Compacted`], above the current revision [`Error::FutureRevision`]). Reads below `rev`
    /// fail from then on; the returned handle waits for the backend's space to be freed, which happens in the
    /// background while writes go on.
    pub fn compact(&mut self, rev: i64) -> Result<CompactionHandle> {
        let compacted = self
            .pending_compaction
            .as_ref()
            .map_or_else(|| self.compacted(), |(r, _)| *r);
        if rev <= compacted {
            return Err(Error::Compacted);
        }
        if rev > self.revision() {
            return Err(Error::FutureRevision);
        }
        let backend = &*self.store.backend();
        let mut meta = self.tx.open_table(META).map_err(|e| backend.err(e))?;
        backend::put_meta(&mut meta, "scheduled_compact", rev as u64)
            .map_err(|e| backend.err(e))?;
        let handle = CompactionHandle::new();
        self.pending_compaction = Some((rev, handle.clone()));
        Ok(handle)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.compactor.finish();
    }
}
