//! The on-disk format, version 1.
//!
//! A WAL is a directory of *segment* files named `{seq:016x}-{index:016x}.wal`, where `seq` counts segments
//! from 0 without gaps and `index` is the first entry index the segment may hold (the index after the last
//! entry written before it; 0 for the first segment). All integers are little-endian.
//!
//! # Segment header (40 bytes, at offset 0)
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | magic `etcdrwal` |
//! | 8  | 4 | format version (1) |
//! | 12 | 4 | chain seed: the checksum of the last record of the previous segment (0 in the first segment) |
//! | 16 | 8 | sequence number, equal to the one in the file name |
//! | 24 | 8 | first index, equal to the one in the file name |
//! | 32 | 4 | CRC32C of bytes 0..32 |
//! | 36 | 4 | zero |
//!
//! # Record frame (at offset 40 and after, every frame starts on an 8-byte boundary)
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 4 | checksum: CRC32C of bytes 4..24+len, *seeded with the previous record's checksum* |
//! | 4  | 4 | payload length `len` (at most [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN)) |
//! | 8  | 8 | index: the entry index for entries and snapshot markers, 0 otherwise |
//! | 16 | 1 | record type: 1 metadata, 2 snapshot marker, 3 state, 4 entry |
//! | 17 | 7 | zero |
//! | 24 | len | payload |
//! | 24+len | 0..7 | zero padding up to the next multiple of 8 |
//!
//! The chain of checksums runs through every record of every segment: each segment header carries the value
//! the chain had at the end of the previous segment. A record can therefore be verified only in place, after
//! all the records before it, and a record that was copied, replayed out of order or left over from an older
//! write does not verify.
//!
//! A snapshot marker's payload is 16 bytes: the snapshot's index then its term (the frame's index field
//! repeats the index). Every segment begins with a metadata record (the payload given when the WAL was
//! created) and, once a state record has been written, with the latest state record, so that releasing older
//! segments never loses either.
//!
//! # End of the log and recovery
//!
//! Segments are preallocated with zeros. A frame header of 24 zero bytes, or the end of the file, ends a
//! segment. A sealed (non-last) segment is truncated to its last record when the next one is cut, so any
//! damage in it is corruption. In the last segment, a frame that does not verify is a *torn tail* — the
//! remains of a write that was never acknowledged — when no valid record can be found after it, or when part
//! of it is a whole zero disk sector (a write that reached the disk only in part). Otherwise it is corruption
//! and opening fails with the file and byte offset. A torn tail is cut off and zeroed when the WAL is
//! reopened for writing.

/// Version of the format described in this module, stored in every segment header.
pub const FORMAT_VERSION: u32 = 1;

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"etcdrwal";
pub(crate) const SEGMENT_HEADER_LEN: usize = 40;
pub(crate) const FRAME_HEADER_LEN: usize = 24;
const ALIGN: usize = 8;
/// The unit a disk writes atomically at the least; a torn write leaves whole sectors unwritten.
const SECTOR: usize = 512;

/// The largest payload one record may carry (1 GiB).
pub const MAX_RECORD_LEN: usize = 1 << 30;

/// What a record is; stored as one byte in each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// The payload given to [`Wal::create`](crate::Wal::create), repeated at the start of every segment.
    Metadata,
    /// A snapshot marker: the (index, term) of a snapshot the log was compacted to.
    Snapshot,
    /// A "latest value wins" record, such as a raft hard state; the latest one is repeated in every segment.
    State,
    /// A log entry with an index.
    Entry,
}

impl RecordType {
    fn to_byte(self) -> u8 {
        match self {
            RecordType::Metadata => 1,
            RecordType::Snapshot => 2,
            RecordType::State => 3,
            RecordType::Entry => 4,
        }
    }

    fn from_byte(b: u8) -> Option<RecordType> {
        match b {
            1 => Some(RecordType::Metadata),
            2 => Some(RecordType::Snapshot),
            3 => Some(RecordType::State),
            4 => Some(RecordType::Entry),
            _ => None,
        }
    }
}

/// The (index, term) of a snapshot, as recorded in the log by a snapshot-marker record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SnapshotMarker {
    /// Index of the last entry the snapshot contains.
    pub index: u64,
    /// Term of that entry.
    pub term: u64,
}

impl SnapshotMarker {
    pub(crate) fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.index.to_le_bytes());
        out[8..].copy_from_slice(&self.term.to_le_bytes());
        out
    }

    pub(crate) fn decode(payload: &[u8]) -> Option<SnapshotMarker> {
        if payload.len() != 16 {
            return None;
        }
        Some(SnapshotMarker {
            index: read_u64(payload, 0),
            term: read_u64(payload, 8),
        })
    }
}

