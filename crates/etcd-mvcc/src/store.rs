//! The store: the backend, the key index and the watchers, with reads from consistent snapshots.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use etcd_proto::etcdserverpb::RangeRequest;
use etcd_proto::mvccpb::KeyValue;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use redb::{ReadableDatabase, ReadableTable};

use crate::backend::{self, Backend, KV};
use crate::compact::Compactor;
use crate::error::{Error, Result};
use crate::key_index::{KeyMeta, RangeEnd, TreeIndex};
use crate::range::{self, RangeResult, View};
use crate::revision::Revision;
use crate::watch::WatchHub;

/// What readers see: the index and the revisions it is at.
pub(crate) struct State {
    pub index: TreeIndex,
    /// The newest main revision (1 in an empty store, as in etcd).
    pub current: i64,
    /// The compaction point: reads below it fail.
    pub compacted: i64,
    /// A backend read snapshot taken right after the last commit that changed the index: every revision the index
    /// names is in it. Shared by readers, so a read does not begin a backend transaction of its own.
    pub snapshot: Arc<KvTable>,
}

/// The store's database, shared with the compaction worker, swapped whole by a defragmentation.
pub(crate) type SharedBackend = Arc<RwLock<Arc<Backend>>>;

/// Table `kv` as a read snapshot sees it.
pub(crate) type KvTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// etcd's MVCC key-value store on a redb database.
///
/// Reads (`range`, `hash_kv`, watches' catch-up) take consistent snapshots and never wait for a write's commit;
/// writes go through one [`WriteBatch`](crate::WriteBatch) at a time ([`Store::write`]).
pub struct Store {
    /// The database; replaced (under the writer's turn and the state lock) by a defragmentation.
    pub(crate) backend: SharedBackend,
    /// Held by a compaction job for its whole run and by a defragmentation: one of them at a time.
    pub(crate) maintenance: Arc<Mutex<()>>,
    pub(crate) state: RwLock<State>,
    pub(crate) writer: Arc<Mutex<()>>,
    pub(crate) watchers: Mutex<WatchHub>,
    pub(crate) compactor: Compactor,
    consistent_index: AtomicU64,
    consistent_term: AtomicU64,
    durable_index: AtomicU64,
}

impl Store {
    /// Opens the database at `path` (etcd's is `<data-dir>/member/snap/db`), creating it when missing, and
    /// rebuilds the key index from it. A compaction that was scheduled but not finished is finished.
    pub fn open(path: &Path) -> Result<Self> {
        // redb answers some damaged pages with a panic, not an error. Opening reads every page of the tables we
        // use (the index rebuild scans them all), so a damaged file is caught here, as an error naming it.
        let opened = std::panic::catch_unwind(|| -> Result<_> {
            let backend = Backend::open(path)?;
            let meta = backend.meta()?;
            let (index, last) = rebuild_index(&backend)?;
            Ok((backend, meta, index, last))
        });
        let (backend, meta, index, last) = match opened {
            Ok(result) => result?,
            Err(_) => {
                return Err(Error::Corrupt {
                    path: path.to_path_buf(),
                    detail: "the database file is damaged (its pages do not decode)".into(),
                });
            }
        };
        let compacted = meta.scheduled_compact.max(meta.finished_compact);
        let snapshot = Arc::new(backend.kv_snapshot()?);
        let store = Self {
            state: RwLock::new(State {
                index,
                current: last.max(compacted).max(1),
                compacted,
                snapshot,
            }),
            backend: Arc::new(RwLock::new(Arc::new(backend))),
            maintenance: Arc::new(Mutex::new(())),
            writer: Arc::new(Mutex::new(())),
            watchers: Mutex::new(WatchHub::default()),
            compactor: Compactor::default(),
            consistent_index: AtomicU64::new(meta.consistent_index),
            consistent_term: AtomicU64::new(meta.consistent_term),
            durable_index: AtomicU64::new(meta.consistent_index),
        };
        if compacted > 0 {
            let keep = store.state.write().index.compact(compacted);
            if meta.scheduled_compact > meta.finished_compact {
                let done = crate::compact::CompactionHandle::new();
                store
                    .compactor
                    .enqueue(&store, meta.scheduled_compact, keep, done.clone());
                done.wait()?;
            }
        }
        Ok(store)
    }

    /// The database now.
    pub(crate) fn backend(&self) -> Arc<Backend> {
        self.backend.read().clone()
    }

    /// The newest revision.
    pub fn current_revision(&self) -> i64 {
        self.state.read().current
    }

    /// The compaction point (0 before any compaction).
    pub fn compact_revision(&self) -> i64 {
        self.state.read().compacted
    }

    /// The raft index and term of the last entry whose changes are committed to the backend.
    pub fn consistent_index(&self) -> (u64, u64) {
        (
            self.consistent_index.load(Ordering::Acquire),
            self.consistent_term.load(Ordering::Acquire),
        )
    }

