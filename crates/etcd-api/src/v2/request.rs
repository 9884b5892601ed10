//! The v2 request a member proposes through raft, with etcd's fields.

/// The operation a [`Request`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// Set, create, update or compare-and-swap, decided by the conditions.
    #[default]
    Put,
    /// Create an in-order key under the path.
    Post,
    /// Delete or compare-and-delete, decided by the conditions.
    Delete,
    /// A linearizable read through the log.
    QGet,
    /// Expire every key due at `time` (proposed by the leader).
    Sync,
}

impl Method {
    /// The name etcd gives the method in its requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::QGet => "QGET",
            Method::Sync => "SYNC",
        }
    }
}

/// A v2 request as it travels through the raft log (etcd's `etcdserverpb.Request`, same fields).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// Unique request id, used to find the waiting client.
    pub id: u64,
    /// What to do.
    pub method: Method,
    /// The internal path (e.g. `/1/foo`).
    pub path: String,
    /// The new value.
    pub val: String,
    /// Whether the node is (to be) a directory.
    pub dir: bool,
    /// Compare against this value (empty: no check).
    pub prev_value: String,
    /// Compare against this modified index (0: no check).
    pub prev_index: u64,
    /// Whether the node must (`Some(true)`) or must not (`Some(false)`) exist.
    pub prev_exist: Option<bool>,
    /// Absolute expiry time in Unix ns, fixed by the member that took the request; 0 = permanent.
    pub expiration: i64,
    /// A watch (never proposed; kept for completeness of the shape).
    pub wait: bool,
    /// Watch from this index.
    pub since: u64,
    /// Recurse into directories.
    pub recursive: bool,
    /// Sort listings.
    pub sorted: bool,
    /// Linearizable read.
    pub quorum: bool,
    /// For SYNC: expire keys due at or before this instant (Unix ns).
    pub time: i64,
    /// Stream watch events.
    pub stream: bool,
    /// Refresh the TTL without changing the value or notifying watchers.
    pub refresh: Option<bool>,
}