/// One record: its type, its index (entries and snapshot markers; 0 otherwise) and its payload.
///
/// The same type is used to append records and to read them back; when read back, `payload` borrows the
/// mapped segment file, so replay copies nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// What the record is.
    pub kind: RecordType,
    /// The entry index (entries and snapshot markers) or 0.
    pub index: u64,
    /// The record's bytes.
    pub payload: &'a [u8],
}

impl<'a> Record<'a> {
    /// A log entry at `index` (which must not be 0).
    pub fn entry(index: u64, payload: &'a [u8]) -> Record<'a> {
        Record {
            kind: RecordType::Entry,
            index,
            payload,
        }
    }

    /// A state record: on replay the last one written is the current state.
    pub fn state(payload: &'a [u8]) -> Record<'a> {
        Record {
            kind: RecordType::State,
            index: 0,
            payload,
        }
    }

    /// The snapshot marker this record holds, if it is a snapshot-marker record.
    pub fn snapshot_marker(&self) -> Option<SnapshotMarker> {
        match self.kind {
            RecordType::Snapshot => SnapshotMarker::decode(self.payload),
            _ => None,
        }
    }
}

/// Why bytes on disk were refused; carried by [`Error::Corrupt`](crate::Error::Corrupt).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// A record's checksum does not match its bytes and the chain before it.
    ChecksumMismatch {
        /// The checksum stored in the frame.
        stored: u32,
        /// The checksum computed from the bytes.
        computed: u32,
    },
    /// A record's header claims more bytes than the file holds.
    Truncated,
    /// A record's type byte is not one this version knows.
    UnknownRecordType(u8),
    /// A reserved or padding byte is not zero.
    NonZeroReserved,
    /// A record's length exceeds [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN).
    RecordTooLarge(u64),
    /// A record verified but its content is impossible (an entry with index 0, a malformed marker).
    MalformedRecord(&'static str),
    /// A sealed segment holds zeros where a record or its end should be.
    UnexpectedEnd,
    /// The segment header is damaged or is not a WAL segment header.
    BadSegmentHeader,
    /// The segment was written by an unknown format version.
    UnsupportedVersion(u32),
    /// The segment header disagrees with the file name.
    NameMismatch,
    /// The segment's chain seed is not the checksum the previous segment ended with.
    ChainBroken {
        /// The seed stored in this segment's header.
        stored: u32,
        /// The checksum the previous segment ended with.
        expected: u32,
    },
    /// A segment is missing from the sequence.
    MissingSegment {
        /// The sequence number that was expected next.
        expected_seq: u64,
    },
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Corruption::ChecksumMismatch { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
            Corruption::Truncated => f.write_str("record runs past the end of the file"),
            Corruption::UnknownRecordType(t) => write!(f, "unknown record type {t}"),
            Corruption::NonZeroReserved => f.write_str("reserved or padding bytes are not zero"),
            Corruption::RecordTooLarge(len) => write!(f, "record length {len} exceeds the maximum"),
            Corruption::MalformedRecord(what) => write!(f, "malformed record: {what}"),
            Corruption::UnexpectedEnd => f.write_str("sealed segment ends before its last record"),
            Corruption::BadSegmentHeader => f.write_str("bad segment header"),
            Corruption::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            Corruption::NameMismatch => f.write_str("segment header does not match the file name"),
            Corruption::ChainBroken { stored, expected } => write!(
                f,
                "checksum chain broken between segments (seed {stored:#010x}, previous segment ended with {expected:#010x})"
            ),
            Corruption::MissingSegment { expected_seq } => {
                write!(f, "segment with sequence {expected_seq:#x} is missing")
            }
        }
    }
}

/// The fixed header of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub seed: u32,
    pub seq: u64,
    pub first_index: u64,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.seed.to_le_bytes());
        out[16..24].copy_from_slice(&self.seq.to_le_bytes());
        out[24..32].copy_from_slice(&self.first_index.to_le_bytes());
        let crc = crc32c::crc32c(&out[0..32]);
        out[32..36].copy_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(buf: &[u8]) -> Result<SegmentHeader, Corruption> {
        if buf.len() < SEGMENT_HEADER_LEN || buf[0..8] != SEGMENT_MAGIC {
            return Err(Corruption::BadSegmentHeader);
        }
        if crc32c::crc32c(&buf[0..32]) != read_u32(buf, 32) || read_u32(buf, 36) != 0 {
            return Err(Corruption::BadSegmentHeader);
        }
        let version = read_u32(buf, 8);
        if version != FORMAT_VERSION {
            return Err(Corruption::UnsupportedVersion(version));
        }
        Ok(SegmentHeader {
            seed: read_u32(buf, 12),
            seq: read_u64(buf, 16),
            first_index: read_u64(buf, 24),
        })
    }
}

