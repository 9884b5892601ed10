//! Atomic, checksummed snapshot files named by (term, index).
//!
//! `etcd-snapshot` keeps the snapshots a raft member compacts its log into. It knows nothing of what a snapshot
//! holds: it stores an opaque payload with the (term, index) it was taken at and a CRC32C, and gives back the
//! newest one that is whole.
//!
//! - **Atomic saves:** temporary file, `fsync`, rename, `fsync` of the directory; a crash leaves the previous
//!   snapshot loadable.
//! - **Newest valid:** [`Snapshotter::load_newest`] skips damaged files, renaming them to `.broken` as etcd does.
//! - **Large snapshots** are memory-mapped on load, not copied.
//! - Files are named `{term:016x}-{index:016x}.snap`, as etcd names them; the format is specified in
//!   [`format`].
//!
//! # Example
//!
//! ```
//! use etcd_snapshot::{SnapshotMeta, Snapshotter};
//!
//! # fn main() -> Result<(), etcd_snapshot::Error> {
//! let tmp = tempfile::tempdir().unwrap();
//! let snaps = Snapshotter::new(tmp.path().join("snap"))?;
//! snaps.save(SnapshotMeta { term: 1, index: 100 }, b"state at 100")?;
//! snaps.save(SnapshotMeta { term: 2, index: 200 }, b"state at 200")?;
//!
//! let newest = snaps.load_newest()?.expect("a snapshot");
//! assert_eq!(newest.meta(), SnapshotMeta { term: 2, index: 200 });
//! assert_eq!(newest.data(), b"state at 200");
//!
//! assert_eq!(snaps.purge(1)?, 1);
//! assert_eq!(snaps.list()?, vec![SnapshotMeta { term: 2, index: 200 }]);
//! # Ok(())
//! # }
//! ```

mod error;
pub mod format;
mod snapshotter;

pub use crate::{
    error::{Error, Result},
    format::FORMAT_VERSION,
    snapshotter::{Snapshot, SnapshotMeta, Snapshotter},
};
