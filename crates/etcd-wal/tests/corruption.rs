//! Damage before the tail is an error naming the file and offset; nothing after it is returned.

mod common;

use std::path::Path;

use common::{copy_dir, frame_offsets, payload, read_records, segment_files, small_segments};
use etcd_wal::{Error, ReadFrom, Record, Wal};

fn pristine(dir: &Path) {
    let mut wal = Wal::create(dir, b"meta", small_segments()).expect("create");
    for i in 1..=200u64 {
        let p = payload(i, 60 + (i as usize * 7) % 90);
        wal.append(&[Record::entry(i, &p)]).expect("append");
    }
    drop(wal);
}

/// Flips one bit in every byte of the chosen record, one copy each, and checks the error.
fn flip_every_byte_of(segment_number: usize, pick_record: impl Fn(&[usize]) -> usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pristine_dir = tmp.path().join("pristine");
    pristine(&pristine_dir);
    let files = segment_files(&pristine_dir);
    let segment_number = segment_number.min(files.len() - 1);
    let (offsets, _) = frame_offsets(&files[segment_number]);
    let which = pick_record(&offsets);
    let start = offsets[which];
    let end = offsets[which + 1];
    // Records before the damaged one: all of the earlier segments, then the ones before it here.
    let before: usize = files[..segment_number]
        .iter()
        .map(|f| frame_offsets(f).0.len())
        .sum::<usize>()
        + which;
    let name = files[segment_number].file_name().expect("name").to_owned();

    for at in start..end {
        let work = tmp.path().join(format!("flip-{at}"));
        copy_dir(&pristine_dir, &work);
        let target = work.join(&name);
        let mut bytes = std::fs::read(&target).expect("read");
        bytes[at] ^= 1 << (at % 8);
        std::fs::write(&target, bytes).expect("write");

        let (records, error) = read_records(&work, ReadFrom::Start, small_segments());
        match error {
            Some(Error::Corrupt { path, offset, .. }) => {
                assert_eq!(path, target, "byte {at}");
                assert_eq!(offset, start as u64, "byte {at}");
            }
            other => panic!(
                "flipping byte {at} gave {other:?} after {} records",
                records.len()
            ),
        }
        assert_eq!(
            records.len(),
            before,
            "byte {at}: records after the damage were returned"
        );
        let replay = Wal::open(&work, ReadFrom::Start, small_segments()).expect("open");
        assert!(
            matches!(replay.finish(), Err(Error::Corrupt { .. })),
            "byte {at}: finish must refuse"
        );
        std::fs::remove_dir_all(&work).expect("cleanup");
    }
}

#[test]
fn a_flipped_bit_in_a_middle_record_of_the_last_segment_is_an_error() {
    flip_every_byte_of(usize::MAX, |offsets| offsets.len() / 2);
}

#[test]
fn a_flipped_bit_in_a_record_of_a_sealed_segment_is_an_error() {
    flip_every_byte_of(1, |offsets| offsets.len() / 2);
}

#[test]
fn a_flipped_bit_in_the_last_record_of_a_sealed_segment_is_an_error() {
    // The last record of a sealed segment is followed by the end of the file, not by another record.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    pristine(&dir);
    let files = segment_files(&dir);
    let (offsets, end) = frame_offsets(&files[0]);
    let last = *offsets.last().expect("records");
    let mut bytes = std::fs::read(&files[0]).expect("read");
    bytes[(last + end) / 2] ^= 0x10;
    std::fs::write(&files[0], bytes).expect("write");
    let (_, error) = read_records(&dir, ReadFrom::Start, small_segments());
    assert!(
        matches!(error, Some(Error::Corrupt { ref path, offset, .. }) if path == &files[0] && offset == last as u64),
        "{error:?}"
    );
}

#[test]
fn a_zeroed_region_inside_a_sealed_segment_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    pristine(&dir);
    let files = segment_files(&dir);
    let (offsets, _) = frame_offsets(&files[0]);
    let at = offsets[offsets.len() / 2];
    let mut bytes = std::fs::read(&files[0]).expect("read");
    bytes[at..at + 24].fill(0);
    std::fs::write(&files[0], bytes).expect("write");
    let (_, error) = read_records(&dir, ReadFrom::Start, small_segments());
    assert!(
        matches!(error, Some(Error::Corrupt { offset, .. }) if offset == at as u64),
        "{error:?}"
    );
}

#[test]
fn a_damaged_segment_header_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    pristine(&dir);
    let files = segment_files(&dir);
    let mut bytes = std::fs::read(&files[1]).expect("read");
    bytes[20] ^= 0x01;
    std::fs::write(&files[1], bytes).expect("write");
    match Wal::open(&dir, ReadFrom::Start, small_segments()) {
        Err(Error::Corrupt {
            path, offset: 0, ..
        }) => assert_eq!(path, files[1]),
        other => panic!("expected a bad header, got {other:?}"),
    }
}
