//! Snapshots of the whole backend as a byte stream, and restore from one.
//!
//! # Stream format (version 1)
//! ```text
//! "ETCDRSDB" | format: u32 BE = 1
//! then frames:  'T' | name length: u32 BE | name          starts a table
//!               'E' | key length: u32 BE | key | value length: u32 BE | value    one entry of that table
//!               'Z' | entries: u64 BE | CRC-32C of every byte before this 'Z': u32 BE    the end
//! ```
//! A snapshot is read out of one read transaction (a consistent point in time that never blocks writers) and
//! written as it is read: it is never built in memory. A restore writes a new database next to the target and
//! renames it into place only after the end frame's count and checksum match, so a damaged or truncated stream
//! leaves the old database untouched.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable};

use crate::error::{Error, Result};
use crate::store::Store;

const MAGIC: &[u8; 8] = b"ETCDRSDB";
/// The version of the stream format above.
pub const SNAPSHOT_FORMAT: u32 = 1;
const RESTORE_BATCH: u64 = 10_000;

/// A consistent point-in-time view of the whole backend (one read transaction: it never blocks writers), to be
/// measured and then written as a snapshot stream. Writes committed after it began are not in it.
pub struct BackendSnapshot {
    backend: std::sync::Arc<crate::backend::Backend>,
    tx: redb::ReadTransaction,
}

impl Store {
    /// Writes a consistent snapshot of every table to `out`; answers the bytes written.
    pub fn snapshot(&self, out: impl Write) -> Result<u64> {
        self.begin_snapshot()?.write_to(out)
    }

    /// Begins a snapshot: its content is fixed now.
    pub fn begin_snapshot(&self) -> Result<BackendSnapshot> {
        let backend = self.backend();
        let tx = backend.db.begin_read().map_err(|e| backend.err(e))?;
        Ok(BackendSnapshot { backend, tx })
    }
}

impl BackendSnapshot {
    /// The exact number of bytes [`BackendSnapshot::write_to`] writes (read from the same point in time).
    pub fn len(&self) -> Result<u64> {
        let mut len = 0u64;
        self.walk(&mut |bytes| {
            len += bytes.len() as u64;
            Ok(())
        })?;
        Ok(len)
    }

    /// Whether the stream is empty (never: it always has its header and end frame).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the stream to `out`; answers the bytes written.
    pub fn write_to(&self, mut out: impl Write) -> Result<u64> {
        let mut written = 0u64;
        self.walk(&mut |bytes| {
            written += bytes.len() as u64;
            out.write_all(bytes)
        })?;
        out.flush()
            .map_err(|e| Error::Snapshot(format!("writing: {e}")))?;
        Ok(written)
    }

    /// Hands every byte of the stream, in order, to `emit`.
    fn walk(&self, emit: &mut dyn FnMut(&[u8]) -> std::io::Result<()>) -> Result<()> {
        let backend = &self.backend;
        let mut w = Sink { crc: 0, emit };
        w.put(MAGIC)?;
        w.put(&SNAPSHOT_FORMAT.to_be_bytes())?;
        let mut entries = 0u64;
        for name in backend.table_names(&self.tx)? {
            w.put(b"T")?;
            w.put(&(name.len() as u32).to_be_bytes())?;
            w.put(name.as_bytes())?;
            let table = backend.bytes_table(&self.tx, &name)?;
            for item in table.iter().map_err(|e| backend.err(e))? {
                let (k, v) = item.map_err(|e| backend.err(e))?;
                w.put(b"E")?;
                w.put(&(k.value().len() as u32).to_be_bytes())?;
                w.put(k.value())?;
                w.put(&(v.value().len() as u32).to_be_bytes())?;
                w.put(v.value())?;
                entries += 1;
            }
        }
        w.put(b"Z")?;
        let end_crc = w.crc;
        w.put(&entries.to_be_bytes())?;
        w.put(&end_crc.to_be_bytes())
    }
}

