//! The client listener: gRPC (HTTP/2, `content-type: application/grpc*`) and the v2 HTTP API (HTTP/1.1, or
//! HTTP/2 without the gRPC content type) on one port, as etcd's connection multiplexer serves them. In the
//! clear, HTTP/2 is spoken with prior knowledge (what gRPC clients do); over TLS the protocol is chosen by ALPN
//! (`h2`, then `http/1.1`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use etcd_api::v2::Backend;
use etcd_proto::etcdserverpb::auth_server::AuthServer;
use etcd_proto::etcdserverpb::cluster_server::ClusterServer;
use etcd_proto::etcdserverpb::kv_server::KvServer;
use etcd_proto::etcdserverpb::lease_server::LeaseServer;
use etcd_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use etcd_proto::etcdserverpb::watch_server::WatchServer;
use etcd_proto::v3electionpb::election_server::ElectionServer;
use etcd_proto::v3lockpb::lock_server::LockServer;
use etcd_server::Server;
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tonic::service::Routes;

use crate::auth::AuthService;
use crate::authority::LenientAuthority;
use crate::concurrency::ConcurrencyService;
use crate::kv::KvService;
use crate::lease::LeaseService;
use crate::maintenance::MaintenanceService;
use crate::metrics::GrpcMetrics;
use crate::status::ClientCommonName;
use crate::watch::WatchService;

/// What gRPC gets above the request limit before it refuses a message (etcd's `grpcOverheadBytes`).
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// etcd's client-port settings for gRPC.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `--max-request-bytes`.
    pub max_request_bytes: usize,
    /// `--max-concurrent-streams` per connection.
    pub max_concurrent_streams: u32,
    /// `--grpc-keepalive-interval`: how often the server pings an idle connection.
    pub keepalive_interval: Duration,
    /// `--grpc-keepalive-timeout`: how long it waits for the ping's answer before closing.
    pub keepalive_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            max_request_bytes: 1536 * 1024,
            max_concurrent_streams: u32::MAX,
            keepalive_interval: Duration::from_secs(2 * 60 * 60),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// The v3 services of `server`, as one routing service.
pub fn services(server: Arc<Server>, options: &ClientOptions) -> Routes {
    let limit = options.max_request_bytes + GRPC_OVERHEAD_BYTES;
    let metrics = Arc::new(GrpcMetrics::default());
    let rendered = metrics.clone();
    server.add_metric_source(Box::new(move |out| rendered.render(out)));
    let kv = KvServer::new(KvService {
        server: server.clone(),
        metrics: metrics.clone(),
    })
    .max_decoding_message_size(limit)
    .max_encoding_message_size(usize::MAX);
    let watch = WatchServer::new(WatchService {
        server: server.clone(),
        max_request_bytes: options.max_request_bytes,
        metrics: metrics.clone(),
    })
    .max_decoding_message_size(limit)
    .max_encoding_message_size(usize::MAX);
    let lease = LeaseServer::new(LeaseService {
        server: server.clone(),
        metrics: metrics.clone(),
    })
    .max_decoding_message_size(limit);
    let lock = LockServer::new(ConcurrencyService {
        server: server.clone(),
        metrics: metrics.clone(),
    })
    .max_decoding_message_size(limit);
    let election = ElectionServer::new(ConcurrencyService {
        server: server.clone(),
        metrics: metrics.clone(),
    })
    .max_decoding_message_size(limit);
    let maintenance = MaintenanceServer::new(MaintenanceService {
        server: server.clone(),
        metrics: metrics.clone(),
    })
    .max_decoding_message_size(limit);
    let cluster = ClusterServer::new(MaintenanceService {
        server: server.clone(),
        metrics: metrics.clone(),
    })
    .max_decoding_message_size(limit);
    let auth = AuthServer::new(AuthService { server, metrics }).max_decoding_message_size(limit);
    Routes::new(kv)
        .add_service(watch)
        .add_service(lease)
        .add_service(lock)
        .add_service(election)
        .add_service(maintenance)
        .add_service(cluster)
        .add_service(auth)
}

/// Serves gRPC (`routes`) and the v2 API (`backend`) on `listener` until `shutdown` is cancelled; then each
/// connection finishes what it is answering (HTTP/2 connections are sent GOAWAY; streams such as watches are
/// cut after [`etcd_tls::CONNECTION_GRACE`]), and this returns once every connection has ended.
pub async fn serve_clients(
    listener: impl Into<etcd_tls::Bound> + Send + 'static,
    tls: Option<etcd_tls::TlsAcceptor>,
    routes: Routes,
    backend: Arc<dyn Backend>,
    options: ClientOptions,
    shutdown: CancellationToken,
) {
    let tls = tls.map(|t| t.with_alpn(&[b"h2", b"http/1.1"]));
    let listener = etcd_tls::Listener::new(listener, etcd_tls::DEFAULT_MAX_CONNECTIONS);
    let connections = TaskTracker::new();
    while let Some(accepted) = listener.accept_until(&shutdown).await {
        let (routes, backend, tls, options, shutdown) = (
            routes.clone(),
            backend.clone(),
            tls.clone(),
            options.clone(),
            shutdown.clone(),
        );
        connections.spawn(async move {
            let _permit = accepted.permit;
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // Header names as Go writes them, for v2 clients that compare them exactly.
            builder.http1().title_case_headers(true);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(options.max_concurrent_streams)
                .keep_alive_interval(Some(options.keepalive_interval))
                .keep_alive_timeout(options.keepalive_timeout);
            let Some(stream) = etcd_tls::handshake(accepted.stream, tls.as_ref()).await else {
                return;
            };
            let common_name = stream.client_common_name().map(ClientCommonName);
            // A JSON request may spell its message out at twice its size (base64, names) and more.
            let json_limit = 2 * (options.max_request_bytes + GRPC_OVERHEAD_BYTES) + (1 << 20);
            let service = hyper::service::service_fn(move |mut request| {
                if let Some(cn) = &common_name {
                    request.extensions_mut().insert(cn.clone());
                }
                answer(routes.clone(), backend.clone(), request, json_limit)
            });
            let connection =
                builder.serve_connection(TokioIo::new(LenientAuthority::new(stream)), service);
            let finished =
                etcd_tls::serve_until(connection, &shutdown, |c| c.graceful_shutdown()).await;
            if let Some(Err(e)) = finished {
                tracing::debug!("client connection ended: {e}");
            }
        });
    }
    connections.close();
    connections.wait().await;
}

type Answer = hyper::Response<Either<tonic::body::Body, etcd_http::ResponseBody>>;

async fn answer(
    mut routes: Routes,
    backend: Arc<dyn Backend>,
    request: hyper::Request<Incoming>,
    json_limit: usize,
) -> Result<Answer, Infallible> {
    let grpc = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        let mut response = tonic::codegen::Service::call(&mut routes, request).await?;
        crate::status::etcd_size_error(response.headers_mut());
        return Ok(response.map(Either::Left));
    }
    if let Some(rest) = crate::gateway::gateway_path(request.uri().path()).map(str::to_owned)
        && request.method() != hyper::Method::OPTIONS
    {
        let origin = request
            .headers()
            .get("Origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut response = crate::gateway::answer(routes, &rest, request, json_limit).await;
        etcd_http::add_cors(backend.as_ref(), origin, &mut response);
        return Ok(response.map(Either::Right));
    }
    Ok(etcd_http::route(backend, request).await.map(Either::Right))
}
