//! Streaming calls through the gateway, as grpc-gateway serves them.
//!
//! - The request of a bidirectional call (Watch, LeaseKeepAlive) is a sequence of JSON documents in the body,
//!   each sent as one message as soon as it has arrived. A first document that is not the message fails the
//!   call (code Unknown, as etcd answers); a later one ends the sending side, as the end of the body does.
//! - A server-streaming call (Snapshot, Observe) reads one JSON document, as a unary call does.
//! - The answer waits for the first reply (grpc-gateway waits for the stream's headers, which grpc sends with
//!   the first message), then is chunked: one `{"result": …}` line per reply, and grpc-gateway's stream error
//!   if the call fails. A client that goes away cancels the call.

use hyper::StatusCode;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tonic::service::Routes;

use super::Request;
use super::grpc::{self, ChannelBody, Replies};
use super::json::{Documents, read_one};
use super::reply::{self, Answer, error};

/// Replies queued between the call and a slow HTTP client before the call waits.
const QUEUED: usize = 16;

/// A bidirectional call.
pub(super) async fn bidi<Req, Resp>(
    routes: Routes,
    path: &'static str,
    body: Request,
    token: Option<hyper::header::HeaderValue>,
) -> Answer
where
    Req: Message + DeserializeOwned + Default + 'static,
    Resp: Message + Serialize + Default + 'static,
{
    let mut documents = Documents::new(body);
    let first = match documents.next::<Req>().await {
        Ok(first) => first,
        Err(e) => return error(tonic::Code::Unknown, &e),
    };
    let (tx, rx) = mpsc::channel(QUEUED);
    if let Some(first) = first {
        // The channel is empty: this send does not wait.
        let _ = tx.send(grpc::frame(&first)).await;
        tokio::spawn(async move {
            while let Ok(Some(request)) = documents.next::<Req>().await {
                if tx.send(grpc::frame(&request)).await.is_err() {
                    break;
                }
            }
        });
    } else {
        // No message: the call's sending side is closed from the start.
        drop(tx);
    }
    answer::<Resp>(grpc::call(routes, path, token, tonic::body::Body::new(ChannelBody(rx))).await)
        .await
}

/// A server-streaming call.
pub(super) async fn server_stream<Req, Resp>(
    routes: Routes,
    path: &'static str,
    body: Request,
    token: Option<hyper::header::HeaderValue>,
) -> Answer
where
    Req: Message + DeserializeOwned + Default,
    Resp: Message + Serialize + Default + 'static,
{
    let request: Req = match read_one(body).await {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    let body = tonic::body::Body::new(http_body_util::Full::new(grpc::frame(&request)));
    answer::<Resp>(grpc::call(routes, path, token, body).await).await
}

/// The HTTP answer to a streaming call: after its first reply, each reply as it comes.
async fn answer<Resp>(call: Result<Replies, tonic::Status>) -> Answer
where
    Resp: Message + Serialize + Default + 'static,
{
    let mut replies = match call {
        Ok(replies) => replies,
        Err(status) => return failed(&status),
    };
    let first = match replies.next::<Resp>().await {
        Ok(Some(first)) => reply::result_line(&first),
        // No message came, so no headers either: grpc-gateway has no metadata to forward.
        Ok(None) => return chunked(StatusCode::OK, ChannelBody(mpsc::channel(1).1), false),
        Err(status) => return failed(&status),
    };
    let (tx, rx) = mpsc::channel(QUEUED);
    let _ = tx.send(first).await;
    tokio::spawn(async move {
        loop {
            let line = tokio::select! {
                () = tx.closed() => break,
                next = replies.next::<Resp>() => match next {
                    Ok(Some(reply)) => reply::result_line(&reply),
                    Ok(None) => break,
                    Err(status) => reply::stream_error(&status),
                },
            };
            if tx.send(line).await.is_err() {
                break;
            }
        }
    });
    chunked(StatusCode::OK, ChannelBody(rx), true)
}

/// A call that failed before its first reply: the stream error, with the code's HTTP status.
fn failed(status: &tonic::Status) -> Answer {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(reply::stream_error(status));
    chunked(reply::http_status(status.code()), ChannelBody(rx), false)
}

fn chunked(status: StatusCode, body: ChannelBody, grpc_metadata: bool) -> Answer {
    let mut r = hyper::Response::new(http_body_util::BodyExt::boxed_unsync(body));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if grpc_metadata {
        headers.insert(
            "Grpc-Metadata-Content-Type",
            hyper::header::HeaderValue::from_static("application/grpc"),
        );
    }
    r
}
