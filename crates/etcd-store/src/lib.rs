//! The etcd v2 store: the state machine every member applies the raft log to.
//!
//! A tree of directories and files with etcd's `createdIndex` / `modifiedIndex` and one global index; set,
//! create (with in-order keys), update, compare-and-swap, delete, compare-and-delete, TTL refresh and expiry;
//! a watcher hub with one-shot and streaming watchers and a 1000-event history; store statistics; and a
//! versioned snapshot of all of it. The semantics are etcd 3.4's, quirks included (see the project's v2 API
//! reference).
//!
//! The store is **deterministic**: it has no clock, does no I/O and starts no thread. Time comes in as an
//! argument (Unix nanoseconds): absolute expiry times in requests, the leader's clock in SYNC, and the entry's
//! time for the `ttl` shown in events. The same requests give the same state and the same responses on every
//! member. Keys are internal paths: user keys live under `/1` (see [`etcd_api::v2`]).
//!
//! # Example
//!
//! ```
//! use etcd_api::v2::Action;
//! use etcd_store::{Depth, Expiry, NodeValue, Store, Watching};
//!
//! let now = 1_700_000_000_000_000_000; // Unix ns
//! let mut store = Store::new();
//! let watch = store.watch("/1/config", Depth::Recursive, Watching::Once, 0).unwrap();
//!
//! let event = store.set("/1/config/port", NodeValue::File("2379"), Expiry::NEVER, now).unwrap();
//! assert_eq!(event.node.created_index, 1);
//! assert_eq!(store.index(), 1);
//!
//! let seen = watch.receiver.try_recv().unwrap();
//! assert_eq!(seen.action, Action::Set);
//! assert_eq!(seen.node.key, "/1/config/port");
//!
//! let copy = etcd_store::Store::restore(&store.snapshot()).unwrap();
//! assert_eq!(copy.get("/1/config/port", Depth::Shallow, now).unwrap().node.value.as_deref(), Some("2379"));
//! ```

mod apply;
mod history;
mod node;
mod options;
mod path;
mod snapshot;
mod store;
mod ttl;
mod watch;

pub use crate::{
    apply::Applied,
    history::HISTORY_CAPACITY,
    options::{Depth, Expiry, Naming, NodeValue, Removal, Watching},
    snapshot::{SNAPSHOT_VERSION, SnapshotError},
    store::{Store, Watch},
    watch::{TryRecvError, WATCHER_BUFFER, WatchReceiver},
};
