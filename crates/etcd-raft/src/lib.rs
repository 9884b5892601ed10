//! Raft for etcd-in-Rust: raft-rs driven on its own thread, a durable log on `etcd-wal` and `etcd-snapshot`,
//! membership changes, and etcd's member and cluster IDs.
//!
//! [`RaftNode::start`] starts a member and returns a [`RaftHandle`] — propose, read index, membership
//! changes, leadership transfer, status — and the ordered stream of [`ApplyEvent`]s the application applies,
//! reporting progress with [`RaftHandle::report_applied`]. Peers are reached through a [`Transport`] that
//! carries encoded messages; what arrives goes to [`RaftHandle::step`], which decodes it with the project's own
//! protobuf types and validates it, so no peer byte ever reaches raft-rs's protobuf 2 parser. No raft-rs type
//! appears in this API.
//!
//! Durability: the entries and hard state of each raft `Ready` are one WAL batch with one fdatasync, and every
//! proposal that arrived while the previous one was being written shares it (group commit). A snapshot is
//! taken every `snapshot_count` applied entries from the application's [`SnapshotSource`], then old WAL
//! segments are released.
//!
//! # Example
//!
//! ```
//! use etcd_raft::{ApplyEvent, Bootstrap, InitialMember, OutMessage, RaftConfig, RaftNode, SnapshotSource, Transport};
//!
//! struct NoPeers;
//! impl Transport for NoPeers {
//!     fn send(&self, _: OutMessage) -> bool { false }
//! }
//! struct NoSnapshots;
//! impl SnapshotSource for NoSnapshots {
//!     fn snapshot(&mut self) -> Option<(u64, Vec<u8>)> { None }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), etcd_raft::RaftError> {
//! let dir = tempfile::tempdir().unwrap();
//! let id = etcd_raft::member_id(&["http://127.0.0.1:2380".to_owned()], "etcd-cluster", None);
//! let config = RaftConfig::new(id, etcd_raft::cluster_id(&[id]));
//! let members = vec![InitialMember { id, context: Vec::new() }];
//! let (node, mut applied) =
//!     RaftNode::start(config, dir.path(), Bootstrap::NewCluster(members), Box::new(NoPeers), Box::new(NoSnapshots))?;
//! // First the bootstrap entries: raft campaigns only once they are applied.
//! let Some(ApplyEvent::Entries(bootstrap)) = applied.recv().await else { panic!("bootstrap entries") };
//! node.report_applied(bootstrap.len() as u64);
//! node.campaign()?;
//! let at = node.propose(b"hello".to_vec()).await?;
//! // Then, in order: the new leader's no-op, our entry.
//! let mut seen = Vec::new();
//! while seen.last().map(|(i, _)| *i) != Some(at.index) {
//!     if let Some(ApplyEvent::Entries(entries)) = applied.recv().await {
//!         seen.extend(entries.into_iter().map(|e| (e.index, e.kind)));
//!     }
//! }
//! node.report_applied(at.index);
//! node.shutdown().await;
//! # Ok(())
//! # }
//! ```

// raft-rs's protobuf types carry hidden bookkeeping fields, so they are built from `default()` field by field.
#![allow(clippy::field_reassign_with_default)]

mod append_stats;
mod config;
mod disk;
mod error;
mod handle;
mod http_transport;
mod ids;
mod logger;
mod membership;
mod node;
mod peer_client;
mod peer_connector;
mod peer_server;
mod storage;
mod transport;
mod types;
mod wire;

pub use crate::{
    append_stats::{AppendStats, FollowerStats, Latency, Rate},
    config::RaftConfig,
    disk::{create_log, recorded_ids},
    error::RaftError,
    handle::RaftHandle,
    http_transport::{CLUSTER_ID_HEADER, FROM_HEADER, HttpTransport},
    ids::{cluster_id, member_id},
    node::RaftNode,
    peer_client::{PeerAnswer, PeerClient},
    peer_server::{
        PeerBody, PeerMethod, PeerReply, PeerRequest, is_raft_path, serve_raft, spawn_peer_server,
    },
    transport::{OutMessage, SnapshotSource, Transport},
    types::{
        ApplyEvent, Bootstrap, CommittedEntry, EntryKind, Histogram, InitialMember, Leadership,
        MemberChange, MemberChangeKind, PeerProgress, Proposed, ReplicationState, Role, Status,
    },
    wire::WireError,
};
