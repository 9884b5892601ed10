//! etcd's v3 wire contract for Rust: the prost messages (and, with feature `grpc`, the tonic service traits, clients
//! and servers) of packages `etcdserverpb`,
//! `mvccpb`, `authpb`, `v3lockpb` and `v3electionpb`, plus this project's raft entry envelope (`etcdrs`).
//!
//! Everything here is generated at build time from the repository's `proto/` folder (see `build.rs`); the field
//! names, numbers and enum values there are etcd 3.5/3.6's, so these types are byte-compatible with etcd's clients.
//! Nothing else in the workspace runs code generation, and generated code is never edited by hand.
//!
//! ```
//! use etcd_proto::etcdserverpb::PutRequest;
//! use etcd_proto::Message as _;
//!
//! let put = PutRequest { key: b"foo".to_vec(), value: b"bar".to_vec(), ..Default::default() };
//! let bytes = put.encode_to_vec();
//! assert_eq!(PutRequest::decode(bytes.as_slice()).unwrap(), put);
//! ```

/// Package `mvccpb`: key-values and events.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod mvccpb {
    include!(concat!(env!("OUT_DIR"), "/mvccpb.rs"));
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/mvccpb.serde.rs"));
}

/// Package `authpb`: users, roles, permissions.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod authpb {
    include!(concat!(env!("OUT_DIR"), "/authpb.rs"));
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/authpb.serde.rs"));
}

/// Package `etcdserverpb`: the KV, Watch, Lease, Cluster, Maintenance and Auth services.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod etcdserverpb {
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.serde.rs"));
}

/// Package `v3lockpb`: the Lock service.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v3lockpb {
    include!(concat!(env!("OUT_DIR"), "/v3lockpb.rs"));
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/v3lockpb.serde.rs"));
}

/// Package `v3electionpb`: the Election service.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v3electionpb {
    include!(concat!(env!("OUT_DIR"), "/v3electionpb.rs"));
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/v3electionpb.serde.rs"));
}

/// Package `etcdrs`: this project's raft entry envelope (format documented in `proto/etcdrs/entry.proto`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod etcdrs {
    include!(concat!(env!("OUT_DIR"), "/etcdrs.rs"));
}

mod envelope;

pub use envelope::{ENTRY_FORMAT, EntryError, decode_entry, encode_entry};
pub use prost::Message;
