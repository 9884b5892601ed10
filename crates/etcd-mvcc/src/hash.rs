//! Hashes of the store, so members can be compared for corruption.
//!
//! `hash_kv(rev)` is a CRC-32C over the table name `kv`, then every record's key and value with a main revision
//! at or below `rev`, in revision order, leaving out records at or below the compaction point that compaction
//! will delete: a member whose background deletions are done and one whose are not hash alike. Members that
//! applied the same entries give the same hash at the same revision. `hash()` covers every table.

use redb::{ReadableDatabase, ReadableTable};

use crate::error::{Error, Result};
use crate::revision::Revision;
use crate::store::Store;

/// etcd's `HashKV` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvHash {
    /// The hash.
    pub hash: u32,
    /// The compaction point when it was taken.
    pub compact_revision: i64,
    /// The revision it covers.
    pub hash_revision: i64,
}

impl Store {
    /// Hash of the history up to `rev` (0: the current revision).
    pub fn hash_kv(&self, rev: i64) -> Result<KvHash> {
        let view = self.read_view()?;
        let (current, compacted) = (view.state.current, view.state.compacted);
        if rev > 0 && rev < compacted {
            return Err(Error::Compacted);
        }
        if rev > current {
            return Err(Error::FutureRevision);
        }
        let rev = if rev <= 0 { current } else { rev };
        let mut hash = crc32c::crc32c(b"kv");
        let upto = Revision::new(rev + 1, 0).to_bytes();
        for item in view
            .table
            .range(..upto.as_slice())
            .map_err(|e| self.backend().err(e))?
        {
            let (k, v) = item.map_err(|e| self.backend().err(e))?;
            let r = Revision::from_bytes(k.value()).ok_or_else(|| {
                self.backend()
                    .corrupt("table kv has a key that is not a revision")
            })?;
            if r.main <= compacted && !self.still_indexed(&view, v.value(), r) {
                continue;
            }
            hash = crc32c::crc32c_append(hash, k.value());
            hash = crc32c::crc32c_append(hash, v.value());
        }
        Ok(KvHash {
            hash,
            compact_revision: compacted,
            hash_revision: rev,
        })
    }

    fn still_indexed(&self, view: &crate::store::ReadView<'_>, record: &[u8], r: Revision) -> bool {
        crate::backend::Record::decode(record)
            .and_then(|rec| {
                view.state
                    .index
                    .get(&rec.kv.key)
                    .and_then(|ki| ki.get(r.main))
            })
            .is_some_and(|meta| meta.modified == r)
    }

    /// Hash of every table of the database (etcd's `Hash`), at a consistent point.
    pub fn hash(&self) -> Result<u32> {
        let tx = self
            .backend()
            .db
            .begin_read()
            .map_err(|e| self.backend().err(e))?;
        let names = self.backend().table_names(&tx)?;
        let mut hash = 0u32;
        for name in names {
            if name == "meta" {
                // Per-member bookkeeping (consistent index), not replicated data.
                continue;
            }
            hash = crc32c::crc32c_append(hash, name.as_bytes());
            let table = self.backend().bytes_table(&tx, &name)?;
            for item in table.iter().map_err(|e| self.backend().err(e))? {
                let (k, v) = item.map_err(|e| self.backend().err(e))?;
                hash = crc32c::crc32c_append(hash, k.value());
                hash = crc32c::crc32c_append(hash, v.value());
            }
        }
        Ok(hash)
    }
}
