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

/// Gateway bodies come from clients: any JSON document becomes its message or a decoding error, never a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use etcd_proto::etcdserverpb as pb;
    use proptest::prelude::*;

    /// Field names the messages have, so that documents reach the fields' readers, not only "unknown field".
    const NAMES: &[&str] = &[
        "key",
        "range_end",
        "rangeEnd",
        "value",
        "lease",
        "limit",
        "revision",
        "sort_order",
        "sortOrder",
        "serializable",
        "keys_only",
        "count_only",
        "min_mod_revision",
        "compare",
        "success",
        "failure",
        "request_put",
        "requestPut",
        "request_range",
        "result",
        "target",
        "version",
        "create_revision",
        "create_request",
        "createRequest",
        "cancel_request",
        "watch_id",
        "filters",
        "prev_kv",
        "TTL",
        "ID",
        "name",
        "password",
        "physical",
        "progress_request",
        "fragment",
        "ignore_value",
        "ignore_lease",
    ];

    fn document() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[A-Za-z0-9+/=_ -]{0,12}".prop_map(Value::String),
            Just(Value::String("9223372036854775808".into())),
            Just(Value::String("-1".into())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((proptest::sample::select(NAMES), inner), 0..6).prop_map(
                    |fields| Value::Object(
                        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                    )
                ),
            ]
        })
    }

    fn read_as_every_message(document: &Value) {
        let _ = message::<pb::RangeRequest>(document.clone());
        let _ = message::<pb::PutRequest>(document.clone());
        let _ = message::<pb::DeleteRangeRequest>(document.clone());
        let _ = message::<pb::TxnRequest>(document.clone());
        let _ = message::<pb::CompactionRequest>(document.clone());
        let _ = message::<pb::WatchRequest>(document.clone());
        let _ = message::<pb::LeaseGrantRequest>(document.clone());
        let _ = message::<pb::LeaseKeepAliveRequest>(document.clone());
        let _ = message::<pb::AuthenticateRequest>(document.clone());
        let _ = message::<pb::AuthRoleGrantPermissionRequest>(document.clone());
        let _ = message::<pb::MemberAddRequest>(document.clone());
        let _ = message::<pb::AlarmRequest>(document.clone());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn any_document_is_its_message_or_an_error(document in document()) {
            read_as_every_message(&document);
        }

        #[test]
        fn any_text_is_a_document_or_an_error(text in "\\PC{0,64}") {
            if let Ok(document) = serde_json::from_str::<Value>(&text) {
                read_as_every_message(&document);
            }
        }
    }
}
