//! What a raft entry carries, in the envelope of `proto/etcdrs/entry.proto` (format version 1): a v2 request
//! with etcd's `etcdserverpb.Request` field numbers, or one v3 request, with the proposer's clock.
//!
//! Members before the envelope wrote a bare v2 request with the proposer's clock in field 100 ("legacy" entries,
//! still found in the logs of data directories they made). [`decode`] reads both: a legacy entry is recognised
//! only when the envelope refuses the bytes and they are a v2 request with a known method. Anything else is an
//! error the apply loop stops on, never an entry it skips.

use etcd_api::v2::{Method, Request};
use etcd_auth::Caller;
use etcd_proto::Message as _;
use etcd_proto::etcdrs::internal_raft_request::Request as Kind;
use etcd_proto::etcdrs::{InternalRaftRequest, RequestHeader, V2Request};

/// A decoded entry.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// The request ID its waiter is registered under (0: nobody waits).
    pub id: u64,
    /// The proposer's clock (Unix ns).
    pub proposed_at: i64,
    /// Who proposed it, at which auth revision (anonymous for the member's own requests).
    pub caller: Caller,
    pub request: Applies,
}

/// Which state machine an entry's request is for.
#[derive(Debug)]
pub(crate) enum Applies {
    /// The v2 store.
    V2(Request),
    /// The v3 side (never `Kind::V2`).
    V3(Kind),
}

/// Why an entry cannot be applied.
#[derive(Debug, thiserror::Error)]
#[error("raft entry {index} cannot be applied: {reason}")]
pub struct UndecodableEntry {
    /// The entry's raft index.
    pub index: u64,
    reason: String,
}

/// Encodes a v2 request with the proposer's clock.
pub(crate) fn encode_v2(request: &Request, proposed_at: i64) -> Vec<u8> {
    encode(
        request.id,
        proposed_at,
        &Caller::anonymous(),
        Kind::V2(to_wire(request)),
    )
}

/// Encodes a request with its ID, the proposer's clock and the identity it is applied under.
pub(crate) fn encode(id: u64, proposed_at: i64, caller: &Caller, request: Kind) -> Vec<u8> {
    etcd_proto::encode_entry(InternalRaftRequest {
        header: Some(RequestHeader {
            id,
            username: caller.user.clone(),
            auth_revision: caller.revision,
        }),
        id,
        proposed_at_unix_nanos: proposed_at,
        request: Some(request),
        ..InternalRaftRequest::default()
    })
}

/// Decodes the entry at `index`.
pub(crate) fn decode(index: u64, bytes: &[u8]) -> Result<Decoded, UndecodableEntry> {
    match etcd_proto::decode_entry(bytes) {
        Ok(entry) => {
            let (id, caller) = match entry.header {
                Some(h) => (
                    h.id,
                    Caller {
                        user: h.username,
                        revision: h.auth_revision,
                    },
                ),
                None => (entry.id, Caller::anonymous()),
            };
            let request = entry.request.ok_or_else(|| UndecodableEntry {
                index,
                reason: "no request".into(),
            })?;
            let request = match request {
                Kind::V2(v2) => {
                    let method = v2.method.clone();
                    Applies::V2(from_wire(v2).ok_or_else(|| UndecodableEntry {
                        index,
                        reason: format!("unknown v2 method {method:?}"),
                    })?)
                }
                v3 => Applies::V3(v3),
            };
            Ok(Decoded {
                id,
                proposed_at: entry.proposed_at_unix_nanos,
                caller,
                request,
            })
        }
        Err(refused) => match decode_legacy(bytes) {
            Some((request, proposed_at)) => Ok(Decoded {
                id: request.id,
                proposed_at,
                caller: Caller::anonymous(),
                request: Applies::V2(request),
            }),
            None => Err(UndecodableEntry {
                index,
                reason: refused.to_string(),
            }),
        },
    }
}

fn to_wire(r: &Request) -> V2Request {
    V2Request {
        id: r.id,
        method: r.method.as_str().to_owned(),
        path: r.path.clone(),
        val: r.val.clone(),
        dir: r.dir,
        prev_value: r.prev_value.clone(),
        prev_index: r.prev_index,
        prev_exist: r.prev_exist,
        expiration: r.expiration,
        wait: r.wait,
        since: r.since,
        recursive: r.recursive,
        sorted: r.sorted,
        quorum: r.quorum,
        time: r.time,
        stream: r.stream,
        refresh: r.refresh,
    }
}

fn from_wire(w: V2Request) -> Option<Request> {
    let method = match w.method.as_str() {
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        "QGET" => Method::QGet,
        "SYNC" => Method::Sync,
        _ => return None,
    };
    Some(Request {
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
    })
}

/// A legacy entry: etcd's `Request` fields 1-17 and the clock in field 100 (a varint, where the envelope has
/// its header message, so the envelope decoder refuses these bytes).
#[derive(Clone, PartialEq, prost::Message)]
struct LegacyClock {
    #[prost(int64, tag = "100")]
    proposed_at: i64,
}

fn decode_legacy(bytes: &[u8]) -> Option<(Request, i64)> {
    // Field 100 is skipped as unknown by `V2Request` and read alone by `LegacyClock`.
    let request = from_wire(V2Request::decode(bytes).ok()?)?;
    let clock = LegacyClock::decode(bytes).ok()?;
    Some((request, clock.proposed_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put() -> Request {
        Request {
            id: 7,
            method: Method::Put,
            path: "/1/k".into(),
            val: "v".into(),
            prev_exist: Some(false),
            refresh: Some(true),
            expiration: 123,
            ..Request::default()
        }
    }

    #[test]
    fn v2_requests_round_trip_in_the_envelope() {
        let d = decode(5, &encode_v2(&put(), 99)).expect("decode");
        assert_eq!((d.id, d.proposed_at), (7, 99));
        let Applies::V2(request) = d.request else {
            panic!("not v2")
        };
        assert_eq!(request, put());
    }

    #[test]
    fn legacy_entries_still_decode() {
        // The bytes a member before the envelope wrote: the request, then field 100 as a varint.
        let mut bytes = to_wire(&put()).encode_to_vec();
        LegacyClock { proposed_at: 42 }
            .encode(&mut bytes)
            .expect("encode");
        let d = decode(5, &bytes).expect("legacy");
        assert_eq!((d.id, d.proposed_at), (7, 42));
    }

    #[test]
    fn an_entry_that_does_not_decode_is_an_error_not_a_skip() {
        let e = decode(9, b"\xff\xff").expect_err("garbage");
        assert!(
            e.to_string().starts_with("raft entry 9 cannot be applied"),
            "{e}"
        );
        let mut bad = to_wire(&put());
        bad.method = "PATCH".into();
        assert!(decode(3, &encode(7, 0, &Caller::anonymous(), Kind::V2(bad))).is_err());
    }
}

/// Entry bytes come from the raft log and from peers: any bytes decode or are refused, never a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn arbitrary_entries_are_decoded_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(1, &bytes);
            let _ = crate::snapshot::parse(&bytes);
        }

        #[test]
        fn a_damaged_entry_is_decoded_or_refused(at in any::<Index>(), byte in any::<u8>(), cut in any::<Index>()) {
            let request = Request {
                id: 7,
                method: Method::Put,
                path: "/1/k".into(),
                val: "v".into(),
                expiration: 123,
                ..Request::default()
            };
            let valid = encode_v2(&request, 99);
            let mut damaged = valid.clone();
            damaged[at.index(valid.len())] = byte;
            let _ = decode(1, &damaged);
            let _ = decode(1, &valid[..cut.index(valid.len())]);
        }
    }
}
