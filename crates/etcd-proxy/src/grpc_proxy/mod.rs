//! etcd's `grpc-proxy`: a stateless v3 proxy in front of the cluster. Every gRPC call is forwarded to a
//! member (the next endpoint when one cannot be reached); identical watches share one upstream watch, lease
//! keepalives share one upstream stream and one renewal per lease, and serializable ranges are answered from a
//! cache that writes through the proxy empty. `/metrics` and `/health` answer on the same port.

mod forward;
mod kv;
mod lease;
mod metadata;
mod metrics;
mod namespace;
mod resolver;
mod upstream;
mod watch;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use bytes::Bytes;
use etcd_proto::etcdserverpb::RangeRequest;
use etcd_proto::etcdserverpb::cluster_server::ClusterServer;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::kv_server::KvServer;
use etcd_proto::etcdserverpb::lease_server::LeaseServer;
use etcd_proto::etcdserverpb::watch_server::WatchServer;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tonic::service::Routes;

use self::metrics::ProxyMetrics;
use self::upstream::Upstream;

/// What a grpc-proxy forwards to.
#[derive(Debug, Clone)]
pub struct GrpcProxyConfig {
    /// The members' client endpoints (`host:port`, `http://…` or `https://…`).
    pub endpoints: Vec<String>,
    /// TLS to the members (`--cacert`, `--cert`, `--key`): every endpoint is dialled over TLS when set.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// `--namespace`: the prefix of every key of KV, Watch and Lease (empty: none).
    pub namespace: String,
    /// `--resolver-prefix` and `--advertise-client-url`: where the proxy registers itself for discovery (and
    /// whose registrations it answers MemberList with), and the address it registers.
    pub resolver: Option<Resolver>,
}

/// The proxy's registration for endpoint discovery.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// `--resolver-prefix`.
    pub prefix: String,
    /// `--advertise-client-url`.
    pub advertise: String,
    /// `--resolver-ttl`: the registration's lease TTL, in seconds.
    pub ttl: i64,
    /// The name registered with it (etcd uses the host name).
    pub name: String,
}

/// A running grpc-proxy.
pub struct GrpcProxy {
    routes: Routes,
    upstream: Arc<Upstream>,
    metrics: Arc<ProxyMetrics>,
    /// Whether Cluster calls are the proxy's own (a resolver prefix is set).
    own_cluster: bool,
    registration: Option<(Resolver, namespace::Namespace)>,
}

