//! Building responses the way etcd writes them.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use etcd_api::v2::{Error, Event};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame};
use hyper::{Response, StatusCode};

use etcd_api::v2::{EventStream, RaftPosition};

/// The body of every response.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).boxed_unsync()
}

pub(crate) fn empty() -> ResponseBody {
    Empty::new().boxed_unsync()
}

pub(crate) fn with_status(status: StatusCode, body: ResponseBody) -> Response<ResponseBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

/// `text/plain` errors as Go's `http.Error` writes them (with a trailing newline).
pub(crate) fn text(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let mut r = with_status(status, full(format!("{message}\n")));
    set(&mut r, "Content-Type", "text/plain; charset=utf-8");
    set(&mut r, "X-Content-Type-Options", "nosniff");
    r
}

/// `{"message":...}` JSON errors (members and stats endpoints), without a trailing newline.
pub(crate) fn json_message(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let mut body = String::from("{\"message\":");
    etcd_api::v2::json::write_string(&mut body, message);
    body.push('}');
    json(status, body)
}

pub(crate) fn json(status: StatusCode, body: String) -> Response<ResponseBody> {
    let mut r = with_status(status, full(body));
    set(&mut r, "Content-Type", "application/json");
    r
}

pub(crate) fn set(r: &mut Response<ResponseBody>, name: &'static str, value: impl AsRef<str>) {
    if let Ok(v) = hyper::header::HeaderValue::from_str(value.as_ref()) {
        r.headers_mut().insert(name, v);
    }
}

pub(crate) fn set_cluster_id(r: &mut Response<ResponseBody>, cluster_id: u64) {
    set(r, "X-Etcd-Cluster-Id", format!("{cluster_id:x}"));
}

/// A v2 error: its status, JSON body with a trailing newline, and `X-Etcd-Index`.
pub(crate) fn v2_error(err: &Error, cluster_id: u64) -> Response<ResponseBody> {
    let err = err.without_prefix(etcd_api::v2::KEYS_PREFIX);
    let status = StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json(status, format!("{}\n", err.to_json()));
    set(&mut r, "X-Etcd-Index", err.index.to_string());
    set_cluster_id(&mut r, cluster_id);
    r
}

/// The headers of a successful keys response.
pub(crate) fn keys_headers(
    r: &mut Response<ResponseBody>,
    etcd_index: u64,
    raft: RaftPosition,
    cluster_id: u64,
) {
    set(r, "Content-Type", "application/json");
    set(r, "X-Etcd-Index", etcd_index.to_string());
    set(r, "X-Raft-Index", raft.index.to_string());
    set(r, "X-Raft-Term", raft.term.to_string());
    set_cluster_id(r, cluster_id);
}

/// An event's JSON as a response line: `/1` cut off, a trailing newline; only the action when
/// `no_value_on_success` applies.
pub(crate) fn event_line(event: &Event, no_value_on_success: bool) -> String {
    use etcd_api::v2::Action;
    let hides = no_value_on_success
        && matches!(
            event.action,
            Action::Set | Action::Create | Action::Update | Action::CompareAndSwap
        );
    if hides {
        return format!("{{\"action\":\"{}\"}}\n", event.action.as_str());
    }
    format!(
        "{}\n",
        event.without_prefix(etcd_api::v2::KEYS_PREFIX).to_json()
    )
}

/// A watch's body: each event as a line, flushed as it comes; a one-shot watch ends after its first.
pub(crate) struct WatchBody {
    pub events: Box<dyn EventStream>,
    pub stream: bool,
    pub done: bool,
}

impl Body for WatchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.events.poll_event(cx) {
            Poll::Ready(Some(event)) => {
                if !self.stream {
                    self.done = true;
                }
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(event_line(
                    &event, false,
                ))))))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
