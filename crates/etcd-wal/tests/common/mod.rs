//! Helpers shared by the WAL's integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use etcd_wal::{Options, ReadFrom, RecordType, Recovery, Result, Wal};

/// A record read back, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub kind: RecordType,
    pub index: u64,
    pub payload: Vec<u8>,
}

/// Options with small segments, so tests cross many segment boundaries.
pub fn small_segments() -> Options {
    Options::default().segment_size(16 * 1024)
}

/// A payload that is never zero and differs per record, so damage cannot look like preallocated space.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 255) as u8 + 1
        })
        .collect()
}

/// Replays every record (stopping at the first error) without finishing.
pub fn read_records(
    dir: &Path,
    from: ReadFrom,
    options: Options,
) -> (Vec<Owned>, Option<etcd_wal::Error>) {
    let mut replay = match Wal::open(dir, from, options) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut out = Vec::new();
    while let Some(r) = replay.next_record() {
        match r {
            Ok(r) => out.push(Owned {
                kind: r.kind,
                index: r.index,
                payload: r.payload.to_vec(),
            }),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// Replays everything and returns the entries, the recovery summary and the writer.
pub fn open_entries(dir: &Path, options: Options) -> Result<(Vec<Owned>, Recovery, Wal)> {
    let mut replay = Wal::open(dir, ReadFrom::Start, options)?;
    let mut entries = Vec::new();
    while let Some(r) = replay.next_record() {
        let r = r?;
        if r.kind == RecordType::Entry {
            entries.push(Owned {
                kind: r.kind,
                index: r.index,
                payload: r.payload.to_vec(),
            });
        }
    }
    let (wal, recovery) = replay.finish()?;
    Ok((entries, recovery, wal))
}

/// The segment files of a WAL directory, in order.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read wal dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

/// The byte offset of every record frame in a segment file, and the offset where the records end, found by
/// walking the length fields (the format: 40-byte segment header, 24-byte frame header, 8-byte alignment).
pub fn frame_offsets(path: &Path) -> (Vec<usize>, usize) {
    let bytes = std::fs::read(path).expect("read segment");
    let mut offsets = Vec::new();
    let mut at = 40;
    while at + 24 <= bytes.len() && bytes[at..at + 24].iter().any(|&b| b != 0) {
        offsets.push(at);
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        at += (24 + len).next_multiple_of(8);
    }
    (offsets, at)
}

/// Copies every file of `from` into a new directory `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy file");
    }
}