impl GrpcProxy {
    /// A proxy to `config`'s members (connections are made on first use).
    pub fn new(config: &GrpcProxyConfig) -> Result<Arc<GrpcProxy>, crate::ProxyError> {
        let upstream = Arc::new(
            Upstream::new(&config.endpoints, config.tls.clone())
                .map_err(crate::ProxyError::Config)?,
        );
        let metrics = Arc::new(ProxyMetrics::default());
        let namespace = namespace::Namespace::new(&config.namespace);
        let mut routes = Routes::new(
            KvServer::new(kv::KvProxy::new(
                upstream.clone(),
                metrics.clone(),
                namespace.clone(),
            ))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            WatchServer::new(watch::WatchProxy::new(
                upstream.clone(),
                metrics.clone(),
                namespace.clone(),
            ))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX),
        )
        .add_service(LeaseServer::new(lease::LeaseProxy::new(
            upstream.clone(),
            metrics.clone(),
            namespace.clone(),
        )));
        if let Some(resolver) = &config.resolver {
            routes = routes.add_service(ClusterServer::new(resolver::ClusterProxy {
                upstream: upstream.clone(),
                resolver: resolver.clone(),
                namespace: namespace.clone(),
            }));
        }
        Ok(Arc::new(GrpcProxy {
            routes,
            upstream,
            metrics,
            own_cluster: config.resolver.is_some(),
            registration: config.resolver.clone().map(|r| (r, namespace)),
        }))
    }

    /// Serves clients on `listener` (gRPC over HTTP/2; `/metrics` and `/health` over HTTP/1.1 or 2), over TLS
    /// when `tls` is given (ALPN `h2`, then `http/1.1`), until `shutdown` is cancelled and its connections have
    /// finished what they were answering. The `--resolver-prefix` registration stops with it.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<etcd_tls::TlsAcceptor>,
        shutdown: CancellationToken,
    ) {
        let tls = tls.map(|t| t.with_alpn(&[b"h2", b"http/1.1"]));
        let tasks = TaskTracker::new();
        if let Some((resolver, namespace)) = self.registration.clone() {
            let register = resolver::register(self.upstream.clone(), resolver, namespace);
            let shutdown = shutdown.clone();
            tasks.spawn(async move { shutdown.run_until_cancelled(register).await });
        }
        let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
        while let Some(accepted) = listener.accept_until(&shutdown).await {
            let proxy = self.clone();
            let tls = tls.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                let _permit = accepted.permit;
                let Some(stream) = etcd_tls::handshake(accepted.stream, tls.as_ref()).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.answer(request).await) }
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                etcd_tls::serve_until(connection, &shutdown, |c| c.graceful_shutdown()).await;
            });
        }
        tasks.close();
        tasks.wait().await;
    }

    /// Serves `/metrics` alone on `listener` (`--metrics-addr`), until `shutdown` is cancelled.
    pub async fn serve_metrics(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) {
        let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
        let connections = TaskTracker::new();
        while let Some(accepted) = listener.accept_until(&shutdown).await {
            let proxy = self.clone();
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let _permit = accepted.permit;
                let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                    let answer = if request.uri().path() == "/metrics" {
                        text(200, proxy.metrics.render())
                    } else {
                        text(404, "404 page not found\n".to_owned())
                    };
                    async move { Ok::<_, Infallible>(answer) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(accepted.stream), service);
                etcd_tls::serve_until(connection, &shutdown, |c| c.graceful_shutdown()).await;
            });
        }
        connections.close();
        connections.wait().await;
    }

    async fn answer(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<tonic::body::Body> {
        let grpc = request
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
        let path = request.uri().path();
        if grpc {
            let own = [
                "/etcdserverpb.KV/",
                "/etcdserverpb.Watch/",
                "/etcdserverpb.Lease/",
            ]
            .iter()
            .any(|p| path.starts_with(p))
                || (self.own_cluster && path.starts_with("/etcdserverpb.Cluster/"));
            if own {
                let mut routes = self.routes.clone();
                let Ok(response) = tonic::codegen::Service::call(&mut routes, request).await;
                return response;
            }
            return forward::forward(&self.upstream, request).await;
        }
        match path {
            "/metrics" => text(200, self.metrics.render()),
            "/health" => {
                if self.healthy().await {
                    text(200, "{\"health\":\"true\"}".to_owned())
                } else {
                    text(503, "{\"health\":\"false\"}".to_owned())
                }
            }
            _ => text(404, "404 page not found\n".to_owned()),
        }
    }

    /// Whether a member answers a serializable read through the proxy (any answer but "unreachable").
    async fn healthy(&self) -> bool {
        let (index, channel) = self.upstream.channel();
        let mut client = KvClient::new(channel);
        let read = client.range(RangeRequest {
            key: b"health".to_vec(),
            serializable: true,
            ..RangeRequest::default()
        });
        match tokio::time::timeout(Duration::from_secs(3), read).await {
            Ok(Ok(_)) => true,
            Ok(Err(status)) => {
                if Upstream::unreachable(&status) {
                    self.upstream.failed(index);
                }
                // Auth may refuse an anonymous read: the member answered all the same.
                status.code() == tonic::Code::PermissionDenied
                    || status.code() == tonic::Code::InvalidArgument
            }
            Err(_) => false,
        }
    }
}

fn text(status: u16, body: String) -> hyper::Response<tonic::body::Body> {
    let mut response = hyper::Response::new(tonic::body::Body::new(http_body_util::Full::new(
        Bytes::from(body),
    )));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    response
}
