//! etcd's `etcdserver`: one member of a cluster. One raft log is applied, in order, to two state machines —
//! the v2 store (`etcd-store`) and the v3 MVCC store (`etcd-mvcc`, at `<data-dir>/member/snap/db`) — and each
//! request's proposer waits for its entry's outcome. Linearizable reads wait on raft's read index. The member
//! publishes its attributes, sets the cluster version, and (on the leader) expires v2 TTLs.
//!
//! The API is the v2 [`Backend`](etcd_api::v2::Backend) (for `etcd-http`) and the v3 KV methods on [`Server`]
//! with `etcd-proto`'s messages (for `etcd-grpc`). This crate knows no HTTP, gRPC or TLS library.
//!
//! ```no_run
//! # async fn run(config: etcd_server::ServerConfig, transport: std::sync::Arc<etcd_raft::HttpTransport>) -> Result<(), Box<dyn std::error::Error>> {
//! use etcd_proto::etcdserverpb::PutRequest;
//!
//! let running = etcd_server::start(config, transport)?;
//! running.server.ready().await;
//! let put = PutRequest { key: b"foo".to_vec(), value: b"bar".to_vec(), ..Default::default() };
//! let response = running.server.put(&etcd_server::Caller::anonymous(), put).await?;
//! println!("written at revision {}", response.header.unwrap_or_default().revision);
//! running.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod alarms;
mod apply;
mod auth;
mod backup;
mod cluster;
mod corrupt;
mod downgrade;
mod election;
mod entry;
mod health;
mod lease;
mod lifecycle;
mod lock;
mod maintenance;
mod members;
mod metrics;
mod quota;
mod raft_view;
mod server;
mod snapshot;
mod start;
mod v3;
mod waiters;
mod waiting;

pub use crate::{
    auth::{AuthAnswer, AuthOptions, TokenOptions},
    backup::{RestoreConfig, RestoreError, SnapshotStatus, restore_snapshot, snapshot_status},
    cluster::PROMOTE_PATH,
    corrupt::HASHKV_PATH,
    entry::UndecodableEntry,
    members::member_context,
    server::{MetricSource, Server, StopReason, unix_nanos},
    start::{Running, ServerConfig, StartError, start},
    v3::{ErrorClass, V3Error, V3Response},
};
pub use etcd_auth::Caller;
