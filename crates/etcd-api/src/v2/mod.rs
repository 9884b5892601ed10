//! The etcd v2 API's data: requests, events, nodes, errors, store statistics.
//!
//! Keys are the store's *internal* paths: user keys live under `/1`, cluster membership under `/0` and v2 auth
//! under `/2`, as in etcd. The HTTP layer cuts the `/1` prefix off before anything reaches a client
//! ([`Event::without_prefix`], [`Error::without_prefix`]).
//!
//! Times are Unix nanoseconds (UTC) in an `i64`; 0 means "none".

mod backend;
mod error;
mod event;
pub mod json;
mod request;
mod stats;

pub use self::backend::{
    Backend, BoxFuture, EventStream, Member, MemberError, RaftPosition, Versions, checked_peer_urls,
};
pub use self::error::{Error, ErrorCode};
pub use self::event::{Action, Event, NodeView};
pub use self::request::{Method, Request};
pub use self::stats::{FollowerView, LeaderStats, RaftRole, SelfStats, StoreStats, TrafficRate};

/// Go's `path.Clean(path.Join("/", p))`: rooted, without empty, `.` or `..` components or a trailing slash.
/// Shared by the store (keys) and the HTTP layer (request paths), so both clean exactly alike.
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    if parts.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::with_capacity(p.len() + 1);
    for part in parts {
        out.push('/');
        out.push_str(part);
    }
    out
}

/// Internal prefix of the user key space.
pub const KEYS_PREFIX: &str = "/1";
/// Internal prefix of cluster membership data.
pub const MEMBERS_PREFIX: &str = "/0";
/// Internal prefix of v2 auth data.
pub const AUTH_PREFIX: &str = "/2";