/// Where the stream's bytes go, with the running CRC-32C of those before the end frame's checksum.
struct Sink<'e> {
    crc: u32,
    emit: &'e mut dyn FnMut(&[u8]) -> std::io::Result<()>,
}

impl Sink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        (self.emit)(bytes).map_err(|e| Error::Snapshot(format!("writing: {e}")))
    }
}

impl Store {
    /// Replaces the database at `path` with the snapshot read from `input`, durably. Open the store afterwards.
    /// The store at `path` must not be open.
    pub fn restore(path: &Path, input: impl Read) -> Result<()> {
        let tmp = PathBuf::from(format!("{}.restoring", path.display()));
        let _ = std::fs::remove_file(&tmp);
        let result = restore_into(&tmp, input);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return result;
        }
        let fail = |e: std::io::Error| Error::Backend {
            path: path.to_path_buf(),
            detail: format!("installing the restored database: {e}"),
        };
        crate::backend::install(&tmp, path).map_err(fail)
    }
}

/// What a snapshot stream holds, read without building a database ([`Store::summarize`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// Entries in every table.
    pub entries: u64,
    /// The stream's CRC-32C (of every byte before the checksum).
    pub crc: u32,
    /// The store's revision, as [`Store::current_revision`] would answer after a restore.
    pub revision: i64,
}

impl Store {
    /// Reads a snapshot stream to its end frame and checks it; answers what it holds.
    pub fn summarize(input: impl Read) -> Result<SnapshotSummary> {
        let mut r = Reader {
            inner: input,
            crc: 0,
        };
        r.header()?;
        let mut table: Option<String> = None;
        let (mut entries, mut last_main, mut compacted) = (0u64, 0i64, 0i64);
        loop {
            match r.take(1)?[0] {
                b'T' => {
                    table = Some(
                        String::from_utf8(r.chunk()?)
                            .map_err(|_| Error::Snapshot("a table name is not UTF-8".into()))?,
                    );
                }
                b'E' => {
                    let k = r.chunk()?;
                    let v = r.chunk()?;
                    match table.as_deref() {
                        Some("kv") => {
                            if let Some(rev) = crate::revision::Revision::from_bytes(&k) {
                                last_main = last_main.max(rev.main);
                            }
                        }
                        Some("meta") if k == b"scheduled_compact" || k == b"finished_compact" => {
                            if let Ok(v) = <[u8; 8]>::try_from(v.as_slice()) {
                                compacted = compacted.max(u64::from_be_bytes(v) as i64);
                            }
                        }
                        Some(_) => {}
                        None => return Err(Error::Snapshot("an entry before any table".into())),
                    }
                    entries += 1;
                }
                b'Z' => {
                    let crc = r.end(entries)?;
                    return Ok(SnapshotSummary {
                        entries,
                        crc,
                        revision: last_main.max(compacted).max(1),
                    });
                }
                other => {
                    return Err(Error::Snapshot(format!(
                        "unknown frame tag {other:#04x}: damaged stream"
                    )));
                }
            }
        }
    }
}

struct Reader<R> {
    inner: R,
    crc: u32,
}

