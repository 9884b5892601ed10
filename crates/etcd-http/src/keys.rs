//! `/v2/keys`: parameters validated in etcd's order with etcd's errors, turned into a v2 request, and the
//! answer written as etcd writes it (statuses, headers, bodies, watches streamed).

use bytes::Bytes;
use etcd_api::v2::{Action, Error, ErrorCode, KEYS_PREFIX, Method as V2Method, Request};
use http_body_util::BodyExt;
use hyper::{Method, Response, StatusCode};

use crate::form::Form;
use crate::respond::{self, ResponseBody, WatchBody};
use etcd_api::v2::Backend;

/// The largest form body accepted, as Go's `ParseForm` (10 MiB).
pub(crate) const MAX_FORM_BODY: usize = 10 << 20;

/// The validated parameters of one keys request.
struct Params {
    request: Request,
    wait: bool,
    no_value_on_success: bool,
}

fn request_error(code: ErrorCode, cause: &str) -> Error {
    Error::new(code, cause, 0)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn get_bool(form: &Form, name: &str) -> Result<bool, Error> {
    match form.get(name) {
        None => Ok(false),
        Some(v) => parse_bool(v).ok_or_else(|| {
            request_error(
                ErrorCode::InvalidField,
                &format!("invalid value for {name:?}"),
            )
        }),
    }
}

fn get_uint(form: &Form, name: &str, code: ErrorCode) -> Result<u64, Error> {
    match form.get(name) {
        None => Ok(0),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| request_error(code, &format!("invalid value for {name:?}"))),
    }
}

