//! Routing of client requests, with the behaviour of Go's `ServeMux` that clients see: CORS on every
//! response, `OPTIONS` answered for any path, `301` to the cleaned path, `404` and `405` as etcd writes them.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;

use crate::form::unescape;
use crate::keys;
use crate::respond::{self, ResponseBody};
use etcd_api::v2::{Backend, Member, MemberError};

/// Answers one client request.
pub async fn route(
    backend: Arc<dyn Backend>,
    request: Request<Incoming>,
) -> Response<ResponseBody> {
    let origin = request
        .headers()
        .get("Origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut response = route_inner(backend.as_ref(), request).await;
    add_cors(backend.as_ref(), origin, &mut response);
    response
}

/// etcd's CORS headers on a client response: `*` allows any origin; a list echoes the request's origin when it
/// is on the list.
pub fn add_cors(
    backend: &dyn Backend,
    origin: Option<String>,
    response: &mut Response<ResponseBody>,
) {
    let origins = backend.cors_origins();
    let allowed = if origins.iter().any(|o| o == "*") {
        Some("*".to_owned())
    } else {
        origin.filter(|o| origins.contains(o))
    };
    if let Some(allowed) = allowed {
        respond::set(
            response,
            "Access-Control-Allow-Methods",
            "POST, GET, OPTIONS, PUT, DELETE",
        );
        respond::set(response, "Access-Control-Allow-Origin", allowed);
        respond::set(
            response,
            "Access-Control-Allow-Headers",
            "accept, content-type, authorization",
        );
    }
}

async fn route_inner(backend: &dyn Backend, request: Request<Incoming>) -> Response<ResponseBody> {
    let method = request.method().clone();
    if method == Method::OPTIONS {
        return respond::with_status(StatusCode::OK, respond::empty());
    }
    let raw_path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let Ok(path) = unescape(&raw_path, false) else {
        return respond::text(StatusCode::BAD_REQUEST, "400 Bad Request");
    };
    let cleaned = clean_path(&path);
    if cleaned != path {
        let location = if query.is_empty() {
            cleaned
        } else {
            format!("{cleaned}?{query}")
        };
        // Go's http.Redirect: GET gets a small HTML body, GET and HEAD its content type.
        let body = if method == Method::GET {
            respond::full(format!(
                "<a href=\"{}\">Moved Permanently</a>.\n\n",
                html_escape(&location)
            ))
        } else {
            respond::empty()
        };
        let mut r = respond::with_status(StatusCode::MOVED_PERMANENTLY, body);
        if matches!(method, Method::GET | Method::HEAD) {
            respond::set(&mut r, "Content-Type", "text/html; charset=utf-8");
        }
        respond::set(&mut r, "Location", location);
        return r;
    }
    let content_type = request
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let credentials = credentials(backend, &request);
    if path == "/v2/keys" || path.starts_with("/v2/keys/") {
        let key = &path["/v2/keys".len()..];
        return keys::handle(
            backend,
            &method,
            key,
            &query,
            content_type.as_deref(),
            &credentials,
            request.into_body(),
        )
        .await;
    }
    if let Some(rest) = path.strip_prefix("/v2/auth").filter(|r| r.starts_with('/')) {
        return crate::auth_api::handle(backend, &method, rest, &credentials, request.into_body())
            .await;
    }
    match path.as_str() {
        "/version" => get_only(&method, || {
            let etcd_api::v2::Versions { server, cluster } = backend.versions();
            respond::json(
                StatusCode::OK,
                format!(r#"{{"etcdserver":"{server}","etcdcluster":"{cluster}"}}"#),
            )
        }),
        "/health" => crate::health::health(backend, &method, &query).await,
        "/livez" => crate::health::probe(backend, &method, &query, false).await,
        "/readyz" => crate::health::probe(backend, &method, &query, true).await,
        "/v2/stats/store" => get_only(&method, || {
            respond::json(
                StatusCode::OK,
                crate::stats::store_json(&backend.store_stats()),
            )
        }),
        "/v2/stats/self" => get_only(&method, || {
            respond::json(
                StatusCode::OK,
                crate::stats::self_json(&backend.self_stats()),
            )
        }),
        "/v2/stats/leader" => get_only(&method, || match backend.leader_stats() {
            Some(stats) => respond::json(StatusCode::OK, crate::stats::leader_json(&stats)),
            None => respond::json_message(StatusCode::FORBIDDEN, "not current leader"),
        }),
        "/v2/machines" => {
            if !matches!(method, Method::GET | Method::HEAD) {
                return not_allowed("GET,HEAD");
            }
            let mut urls: Vec<String> = backend
                .members()
                .into_iter()
                .flat_map(|m| m.client_urls)
                .collect();
            urls.sort();
            let mut r = respond::with_status(StatusCode::OK, respond::full(urls.join(", ")));
            respond::set(&mut r, "Content-Type", "text/plain; charset=utf-8");
            r
        }
        "/metrics" => get_only(&method, || {
            let text = crate::metrics_text::write(&backend.metrics());
            let mut r = respond::with_status(StatusCode::OK, respond::full(text));
            respond::set(&mut r, "Content-Type", crate::metrics_text::CONTENT_TYPE);
            r
        }),
        _ if path == "/v2/members" || path.starts_with("/v2/members/") => {
            // Reading the members is anyone's; changing them is root's once v2 auth is on.
            let reads = matches!(method, Method::GET | Method::HEAD);
            let auth = crate::v2auth::V2Auth { backend };
            if !reads && !auth.has_root_access(&credentials).await {
                return respond::json_message(StatusCode::UNAUTHORIZED, "Insufficient credentials");
            }
            members(
                backend,
                &method,
                &path["/v2/members".len()..],
                content_type.as_deref(),
                request.into_body(),
            )
            .await
        }
        _ => respond::text(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// Who a request says it comes from (`Authorization: Basic`, or the client certificate's CN with
/// `--client-cert-auth`).
fn credentials(backend: &dyn Backend, request: &Request<Incoming>) -> crate::v2auth::Credentials {
    let authorization = request
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok());
    let common_name = request
        .extensions()
        .get::<etcd_tls::ClientCommonName>()
        .filter(|_| backend.client_cert_auth())
        .map(|cn| cn.0.as_str());
    crate::v2auth::Credentials::of(authorization, common_name)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn get_only(
    method: &Method,
    answer: impl FnOnce() -> Response<ResponseBody>,
) -> Response<ResponseBody> {
    if *method == Method::GET {
        answer()
    } else {
        not_allowed("GET")
    }
}

pub(crate) fn not_allowed(allow: &str) -> Response<ResponseBody> {
    let mut r = respond::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    respond::set(&mut r, "Allow", allow);
    r
}

/// Go's `ServeMux` path cleaning: `path.Clean`, keeping a trailing slash.
fn clean_path(p: &str) -> String {
    let mut out = etcd_api::v2::clean_path(p);
    if out != "/" && p.ends_with('/') {
        out.push('/');
    }
    out
}

fn member_json(m: &Member) -> String {
    let mut out = format!(r#"{{"id":"{:x}","name":"#, m.id);
    etcd_api::v2::json::write_string(&mut out, &m.name);
    out.push_str(r#","peerURLs":"#);
    string_array(&mut out, &m.peer_urls);
    out.push_str(r#","clientURLs":"#);
    string_array(&mut out, &m.client_urls);
    out.push('}');
    out
}

fn string_array(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        etcd_api::v2::json::write_string(out, item);
    }
    out.push(']');
}

#[derive(Deserialize)]
struct PeerUrls {
    /// Missing reads as empty, as Go decodes it, so it gets etcd's "no valid URLs given".
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
}

fn member_error(e: MemberError) -> Response<ResponseBody> {
    match e {
        MemberError::NotFound(id) => {
            respond::json_message(StatusCode::NOT_FOUND, &format!("No such member: {id:x}"))
        }
        MemberError::Removed(id) => respond::json_message(
            StatusCode::GONE,
            &format!("Member permanently removed: {id:x}"),
        ),
        MemberError::PeerUrlExists => {
            respond::json_message(StatusCode::CONFLICT, "membership: peerURL exists")
        }
        MemberError::IdExists => {
            respond::json_message(StatusCode::CONFLICT, "membership: ID exists")
        }
        MemberError::NotEnoughStarted
        | MemberError::Unhealthy
        | MemberError::TooManyLearners
        | MemberError::Internal => {
            respond::json_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

async fn read_peer_urls(
    content_type: Option<&str>,
    body: Incoming,
) -> Result<Vec<String>, Response<ResponseBody>> {
    let ct = content_type.unwrap_or_default();
    if ct.split(';').next().unwrap_or_default().trim() != "application/json" {
        return Err(respond::json_message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Bad Content-Type {ct}, accept application/json"),
        ));
    }
    let bytes: Bytes = match http_body_util::Limited::new(body, 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Err(respond::json_message(
                StatusCode::BAD_REQUEST,
                &e.to_string(),
            ));
        }
    };
    let urls: PeerUrls = serde_json::from_slice(&bytes)
        .map_err(|e| respond::json_message(StatusCode::BAD_REQUEST, &e.to_string()))?;
    etcd_api::v2::checked_peer_urls(urls.peer_urls)
        .map_err(|e| respond::json_message(StatusCode::BAD_REQUEST, &e))
}

async fn members(
    backend: &dyn Backend,
    method: &Method,
    rest: &str,
    content_type: Option<&str>,
    body: Incoming,
) -> Response<ResponseBody> {
    let cluster_id = backend.cluster_id();
    let id_part = rest.trim_start_matches('/');
    let mut response = match (method.clone(), id_part) {
        (Method::GET, "") => {
            let list: Vec<String> = backend.members().iter().map(member_json).collect();
            respond::json(
                StatusCode::OK,
                format!("{{\"members\":[{}]}}\n", list.join(",")),
            )
        }
        (Method::GET, "leader") => match backend.leader() {
            Some(m) => respond::json(StatusCode::OK, format!("{}\n", member_json(&m))),
            None => respond::json_message(StatusCode::SERVICE_UNAVAILABLE, "During election"),
        },
        (Method::GET, _) => respond::json_message(StatusCode::NOT_FOUND, "Not found"),
        (Method::POST, "") => match read_peer_urls(content_type, body).await {
            Ok(urls) => match backend.add_member(urls).await {
                Ok(m) => respond::json(StatusCode::CREATED, format!("{}\n", member_json(&m))),
                Err(e) => member_error(e),
            },
            Err(r) => r,
        },
        (Method::DELETE | Method::PUT, "") => not_allowed("GET,POST,DELETE,PUT"),
        (Method::DELETE, id) => match u64::from_str_radix(id, 16) {
            Ok(id) => match backend.remove_member(id).await {
                Ok(()) => respond::with_status(StatusCode::NO_CONTENT, respond::empty()),
                Err(e) => member_error(e),
            },
            Err(_) => {
                respond::json_message(StatusCode::NOT_FOUND, &format!("No such member: {id}"))
            }
        },
        (Method::PUT, id) => match u64::from_str_radix(id, 16) {
            Ok(id) => match read_peer_urls(content_type, body).await {
                Ok(urls) => match backend.update_member(id, urls).await {
                    Ok(()) => respond::with_status(StatusCode::NO_CONTENT, respond::empty()),
                    Err(e) => member_error(e),
                },
                Err(r) => r,
            },
            Err(_) => {
                respond::json_message(StatusCode::NOT_FOUND, &format!("No such member: {id}"))
            }
        },
        _ => return not_allowed("GET,POST,DELETE,PUT"),
    };
    respond::set_cluster_id(&mut response, cluster_id);
    response
}

/// Answers the peer-port endpoints other members and proxies use: `GET /members` (a JSON array with numeric
/// IDs) and `GET /version`. Raft traffic is routed before this; anything else is `404`.
pub async fn route_peer(
    backend: Arc<dyn Backend>,
    request: Request<Incoming>,
) -> Response<ResponseBody> {
    let method = request.method().clone();
    match request.uri().path() {
        "/members" => {
            if method != Method::GET {
                return not_allowed("GET");
            }
            let list: Vec<String> = backend
                .members()
                .iter()
                .map(|m| {
                    let mut out = format!(r#"{{"id":{},"peerURLs":"#, m.id);
                    string_array(&mut out, &m.peer_urls);
                    out.push_str(r#","name":"#);
                    etcd_api::v2::json::write_string(&mut out, &m.name);
                    out.push_str(r#","clientURLs":"#);
                    string_array(&mut out, &m.client_urls);
                    out.push('}');
                    out
                })
                .collect();
            let mut r = respond::json(StatusCode::OK, format!("[{}]\n", list.join(",")));
            respond::set_cluster_id(&mut r, backend.cluster_id());
            r
        }
        "/version" => get_only(&method, || {
            let etcd_api::v2::Versions { server, cluster } = backend.versions();
            respond::json(
                StatusCode::OK,
                format!(r#"{{"etcdserver":"{server}","etcdcluster":"{cluster}"}}"#),
            )
        }),
        _ => respond::text(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_clean_like_go_servemux() {
        assert_eq!(clean_path("/v2/keys//a"), "/v2/keys/a");
        assert_eq!(clean_path("/v2/keys/./a"), "/v2/keys/a");
        assert_eq!(clean_path("/v2/keys/a/../b"), "/v2/keys/b");
        assert_eq!(clean_path("/v2/keys/k5/"), "/v2/keys/k5/");
        assert_eq!(clean_path("/v2/keys"), "/v2/keys");
        assert_eq!(clean_path("/"), "/");
    }

    #[test]
    fn members_render_like_etcd() {
        let m = Member {
            id: 0x2e1259d415f2a040,
            name: "probe".into(),
            peer_urls: vec!["http://127.0.0.1:23800".into()],
            client_urls: vec![],
        };
        assert_eq!(
            member_json(&m),
            r#"{"id":"2e1259d415f2a040","name":"probe","peerURLs":["http://127.0.0.1:23800"],"clientURLs":[]}"#
        );
    }
}
