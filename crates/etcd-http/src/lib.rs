//! etcd's v2 HTTP API on hyper.
//!
//! [`route`] answers one client request — `/v2/keys` (every parameter, etcd's validation order and errors,
//! watches streamed), `/v2/members`, `/v2/stats/{self,leader,store}`, `/v2/machines`, `/version`, `/health`,
//! `/metrics` — with etcd 3.4's statuses, headers and bodies, CORS, path cleaning, `404` and `405`. [`serve`]
//! runs it on a listener. The server behind it is a [`Backend`]: this crate knows HTTP and JSON, not raft or
//! the store.
//!
//! # Example
//!
//! ```no_run
//! # async fn run(backend: std::sync::Arc<dyn etcd_http::Backend>) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2379").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let server = etcd_http::serve(listener, None, backend, shutdown.clone());
//! tokio::signal::ctrl_c().await?;
//! shutdown.cancel(); // no new connections; the requests in flight are answered
//! server.await.ok();
//! # Ok(())
//! # }
//! ```

mod auth_api;
mod form;
mod health;
mod keys;
mod metrics_text;
mod respond;
mod router;
mod serve;
mod stats;
mod v2auth;

pub use crate::{
    respond::ResponseBody,
    router::{add_cors, route, route_peer},
    serve::{serve, serve_connection, serve_until},
};
/// The server behind the API, defined with the v2 types so the server need not know this crate.
pub use etcd_api::v2::{Backend, BoxFuture, EventStream, Member, MemberError, RaftPosition};
