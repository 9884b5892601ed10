//! Reading and writing raft entries in the envelope of `proto/etcdrs/entry.proto` (format version 1).
//!
//! A member must never skip an entry it cannot read: the others applied it, so skipping would make its state
//! diverge. [`decode_entry`] therefore refuses, with a reason, bytes that are not an envelope, an envelope of a
//! newer format, and an envelope whose request is of a kind this build does not know (protobuf drops unknown
//! oneof fields, which leaves `request` empty).

use prost::Message as _;

use crate::etcdrs::{EntryFormat, InternalRaftRequest};

/// The envelope format this build writes and the newest it reads.
pub const ENTRY_FORMAT: u32 = EntryFormat::Version as u32;

/// Why an entry's bytes are refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EntryError {
    /// Not a protobuf envelope at all.
    #[error("the entry is not an etcd-rs request envelope: {0}")]
    Undecodable(#[from] prost::DecodeError),
    /// No format version: not written by etcd-rs's envelope encoder.
    #[error("the entry carries no envelope format version")]
    Unversioned,
    /// Written by a newer etcd-rs.
    #[error(
        "the entry is in envelope format {0}, newer than the supported format {ENTRY_FORMAT}: upgrade this member"
    )]
    NewerFormat(u32),
    /// A request of a kind this build does not know.
    #[error("the entry carries a request this member does not know: upgrade this member")]
    UnknownRequest,
}

/// Encodes a request, stamping it with [`ENTRY_FORMAT`].
pub fn encode_entry(mut request: InternalRaftRequest) -> Vec<u8> {
    request.format_version = ENTRY_FORMAT;
    request.encode_to_vec()
}

/// Decodes an entry written by [`encode_entry`], refusing what this build cannot apply faithfully.
pub fn decode_entry(bytes: &[u8]) -> Result<InternalRaftRequest, EntryError> {
    let request = InternalRaftRequest::decode(bytes)?;
    match request.format_version {
        0 => Err(EntryError::Unversioned),
        v if v > ENTRY_FORMAT => Err(EntryError::NewerFormat(v)),
        _ if request.request.is_none() => Err(EntryError::UnknownRequest),
        _ => Ok(request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcdrs::internal_raft_request::Request;
    use crate::etcdrs::{RequestHeader, V2Request};
    use crate::etcdserverpb::PutRequest;

    fn put() -> InternalRaftRequest {
        InternalRaftRequest {
            header: Some(RequestHeader {
                id: 7,
                username: "root".into(),
                auth_revision: 3,
            }),
            id: 7,
            proposed_at_unix_nanos: 1_700_000_000_000_000_000,
            request: Some(Request::Put(PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn envelopes_round_trip_with_the_format_version() {
        let bytes = encode_entry(put());
        let back = decode_entry(&bytes).expect("decode");
        assert_eq!(back.format_version, ENTRY_FORMAT);
        assert_eq!(
            InternalRaftRequest {
                format_version: 0,
                ..back
            },
            put()
        );
        let v2 = InternalRaftRequest {
            request: Some(Request::V2(V2Request {
                method: "PUT".into(),
                path: "/1/k".into(),
                prev_exist: Some(false),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            decode_entry(&encode_entry(v2.clone())).map(|r| r.request),
            Ok(v2.request)
        );
    }

    #[test]
    fn newer_formats_unknown_requests_and_garbage_are_refused() {
        let mut newer = put();
        newer.format_version = ENTRY_FORMAT + 1;
        assert_eq!(
            decode_entry(&newer.encode_to_vec()),
            Err(EntryError::NewerFormat(ENTRY_FORMAT + 1))
        );
        assert_eq!(
            decode_entry(&put().encode_to_vec()),
            Err(EntryError::Unversioned)
        );
        // A request kind from the future: field 5000, length-delimited, after a valid version.
        let mut future = InternalRaftRequest {
            format_version: ENTRY_FORMAT,
            ..Default::default()
        }
        .encode_to_vec();
        future.extend_from_slice(&[0xC2, 0xB8, 0x02, 0x00]);
        assert_eq!(decode_entry(&future), Err(EntryError::UnknownRequest));
        assert!(matches!(
            decode_entry(&[0xFF, 0xFF, 0xFF]),
            Err(EntryError::Undecodable(_))
        ));
    }
}
