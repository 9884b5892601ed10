//! etcd's `v3rpc`: the v3 gRPC services over [`etcd_server::Server`] — `etcdserverpb.KV`, `Watch`, `Lease`,
//! `Cluster`, `Maintenance` and `Auth`, `v3lockpb.Lock` and `v3electionpb.Election` — with etcd's status codes
//! and exact error texts, `hasleader` metadata, the caller's identity (the `token` metadata, or the client
//! certificate's common name), and request limits; and the client listener that serves them beside the v2 HTTP
//! API on one port.
//!
//! ```no_run
//! # async fn run(server: std::sync::Arc<etcd_server::Server>) -> std::io::Result<()> {
//! let options = etcd_grpc::ClientOptions::default();
//! let routes = etcd_grpc::services(server.clone(), &options);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2379").await?;
//! // Cancelled at shutdown: no new connections, the requests in flight answered, then it returns.
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! etcd_grpc::serve_clients(listener, None, routes, server, options, shutdown).await;
//! # Ok(())
//! # }
//! ```

mod auth;
mod authority;
mod concurrency;
mod gateway;
mod kv;
mod lease;
mod maintenance;
mod metrics;
mod serve;
mod status;
mod unary;
mod watch;

pub use crate::{
    concurrency::ObserveResponses,
    lease::KeepAliveResponses,
    maintenance::SnapshotResponses,
    serve::{ClientOptions, serve_clients, services},
    watch::WatchResponses,
};
