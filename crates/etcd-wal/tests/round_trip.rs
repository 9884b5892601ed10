//! Appending and reading back across many segments, reopening and continuing, snapshot markers, release.

mod common;

use common::{
    Owned, frame_offsets, open_entries, payload, read_records, segment_files, small_segments,
};
use etcd_wal::{Corruption, Error, Options, ReadFrom, Record, RecordType, SnapshotMarker, Wal};

fn append_entries(wal: &mut Wal, range: std::ops::Range<u64>, batch: usize) -> Vec<Owned> {
    let payloads: Vec<Vec<u8>> = range
        .clone()
        .map(|i| payload(i, 50 + (i as usize * 37) % 400))
        .collect();
    let records: Vec<Record<'_>> = range
        .clone()
        .zip(&payloads)
        .map(|(i, p)| Record::entry(i, p))
        .collect();
    for chunk in records.chunks(batch) {
        wal.append(chunk).expect("append");
    }
    range
        .zip(payloads)
        .map(|(index, payload)| Owned {
            kind: RecordType::Entry,
            index,
            payload,
        })
        .collect()
}

#[test]
fn records_round_trip_across_many_segments() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    let written = append_entries(&mut wal, 1..2001, 7);
    assert!(
        wal.segment_count() > 20,
        "only {} segments",
        wal.segment_count()
    );
    wal.close().expect("close");

    let (entries, recovery, _wal) = open_entries(&dir, small_segments()).expect("reopen");
    assert_eq!(entries, written);
    assert_eq!(recovery.metadata, b"meta");
    assert_eq!(recovery.last_index, 2000);
    assert_eq!(recovery.torn_tail, None);
}

#[test]
fn reopened_wal_continues_the_log_and_the_chain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    let mut written = append_entries(&mut wal, 1..301, 10);
    drop(wal);
    for round in 0..5u64 {
        let (entries, recovery, mut wal) = open_entries(&dir, small_segments()).expect("reopen");
        assert_eq!(entries, written, "round {round}");
        let next = recovery.last_index + 1;
        written.extend(append_entries(&mut wal, next..next + 150, 3));
    }
    let (entries, _, _) = open_entries(&dir, small_segments()).expect("final reopen");
    assert_eq!(entries, written);
}

#[test]
fn every_segment_starts_with_metadata_and_the_latest_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    let big = payload(1, 3000);
    for i in 1..=40u64 {
        let state = format!("state-{i}");
        wal.append(&[Record::entry(i, &big), Record::state(state.as_bytes())])
            .expect("append");
    }
    let segments = wal.segment_count();
    assert!(segments > 3);
    // Drop all but the newest segment: metadata and state must still be known.
    let released = wal.release_before(u64::MAX).expect("release");
    assert_eq!(released, segments - 1);
    drop(wal);

    let (entries, recovery, _) = open_entries(&dir, small_segments()).expect("reopen");
    assert_eq!(recovery.metadata, b"meta");
    assert_eq!(recovery.state.as_deref(), Some(&b"state-40"[..]));
    assert_eq!(recovery.last_index, 40);
    assert!(
        entries.iter().all(|e| e.index > 30),
        "old entries were released"
    );
    let (records, error) = read_records(&dir, ReadFrom::Start, small_segments());
    assert!(error.is_none());
    assert_eq!(records[0].kind, RecordType::Metadata);
}

#[test]
fn crc_chain_is_checked_across_segment_boundaries() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    append_entries(&mut wal, 1..400, 5);
    drop(wal);
    let files = segment_files(&dir);
    assert!(files.len() >= 3);

    // Give the second segment a seed that does not continue the chain, with a valid header checksum, so only
    // the chain check can notice.
    let target = &files[1];
    let mut bytes = std::fs::read(target).expect("read");
    bytes[12] ^= 0x40;
    let crc = crc32c::crc32c(&bytes[0..32]);
    bytes[32..36].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(target, &bytes).expect("write");

    let (records, error) = read_records(&dir, ReadFrom::Start, small_segments());
    match error {
        Some(Error::Corrupt {
            path,
            offset,
            reason: Corruption::ChainBroken { .. },
        }) => {
            assert_eq!(&path, target);
            assert_eq!(offset, 12);
        }
        other => panic!("expected a broken chain, got {other:?}"),
    }
    // Nothing of the second segment was returned.
    let (first_offsets, _) = frame_offsets(&files[0]);
    assert_eq!(records.len(), first_offsets.len());
}

#[test]
fn a_missing_middle_segment_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    append_entries(&mut wal, 1..400, 5);
    drop(wal);
    let files = segment_files(&dir);
    std::fs::remove_file(&files[1]).expect("remove");
    match Wal::open(&dir, ReadFrom::Start, small_segments()) {
        Err(Error::Corrupt {
            path,
            reason: Corruption::MissingSegment { expected_seq: 1 },
            ..
        }) => {
            assert_eq!(path, files[2]);
        }
        other => panic!("expected a missing segment, got {other:?}"),
    }
}

#[test]
fn segment_names_follow_etcd() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    append_entries(&mut wal, 1..400, 5);
    drop(wal);
    let names: Vec<String> = segment_files(&dir)
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names[0], "0000000000000000-0000000000000000.wal");
    for (seq, name) in names.iter().enumerate() {
        let (s, rest) = name.split_once('-').expect("dash");
        assert_eq!(u64::from_str_radix(s, 16).expect("hex seq"), seq as u64);
        assert_eq!(rest.len(), "0000000000000000.wal".len());
    }
    // A later segment is named after the entry that follows the last one before it.
    let (entries, _, _) = open_entries(&dir, small_segments()).expect("reopen");
    let second_first = u64::from_str_radix(&names[1][17..33], 16).expect("hex index");
    assert!(entries.iter().any(|e| e.index == second_first - 1));
}

