//! The bytes of a v2 request in a raft entry: protobuf with etcd's `etcdserverpb.Request` field numbers, plus
//! one field of ours (100, the proposer's clock) so every member shows the same `ttl` for the same entry.

use etcd_api::v2::{Method, Request};
use prost::Message as _;

#[derive(Clone, PartialEq, prost::Message)]
struct WireRequest {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(string, tag = "2")]
    method: String,
    #[prost(string, tag = "3")]
    path: String,
    #[prost(string, tag = "4")]
    val: String,
    #[prost(bool, tag = "5")]
    dir: bool,
    #[prost(string, tag = "6")]
    prev_value: String,
    #[prost(uint64, tag = "7")]
    prev_index: u64,
    #[prost(bool, optional, tag = "8")]
    prev_exist: Option<bool>,
    #[prost(int64, tag = "9")]
    expiration: i64,
    #[prost(bool, tag = "10")]
    wait: bool,
    #[prost(uint64, tag = "11")]
    since: u64,
    #[prost(bool, tag = "12")]
    recursive: bool,
    #[prost(bool, tag = "13")]
    sorted: bool,
    #[prost(bool, tag = "14")]
    quorum: bool,
    #[prost(int64, tag = "15")]
    time: i64,
    #[prost(bool, tag = "16")]
    stream: bool,
    #[prost(bool, optional, tag = "17")]
    refresh: Option<bool>,
    #[prost(int64, tag = "100")]
    proposed_at: i64,
}

/// Encodes a request and the proposer's clock (Unix ns).
pub fn encode(request: &Request, proposed_at: i64) -> Vec<u8> {
    WireRequest {
        id: request.id,
        method: request.method.as_str().to_owned(),
        path: request.path.clone(),
        val: request.val.clone(),
        dir: request.dir,
        prev_value: request.prev_value.clone(),
        prev_index: request.prev_index,
        prev_exist: request.prev_exist,
        expiration: request.expiration,
        wait: request.wait,
        since: request.since,
        recursive: request.recursive,
        sorted: request.sorted,
        quorum: request.quorum,
        time: request.time,
        stream: request.stream,
        refresh: request.refresh,
        proposed_at,
    }
    .encode_to_vec()
}

/// Decodes an entry's request and the proposer's clock; `None` for bytes that are not one.
pub fn decode(bytes: &[u8]) -> Option<(Request, i64)> {
    let w = WireRequest::decode(bytes).ok()?;
    let method = match w.method.as_str() {
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        "QGET" => Method::QGet,
        "SYNC" => Method::Sync,
        _ => return None,
    };
    Some((
        Request {
            id: w.id,
            method,
            path: w.path,
            val: w.val,
            dir: w.dir,
            prev_value: w.prev_value,
            prev_index: w.prev_index,
            prev_exist: w.prev_exist,
            expiration: w.expiration,
            wait: w.wait,
            since: w.since,
            recursive: w.recursive,
            sorted: w.sorted,
            quorum: w.quorum,
            time: w.time,
            stream: w.stream,
            refresh: w.refresh,
        },
        w.proposed_at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_garbage_is_refused() {
        let r = Request {
            id: 7,
            method: Method::Put,
            path: "/1/k".into(),
            val: "v".into(),
            prev_exist: Some(false),
            refresh: Some(true),
            expiration: 123,
            ..Request::default()
        };
        assert_eq!(decode(&encode(&r, 99)), Some((r, 99)));
        assert_eq!(decode(b"\xff\xff"), None);
        let mut bad = WireRequest::decode(&encode(&Request::default(), 0)[..]).expect("decode");
        bad.method = "PATCH".into();
        assert_eq!(decode(&bad.encode_to_vec()), None);
    }
}
