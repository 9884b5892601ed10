//! Types shared by the etcd-in-Rust crates.
//!
//! Everything here is plain data: the v2 request a member proposes through raft ([`v2::Request`]), the events
//! and node views the store produces ([`v2::Event`], [`v2::NodeView`]), the v2 error with its code, message
//! and HTTP status ([`v2::Error`]), and the store statistics ([`v2::StoreStats`]). Crates exchange these
//! through channels; none of them carries a dependency's type.
//!
//! # Example
//!
//! ```
//! use etcd_api::v2::{Error, ErrorCode};
//!
//! let err = Error::new(ErrorCode::KeyNotFound, "/1/message", 7);
//! assert_eq!(err.code.number(), 100);
//! assert_eq!(err.code.message(), "Key not found");
//! assert_eq!(err.code.http_status(), 404);
//! assert_eq!(err.without_prefix("/1").cause, "/message");
//! ```

pub mod metrics;
pub mod v2;

/// `t` in Unix nanoseconds, as etcd's times are kept (0 before 1970, saturating in 2262).
pub fn to_unix_nanos(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The clock now, in Unix nanoseconds (see [`to_unix_nanos`]).
pub fn unix_nanos() -> i64 {
    to_unix_nanos(std::time::SystemTime::now())
}
