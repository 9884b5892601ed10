//! Request messages in JSON: one document for unary and server-streaming calls, a sequence of documents for
//! the bidirectional ones.
//!
//! proto3's JSON mapping reads `null` as the field's default; the generated readers refuse it for some field
//! types, so nulls are taken out of objects before a document is read as its message. A body larger than the
//! gateway's limit is refused with the code etcd's gRPC refuses a message above its limit with.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Request;
use super::reply::{Answer, error};

/// The body's one document (an empty body is the empty message); a body that is not the message is answered
/// with InvalidArgument, as grpc-gateway answers it.
pub(super) async fn read_one<T: DeserializeOwned + Default>(request: Request) -> Result<T, Answer> {
    let limit = request.json_limit;
    let body: Bytes = match http_body_util::Limited::new(request.body, limit)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(too_large(limit));
        }
        Err(e) => return Err(error(tonic::Code::InvalidArgument, &e.to_string())),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body)
        .and_then(message)
        .map_err(|e| error(tonic::Code::InvalidArgument, &e.to_string()))
}

fn too_large(limit: usize) -> Answer {
    error(
        tonic::Code::ResourceExhausted,
        &format!("gateway: request body larger than max ({limit} bytes)"),
    )
}

/// A document as its message, nulls read as defaults.
fn message<T: DeserializeOwned + Default>(mut document: Value) -> serde_json::Result<T> {
    if document.is_null() {
        return Ok(T::default());
    }
    drop_nulls(&mut document);
    serde_json::from_value(document)
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|_, v| !v.is_null());
            fields.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// The documents of a request body, one at a time, as they arrive.
pub(super) struct Documents {
    request: Request,
    buffer: Vec<u8>,
    ended: bool,
}

impl Documents {
    pub(super) fn new(request: Request) -> Self {
        Self {
            request,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// The next document as a `T`; `Ok(None)` at the end of the body, `Err` for a document that is not a `T`
    /// (or a body that breaks off inside one).
    pub(super) async fn next<T: DeserializeOwned + Default>(
        &mut self,
    ) -> Result<Option<T>, String> {
        loop {
            let mut documents =
                serde_json::Deserializer::from_slice(&self.buffer).into_iter::<Value>();
            match documents.next() {
                Some(Ok(document)) => {
                    let used = documents.byte_offset();
                    self.buffer.drain(..used);
                    return message(document).map(Some).map_err(|e| e.to_string());
                }
                Some(Err(e)) if !e.is_eof() || self.ended => return Err(e.to_string()),
                None if self.ended => return Ok(None),
                _ => {}
            }
            if self.buffer.len() > self.request.json_limit {
                return Err(format!(
                    "gateway: a message larger than max ({} bytes)",
                    self.request.json_limit
                ));
            }
            let body = &mut self.request.body;
            match std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(e.to_string()),
                None => self.ended = true,
            }
        }
    }
}
