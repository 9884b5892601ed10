//! The data of a raft snapshot: both state machines at one applied index.
//!
//! Format 1 (all integers big-endian):
//! ```text
//! "ETCDRSSN"  u32 format (1)  u64 mvcc_index  u64 v2_len  v2_len bytes: the v2 store's snapshot
//! the rest: the v3 store's snapshot stream (etcd-mvcc's format), at consistent index >= mvcc_index; or nothing
//! ```
//! `mvcc_index` is the v3 store's consistent index (the last entry it applied). Data without the magic is a v2
//! store snapshot alone, as members wrote before format 1; a snapshot of a newer format is refused.
//!
//! The snapshot files a member writes for itself hold no v3 stream: its v3 store is its own durable database
//! (`member/snap/db`), as in etcd. Taking one makes that store durable first, so that releasing the WAL entries
//! the snapshot covers never loses an entry it has not made durable (etcd-mvcc's commits do not fsync). A
//! follower that needs a snapshot gets the stream added, from the store as it is when the message is sent (as
//! etcd's merged snapshot message carries the live backend): the follower's v3 store may then be ahead of the
//! snapshot's index, and its consistent index keeps it from applying the entries between twice.

use std::sync::{Arc, RwLock};

use crate::server::State;

const MAGIC: &[u8; 8] = b"ETCDRSSN";
/// The snapshot data format this build writes and the newest it reads.
const FORMAT: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 8;

type MvccSlot = Arc<parking_lot::RwLock<Arc<etcd_mvcc::Store>>>;

/// A snapshot's parts.
#[derive(Debug)]
pub(crate) struct Parts<'a> {
    pub(crate) v2: &'a [u8],
    /// The v3 store's consistent index and snapshot stream; `None` in a snapshot from before format 1.
    pub(crate) mvcc: Option<(u64, &'a [u8])>,
}

/// Splits snapshot data into its parts.
pub(crate) fn parse(data: &[u8]) -> Result<Parts<'_>, String> {
    if !data.starts_with(MAGIC) {
        return Ok(Parts {
            v2: data,
            mvcc: None,
        });
    }
    if data.len() < HEADER {
        return Err("the snapshot data is truncated".into());
    }
    let be32 = |at: usize| u32::from_be_bytes(data[at..at + 4].try_into().unwrap_or_default());
    let be64 = |at: usize| u64::from_be_bytes(data[at..at + 8].try_into().unwrap_or_default());
    let format = be32(8);
    if format > FORMAT {
        return Err(format!(
            "the snapshot data is in format {format}, newer than {FORMAT}: upgrade this member"
        ));
    }
    let mvcc_index = be64(12);
    let v2_len = usize::try_from(be64(20)).map_err(|_| "bad v2 length".to_owned())?;
    let rest = &data[HEADER..];
    if rest.len() < v2_len {
        return Err("the snapshot data is truncated".into());
    }
    let (v2, mvcc) = rest.split_at(v2_len);
    Ok(Parts {
        v2,
        mvcc: (!mvcc.is_empty()).then_some((mvcc_index, mvcc)),
    })
}

/// Both stores, for raft's snapshots.
pub(crate) struct Snapshots {
    pub(crate) state: Arc<RwLock<State>>,
    pub(crate) mvcc: MvccSlot,
}

impl etcd_raft::SnapshotSource for Snapshots {
    fn snapshot(&mut self) -> Option<(u64, Vec<u8>)> {
        // Under the v2 read lock (the apply loop is out) the v2 store is at `applied` and the v3 store has
        // committed every entry up to it: an apply event changes both under the write lock. Only the v2 store
        // is serialized there; the v3 store's fsync comes after the lock is released, so applies go on during
        // it, and it makes durable at least what was committed then, so at least `applied`.
        let (applied, v2, mvcc) = {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            (
                state.applied,
                state.store.snapshot(),
                self.mvcc.read().clone(),
            )
        };
        let mvcc_index = match mvcc.sync() {
            Ok(index) => index,
            Err(e) => {
                tracing::warn!("snapshot skipped: the v3 store cannot be made durable: {e}");
                return None;
            }
        };
        Some((applied, header_and_v2(mvcc_index, &v2)))
    }

    fn for_follower(&mut self, index: u64, stored: &[u8]) -> Option<Vec<u8>> {
        let v2 = match parse(stored) {
            Ok(parts) => parts.v2.to_vec(),
            Err(e) => {
                tracing::warn!(index, "cannot send the snapshot: {e}");
                return None;
            }
        };
        let mvcc = self.mvcc.read().clone();
        // Read before the stream: the stream's own consistent index is this one or later.
        let mvcc_index = mvcc.consistent_index().0;
        let mut out = header_and_v2(mvcc_index, &v2);
        if let Err(e) = mvcc.snapshot(&mut out) {
            tracing::warn!(
                index,
                "sending the snapshot without the v3 store, which cannot be read: {e}"
            );
            return None;
        }
        tracing::info!(
            index,
            mvcc_index,
            bytes = out.len(),
            "sending a snapshot with the v3 store"
        );
        Some(out)
    }
}

fn header_and_v2(mvcc_index: u64, v2: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + v2.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_be_bytes());
    out.extend_from_slice(&mvcc_index.to_be_bytes());
    out.extend_from_slice(&(v2.len() as u64).to_be_bytes());
    out.extend_from_slice(v2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_and_bad_data_is_refused() {
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&1u32.to_be_bytes());
        data.extend_from_slice(&9u64.to_be_bytes());
        data.extend_from_slice(&3u64.to_be_bytes());
        data.extend_from_slice(b"v2!mvcc");
        let parts = parse(&data).expect("parse");
        assert_eq!(parts.v2, b"v2!");
        assert_eq!(parts.mvcc, Some((9, b"mvcc".as_slice())));
        assert!(parse(&data[..HEADER + 1]).is_err(), "truncated");
        data[8..12].copy_from_slice(&2u32.to_be_bytes());
        assert!(parse(&data).expect_err("newer").contains("newer"));
        assert!(parse(b"old v2 data").expect("old").mvcc.is_none());
    }
}
