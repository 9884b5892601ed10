//! Defragmentation: the database rewritten into a new file that holds only live pages, then swapped in, while
//! reads and writes go on.
//!
//! redb reuses the pages a compaction frees, but never gives them back to the file system: the file keeps the
//! size it once reached. A defragmentation returns that space (etcd's `Defragment`), without etcd's pause:
//! 1. every table is copied from one read transaction into `<db>.defrag` (writes go on);
//! 2. the records of table `kv` committed meanwhile are copied, again without stopping writes (table `kv` only
//!    grows while no compaction runs, and none does: a compaction job and a defragmentation take turns);
//! 3. with the writer's turn held, the last new `kv` records are copied and every other table (meta, leases,
//!    alarms: small, changed in place) is replaced whole; the file is made durable and renamed over the old one;
//!    the store then reads and writes the new database.
//!
//! Writes wait only for step 3, which copies what was committed during the last catch-up. Readers never wait:
//! a read that began before the swap finishes on the old database, whose file is gone from the directory and
//! freed when its last reader lets go. A crash at any point leaves either the old file or the new one in place
//! (the rename is atomic); a stale `<db>.defrag` is removed when the store opens.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use crate::backend::{Backend, KV};
use crate::error::{Error, Result};
use crate::store::Store;

/// Records per write transaction of the copy.
const COPY_BATCH: usize = 10_000;
/// Catch-up passes made without the writer's turn, at most; fewer when one copies little.
const CATCH_UP_PASSES: usize = 4;
/// A catch-up pass that copies fewer records than this is the last one before the writer's turn.
const SMALL_CATCH_UP: u64 = 1_000;

/// What a defragmentation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defragmented {
    /// The file's size before, in bytes.
    pub size_before: u64,
    /// The file's size after, in bytes.
    pub size_after: u64,
    /// The whole defragmentation.
    pub took: Duration,
    /// How long writes waited (step 3).
    pub writes_paused: Duration,
}

/// The suffix of the file a defragmentation writes before it is renamed into place.
pub(crate) const DEFRAG_SUFFIX: &str = "defrag";

impl Store {
    /// Rewrites the database into a new file of live pages only and swaps it in (see the module docs); one at
    /// a time, and never while a compaction job deletes.
    pub fn defragment(&self) -> Result<Defragmented> {
        let started = Instant::now();
        let _turn = self.maintenance.lock();
        let old = self.backend();
        let size_before = self.db_size();
        let tmp = PathBuf::from(format!("{}.{DEFRAG_SUFFIX}", old.path.display()));
        let fail = |detail: String| Error::Backend {
            path: tmp.clone(),
            detail,
        };
        let _ = std::fs::remove_file(&tmp);
        let copy = (|| {
            let db = redb::Database::create(&tmp)
                .map_err(|e| fail(format!("cannot create the database: {e}")))?;
            let mut copier = Copier {
                from: &old,
                to: &db,
                tmp: &tmp,
                last_kv: None,
            };
            copier.all_tables()?;
            for _ in 0..CATCH_UP_PASSES {
                if copier.new_kv_records()? < SMALL_CATCH_UP {
                    break;
                }
            }
            let writer = self.writer.lock();
            let paused = Instant::now();
            copier.new_kv_records()?;
            copier.replace_other_tables()?;
            crate::backend::install(&tmp, &old.path)
                .map_err(|e| fail(format!("installing the defragmented database: {e}")))?;
            let new = Arc::new(Backend {
                db,
                path: old.path.clone(),
            });
            let snapshot = Arc::new(new.kv_snapshot()?);
            {
                let mut state = self.state.write();
                *self.backend.write() = new;
                state.snapshot = snapshot;
            }
            drop(writer);
            Ok(paused.elapsed())
        })();
        let writes_paused = match copy {
            Ok(paused) => paused,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        Ok(Defragmented {
            size_before,
            size_after: self.db_size(),
            took: started.elapsed(),
            writes_paused,
        })
    }
}

/// Copies tables from the live database into the new one.
struct Copier<'a> {
    from: &'a Backend,
    to: &'a redb::Database,
    tmp: &'a std::path::Path,
    /// The last `kv` key copied.
    last_kv: Option<Vec<u8>>,
}