/// Bytes a record of `payload_len` bytes occupies on disk.
pub(crate) fn frame_len(payload_len: usize) -> usize {
    (FRAME_HEADER_LEN + payload_len).next_multiple_of(ALIGN)
}

/// Appends the frame of `record` to `out`, chained to `prev_crc`; returns the record's checksum.
pub(crate) fn encode_frame(out: &mut Vec<u8>, record: &Record<'_>, prev_crc: u32) -> u32 {
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    // The caller checks the length against MAX_RECORD_LEN, which fits in u32.
    out.extend_from_slice(&(record.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&record.index.to_le_bytes());
    out.push(record.kind.to_byte());
    out.extend_from_slice(&[0u8; 7]);
    out.extend_from_slice(record.payload);
    let crc = crc32c::crc32c_append(prev_crc, &out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    out.resize(start + frame_len(record.payload.len()), 0);
    crc
}

/// What lies at one offset of a segment.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// A verified record; `next` is the offset of the frame after it.
    Record {
        record: Record<'a>,
        crc: u32,
        next: usize,
    },
    /// Zeros or the end of the file: no record starts here.
    End,
    /// Bytes that are not a valid record.
    Invalid(Corruption),
}

/// Reads the frame at `offset` of `buf`, verifying it against the chain value `prev_crc`.
pub(crate) fn decode_frame(buf: &[u8], offset: usize, prev_crc: u32) -> Frame<'_> {
    let rest = &buf[offset.min(buf.len())..];
    if rest.len() < FRAME_HEADER_LEN {
        return if rest.iter().all(|&b| b == 0) {
            Frame::End
        } else {
            Frame::Invalid(Corruption::Truncated)
        };
    }
    let header = &rest[..FRAME_HEADER_LEN];
    if header.iter().all(|&b| b == 0) {
        return Frame::End;
    }
    let stored = read_u32(header, 0);
    let len = read_u32(header, 4) as usize;
    let index = read_u64(header, 8);
    let Some(kind) = RecordType::from_byte(header[16]) else {
        return Frame::Invalid(Corruption::UnknownRecordType(header[16]));
    };
    if header[17..24].iter().any(|&b| b != 0) {
        return Frame::Invalid(Corruption::NonZeroReserved);
    }
    if len > MAX_RECORD_LEN {
        return Frame::Invalid(Corruption::RecordTooLarge(len as u64));
    }
    let total = frame_len(len);
    if rest.len() < total {
        return Frame::Invalid(Corruption::Truncated);
    }
    let computed = crc32c::crc32c_append(prev_crc, &rest[4..FRAME_HEADER_LEN + len]);
    if computed != stored {
        return Frame::Invalid(Corruption::ChecksumMismatch { stored, computed });
    }
    if rest[FRAME_HEADER_LEN + len..total].iter().any(|&b| b != 0) {
        return Frame::Invalid(Corruption::NonZeroReserved);
    }
    let payload = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
    let record = Record {
        kind,
        index,
        payload,
    };
    if let Some(what) = malformed(&record) {
        return Frame::Invalid(Corruption::MalformedRecord(what));
    }
    Frame::Record {
        record,
        crc: stored,
        next: offset + total,
    }
}

