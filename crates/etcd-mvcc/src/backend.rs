//! The v3 state on disk: one redb database at `<data-dir>/member/snap/db`.
//!
//! # Format (version 1)
//! - table `kv`: key = a [`Revision`] as 16 big-endian bytes; value = one kind byte (`0` put, `1` tombstone)
//!   followed by an `mvccpb.KeyValue` in protobuf. A put's record is the key-value as written; a tombstone's
//!   holds the key alone (with `mod_revision` = the deleting revision). Revision order is history order.
//! - table `meta` (keys are ASCII names): `format` (u32 BE, this version), `consistent_index` and `consistent_term` (u64 BE: the last
//!   raft entry whose changes are in the database, written in the same transaction as those changes),
//!   `scheduled_compact` and `finished_compact` (i64 BE: the compaction asked for, and the one whose deletions
//!   are done; a restart finishes a scheduled one).
//! - other tables belong to other state machines sharing the database (leases, auth) and are named by them.
//!   Every table maps bytes to bytes, so a snapshot can copy tables it does not know.
//!
//! Commits are non-durable (no fsync): the raft WAL is the durability, and redb returns after a crash to the last
//! commit that reached the disk intact. [`Backend::sync`] makes everything committed durable.

use std::path::{Path, PathBuf};

use etcd_proto::Message as _;
use etcd_proto::mvccpb::KeyValue;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{Error, Result};
use crate::revision::Revision;

pub(crate) const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
pub(crate) const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("meta");

/// The version of the format above.
pub const BACKEND_FORMAT: u32 = 1;

pub(crate) const KIND_PUT: u8 = 0;
pub(crate) const KIND_TOMBSTONE: u8 = 1;

/// One record of table `kv`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub tombstone: bool,
    pub kv: KeyValue,
}

impl Record {
    /// The bytes of a record holding `kv` (encoded from a borrow: a write does not copy its key-value for this).
    pub fn encode(tombstone: bool, kv: &KeyValue) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + kv.encoded_len());
        out.push(if tombstone { KIND_TOMBSTONE } else { KIND_PUT });
        // Encoding into a Vec cannot fail.
        let _ = kv.encode(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&kind, rest) = bytes.split_first()?;
        let tombstone = match kind {
            KIND_PUT => false,
            KIND_TOMBSTONE => true,
            _ => return None,
        };
        Some(Self {
            tombstone,
            kv: KeyValue::decode(rest).ok()?,
        })
    }
}

/// The opened database and its path (for error messages).
pub(crate) struct Backend {
    pub db: redb::Database,
    pub path: PathBuf,
}

/// The consistent index and compaction marks read at open.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Meta {
    pub consistent_index: u64,
    pub consistent_term: u64,
    pub scheduled_compact: i64,
    pub finished_compact: i64,
}

