//! `/health` (etcd 3.5's JSON answer) and `/livez`, `/readyz` (Kubernetes-style probes, with etcd 3.6's check
//! names), written from what the backend reports.
//!
//! `/health?exclude=NOSPACE&exclude=…` ignores those alarms, `?serializable=true` makes the read member-local.
//! `/livez` and `/readyz` answer `ok` (200) when every check passes; `?verbose` lists the checks; `?exclude=<check>`
//! skips one; a failure answers 503 with every check listed (its reason only with `?verbose`).

use hyper::{Method, Response, StatusCode};

use crate::Backend;
use crate::respond::{self, ResponseBody};

/// Every value of `name` in `query`, in order (Go's `Query()[name]`).
fn values(query: &str, name: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            let n = crate::form::unescape(n, true).ok()?;
            (n == name).then(|| crate::form::unescape(v, true).ok())?
        })
        .collect()
}

/// `GET /health`.
pub(crate) async fn health(
    backend: &dyn Backend,
    method: &Method,
    query: &str,
) -> Response<ResponseBody> {
    if method != Method::GET {
        return crate::router::not_allowed("GET");
    }
    let excluded = values(query, "exclude");
    let serializable = values(query, "serializable")
        .first()
        .is_some_and(|v| v == "true");
    match backend.health(excluded, serializable).await {
        None => {
            let mut r = respond::with_status(
                StatusCode::OK,
                respond::full(r#"{"health":"true","reason":""}"#),
            );
            respond::set(&mut r, "Content-Type", "text/plain; charset=utf-8");
            r
        }
        Some(reason) => {
            let body = serde_json::json!({ "health": "false", "reason": reason }).to_string();
            respond::text(StatusCode::SERVICE_UNAVAILABLE, &body)
        }
    }
}

/// `GET /livez` (`ready` false) or `/readyz`.
pub(crate) async fn probe(
    backend: &dyn Backend,
    method: &Method,
    query: &str,
    ready: bool,
) -> Response<ResponseBody> {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return crate::router::not_allowed("GET");
    }
    let what = if ready { "readyz" } else { "livez" };
    let verbose = query
        .split('&')
        .any(|p| p == "verbose" || p.starts_with("verbose="));
    let excluded = values(query, "exclude");
    let mut lines = String::new();
    let mut failed = false;
    for (name, failure) in backend.probes(ready).await {
        if excluded.iter().any(|e| e == name) {
            lines.push_str(&format!("[+]{name} excluded: ok\n"));
            continue;
        }
        match failure {
            None => lines.push_str(&format!("[+]{name} ok\n")),
            Some(reason) => {
                failed = true;
                let reason = if verbose {
                    reason.as_str()
                } else {
                    "reason withheld"
                };
                lines.push_str(&format!("[-]{name} failed: {reason}\n"));
            }
        }
    }
    let (status, body) = match (failed, verbose) {
        (true, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{lines}{what} check failed\n"),
        ),
        (false, true) => (StatusCode::OK, format!("{lines}{what} check passed\n")),
        (false, false) => (StatusCode::OK, "ok".to_owned()),
    };
    let mut r = respond::with_status(status, respond::full(body));
    respond::set(&mut r, "Content-Type", "text/plain; charset=utf-8");
    respond::set(&mut r, "X-Content-Type-Options", "nosniff");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_query_values_are_all_read() {
        assert_eq!(
            values(
                "exclude=NOSPACE&serializable=true&exclude=CORRUPT",
                "exclude"
            ),
            vec!["NOSPACE", "CORRUPT"]
        );
        assert!(values("verbose", "exclude").is_empty());
    }
}
