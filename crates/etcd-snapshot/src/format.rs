//! The snapshot file format, version 1.
//!
//! A snapshot is one file named `{term:016x}-{index:016x}.snap` (as etcd names them) holding a 48-byte header
//! and the payload. All integers are little-endian.
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | magic `etcdrsnp` |
//! | 8  | 4 | format version (1) |
//! | 12 | 4 | CRC32C of the payload |
//! | 16 | 8 | term, equal to the one in the file name |
//! | 24 | 8 | index, equal to the one in the file name |
//! | 32 | 8 | payload length; the file is exactly 48 + this many bytes |
//! | 40 | 4 | CRC32C of bytes 0..40 |
//! | 44 | 4 | zero |
//! | 48 | len | payload |
//!
//! A file is written as `<name>.snap.tmp`, synced, renamed to its final name, and the directory synced; so a
//! `.snap` file is whole unless the disk damaged it. Files that fail any check are renamed to
//! `<name>.snap.broken` when loading the newest snapshot, and the next older one is tried.

use crate::SnapshotMeta;

/// Version of the format described in this module, stored in every snapshot header.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: [u8; 8] = *b"etcdrsnp";
pub(crate) const HEADER_LEN: usize = 48;

pub(crate) const SUFFIX: &str = ".snap";
pub(crate) const TMP_SUFFIX: &str = ".snap.tmp";
pub(crate) const BROKEN_SUFFIX: &str = ".broken";

pub(crate) fn file_name(meta: SnapshotMeta) -> String {
    format!("{:016x}-{:016x}{SUFFIX}", meta.term, meta.index)
}

pub(crate) fn parse_file_name(name: &str) -> Option<SnapshotMeta> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (term, index) = stem.split_once('-')?;
    if term.len() != 16 || index.len() != 16 {
        return None;
    }
    Some(SnapshotMeta {
        term: u64::from_str_radix(term, 16).ok()?,
        index: u64::from_str_radix(index, 16).ok()?,
    })
}

pub(crate) fn encode_header(meta: SnapshotMeta, payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out[16..24].copy_from_slice(&meta.term.to_le_bytes());
    out[24..32].copy_from_slice(&meta.index.to_le_bytes());
    out[32..40].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c(&out[0..40]);
    out[40..44].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Checks a whole snapshot file (header and payload) against the name it was found under.
pub(crate) fn verify(file: &[u8], expected: SnapshotMeta) -> Result<(), &'static str> {
    if file.len() < HEADER_LEN {
        return Err("file shorter than the snapshot header");
    }
    let header = &file[..HEADER_LEN];
    if header[0..8] != MAGIC {
        return Err("not a snapshot file (bad magic)");
    }
    if crc32c::crc32c(&header[0..40]) != read_u32(header, 40) || read_u32(header, 44) != 0 {
        return Err("snapshot header checksum mismatch");
    }
    if read_u32(header, 8) != FORMAT_VERSION {
        return Err("unsupported snapshot format version");
    }
    let meta = SnapshotMeta {
        term: read_u64(header, 16),
        index: read_u64(header, 24),
    };
    if meta != expected {
        return Err("snapshot header does not match the file name");
    }
    let payload = &file[HEADER_LEN..];
    if payload.len() as u64 != read_u64(header, 32) {
        return Err("snapshot payload length does not match the file size");
    }
    if crc32c::crc32c(payload) != read_u32(header, 12) {
        return Err("snapshot payload checksum mismatch");
    }
    Ok(())
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_etcd() {
        let meta = SnapshotMeta {
            term: 2,
            index: 0x2710,
        };
        assert_eq!(file_name(meta), "0000000000000002-0000000000002710.snap");
        assert_eq!(parse_file_name(&file_name(meta)), Some(meta));
        assert_eq!(
            parse_file_name("0000000000000002-0000000000002710.snap.broken"),
            None
        );
        assert_eq!(
            parse_file_name("0000000000000002-0000000000002710.snap.tmp"),
            None
        );
        assert_eq!(parse_file_name("2-10.snap"), None);
    }

    #[test]
    fn every_damaged_byte_is_detected() {
        let meta = SnapshotMeta { term: 3, index: 99 };
        let payload = b"the payload of a snapshot";
        let mut file = encode_header(meta, payload).to_vec();
        file.extend_from_slice(payload);
        assert_eq!(verify(&file, meta), Ok(()));
        for at in 0..file.len() {
            let mut damaged = file.clone();
            damaged[at] ^= 0x04;
            assert!(verify(&damaged, meta).is_err(), "byte {at}");
        }
        assert!(verify(&file[..file.len() - 1], meta).is_err());
        assert!(
            verify(
                &file,
                SnapshotMeta {
                    term: 3,
                    index: 100
                }
            )
            .is_err()
        );
    }
}