#[test]
fn replay_from_a_snapshot_marker_returns_later_entries_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    let written = append_entries(&mut wal, 1..501, 4);
    let marker = SnapshotMarker {
        index: 300,
        term: 7,
    };
    wal.save_snapshot_marker(marker).expect("marker");
    let later = append_entries(&mut wal, 501..601, 4);
    let released = wal.release_before(250).expect("release");
    assert!(released > 0);
    drop(wal);

    let (records, error) = read_records(&dir, ReadFrom::Snapshot(marker), small_segments());
    assert!(error.is_none(), "{error:?}");
    let entries: Vec<Owned> = records
        .iter()
        .filter(|r| r.kind == RecordType::Entry)
        .cloned()
        .collect();
    let expected: Vec<Owned> = written
        .into_iter()
        .filter(|e| e.index > 300)
        .chain(later)
        .collect();
    assert_eq!(entries, expected);
    let markers: Vec<SnapshotMarker> = records
        .iter()
        .filter(|r| r.kind == RecordType::Snapshot)
        .map(|r| {
            Record {
                kind: r.kind,
                index: r.index,
                payload: &r.payload,
            }
            .snapshot_marker()
            .expect("marker")
        })
        .collect();
    assert_eq!(markers, vec![marker]);
}

#[test]
fn replay_from_an_unknown_marker_fails() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    append_entries(&mut wal, 1..50, 4);
    wal.save_snapshot_marker(SnapshotMarker { index: 20, term: 2 })
        .expect("marker");
    drop(wal);
    let wrong_term = SnapshotMarker { index: 20, term: 3 };
    let replay = Wal::open(&dir, ReadFrom::Snapshot(wrong_term), small_segments()).expect("open");
    match replay.finish() {
        Err(Error::SnapshotNotFound(m)) => assert_eq!(m, wrong_term),
        other => panic!("expected SnapshotNotFound, got {other:?}"),
    }
}

#[test]
fn release_keeps_the_segment_holding_the_index() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    append_entries(&mut wal, 1..1001, 4);
    let before = wal.segment_count();
    wal.release_before(600).expect("release");
    assert!(wal.segment_count() < before);
    drop(wal);
    let (entries, _, _) = open_entries(&dir, small_segments()).expect("reopen");
    let first = entries.first().expect("entries remain").index;
    assert!(
        first <= 600,
        "entry 600 must survive release, first left is {first}"
    );
    assert_eq!(entries.last().expect("last").index, 1000);
}

#[test]
fn a_second_open_is_refused_while_the_wal_is_in_use() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let wal = Wal::create(&dir, b"meta", Options::default()).expect("create");
    assert!(matches!(
        Wal::open(&dir, ReadFrom::Start, Options::default()),
        Err(Error::Locked(_))
    ));
    assert!(matches!(
        Wal::create(&dir, b"x", Options::default()),
        Err(Error::AlreadyExists(_))
    ));
    wal.close().expect("close");
    let replay = Wal::open(&dir, ReadFrom::Start, Options::default()).expect("open after close");
    assert!(matches!(
        Wal::open(&dir, ReadFrom::Start, Options::default()),
        Err(Error::Locked(_))
    ));
    drop(replay);
}

#[test]
fn bad_input_is_refused_without_harm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    assert!(matches!(
        Wal::open(&dir, ReadFrom::Start, Options::default()),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        Wal::create(&dir, b"m", Options::default().segment_size(10)),
        Err(Error::InvalidOptions(_))
    ));
    let mut wal = Wal::create(&dir, b"m", Options::default()).expect("create");
    assert!(matches!(
        wal.append(&[Record::entry(0, b"x")]),
        Err(Error::InvalidRecord(_))
    ));
    let bogus_meta = Record {
        kind: RecordType::Metadata,
        index: 0,
        payload: b"x",
    };
    assert!(matches!(
        wal.append(&[bogus_meta]),
        Err(Error::InvalidRecord(_))
    ));
    let bad_marker = Record {
        kind: RecordType::Snapshot,
        index: 3,
        payload: b"short",
    };
    assert!(matches!(
        wal.append(&[bad_marker]),
        Err(Error::InvalidRecord(_))
    ));
    // Refused records do not poison the WAL.
    wal.append(&[Record::entry(1, b"ok")])
        .expect("append after refusal");
    drop(wal);
    let (entries, _, _) = open_entries(&dir, Options::default()).expect("reopen");
    assert_eq!(entries.len(), 1);
}

#[test]
fn create_replaces_an_interrupted_create_and_accepts_an_empty_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    // Leftovers of a create that crashed before its rename.
    std::fs::create_dir_all(tmp.path().join("wal.tmp")).expect("mkdir");
    std::fs::write(tmp.path().join("wal.tmp/junk"), b"junk").expect("junk");
    std::fs::create_dir_all(&dir).expect("empty target dir");
    let wal = Wal::create(&dir, b"meta", Options::default()).expect("create");
    wal.close().expect("close");
    assert!(!tmp.path().join("wal.tmp").exists());
    assert!(Wal::exists(&dir));
}

#[test]
fn unsynced_writes_become_durable_with_one_sync() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"meta", small_segments()).expect("create");
    for i in 1..=100u64 {
        wal.write(&[Record::entry(i, &payload(i, 100))])
            .expect("write");
    }
    wal.sync().expect("sync");
    wal.close().expect("close");
    let (entries, _, _) = open_entries(&dir, small_segments()).expect("reopen");
    assert_eq!(entries.len(), 100);
}
