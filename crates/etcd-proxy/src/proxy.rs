//! The reverse proxy: one client request forwarded to the first member that answers, as etcd's v2 proxy does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::ProxyConfig;
use crate::endpoints::Endpoints;

/// What the proxy answers with: a member's streamed body, or its own.
pub type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

type Upstream = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Headers that belong to one hop and are not forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// The proxy's shared state.
pub struct Proxy {
    pub(crate) endpoints: Arc<Endpoints>,
    upstream: Upstream,
    config: ProxyConfig,
}

fn own_body(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn answer(status: StatusCode, content_type: Option<&str>, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(own_body(body));
    *response.status_mut() = status;
    if let Some(ct) = content_type
        && let Ok(v) = HeaderValue::from_str(ct)
    {
        response.headers_mut().insert("content-type", v);
    }
    response
}

/// etcd's proxy errors: a JSON `message` and a newline.
fn error(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "message": format!("httpproxy: {message}") });
    answer(status, Some("application/json"), format!("{body}\n"))
}

impl Proxy {
    pub(crate) fn new(config: ProxyConfig, endpoints: Arc<Endpoints>) -> Proxy {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.dial_timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*config.member_tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let upstream = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(128)
            .build(connector);
        Proxy {
            endpoints,
            upstream,
            config,
        }
    }

    /// Answers one client request from `remote`.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        remote: Option<SocketAddr>,
    ) -> Response<ProxyBody> {
        if self.config.readonly && request.method() != Method::GET {
            return answer(StatusCode::NOT_IMPLEMENTED, None, String::new());
        }
        let origin = request
            .headers()
            .get("origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut response = if request.method() == Method::OPTIONS {
            answer(StatusCode::OK, None, String::new())
        } else if request.uri().path() == "/v2/config/local/proxy" {
            self.local_config(request.method())
        } else {
            self.forward(request, remote).await
        };
        self.add_cors(response.headers_mut(), origin);
        response
    }

    /// `GET /v2/config/local/proxy`: the endpoints in use.
    fn local_config(&self, method: &Method) -> Response<ProxyBody> {
        if method != Method::GET {
            let mut r = answer(StatusCode::METHOD_NOT_ALLOWED, None, String::new());
            r.headers_mut()
                .insert("allow", HeaderValue::from_static("GET"));
            return r;
        }
        let body = serde_json::json!({ "endpoints": self.endpoints.all() });
        answer(
            StatusCode::OK,
            Some("text/plain; charset=utf-8"),
            format!("{body}\n"),
        )
    }

    /// etcd adds its CORS headers in front of the proxy, and the member's come on top (they appear twice).
    fn add_cors(&self, headers: &mut HeaderMap, origin: Option<String>) {
        let allowed = if self.config.cors.iter().any(|o| o == "*") {
            Some("*".to_owned())
        } else {
            origin.filter(|o| self.config.cors.contains(o))
        };
        let Some(allowed) = allowed else { return };
        let Ok(allowed) = HeaderValue::from_str(&allowed) else {
            return;
        };
        headers.append(
            "access-control-allow-methods",
            HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE"),
        );
        headers.append("access-control-allow-origin", allowed);
        headers.append(
            "access-control-allow-headers",
            HeaderValue::from_static("accept, content-type, authorization"),
        );
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        remote: Option<SocketAddr>,
    ) -> Response<ProxyBody> {
        let endpoints = self.endpoints.available();
        if endpoints.is_empty() {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "zero endpoints currently available",
            );
        }
        let (parts, body) = request.into_parts();
        // Buffered, so that it can be sent again to the next member.
        let body = match Limited::new(body, self.config.max_request_bytes)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("failed to read the request body: {e}"),
                );
            }
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let mut headers = parts.headers.clone();
        strip_hop_by_hop(&mut headers);
        // Go's reverse proxy adds the client's IP; a client on a Unix socket has none.
        if let Some(remote) = remote {
            let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                Some(earlier) => format!("{earlier}, {}", remote.ip()),
                None => remote.ip().to_string(),
            };
            if let Ok(v) = HeaderValue::from_str(&forwarded) {
                headers.insert("x-forwarded-for", v);
            }
        }
        let is_watch = path_and_query.contains("wait=true");
        for endpoint in &endpoints {
            let uri = format!("{}{path_and_query}", endpoint.trim_end_matches('/'));
            let mut builder = Request::builder().method(parts.method.clone()).uri(&uri);
            if let Some(h) = builder.headers_mut() {
                h.extend(headers.clone());
            }
            let Ok(upstream_request) = builder.body(Full::new(body.clone())) else {
                return error(StatusCode::BAD_REQUEST, "invalid request");
            };
            let sent = self.upstream.request(upstream_request);
            // A watch waits as long as it must (etcd's read timeout of 0); other requests get an answer
            // within the write timeout or the member counts as failed.
            let limit = if is_watch {
                self.config.read_timeout
            } else {
                Some(self.config.write_timeout + self.config.read_timeout.unwrap_or_default())
            };
            let outcome = match limit {
                Some(limit) if !limit.is_zero() => tokio::time::timeout(limit, sent)
                    .await
                    .map_err(|_| UpstreamError::Timeout)
                    .and_then(|r| r.map_err(UpstreamError::Client)),
                _ => sent.await.map_err(UpstreamError::Client),
            };
            match outcome {
                Ok(response) => {
                    let (mut parts, body) = response.into_parts();
                    strip_hop_by_hop(&mut parts.headers);
                    return Response::from_parts(parts, body.boxed_unsync());
                }
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint, "proxy: {e}");
                    self.endpoints.mark_failed(endpoint);
                }
            }
        }
        error(
            StatusCode::BAD_GATEWAY,
            &format!(
                "unable to get response from {} endpoint(s)",
                endpoints.len()
            ),
        )
    }
}

/// Why a member gave no answer.
#[derive(Debug, thiserror::Error)]
enum UpstreamError {
    #[error("{0}")]
    Client(hyper_util::client::legacy::Error),
    #[error("no answer within the proxy timeout")]
    Timeout,
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    for name in named {
        headers.remove(name);
    }
}

/// Keeps the endpoint list fresh: asks the peers for the members every `refresh_interval` (every second
/// while there is no endpoint) and saves the peer URLs.
pub(crate) async fn refresh_forever(
    proxy: Arc<Proxy>,
    peers: Arc<dyn crate::members::MemberSource>,
) {
    loop {
        let peer_urls = proxy.endpoints.peer_urls();
        match peers.members(&peer_urls).await {
            Ok((client_urls, new_peer_urls)) => {
                if let Some(file) = &proxy.config.cluster_file
                    && let Err(e) = crate::cluster_file::save(file, &new_peer_urls)
                {
                    tracing::warn!("proxy: {e}");
                }
                proxy.endpoints.replace(client_urls, new_peer_urls);
            }
            Err(e) => tracing::warn!("proxy: could not refresh the member list: {e}"),
        }
        let wait = if proxy.endpoints.all().is_empty() {
            Duration::from_secs(1)
        } else {
            proxy.config.refresh_interval
        };
        tokio::time::sleep(wait).await;
    }
}