/// etcd's `parseKeyRequest`, check for check, in its order.
fn parse(method: &Method, key: &str, form: &Form, now: i64) -> Result<Params, Error> {
    let prev_index = get_uint(form, "prevIndex", ErrorCode::IndexNaN)?;
    let wait_index = get_uint(form, "waitIndex", ErrorCode::IndexNaN)?;
    let recursive = get_bool(form, "recursive")?;
    let sorted = get_bool(form, "sorted")?;
    let wait = get_bool(form, "wait")?;
    let dir = get_bool(form, "dir")?;
    let quorum = get_bool(form, "quorum")?;
    let stream = get_bool(form, "stream")?;
    if wait && method != Method::GET {
        return Err(request_error(
            ErrorCode::InvalidField,
            r#""wait" can only be used with GET requests"#,
        ));
    }
    let prev_value = form.get("prevValue").unwrap_or_default();
    if form.has("prevValue") && prev_value.is_empty() {
        return Err(request_error(
            ErrorCode::PrevValueRequired,
            r#""prevValue" cannot be empty"#,
        ));
    }
    let no_value_on_success = get_bool(form, "noValueOnSuccess")?;
    let ttl = match form.get("ttl") {
        Some(v) if !v.is_empty() => Some(
            v.parse::<u64>()
                .map_err(|_| request_error(ErrorCode::TtlNaN, r#"invalid value for "ttl""#))?,
        ),
        _ => None,
    };
    let prev_exist = match form.get("prevExist") {
        None => None,
        Some(v) => Some(parse_bool(v).ok_or_else(|| {
            request_error(ErrorCode::InvalidField, "invalid value for prevExist")
        })?),
    };
    let value = form.get("value").unwrap_or_default();
    let refresh = match form.get("refresh") {
        None => None,
        Some(v) => {
            let refresh = parse_bool(v).ok_or_else(|| {
                request_error(ErrorCode::InvalidField, "invalid value for refresh")
            })?;
            if refresh {
                if !value.is_empty() {
                    return Err(request_error(
                        ErrorCode::RefreshValue,
                        "A value was provided on a refresh",
                    ));
                }
                if ttl.is_none() {
                    return Err(request_error(
                        ErrorCode::RefreshTtlRequired,
                        "No TTL value set",
                    ));
                }
            }
            Some(refresh)
        }
    };
    // Go adds ttl seconds as a Duration: an overflow wraps, and the store then treats the time as permanent.
    let expiration = ttl.map_or(0, |t| {
        now.wrapping_add((t as i64).wrapping_mul(1_000_000_000))
    });
    let method = match *method {
        Method::PUT => V2Method::Put,
        Method::POST => V2Method::Post,
        Method::DELETE => V2Method::Delete,
        _ if quorum => V2Method::QGet,
        _ => V2Method::QGet,
    };
    Ok(Params {
        request: Request {
            method,
            path: format!("{KEYS_PREFIX}{key}"),
            val: value.to_owned(),
            dir,
            prev_value: prev_value.to_owned(),
            prev_index,
            prev_exist,
            expiration,
            wait,
            since: wait_index,
            recursive,
            sorted,
            quorum,
            time: 0,
            stream,
            refresh,
            ..Request::default()
        },
        wait,
        no_value_on_success,
    })
}

/// Answers a keys request. `key` is the decoded path after `/v2/keys`; `body` the request body, read only for
/// PUT and POST.
pub(crate) async fn handle(
    backend: &dyn Backend,
    method: &Method,
    key: &str,
    query: &str,
    content_type: Option<&str>,
    credentials: &crate::v2auth::Credentials,
    body: hyper::body::Incoming,
) -> Response<ResponseBody> {
    let cluster_id = backend.cluster_id();
    if !matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::POST | Method::DELETE
    ) {
        let mut r = respond::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        respond::set(&mut r, "Allow", "HEAD,GET,PUT,POST,DELETE");
        return r;
    }
    let is_form = content_type
        .map(|ct| ct.split(';').next().unwrap_or_default().trim())
        .is_some_and(|ct| ct.eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let body_bytes = if matches!(*method, Method::PUT | Method::POST) && is_form {
        match http_body_util::Limited::new(body, MAX_FORM_BODY)
            .collect()
            .await
        {
            Ok(collected) => Some(collected.to_bytes()),
            Err(_) => {
                let err = request_error(ErrorCode::InvalidForm, "http: POST too large");
                return respond::v2_error(&err, cluster_id);
            }
        }
    } else {
        None::<Bytes>
    };
    let form = match Form::parse(query, body_bytes.as_deref()) {
        Ok(form) => form,
        Err(cause) => {
            return respond::v2_error(&request_error(ErrorCode::InvalidForm, &cause), cluster_id);
        }
    };
    let now = etcd_api::unix_nanos();
    let params = match parse(method, key, &form, now) {
        Ok(p) => p,
        Err(e) => return respond::v2_error(&e, cluster_id),
    };
    let write = !matches!(*method, Method::GET | Method::HEAD);
    let auth = crate::v2auth::V2Auth { backend };
    if !auth
        .has_key_access(credentials, key, params.request.recursive, write)
        .await
    {
        return respond::v2_error(&crate::v2auth::keys_refusal(), cluster_id);
    }
    let request = params.request;
    let head = *method == Method::HEAD;

    if *method == Method::GET && params.wait && !request.quorum {
        return match backend.watch(
            &request.path,
            request.recursive,
            request.stream,
            request.since,
        ) {
            Ok((events, etcd_index)) => {
                let body = WatchBody {
                    events,
                    stream: request.stream,
                    done: false,
                };
                let mut r = Response::new(http_body_util::BodyExt::boxed_unsync(body));
                respond::keys_headers(&mut r, etcd_index, backend.raft_position(), cluster_id);
                r
            }
            Err(e) => respond::v2_error(&e, cluster_id),
        };
    }
    let event = if matches!(*method, Method::GET | Method::HEAD) && !request.quorum {
        backend
            .get(&request.path, request.recursive)
            .map(std::sync::Arc::new)
    } else {
        backend.propose(request).await
    };
    match event {
        Ok(event) => {
            let created = event.action == Action::Create
                || (event.action == Action::Set && event.prev_node.is_none());
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let line = respond::event_line(&event, params.no_value_on_success);
            let length = line.len();
            let body = if head {
                respond::empty()
            } else {
                respond::full(line)
            };
            let mut r = respond::with_status(status, body);
            respond::keys_headers(
                &mut r,
                event.etcd_index,
                backend.raft_position(),
                cluster_id,
            );
            if head {
                respond::set(&mut r, "Content-Length", length.to_string());
            }
            r
        }
        // For HEAD, hyper sends the headers of this answer (its Content-Length included, as etcd's) and no body.
        Err(e) => respond::v2_error(&e, cluster_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_query(method: Method, query: &str, body: Option<&[u8]>) -> Result<Params, Error> {
        let form = Form::parse(query, body).expect("form");
        parse(&method, "/k", &form, 1_795_392_000_000_000_000)
    }

    fn code(result: Result<Params, Error>) -> (u16, String) {
        let e = result.err().expect("an error");
        assert_eq!(e.index, 0);
        (e.code.number(), e.cause)
    }

    #[test]
    fn validation_follows_etcds_order_and_messages() {
        assert_eq!(
            code(parse_query(Method::PUT, "prevIndex=x&waitIndex=y", None)),
            (203, r#"invalid value for "prevIndex""#.into())
        );
        assert_eq!(
            code(parse_query(Method::GET, "waitIndex=-1", None)),
            (203, r#"invalid value for "waitIndex""#.into())
        );
        assert_eq!(
            code(parse_query(Method::GET, "recursive=yes", None)),
            (209, r#"invalid value for "recursive""#.into())
        );
        assert_eq!(
            code(parse_query(Method::PUT, "wait=true", None)),
            (209, r#""wait" can only be used with GET requests"#.into())
        );
        assert_eq!(
            code(parse_query(Method::PUT, "prevValue=", None)),
            (201, r#""prevValue" cannot be empty"#.into())
        );
        assert_eq!(
            code(parse_query(Method::PUT, "ttl=-1", None)),
            (202, r#"invalid value for "ttl""#.into())
        );
        assert_eq!(
            code(parse_query(Method::PUT, "prevExist=maybe", None)),
            (209, "invalid value for prevExist".into())
        );
        assert_eq!(
            code(parse_query(
                Method::PUT,
                "refresh=true&ttl=5",
                Some(b"value=x")
            )),
            (211, "A value was provided on a refresh".into())
        );
        assert_eq!(
            code(parse_query(Method::PUT, "refresh=true", None)),
            (212, "No TTL value set".into())
        );
        assert_eq!(
            code(parse_query(Method::PUT, "refresh=nah", None)),
            (209, "invalid value for refresh".into())
        );
        // The first failing check wins.
        assert_eq!(
            code(parse_query(Method::PUT, "ttl=x&prevIndex=x", None)).0,
            203
        );
    }

    #[test]
    fn parameters_become_the_request() {
        let p = parse_query(Method::PUT, "prevExist=true&ttl=5&dir=T", Some(b"value=v"))
            .expect("valid");
        assert_eq!(p.request.method, V2Method::Put);
        assert_eq!(p.request.path, "/1/k");
        assert_eq!(p.request.prev_exist, Some(true));
        assert!(p.request.dir);
        assert_eq!(p.request.expiration, 1_795_392_005_000_000_000);
        let p = parse_query(Method::PUT, "ttl=", None).expect("empty ttl is no ttl");
        assert_eq!(p.request.expiration, 0);
        let p = parse_query(Method::GET, "quorum=true&wait=true", None).expect("valid");
        assert!(p.request.quorum && p.wait);
        let p = parse_query(Method::PUT, "ttl=100000000000", None).expect("valid");
        assert!(
            p.request.expiration < 946_684_800_000_000_000,
            "an overflowing ttl ends up permanent"
        );
    }
}
