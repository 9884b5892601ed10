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

pub mod v2;