    /// The consistent index as of the last [`Store::sync`]: what survives a crash. WAL entries above it must be
    /// kept.
    pub fn durable_index(&self) -> u64 {
        self.durable_index.load(Ordering::Acquire)
    }

    pub(crate) fn set_consistent_index(&self, index: u64, term: u64) {
        self.consistent_index.store(index, Ordering::Release);
        self.consistent_term.store(term, Ordering::Release);
    }

    /// Makes every commit so far durable (one fsync); answers the consistent index that is now durable.
    pub fn sync(&self) -> Result<u64> {
        let _writer = self.writer.lock();
        let index = self.consistent_index.load(Ordering::Acquire);
        self.backend().sync()?;
        self.durable_index.store(index, Ordering::Release);
        Ok(index)
    }

    /// The database file's size in bytes.
    pub fn db_size(&self) -> u64 {
        std::fs::metadata(&self.backend().path)
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Number of keys in the index (live or with history not yet compacted).
    pub fn indexed_keys(&self) -> usize {
        self.state.read().index.key_count()
    }

    /// Evaluates a `RangeRequest` (every field but `serializable`, which is the server's) on a consistent snapshot.
    pub fn range(&self, req: &RangeRequest) -> Result<(RangeResult, i64)> {
        let view = self.read_view()?;
        let (current, compacted) = (view.state.current, view.state.compacted);
        Ok((range::range(&view, req, current, compacted)?, current))
    }

    /// Every entry of another state machine's table (leases, auth), key order; empty when the table is missing.
    pub fn aux_entries(&self, table: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let backend = self.backend();
        let tx = backend.db.begin_read().map_err(|e| backend.err(e))?;
        let def = redb::TableDefinition::<&[u8], &[u8]>::new(table);
        let t = match tx.open_table(def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(backend.err(e)),
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| backend.err(e))? {
            let (k, v) = item.map_err(|e| backend.err(e))?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Every live key that names a lease, with its lease: what a lessor attaches when it is rebuilt.
    pub fn leased_keys(&self) -> Result<Vec<(Vec<u8>, i64)>> {
        let view = self.read_view()?;
        let mut live = Vec::new();
        view.walk(
            &[0],
            RangeEnd::from_request(&[0]),
            view.state.current,
            false,
            &mut |k, m| {
                live.push((k.to_vec(), m.modified));
                true
            },
        )?;
        let mut out = Vec::new();
        for (key, rev) in live {
            let kv = view.load(rev)?;
            if kv.lease != 0 {
                out.push((key, kv.lease));
            }
        }
        Ok(out)
    }

    pub(crate) fn read_view(&self) -> Result<ReadView<'_>> {
        let state = self.state.read();
        // Taken with the index it matches: every revision the index names is in this snapshot, and a compaction
        // cannot delete it while the snapshot lives.
        let table = state.snapshot.clone();
        Ok(ReadView {
            backend: self.backend(),
            state,
            table,
        })
    }
}

/// A read snapshot: the index as of one revision and the backend as of the same point.
pub(crate) struct ReadView<'s> {
    backend: Arc<Backend>,
    pub state: RwLockReadGuard<'s, State>,
    pub table: Arc<KvTable>,
}

impl View for ReadView<'_> {
    fn walk(
        &self,
        key: &[u8],
        end: RangeEnd<'_>,
        at: i64,
        reverse: bool,
        f: &mut dyn FnMut(&[u8], KeyMeta) -> bool,
    ) -> Result<()> {
        self.state.index.walk(key, end, at, reverse, f);
        Ok(())
    }

    fn load(&self, rev: Revision) -> Result<KeyValue> {
        Ok(backend::load(&self.backend, &*self.table, rev)?.kv)
    }
}

/// Reads every record in revision order into a fresh index; answers it and the newest main revision.
fn rebuild_index(backend: &Backend) -> Result<(TreeIndex, i64)> {
    let tx = backend.db.begin_read().map_err(|e| backend.err(e))?;
    let table = tx.open_table(KV).map_err(|e| backend.err(e))?;
    let mut index = TreeIndex::default();
    let mut last = 0;
    for item in table.iter().map_err(|e| backend.err(e))? {
        let (k, v) = item.map_err(|e| backend.err(e))?;
        let rev = Revision::from_bytes(k.value()).ok_or_else(|| {
            backend.corrupt(format!("table kv has a key of {} bytes", k.value().len()))
        })?;
        let record = backend::Record::decode(v.value()).ok_or_else(|| {
            backend.corrupt(format!(
                "record at revision {}.{} does not decode",
                rev.main, rev.sub
            ))
        })?;
        if record.tombstone {
            index.tombstone(&record.kv.key, rev);
        } else {
            index.restore(
                &record.kv.key,
                rev,
                record.kv.create_revision,
                record.kv.version,
            );
        }
        last = rev.main;
    }
    Ok((index, last))
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.backend().path)
            .finish_non_exhaustive()
    }
}

pub(crate) fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        Err(Error::EmptyKey)
    } else {
        Ok(())
    }
}
