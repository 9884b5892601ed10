//! The gateway's side of a gRPC call to this member's own routing service: each request message sent as a gRPC
//! frame (a 5-byte prefix: not compressed, big-endian length), the replies read back one message at a time.

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::{Body, Frame};
use prost::Message;
use tokio::sync::mpsc;
use tonic::service::Routes;
use tonic::{Code, Status};

/// One message as a gRPC data frame.
pub(super) fn frame(message: &impl Message) -> Bytes {
    let len = message.encoded_len();
    let mut frame = BytesMut::with_capacity(len + 5);
    frame.extend_from_slice(&[0]);
    frame.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    message.encode_raw(&mut frame);
    frame.freeze()
}

/// Calls `path` with `body` (gRPC frames) and the caller's token; an error status that ends the call before
/// any message (a "trailers-only" answer) is returned as the error.
pub(super) async fn call(
    mut routes: Routes,
    path: &'static str,
    token: Option<hyper::header::HeaderValue>,
    body: tonic::body::Body,
) -> Result<Replies, Status> {
    let mut request = hyper::Request::builder()
        .method(hyper::Method::POST)
        .uri(path)
        .header(hyper::header::CONTENT_TYPE, "application/grpc")
        .header("te", "trailers");
    if let Some(token) = token {
        request = request.header(hyper::header::AUTHORIZATION, token);
    }
    let request = request
        .body(body)
        .map_err(|_| Status::internal("gateway: cannot build the request"))?;
    let Ok(response) = tonic::codegen::Service::call(&mut routes, request).await;
    let (mut parts, body) = response.into_parts();
    crate::status::etcd_size_error(&mut parts.headers);
    if let Some(status) = Status::from_header_map(&parts.headers)
        && status.code() != Code::Ok
    {
        return Err(status);
    }
    Ok(Replies {
        body,
        buffer: BytesMut::new(),
        ended: false,
    })
}

/// The messages of a call's answer, in order, then its status.
pub(super) struct Replies {
    body: tonic::body::Body,
    buffer: BytesMut,
    ended: bool,
}

impl Replies {
    /// The next message; `Ok(None)` when the call ended well, `Err` with its status when it failed.
    pub(super) async fn next<M: Message + Default>(&mut self) -> Result<Option<M>, Status> {
        loop {
            if let Some(message) = self.take_frame()? {
                return M::decode(message)
                    .map(Some)
                    .map_err(|e| Status::internal(format!("gateway: {e}")));
            }
            if self.ended {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(Status::internal(
                        "gateway: the answer ended inside a message",
                    ))
                };
            }
            let frame =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut self.body).poll_frame(cx)).await;
            match frame {
                None => self.ended = true,
                Some(Err(status)) => return Err(status),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.buffer.extend_from_slice(&data),
                    Err(frame) => {
                        self.ended = true;
                        if let Some(status) = frame.trailers_ref().and_then(Status::from_header_map)
                            && status.code() != Code::Ok
                        {
                            return Err(status);
                        }
                    }
                },
            }
        }
    }

    /// The next whole message in the buffer, if one has arrived.
    fn take_frame(&mut self) -> Result<Option<Bytes>, Status> {
        let Some(prefix) = self.buffer.get(..5) else {
            return Ok(None);
        };
        if prefix[0] != 0 {
            return Err(Status::internal(
                "gateway: compressed answers are not expected",
            ));
        }
        let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        if self.buffer.len() < 5 + len {
            return Ok(None);
        }
        self.buffer.advance(5);
        Ok(Some(self.buffer.split_to(len).freeze()))
    }
}

/// A body whose data arrives on a channel; it ends when the sender is dropped.
pub(super) struct ChannelBody(pub(super) mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|data| data.map(|d| Ok(Frame::data(d))))
    }
}
