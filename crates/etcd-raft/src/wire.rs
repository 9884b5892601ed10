//! Our own prost types for raft's messages, and the only way bytes from a peer or the disk become raft-rs
//! values.
//!
//! The field numbers are raft-rs's `eraftpb.proto` (which match etcd's `raftpb` for these messages), so the
//! bytes are the same protobuf raft-rs would write. Decoding goes through prost and then [`validate`]s every
//! enum value and shape before building a raft-rs value: the protobuf 2 parser raft-rs carries never sees
//! untrusted bytes, and no panicking getter is ever reached with an unknown enum.

use bytes::Bytes;
use prost::Message as _;
use raft::eraftpb;

/// Why bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes are not a protobuf message of the expected type.
    #[error("undecodable raft message: {0}")]
    Decode(String),
    /// The message decoded but breaks a rule (unknown enum value, impossible field).
    #[error("invalid raft message: {0}")]
    Invalid(&'static str),
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireEntry {
    #[prost(int32, tag = "1")]
    pub entry_type: i32,
    #[prost(uint64, tag = "2")]
    pub term: u64,
    #[prost(uint64, tag = "3")]
    pub index: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
    #[prost(bool, tag = "5")]
    pub sync_log: bool,
    #[prost(bytes = "vec", tag = "6")]
    pub context: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireConfState {
    #[prost(uint64, repeated, tag = "1")]
    pub voters: Vec<u64>,
    #[prost(uint64, repeated, tag = "2")]
    pub learners: Vec<u64>,
    #[prost(uint64, repeated, tag = "3")]
    pub voters_outgoing: Vec<u64>,
    #[prost(uint64, repeated, tag = "4")]
    pub learners_next: Vec<u64>,
    #[prost(bool, tag = "5")]
    pub auto_leave: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireSnapshotMetadata {
    #[prost(message, optional, tag = "1")]
    pub conf_state: Option<WireConfState>,
    #[prost(uint64, tag = "2")]
    pub index: u64,
    #[prost(uint64, tag = "3")]
    pub term: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireSnapshot {
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<WireSnapshotMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireMessage {
    #[prost(int32, tag = "1")]
    pub msg_type: i32,
    #[prost(uint64, tag = "2")]
    pub to: u64,
    #[prost(uint64, tag = "3")]
    pub from: u64,
    #[prost(uint64, tag = "4")]
    pub term: u64,
    #[prost(uint64, tag = "5")]
    pub log_term: u64,
    #[prost(uint64, tag = "6")]
    pub index: u64,
    #[prost(message, repeated, tag = "7")]
    pub entries: Vec<WireEntry>,
    #[prost(uint64, tag = "8")]
    pub commit: u64,
    #[prost(message, optional, tag = "9")]
    pub snapshot: Option<WireSnapshot>,
    #[prost(bool, tag = "10")]
    pub reject: bool,
    #[prost(uint64, tag = "11")]
    pub reject_hint: u64,
    #[prost(bytes = "vec", tag = "12")]
    pub context: Vec<u8>,
    #[prost(uint64, tag = "13")]
    pub request_snapshot: u64,
    #[prost(uint64, tag = "14")]
    pub deprecated_priority: u64,
    #[prost(uint64, tag = "15")]
    pub commit_term: u64,
    #[prost(int64, tag = "16")]
    pub priority: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireHardState {
    #[prost(uint64, tag = "1")]
    pub term: u64,
    #[prost(uint64, tag = "2")]
    pub vote: u64,
    #[prost(uint64, tag = "3")]
    pub commit: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireConfChange {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int32, tag = "2")]
    pub change_type: i32,
    #[prost(uint64, tag = "3")]
    pub node_id: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub context: Vec<u8>,
}

/// What the WAL's metadata record holds: who this log belongs to.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireMetadata {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    #[prost(uint64, tag = "2")]
    pub cluster_id: u64,
}

fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, WireError> {
    M::decode(bytes).map_err(|e| WireError::Decode(e.to_string()))
}

fn entry_type(value: i32) -> Result<eraftpb::EntryType, WireError> {
    match value {
        0 => Ok(eraftpb::EntryType::EntryNormal),
        1 => Ok(eraftpb::EntryType::EntryConfChange),
        2 => Ok(eraftpb::EntryType::EntryConfChangeV2),
        _ => Err(WireError::Invalid("unknown entry type")),
    }
}

pub(crate) fn message_type(value: i32) -> Result<eraftpb::MessageType, WireError> {
    use eraftpb::MessageType::*;
    const TYPES: [eraftpb::MessageType; 19] = [
        MsgHup,
        MsgBeat,
        MsgPropose,
        MsgAppend,
        MsgAppendResponse,
        MsgRequestVote,
        MsgRequestVoteResponse,
        MsgSnapshot,
        MsgHeartbeat,
        MsgHeartbeatResponse,
        MsgUnreachable,
        MsgSnapStatus,
        MsgCheckQuorum,
        MsgTransferLeader,
        MsgTimeoutNow,
        MsgReadIndex,
        MsgReadIndexResp,
        MsgRequestPreVote,
        MsgRequestPreVoteResponse,
    ];
    usize::try_from(value)
        .ok()
        .and_then(|i| TYPES.get(i).copied())
        .ok_or(WireError::Invalid("unknown message type"))
}

fn conf_change_type(value: i32) -> Result<eraftpb::ConfChangeType, WireError> {
    match value {
        0 => Ok(eraftpb::ConfChangeType::AddNode),
        1 => Ok(eraftpb::ConfChangeType::RemoveNode),
        2 => Ok(eraftpb::ConfChangeType::AddLearnerNode),
        _ => Err(WireError::Invalid("unknown conf change type")),
    }
}

// ---- raft-rs → wire ----

pub(crate) fn entry_to_wire(e: &eraftpb::Entry) -> WireEntry {
    WireEntry {
        entry_type: e.entry_type as i32,
        term: e.term,
        index: e.index,
        data: e.data.to_vec(),
        sync_log: e.sync_log,
        context: e.context.to_vec(),
    }
}

pub(crate) fn conf_state_to_wire(c: &eraftpb::ConfState) -> WireConfState {
    WireConfState {
        voters: c.voters.clone(),
        learners: c.learners.clone(),
        voters_outgoing: c.voters_outgoing.clone(),
        learners_next: c.learners_next.clone(),
        auto_leave: c.auto_leave,
    }
}

pub(crate) fn snapshot_to_wire(s: &eraftpb::Snapshot) -> WireSnapshot {
    let m = s.get_metadata();
    WireSnapshot {
        data: s.data.to_vec(),
        metadata: Some(WireSnapshotMetadata {
            conf_state: Some(conf_state_to_wire(m.get_conf_state())),
            index: m.index,
            term: m.term,
        }),
    }
}

/// Encodes a message for a peer.
pub(crate) fn encode_message(m: &eraftpb::Message) -> Vec<u8> {
    let wire = WireMessage {
        msg_type: m.msg_type as i32,
        to: m.to,
        from: m.from,
        term: m.term,
        log_term: m.log_term,
        index: m.index,
        entries: m.get_entries().iter().map(entry_to_wire).collect(),
        commit: m.commit,
        snapshot: m.has_snapshot().then(|| snapshot_to_wire(m.get_snapshot())),
        reject: m.reject,
        reject_hint: m.reject_hint,
        context: m.context.to_vec(),
        request_snapshot: m.request_snapshot,
        deprecated_priority: m.deprecated_priority,
        commit_term: m.commit_term,
        priority: m.priority,
    };
    wire.encode_to_vec()
}

pub(crate) fn encode_entry(e: &eraftpb::Entry) -> Vec<u8> {
    entry_to_wire(e).encode_to_vec()
}

pub(crate) fn encode_hard_state(h: &eraftpb::HardState) -> Vec<u8> {
    WireHardState {
        term: h.term,
        vote: h.vote,
        commit: h.commit,
    }
    .encode_to_vec()
}

pub(crate) fn encode_conf_change(c: &eraftpb::ConfChange) -> Vec<u8> {
    WireConfChange {
        id: c.id,
        change_type: c.change_type as i32,
        node_id: c.node_id,
        context: c.context.to_vec(),
    }
    .encode_to_vec()
}

// ---- wire → raft-rs, validated ----

pub(crate) fn entry_from_wire(w: WireEntry) -> Result<eraftpb::Entry, WireError> {
    let mut e = eraftpb::Entry::default();
    e.entry_type = entry_type(w.entry_type)?;
    e.term = w.term;
    e.index = w.index;
    e.data = Bytes::from(w.data);
    e.context = Bytes::from(w.context);
    e.sync_log = w.sync_log;
    Ok(e)
}

pub(crate) fn conf_state_from_wire(w: WireConfState) -> eraftpb::ConfState {
    let mut c = eraftpb::ConfState::default();
    c.voters = w.voters;
    c.learners = w.learners;
    c.voters_outgoing = w.voters_outgoing;
    c.learners_next = w.learners_next;
    c.auto_leave = w.auto_leave;
    c
}

pub(crate) fn snapshot_from_wire(w: WireSnapshot) -> Result<eraftpb::Snapshot, WireError> {
    let meta = w
        .metadata
        .ok_or(WireError::Invalid("snapshot without metadata"))?;
    let mut m = eraftpb::SnapshotMetadata::default();
    m.index = meta.index;
    m.term = meta.term;
    m.set_conf_state(conf_state_from_wire(meta.conf_state.unwrap_or_default()));
    let mut s = eraftpb::Snapshot::default();
    s.data = Bytes::from(w.data);
    s.set_metadata(m);
    Ok(s)
}

/// Decodes and validates a message from a peer.
pub(crate) fn decode_message(bytes: &[u8]) -> Result<eraftpb::Message, WireError> {
    let w: WireMessage = decode(bytes)?;
    let msg_type = message_type(w.msg_type)?;
    if raft::raw_node::is_local_msg(msg_type) {
        return Err(WireError::Invalid(
            "local message type sent over the network",
        ));
    }
    if w.from == 0 || w.to == 0 {
        return Err(WireError::Invalid("message without sender or recipient"));
    }
    let mut m = eraftpb::Message::default();
    m.msg_type = msg_type;
    m.to = w.to;
    m.from = w.from;
    m.term = w.term;
    m.log_term = w.log_term;
    m.index = w.index;
    let mut entries = w
        .entries
        .into_iter()
        .map(entry_from_wire)
        .collect::<Result<Vec<_>, _>>()?;
    if msg_type == eraftpb::MessageType::MsgPropose {
        // A leader parses the conf changes in a forwarded proposal with raft-rs's protobuf 2 parser: hand it
        // only bytes we decoded ourselves and wrote back canonically.
        for e in &mut entries {
            match e.entry_type {
                eraftpb::EntryType::EntryConfChange => {
                    e.data = Bytes::from(encode_conf_change(&decode_conf_change(&e.data)?));
                }
                eraftpb::EntryType::EntryConfChangeV2 => {
                    return Err(WireError::Invalid("proposed v2 conf change"));
                }
                eraftpb::EntryType::EntryNormal => {}
            }
        }
    }
    m.set_entries(entries.into());
    m.commit = w.commit;
    m.commit_term = w.commit_term;
    match (msg_type, w.snapshot) {
        (eraftpb::MessageType::MsgSnapshot, Some(s)) => {
            let snapshot = snapshot_from_wire(s)?;
            if snapshot.get_metadata().index == 0 {
                return Err(WireError::Invalid("snapshot at index 0"));
            }
            m.set_snapshot(snapshot);
        }
        (eraftpb::MessageType::MsgSnapshot, None) => {
            return Err(WireError::Invalid("snapshot message without a snapshot"));
        }
        (_, _) => {}
    }
    m.reject = w.reject;
    m.reject_hint = w.reject_hint;
    m.context = Bytes::from(w.context);
    m.request_snapshot = w.request_snapshot;
    m.deprecated_priority = w.deprecated_priority;
    m.priority = w.priority;
    Ok(m)
}

pub(crate) fn decode_entry(bytes: &[u8]) -> Result<eraftpb::Entry, WireError> {
    entry_from_wire(decode(bytes)?)
}

pub(crate) fn decode_hard_state(bytes: &[u8]) -> Result<eraftpb::HardState, WireError> {
    let w: WireHardState = decode(bytes)?;
    let mut h = eraftpb::HardState::default();
    h.term = w.term;
    h.vote = w.vote;
    h.commit = w.commit;
    Ok(h)
}

pub(crate) fn decode_conf_change(bytes: &[u8]) -> Result<eraftpb::ConfChange, WireError> {
    let w: WireConfChange = decode(bytes)?;
    let mut c = eraftpb::ConfChange::default();
    c.id = w.id;
    c.change_type = conf_change_type(w.change_type)?;
    c.node_id = w.node_id;
    c.context = Bytes::from(w.context);
    Ok(c)
}

pub(crate) fn decode_snapshot(bytes: &[u8]) -> Result<eraftpb::Snapshot, WireError> {
    snapshot_from_wire(decode(bytes)?)
}

pub(crate) fn encode_snapshot(s: &eraftpb::Snapshot) -> Vec<u8> {
    snapshot_to_wire(s).encode_to_vec()
}

pub(crate) fn decode_metadata(bytes: &[u8]) -> Result<WireMetadata, WireError> {
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protobuf::Message as _;

    fn sample_message() -> eraftpb::Message {
        let mut m = eraftpb::Message::default();
        m.msg_type = eraftpb::MessageType::MsgAppend;
        m.to = 2;
        m.from = 1;
        m.term = 5;
        m.log_term = 4;
        m.index = 10;
        m.commit = 9;
        let mut e = eraftpb::Entry::default();
        e.term = 5;
        e.index = 11;
        e.data = Bytes::from_static(b"payload");
        e.context = Bytes::from_static(b"ctx");
        m.set_entries(vec![e].into());
        m
    }

    #[test]
    fn our_bytes_are_raft_rs_bytes() {
        let m = sample_message();
        let ours = encode_message(&m);
        let theirs = m.write_to_bytes().expect("raft-rs encodes");
        assert_eq!(ours, theirs);
        assert_eq!(decode_message(&ours).expect("decodes"), m);
    }

    #[test]
    fn forwarded_conf_changes_reach_raft_only_as_our_own_bytes() {
        let mut cc = eraftpb::ConfChange::default();
        cc.node_id = 4;
        cc.change_type = eraftpb::ConfChangeType::AddLearnerNode;
        let mut e = eraftpb::Entry::default();
        e.entry_type = eraftpb::EntryType::EntryConfChange;
        // Valid fields plus an unknown field raft-rs's parser would have to skip.
        let mut data = encode_conf_change(&cc);
        data.extend_from_slice(&[0x7a, 0x02, 0x08, 0x01]);
        e.data = Bytes::from(data);
        let mut m = sample_message();
        m.msg_type = eraftpb::MessageType::MsgPropose;
        m.set_entries(vec![e.clone()].into());
        let decoded = decode_message(&encode_message(&m)).expect("valid proposal");
        assert_eq!(
            decoded.get_entries()[0].data.to_vec(),
            encode_conf_change(&cc)
        );
        // A conf change with an unknown type, or a v2 one, is refused.
        let mut bad = e.clone();
        bad.data = Bytes::from(vec![0x10, 0x09]);
        m.set_entries(vec![bad].into());
        assert!(decode_message(&encode_message(&m)).is_err());
        let mut v2 = e;
        v2.entry_type = eraftpb::EntryType::EntryConfChangeV2;
        m.set_entries(vec![v2].into());
        assert!(decode_message(&encode_message(&m)).is_err());
    }

    #[test]
    fn unknown_enums_and_garbage_are_refused() {
        let mut w = WireMessage::decode(&encode_message(&sample_message())[..]).expect("decode");
        w.msg_type = 99;
        assert_eq!(
            decode_message(&w.encode_to_vec()),
            Err(WireError::Invalid("unknown message type"))
        );
        w.msg_type = 3;
        w.entries[0].entry_type = 7;
        assert_eq!(
            decode_message(&w.encode_to_vec()),
            Err(WireError::Invalid("unknown entry type"))
        );
        w.entries[0].entry_type = 0;
        w.msg_type = eraftpb::MessageType::MsgHup as i32;
        assert!(matches!(
            decode_message(&w.encode_to_vec()),
            Err(WireError::Invalid(_))
        ));
        assert!(matches!(
            decode_message(&[0xff, 0xff, 0xff]),
            Err(WireError::Decode(_))
        ));
        let bytes = encode_message(&sample_message());
        for len in 0..bytes.len() {
            // A truncated message either fails to decode or decodes into something valid; it never panics.
            let _ = decode_message(&bytes[..len]);
        }
    }
}

/// Peer bytes are untrusted: every decoder answers a value or an error for any input, never a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    fn decode_all(bytes: &[u8]) {
        let _ = decode_message(bytes);
        let _ = decode_entry(bytes);
        let _ = decode_hard_state(bytes);
        let _ = decode_conf_change(bytes);
        let _ = decode_snapshot(bytes);
        let _ = decode_metadata(bytes);
    }

    fn valid_message() -> Vec<u8> {
        let mut m = eraftpb::Message::default();
        m.msg_type = eraftpb::MessageType::MsgAppend;
        (m.to, m.from, m.term, m.log_term, m.index, m.commit) = (2, 1, 5, 4, 10, 9);
        let mut e = eraftpb::Entry::default();
        (e.term, e.index) = (5, 11);
        e.data = Bytes::from_static(b"payload");
        m.set_entries(vec![e].into());
        encode_message(&m)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn arbitrary_bytes_are_decoded_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            decode_all(&bytes);
        }

        #[test]
        fn a_damaged_or_cut_message_is_decoded_or_refused(at in any::<Index>(), byte in any::<u8>(), cut in any::<Index>()) {
            let valid = valid_message();
            let mut damaged = valid.clone();
            damaged[at.index(valid.len())] = byte;
            decode_all(&damaged);
            decode_all(&valid[..cut.index(valid.len())]);
        }
    }
}