/// Content rules a record must follow beyond its checksum.
pub(crate) fn malformed(record: &Record<'_>) -> Option<&'static str> {
    match record.kind {
        RecordType::Entry if record.index == 0 => Some("entry with index 0"),
        RecordType::Snapshot => match SnapshotMarker::decode(record.payload) {
            Some(m) if m.index == record.index => None,
            _ => Some("snapshot marker payload is not (index, term) matching the frame"),
        },
        RecordType::Metadata | RecordType::State if record.index != 0 => {
            Some("metadata or state record with an index")
        }
        _ => None,
    }
}

/// Decides whether the invalid frame at `offset` of the last segment is the torn tail of an unacknowledged
/// write (`true`) or damage to acknowledged data (`false`).
///
/// Acknowledged data is followed by more records; a torn write is followed by nothing valid. So we look for a
/// verifiable record anywhere after `offset`, chained either from the damaged frame's stored checksum (the
/// damage is in its bytes) or from the checksum its bytes compute to (the damage is in the stored checksum).
/// A write that reached the disk only in part may still have later records of the same write on disk; its
/// signature is a whole sector of the damaged region that is zero, which a flipped bit does not produce.
pub(crate) fn is_torn_tail(buf: &[u8], offset: usize, prev_crc: u32) -> bool {
    let rest = &buf[offset..];
    if rest.len() < FRAME_HEADER_LEN {
        return true;
    }
    let stored = read_u32(rest, 0);
    let mut seeds = vec![stored];
    let len = read_u32(rest, 4) as usize;
    if len <= MAX_RECORD_LEN && FRAME_HEADER_LEN + len <= rest.len() {
        let computed = crc32c::crc32c_append(prev_crc, &rest[4..FRAME_HEADER_LEN + len]);
        seeds.push(computed);
    }
    let Some(found) = find_resync_point(buf, offset + ALIGN, &seeds) else {
        return true;
    };
    has_zero_sector(buf, offset + FRAME_HEADER_LEN, found)
}

/// The first offset after `from` where a record verifies against one of `seeds`.
fn find_resync_point(buf: &[u8], from: usize, seeds: &[u32]) -> Option<usize> {
    let mut pos = from.next_multiple_of(ALIGN);
    while pos + FRAME_HEADER_LEN <= buf.len() {
        let header = &buf[pos..pos + FRAME_HEADER_LEN];
        // Cheap structural checks first; only plausible frames pay for a checksum.
        let plausible = RecordType::from_byte(header[16]).is_some()
            && header[17..24].iter().all(|&b| b == 0)
            && (read_u32(header, 4) as usize) <= MAX_RECORD_LEN;
        if plausible
            && seeds
                .iter()
                .any(|&seed| matches!(decode_frame(buf, pos, seed), Frame::Record { .. }))
        {
            return Some(pos);
        }
        pos += ALIGN;
    }
    None
}

/// Whether `buf[from..to]` contains a whole, aligned disk sector of zeros.
///
/// Only whole sectors count: when the damaged record and the record found after it both have their headers on
/// disk, any sector the torn write left unwritten lies wholly between the two.
fn has_zero_sector(buf: &[u8], from: usize, to: usize) -> bool {
    let mut start = from.next_multiple_of(SECTOR);
    while start + SECTOR <= to {
        if buf[start..start + SECTOR].iter().all(|&b| b == 0) {
            return true;
        }
        start += SECTOR;
    }
    false
}

pub(crate) fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

pub(crate) fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(records: &[Record<'_>]) -> (Vec<u8>, Vec<u32>) {
        let mut buf = Vec::new();
        let mut crcs = Vec::new();
        let mut crc = 0;
        for r in records {
            crc = encode_frame(&mut buf, r, crc);
            crcs.push(crc);
        }
        (buf, crcs)
    }

    #[test]
    fn frames_are_aligned_and_round_trip() {
        let payloads: Vec<Vec<u8>> = (0..20).map(|n| vec![0xAB; n]).collect();
        let records: Vec<Record<'_>> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| Record::entry(i as u64 + 1, p))
            .collect();
        let (buf, crcs) = frames(&records);
        let mut offset = 0;
        let mut crc = 0;
        for (i, expected) in records.iter().enumerate() {
            assert_eq!(offset % ALIGN, 0);
            match decode_frame(&buf, offset, crc) {
                Frame::Record {
                    record,
                    crc: c,
                    next,
                } => {
                    assert_eq!(&record, expected);
                    assert_eq!(c, crcs[i]);
                    offset = next;
                    crc = c;
                }
                other => panic!("record {i}: {other:?}"),
            }
        }
        assert!(matches!(decode_frame(&buf, offset, crc), Frame::End));
    }

    #[test]
    fn a_record_only_verifies_after_its_predecessors() {
        let (buf, crcs) = frames(&[Record::entry(1, b"a"), Record::entry(2, b"b")]);
        let second = frame_len(1);
        assert!(matches!(
            decode_frame(&buf, second, crcs[0]),
            Frame::Record { .. }
        ));
        assert!(matches!(
            decode_frame(&buf, second, 0),
            Frame::Invalid(Corruption::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn segment_header_round_trips_and_detects_damage() {
        let h = SegmentHeader {
            seed: 0xDEADBEEF,
            seq: 7,
            first_index: 1234,
        };
        let mut bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        bytes[20] ^= 1;
        assert_eq!(
            SegmentHeader::decode(&bytes),
            Err(Corruption::BadSegmentHeader)
        );
    }

    #[test]
    fn only_whole_zero_sectors_count_as_torn() {
        let mut buf = vec![1u8; 2048];
        assert!(!has_zero_sector(&buf, 100, 2000));
        // Zero bytes that end a payload are ordinary data, not a missing sector.
        buf[1900..2048].fill(0);
        assert!(!has_zero_sector(&buf, 100, 2048));
        buf[1024..1536].fill(0);
        assert!(has_zero_sector(&buf, 100, 2000));
        assert!(!has_zero_sector(&buf, 1025, 2000));
    }
}
