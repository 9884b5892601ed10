//! A crash in the middle of a write leaves a torn tail: recovery cuts it off and the log goes on.

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use common::{
    Owned, copy_dir, frame_offsets, open_entries, payload, segment_files, small_segments,
};
use etcd_wal::{Record, RecordType, Wal};

/// A pristine WAL whose last segment ends with a record of a few hundred bytes; returns the entries written
/// and the byte range of the last record in the last segment.
fn pristine(dir: &Path) -> (Vec<Owned>, std::ops::Range<usize>) {
    let mut wal = Wal::create(dir, b"meta", small_segments()).expect("create");
    let mut written = Vec::new();
    for i in 1..=120u64 {
        let p = payload(i, 40 + (i as usize * 13) % 300);
        wal.append(&[Record::entry(i, &p)]).expect("append");
        written.push(Owned {
            kind: RecordType::Entry,
            index: i,
            payload: p,
        });
    }
    drop(wal);
    let last = segment_files(dir).pop().expect("segments");
    let (offsets, end) = frame_offsets(&last);
    let start = *offsets.last().expect("records in last segment");
    assert!(
        offsets.len() > 2,
        "the last segment must hold more than metadata and one entry"
    );
    (written, start..end)
}

/// Damages the copy's last segment with `damage`, then checks recovery and that appends continue and survive.
fn check_recovery(
    pristine_dir: &Path,
    work: &Path,
    written: &[Owned],
    expect_last: bool,
    damage: impl Fn(&Path),
) {
    copy_dir(pristine_dir, work);
    let last = segment_files(work).pop().expect("segments");
    damage(&last);

    let (entries, recovery, mut wal) = open_entries(work, small_segments()).expect("open torn WAL");
    let expected = if expect_last {
        written
    } else {
        &written[..written.len() - 1]
    };
    assert_eq!(entries, expected);
    assert_eq!(recovery.last_index, expected.len() as u64);

    let next = expected.len() as u64 + 1;
    let fresh = payload(next + 1000, 77);
    wal.append(&[Record::entry(next, &fresh)])
        .expect("append after recovery");
    drop(wal);
    let (entries, recovery, _) = open_entries(work, small_segments()).expect("reopen after append");
    assert_eq!(entries.len(), expected.len() + 1);
    assert_eq!(&entries[..expected.len()], expected);
    assert_eq!(entries[expected.len()].payload, fresh);
    assert_eq!(
        recovery.torn_tail, None,
        "the tail was repaired on the previous open"
    );
}

#[test]
fn a_file_cut_at_any_offset_of_its_last_record_recovers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pristine_dir = tmp.path().join("pristine");
    let (written, last) = pristine(&pristine_dir);
    for cut in last.start + 1..last.end {
        let work = tmp.path().join(format!("cut-{cut}"));
        check_recovery(&pristine_dir, &work, &written, false, |path| {
            OpenOptions::new()
                .write(true)
                .open(path)
                .expect("open")
                .set_len(cut as u64)
                .expect("truncate");
        });
        std::fs::remove_dir_all(&work).expect("cleanup");
    }
}

#[test]
fn a_last_record_zeroed_from_any_offset_recovers() {
    // The preallocated file keeps its length; the bytes that never reached the disk read as zeros.
    let tmp = tempfile::tempdir().expect("tempdir");
    let pristine_dir = tmp.path().join("pristine");
    let (written, last) = pristine(&pristine_dir);
    // Zeroing only the padding after the payload leaves the record whole.
    let data_end = last.start + 24 + written.last().expect("records").payload.len();
    assert!(
        data_end < last.end,
        "the test wants a last record with padding"
    );
    for from in last.start..last.end {
        let work = tmp.path().join(format!("zero-{from}"));
        check_recovery(&pristine_dir, &work, &written, from >= data_end, |path| {
            let mut bytes = std::fs::read(path).expect("read");
            bytes[from..last.end].fill(0);
            std::fs::write(path, bytes).expect("write");
        });
        std::fs::remove_dir_all(&work).expect("cleanup");
    }
}

#[test]
fn a_file_cut_anywhere_in_the_preallocated_zeros_keeps_every_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pristine_dir = tmp.path().join("pristine");
    let (written, last) = pristine(&pristine_dir);
    let size = std::fs::metadata(segment_files(&pristine_dir).pop().expect("segment"))
        .expect("stat")
        .len() as usize;
    let cuts = (last.end..last.end + 64)
        .chain((last.end + 64..size).step_by(997))
        .chain([size]);
    for cut in cuts {
        let work = tmp.path().join(format!("zeros-{cut}"));
        check_recovery(&pristine_dir, &work, &written, true, |path| {
            OpenOptions::new()
                .write(true)
                .open(path)
                .expect("open")
                .set_len(cut as u64)
                .expect("truncate");
        });
        std::fs::remove_dir_all(&work).expect("cleanup");
    }
}

#[test]
fn garbage_after_a_torn_record_is_zeroed_and_never_read_later() {
    // An interrupted batch: its first record torn, and bytes of its later records on disk after it.
    let tmp = tempfile::tempdir().expect("tempdir");
    let pristine_dir = tmp.path().join("pristine");
    let (written, last) = pristine(&pristine_dir);
    let work = tmp.path().join("work");
    check_recovery(&pristine_dir, &work, &written, false, |path| {
        let mut bytes = std::fs::read(path).expect("read");
        bytes[last.start + 30] ^= 0xFF;
        bytes[last.end..last.end + 700].fill(0x5A);
        std::fs::write(path, bytes).expect("write");
    });
    let last_segment = segment_files(&work).pop().expect("segment");
    let bytes = std::fs::read(last_segment).expect("read");
    let (_, end) = frame_offsets(&segment_files(&work).pop().expect("segment"));
    assert!(
        bytes[end..].iter().all(|&b| b == 0),
        "leftovers of the torn write remain after the tail"
    );
}

#[test]
fn a_partly_written_record_followed_by_a_written_one_is_a_torn_tail() {
    // The disk wrote the header sector of the next record but not a middle sector of this one: a torn write,
    // not corruption, even though a valid record follows.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    let big = payload(7, 2000);
    let small = payload(8, 100);
    wal.append(&[Record::entry(1, &small)]).expect("append");
    wal.append(&[Record::entry(2, &big), Record::entry(3, &small)])
        .expect("append");
    drop(wal);
    let segment = segment_files(&dir).pop().expect("segment");
    let (offsets, _) = frame_offsets(&segment);
    let big_at = offsets[2];
    let mut bytes = std::fs::read(&segment).expect("read");
    let sector = (big_at + 24).next_multiple_of(512);
    bytes[sector..sector + 512].fill(0);
    std::fs::write(&segment, bytes).expect("write");

    let (entries, recovery, _) = open_entries(&dir, small_segments()).expect("open");
    assert_eq!(entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![1]);
    assert_eq!(recovery.torn_tail.map(|t| t.offset), Some(big_at as u64));
}
