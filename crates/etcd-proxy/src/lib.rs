//! etcd's proxies: the v2 proxy mode (`--proxy on|readonly`), a local endpoint that forwards client requests to
//! the cluster so clients need no member list; the v3 `grpc-proxy` ([`GrpcProxy`]: forwarding, watch and
//! keepalive coalescing, a serializable-range cache); and the L4 `gateway` ([`TcpGateway`]).
//!
//! The proxy takes no part in raft. It finds the members' client URLs by asking the peers' `/members`
//! endpoint through the [`MemberSource`] it is given, refreshes them every `--proxy-refresh-interval` (every second while it knows none), and saves the
//! peer URLs in `<data-dir>/proxy/cluster` so that a restarted proxy finds the cluster again. Each request is
//! buffered and tried on the members in order; a member that cannot be reached is skipped for
//! `--proxy-failure-wait`. Answers, watches included, stream back as they come. `readonly` answers anything
//! but GET with 501. Failures are answered as etcd's proxy answers them (503 with no endpoint, 502 when every
//! endpoint failed).
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use etcd_proxy::{BoxFuture, MemberSource, MemberUrls, ProxyConfig, start};
//!
//! /// A cluster whose members never change (the binary asks the peers instead).
//! struct Fixed;
//! impl MemberSource for Fixed {
//!     fn members<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, MemberUrls> {
//!         Box::pin(async {
//!             Ok((vec!["http://10.0.0.1:2379".to_owned()], vec!["http://10.0.0.1:2380".to_owned()]))
//!         })
//!     }
//! }
//!
//! let tls = etcd_tls::TlsInfo::default().client_config()?;
//! let mut config = ProxyConfig::new(vec!["http://10.0.0.1:2380".to_owned()], tls);
//! config.cluster_file = Some(etcd_proxy::cluster_file_path("proxy.etcd".as_ref()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2379").await?;
//! let proxy = start(config, vec![(listener.into(), None)], std::sync::Arc::new(Fixed))?;
//! tokio::signal::ctrl_c().await?;
//! proxy.shutdown().await; // no new connections; the requests in flight are answered
//! # Ok(())
//! # }
//! ```

mod cluster_file;
mod config;
mod endpoints;
mod error;
mod grpc_proxy;
mod members;
mod proxy;
mod tcp_gateway;

use std::sync::Arc;

pub use crate::{
    cluster_file::path as cluster_file_path,
    config::ProxyConfig,
    error::ProxyError,
    grpc_proxy::{GrpcProxy, GrpcProxyConfig, Resolver},
    members::{BoxFuture, MemberSource, MemberUrls},
    proxy::ProxyBody,
    tcp_gateway::TcpGateway,
};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::endpoints::Endpoints;
use crate::proxy::{Proxy, refresh_forever};

/// How long the proxy's connections may take to finish at shutdown.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// A running proxy; its tasks stop with [`RunningProxy::shutdown`].
pub struct RunningProxy {
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl RunningProxy {
    /// The members' client URLs the proxy knows now.
    pub fn endpoints(&self) -> Vec<String> {
        self.proxy.endpoints.all()
    }

    /// Stops listening and refreshing, and lets the requests in flight be answered (10 s at most).
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(DRAIN, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("proxy: connections still open after {DRAIN:?}; closing them");
        }
    }
}

/// Starts a proxy serving `listeners` (each over TLS when it has an acceptor). The peer URLs come from the
/// saved cluster file when there is one (the initial ones are then ignored, as in etcd).
pub fn start(
    config: ProxyConfig,
    listeners: Vec<(etcd_tls::Bound, Option<etcd_tls::TlsAcceptor>)>,
    members: Arc<dyn MemberSource>,
) -> Result<RunningProxy, ProxyError> {
    let saved = match &config.cluster_file {
        Some(file) => cluster_file::load(file)?,
        None => None,
    };
    let peer_urls = match saved {
        Some(urls) => {
            tracing::warn!(
                ?urls,
                "proxy: using the saved cluster file; --initial-cluster and discovery are ignored"
            );
            urls
        }
        None => config.initial_peer_urls.clone(),
    };
    if peer_urls.is_empty() {
        return Err(ProxyError::NoPeers);
    }
    let endpoints = Arc::new(Endpoints::new(peer_urls, config.failure_wait));
    let proxy = Arc::new(Proxy::new(config, endpoints));
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let refresh = refresh_forever(proxy.clone(), members);
    let stop = shutdown.clone();
    tasks.spawn(async move { stop.run_until_cancelled(refresh).await });
    for (listener, tls) in listeners {
        tasks.spawn(accept_until(listener, tls, proxy.clone(), shutdown.clone()));
    }
    Ok(RunningProxy {
        proxy,
        shutdown,
        tasks,
    })
}

async fn accept_until(
    listener: etcd_tls::Bound,
    tls: Option<etcd_tls::TlsAcceptor>,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
) {
    let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
    let connections = TaskTracker::new();
    while let Some(etcd_tls::Accepted {
        stream,
        remote,
        permit,
    }) = listener.accept_until(&shutdown).await
    {
        let proxy = proxy.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let proxy = proxy.clone();
                async move { Ok::<_, std::convert::Infallible>(proxy.handle(request, remote).await) }
            });
            let Some(stream) = etcd_tls::handshake(stream, tls.as_ref()).await else {
                return;
            };
            // Header names as Go writes them, as the members' own v2 answers have them.
            let connection = hyper::server::conn::http1::Builder::new()
                .title_case_headers(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let finished =
                etcd_tls::serve_until(connection, &shutdown, |c| c.graceful_shutdown()).await;
            if let Some(Err(e)) = finished {
                tracing::debug!("proxy connection ended: {e}");
            }
        });
    }
    connections.close();
    connections.wait().await;
}