impl Copier<'_> {
    fn to_err(&self, e: impl Into<redb::Error>) -> Error {
        Error::Backend {
            path: self.tmp.to_path_buf(),
            detail: e.into().to_string(),
        }
    }

    /// Step 1: every table, from one read transaction.
    fn all_tables(&mut self) -> Result<()> {
        let tx = self.from.db.begin_read().map_err(|e| self.from.err(e))?;
        for name in self.from.table_names(&tx)? {
            let table = self.from.bytes_table(&tx, &name)?;
            let (last, _) = self.copy(&name, &table, None)?;
            if name == KV.name() {
                self.last_kv = last;
            }
        }
        Ok(())
    }

    /// Steps 2 and 3: the `kv` records after the last one copied; answers how many.
    fn new_kv_records(&mut self) -> Result<u64> {
        let tx = self.from.db.begin_read().map_err(|e| self.from.err(e))?;
        let table = tx.open_table(KV).map_err(|e| self.from.err(e))?;
        let from = self.last_kv.clone();
        let (last, copied) = self.copy(KV.name(), &table, from.as_deref())?;
        if last.is_some() {
            self.last_kv = last;
        }
        Ok(copied)
    }

    /// Step 3: every table but `kv` replaced by its current content; the last commit is durable.
    fn replace_other_tables(&mut self) -> Result<()> {
        let tx = self.from.db.begin_read().map_err(|e| self.from.err(e))?;
        let names = self.from.table_names(&tx)?;
        let mut write = self.to.begin_write().map_err(|e| self.to_err(e))?;
        for name in &names {
            if name == KV.name() {
                continue;
            }
            let def = TableDefinition::<&[u8], &[u8]>::new(name);
            write.delete_table(def).map_err(|e| self.to_err(e))?;
            let mut to = write.open_table(def).map_err(|e| self.to_err(e))?;
            let from = self.from.bytes_table(&tx, name)?;
            for item in from.iter().map_err(|e| self.from.err(e))? {
                let (k, v) = item.map_err(|e| self.from.err(e))?;
                to.insert(k.value(), v.value())
                    .map_err(|e| self.to_err(e))?;
            }
        }
        write
            .set_durability(redb::Durability::Immediate)
            .map_err(|e| self.to_err(redb::Error::from(e)))?;
        write.commit().map_err(|e| self.to_err(e))
    }

    /// Copies the records of table `name` after `after` (all when `None`) in batches; answers the last key
    /// copied (`None` when nothing was) and how many were.
    fn copy(
        &self,
        name: &str,
        from: &impl ReadableTable<&'static [u8], &'static [u8]>,
        after: Option<&[u8]>,
    ) -> Result<(Option<Vec<u8>>, u64)> {
        use std::ops::Bound;
        let def = TableDefinition::<&[u8], &[u8]>::new(name);
        let mut records = match after {
            Some(k) => from.range::<&[u8]>((Bound::Excluded(k), Bound::Unbounded)),
            None => from.range::<&[u8]>(..),
        }
        .map_err(|e| self.from.err(e))?
        .peekable();
        let (mut last, mut copied) = (None, 0u64);
        loop {
            let write = self.to.begin_write().map_err(|e| self.to_err(e))?;
            {
                // Opened even when empty, so the new database has every table the old one has.
                let mut to = write.open_table(def).map_err(|e| self.to_err(e))?;
                for item in records.by_ref().take(COPY_BATCH) {
                    let (k, v) = item.map_err(|e| self.from.err(e))?;
                    to.insert(k.value(), v.value())
                        .map_err(|e| self.to_err(e))?;
                    last = Some(k.value().to_vec());
                    copied += 1;
                }
            }
            let mut write = write;
            write
                .set_durability(redb::Durability::None)
                .map_err(|e| self.to_err(redb::Error::from(e)))?;
            write.commit().map_err(|e| self.to_err(e))?;
            if records.peek().is_none() {
                return Ok((last, copied));
            }
        }
    }
}