impl<R: Read> Reader<R> {
    fn take(&mut self, n: usize) -> Result<Vec<u8>> {
        // Grown as bytes arrive, not allocated from the length a (possibly damaged) stream claims.
        let mut buf = Vec::with_capacity(n.min(64 * 1024));
        (&mut self.inner)
            .take(n as u64)
            .read_to_end(&mut buf)
            .map_err(|e| Error::Snapshot(format!("reading the stream: {e}")))?;
        if buf.len() != n {
            return Err(Error::Snapshot(format!(
                "truncated stream: {} of {n} bytes",
                buf.len()
            )));
        }
        self.crc = crc32c::crc32c_append(self.crc, &buf);
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads and checks the magic and format version.
    fn header(&mut self) -> Result<()> {
        if self.take(8)? != MAGIC {
            return Err(Error::Snapshot(
                "not an etcd-rs backend snapshot (bad magic)".into(),
            ));
        }
        let version = self.u32()?;
        if version != SNAPSHOT_FORMAT {
            return Err(Error::Snapshot(format!(
                "snapshot format {version} is not the supported format {SNAPSHOT_FORMAT}"
            )));
        }
        Ok(())
    }

    /// Reads the rest of the end frame (after its tag) and checks it against the `entries` read; answers the
    /// checksum.
    fn end(&mut self, entries: u64) -> Result<u32> {
        let expected_crc = self.crc;
        let count = self.take(8)?;
        let count = u64::from_be_bytes(
            count
                .try_into()
                .map_err(|_| Error::Snapshot("bad end frame".into()))?,
        );
        let mut crc = [0u8; 4];
        self.inner
            .read_exact(&mut crc)
            .map_err(|e| Error::Snapshot(format!("truncated stream: {e}")))?;
        if u32::from_be_bytes(crc) != expected_crc {
            return Err(Error::Snapshot(
                "checksum mismatch: the stream is damaged".into(),
            ));
        }
        if count != entries {
            return Err(Error::Snapshot(format!(
                "{entries} entries read, the end frame says {count}"
            )));
        }
        Ok(expected_crc)
    }

    fn chunk(&mut self) -> Result<Vec<u8>> {
        let n = self.u32()? as usize;
        // Guard against absurd lengths in a damaged stream before allocating.
        if n > 1 << 30 {
            return Err(Error::Snapshot(format!(
                "a length of {n} bytes: damaged stream"
            )));
        }
        self.take(n)
    }
}

fn restore_into(tmp: &Path, input: impl Read) -> Result<()> {
    let db_err = |e: redb::Error| Error::Backend {
        path: tmp.to_path_buf(),
        detail: e.to_string(),
    };
    let mut r = Reader {
        inner: input,
        crc: 0,
    };
    r.header()?;
    let db = redb::Database::create(tmp).map_err(|e| db_err(e.into()))?;
    let mut tx = db.begin_write().map_err(|e| db_err(e.into()))?;
    let mut table_name: Option<String> = None;
    let mut entries = 0u64;
    let mut in_tx = 0u64;
    loop {
        let tag = r.take(1)?[0];
        match tag {
            b'T' => {
                let name = String::from_utf8(r.chunk()?)
                    .map_err(|_| Error::Snapshot("a table name is not UTF-8".into()))?;
                tx.open_table(redb::TableDefinition::<&[u8], &[u8]>::new(&name))
                    .map_err(|e| db_err(e.into()))?;
                table_name = Some(name);
            }
            b'E' => {
                let name = table_name
                    .as_deref()
                    .ok_or_else(|| Error::Snapshot("an entry before any table".into()))?;
                let k = r.chunk()?;
                let v = r.chunk()?;
                {
                    let mut t = tx
                        .open_table(redb::TableDefinition::<&[u8], &[u8]>::new(name))
                        .map_err(|e| db_err(e.into()))?;
                    t.insert(k.as_slice(), v.as_slice())
                        .map_err(|e| db_err(e.into()))?;
                }
                entries += 1;
                in_tx += 1;
                if in_tx == RESTORE_BATCH {
                    tx.set_durability(redb::Durability::None)
                        .map_err(|e| db_err(e.into()))?;
                    tx.commit().map_err(|e| db_err(e.into()))?;
                    tx = db.begin_write().map_err(|e| db_err(e.into()))?;
                    in_tx = 0;
                }
            }
            b'Z' => {
                r.end(entries)?;
                tx.set_durability(redb::Durability::Immediate)
                    .map_err(|e| db_err(e.into()))?;
                tx.commit().map_err(|e| db_err(e.into()))?;
                return Ok(());
            }
            other => {
                return Err(Error::Snapshot(format!(
                    "unknown frame tag {other:#04x}: damaged stream"
                )));
            }
        }
    }
}