impl Backend {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let fail = |detail: String| Error::Backend {
            path: path.to_path_buf(),
            detail,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| fail(format!("creating {}: {e}", parent.display())))?;
        }
        // A defragmentation a crash interrupted left its copy behind: the database at `path` is whole.
        let _ = std::fs::remove_file(format!(
            "{}.{}",
            path.display(),
            crate::defrag::DEFRAG_SUFFIX
        ));
        let is_new = std::fs::metadata(path)
            .map(|m| m.len() == 0)
            .unwrap_or(true);
        if is_new {
            Self::create_atomically(path)?;
        }
        let db = redb::Database::open(path)
            .map_err(|e| fail(format!("cannot open the database: {e}")))?;
        let backend = Self {
            db,
            path: path.to_path_buf(),
        };
        backend.init()?;
        Ok(backend)
    }

    /// A new database is made whole next to its place and renamed into it, so a crash while creating it never
    /// leaves a half-made file where the store is expected.
    fn create_atomically(path: &Path) -> Result<()> {
        let fail = |detail: String| Error::Backend {
            path: path.to_path_buf(),
            detail,
        };
        let tmp = std::path::PathBuf::from(format!("{}.creating", path.display()));
        let _ = std::fs::remove_file(&tmp);
        {
            let db = redb::Database::create(&tmp)
                .map_err(|e| fail(format!("cannot create the database: {e}")))?;
            Self {
                db,
                path: tmp.clone(),
            }
            .init()?;
        }
        install(&tmp, path).map_err(|e| fail(format!("installing the new database: {e}")))
    }

    pub fn err(&self, e: impl Into<redb::Error>) -> Error {
        Error::Backend {
            path: self.path.clone(),
            detail: e.into().to_string(),
        }
    }

    pub fn corrupt(&self, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    fn init(&self) -> Result<()> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            tx.open_table(KV).map_err(|e| self.err(e))?;
            let mut meta = tx.open_table(META).map_err(|e| self.err(e))?;
            let format = meta
                .get(b"format".as_slice())
                .map_err(|e| self.err(e))?
                .map(|v| v.value().to_vec());
            match format {
                None => {
                    meta.insert(
                        b"format".as_slice(),
                        BACKEND_FORMAT.to_be_bytes().as_slice(),
                    )
                    .map_err(|e| self.err(e))?;
                }
                Some(v) => {
                    let version = <[u8; 4]>::try_from(v.as_slice())
                        .map(u32::from_be_bytes)
                        .map_err(|_| self.corrupt("meta/format is not 4 bytes"))?;
                    if version != BACKEND_FORMAT {
                        return Err(self.corrupt(format!(
                            "backend format {version} is not the supported format {BACKEND_FORMAT}"
                        )));
                    }
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Reads the meta table.
    pub fn meta(&self) -> Result<Meta> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = tx.open_table(META).map_err(|e| self.err(e))?;
        let u64_of = |name: &str| -> Result<u64> {
            match table.get(name.as_bytes()).map_err(|e| self.err(e))? {
                None => Ok(0),
                Some(v) => <[u8; 8]>::try_from(v.value())
                    .map(u64::from_be_bytes)
                    .map_err(|_| self.corrupt(format!("meta/{name} is not 8 bytes"))),
            }
        };
        Ok(Meta {
            consistent_index: u64_of("consistent_index")?,
            consistent_term: u64_of("consistent_term")?,
            scheduled_compact: u64_of("scheduled_compact")? as i64,
            finished_compact: u64_of("finished_compact")? as i64,
        })
    }

    /// A read snapshot of table `kv` as of the last commit.
    pub fn kv_snapshot(&self) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        tx.open_table(KV).map_err(|e| self.err(e))
    }

    /// Every table's name, sorted (every table maps bytes to bytes, see the format above).
    pub fn table_names(&self, tx: &redb::ReadTransaction) -> Result<Vec<String>> {
        use redb::TableHandle as _;
        let mut names: Vec<String> = tx
            .list_tables()
            .map_err(|e| self.err(e))?
            .map(|t| t.name().to_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Opens any table by name.
    pub fn bytes_table(
        &self,
        tx: &redb::ReadTransaction,
        name: &str,
    ) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>> {
        tx.open_table(TableDefinition::<&[u8], &[u8]>::new(name))
            .map_err(|e| self.err(e))
    }

    /// Makes every commit so far durable.
    pub fn sync(&self) -> Result<()> {
        let mut tx = self.db.begin_write().map_err(|e| self.err(e))?;
        tx.set_durability(redb::Durability::Immediate)
            .map_err(|e| self.err(redb::Error::from(e)))?;
        tx.commit().map_err(|e| self.err(e))
    }
}

/// Writes a u64 or i64 meta value.
pub(crate) fn put_meta(
    table: &mut redb::Table<&[u8], &[u8]>,
    name: &str,
    value: u64,
) -> std::result::Result<(), redb::StorageError> {
    table
        .insert(name.as_bytes(), value.to_be_bytes().as_slice())
        .map(|_| ())
}

/// Reads one `kv` record.
pub(crate) fn load(
    backend: &Backend,
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    rev: Revision,
) -> Result<Record> {
    let bytes = table
        .get(rev.to_bytes().as_slice())
        .map_err(|e| backend.err(e))?
        .ok_or_else(|| {
            backend.corrupt(format!(
                "revision {}.{} is in the index but not in table kv",
                rev.main, rev.sub
            ))
        })?;
    Record::decode(bytes.value()).ok_or_else(|| {
        backend.corrupt(format!(
            "record at revision {}.{} does not decode",
            rev.main, rev.sub
        ))
    })
}

/// Renames a finished file into its place and syncs the directory, so the rename survives a crash.
pub(crate) fn install(tmp: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::rename(tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}
