//! The store's errors. Each request error displays as the exact message etcd's gRPC API sends for it (clients
//! match errors by text); backend errors name the database file.

use std::path::PathBuf;

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The revision asked for is at or below the compaction point (gRPC `OutOfRange`).
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    /// The revision asked for is above the current revision (gRPC `OutOfRange`).
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
    /// A request without a key (gRPC `InvalidArgument`).
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    /// `ignore_value` or `ignore_lease` on a key that does not exist (gRPC `InvalidArgument`).
    #[error("etcdserver: key not found")]
    KeyNotFound,
    /// `ignore_value` with a value (gRPC `InvalidArgument`).
    #[error("etcdserver: value is provided")]
    ValueProvided,
    /// `ignore_lease` with a lease (gRPC `InvalidArgument`).
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    /// A txn branch or its compares longer than the limit (gRPC `InvalidArgument`).
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    /// A txn that writes one key twice (gRPC `InvalidArgument`).
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    /// A put names a lease that does not exist (gRPC `NotFound`).
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// The embedded database failed.
    #[error("mvcc backend {}: {detail}", path.display())]
    Backend {
        /// The database file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// A record in the database does not decode: the file is damaged or not ours.
    #[error("mvcc backend {}: corrupt data: {detail}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// Which record and why.
        detail: String,
    },
    /// A snapshot stream is damaged, truncated or of an unknown format.
    #[error("mvcc snapshot: {0}")]
    Snapshot(String),
}

/// Results of store operations.
pub type Result<T> = std::result::Result<T, Error>;
