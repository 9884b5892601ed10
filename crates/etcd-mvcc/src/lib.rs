//! etcd's v3 multi-version key-value store (etcd's `mvcc` package), on a redb database.
//!
//! Every write request gets one main revision; every key keeps its versions, grouped in generations, so any
//! revision not yet compacted can be read. `Range`, `Put`, `DeleteRange`, `Txn` and `Compact` follow etcd's rules
//! and error texts exactly; watchers follow a key or range from any revision; `hash_kv` lets members compare
//! their state; `snapshot` and `restore` move the whole backend.
//!
//! The store is deterministic: no clock, no network, and no thread but the background compaction job. Writes
//! come in batches: the caller (the raft apply loop) applies a batch of entries, records the raft index they
//! reach with [`WriteBatch::set_consistent_index`], and commits. Commits do not fsync (the raft WAL is the
//! durability); [`Store::sync`] does. After a crash the store opens at the state after some committed batch,
//! with [`Store::consistent_index`] naming it.
//!
//! ```
//! use etcd_mvcc::Store;
//! use etcd_proto::etcdserverpb::{PutRequest, RangeRequest};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(&dir.path().join("member/snap/db")).unwrap();
//! let mut batch = store.write().unwrap();
//! batch.put(&PutRequest { key: b"foo".to_vec(), value: b"bar".to_vec(), ..Default::default() }).unwrap();
//! batch.set_consistent_index(5, 2);
//! assert_eq!(batch.commit().unwrap().revision, 2);
//!
//! let (found, revision) = store.range(&RangeRequest { key: b"foo".to_vec(), ..Default::default() }).unwrap();
//! assert_eq!((found.kvs[0].value.as_slice(), found.count, revision), (b"bar".as_slice(), 1, 2));
//! ```

mod backend;
mod compact;
mod defrag;
mod error;
mod hash;
mod key_index;
mod range;
mod revision;
mod snapshot;
mod store;
mod txn;
mod watch;
mod write;

pub use backend::BACKEND_FORMAT;
pub use compact::CompactionHandle;
pub use defrag::Defragmented;
pub use error::{Error, Result};
pub use hash::KvHash;
pub use range::RangeResult;
pub use revision::Revision;
pub use snapshot::{BackendSnapshot, SNAPSHOT_FORMAT, SnapshotSummary};
pub use store::Store;
pub use txn::check as check_txn;
pub use watch::{WatchEvents, WatchSpec};
pub use write::{Committed, WriteBatch};
