//! The gateway's answers: JSON documents, grpc-gateway's error bodies and HTTP statuses, Go's plain-text errors.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::StatusCode;
use serde::Serialize;

pub(super) type Answer = hyper::Response<etcd_http::ResponseBody>;

/// `{"error","code","message"}` with the HTTP status grpc-gateway gives the code.
pub(super) fn error(code: tonic::Code, message: &str) -> Answer {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
        code: i32,
        message: &'a str,
    }
    let json = serde_json::to_string(&Error {
        error: message,
        code: code as i32,
        message,
    })
    .unwrap_or_default();
    json_answer(http_status(code), json)
}

pub(super) fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code as C;
    match code {
        C::Ok => StatusCode::OK,
        C::Cancelled => StatusCode::REQUEST_TIMEOUT,
        C::InvalidArgument | C::FailedPrecondition | C::OutOfRange => StatusCode::BAD_REQUEST,
        C::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        C::NotFound => StatusCode::NOT_FOUND,
        C::AlreadyExists | C::Aborted => StatusCode::CONFLICT,
        C::PermissionDenied => StatusCode::FORBIDDEN,
        C::Unauthenticated => StatusCode::UNAUTHORIZED,
        C::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        C::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        C::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::Unknown | C::Internal | C::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub(super) fn json_answer(status: StatusCode, json: String) -> Answer {
    let mut r = hyper::Response::new(
        http_body_util::Full::new(Bytes::from(json))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A plain-text answer as Go's `http.Error` writes it.
pub(super) fn plain(status: StatusCode, text: &str) -> Answer {
    let mut r = hyper::Response::new(
        http_body_util::Full::new(Bytes::from(format!("{text}\n")))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        "X-Content-Type-Options",
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    r
}

/// One message of a stream: `{"result": …}` and a newline.
pub(super) fn result_line<M: Serialize>(message: &M) -> Bytes {
    #[derive(Serialize)]
    struct Chunk<'a, M> {
        result: &'a M,
    }
    match serde_json::to_vec(&Chunk { result: message }) {
        Ok(mut line) => {
            line.push(b'\n');
            Bytes::from(line)
        }
        Err(e) => stream_error(&tonic::Status::internal(e.to_string())),
    }
}

/// A stream that failed: grpc-gateway's stream error, `{"error":{"grpc_code","http_code","message","http_status"}}`
/// (no newline after it: it is the last thing written).
pub(super) fn stream_error(status: &tonic::Status) -> Bytes {
    #[derive(Serialize)]
    struct Inner<'a> {
        grpc_code: i32,
        http_code: u16,
        message: &'a str,
        http_status: &'a str,
    }
    #[derive(Serialize)]
    struct Chunk<'a> {
        error: Inner<'a>,
    }
    let http = http_status(status.code());
    let chunk = Chunk {
        error: Inner {
            grpc_code: status.code() as i32,
            http_code: http.as_u16(),
            message: status.message(),
            http_status: http.canonical_reason().unwrap_or_default(),
        },
    };
    Bytes::from(serde_json::to_vec(&chunk).unwrap_or_default())
}
