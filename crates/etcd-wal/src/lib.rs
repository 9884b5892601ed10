//! A segmented, checksummed, group-committed write-ahead log of typed byte records.
//!
//! `etcd-wal` stores records — entries with an index, "latest wins" state records, snapshot markers and a
//! metadata record — in preallocated segment files, each record framed with its length, type and a CRC32C
//! chained from the record before it. It knows nothing of what the bytes mean: the etcd-in-Rust server keeps
//! raft entries in it, but any program that needs a durable, ordered log can use it alone.
//!
//! - **Group commit:** [`Wal::append`] writes a whole batch with one `write` and makes it durable with one
//!   `fdatasync`; [`Wal::write`] + [`Wal::sync`] let a writer thread gather many callers' records per sync.
//! - **Recovery:** [`Wal::open`] verifies every record and chain link. A torn tail — the remains of a write
//!   that was never acknowledged — is cut off and appending continues; damage anywhere else is an
//!   [`Error::Corrupt`] naming the file and byte offset, never a silent truncation.
//! - **No "maybe written" state:** after a failed write or sync the WAL refuses writes ([`Error::Poisoned`])
//!   until it is reopened.
//! - **Fast replay:** segments are memory-mapped and records borrow the map, so replay costs the checksum.
//! - **Exclusive:** a lock on the directory keeps a second process (or handle) out.
//!
//! The disk format (version [`FORMAT_VERSION`]) is specified in [`format`].
//!
//! # Example
//!
//! ```
//! use etcd_wal::{Options, ReadFrom, Record, RecordType, SnapshotMarker, Wal};
//!
//! # fn main() -> Result<(), etcd_wal::Error> {
//! let tmp = tempfile::tempdir().unwrap();
//! let dir = tmp.path().join("wal");
//!
//! // Create, append a batch with one sync, and mark a snapshot.
//! let mut wal = Wal::create(&dir, b"cluster-42", Options::default())?;
//! wal.append(&[Record::entry(1, b"set a=1"), Record::entry(2, b"set b=2"), Record::state(b"term=1")])?;
//! wal.save_snapshot_marker(SnapshotMarker { index: 1, term: 1 })?;
//! wal.close()?;
//!
//! // Reopen: replay the entries after the snapshot, then keep appending.
//! let mut replay = Wal::open(&dir, ReadFrom::Snapshot(SnapshotMarker { index: 1, term: 1 }), Options::default())?;
//! let mut entries = Vec::new();
//! while let Some(record) = replay.next_record() {
//!     let record = record?;
//!     if record.kind == RecordType::Entry {
//!         entries.push((record.index, record.payload.to_vec()));
//!     }
//! }
//! assert_eq!(entries, vec![(2, b"set b=2".to_vec())]);
//! let (mut wal, recovery) = replay.finish()?;
//! assert_eq!(recovery.metadata, b"cluster-42");
//! assert_eq!(recovery.state.as_deref(), Some(&b"term=1"[..]));
//! wal.append(&[Record::entry(3, b"set c=3")])?;
//! # Ok(())
//! # }
//! ```

#[cfg(any(test, feature = "failpoints"))]
mod faults;

mod error;
pub mod format;
mod fs;
mod options;
mod replay;
mod segment_name;
mod wal;

#[cfg(any(test, feature = "failpoints"))]
pub use crate::faults::{FAILPOINT_ENV, FaultInjector};
/// The README's example, compiled and run as a doc test so that it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use crate::{
    error::{Error, Result},
    format::{Corruption, FORMAT_VERSION, MAX_RECORD_LEN, Record, RecordType, SnapshotMarker},
    options::{DEFAULT_SEGMENT_SIZE, Options},
    replay::{ReadFrom, Recovery, Replay, TornTail},
    wal::Wal,
};
