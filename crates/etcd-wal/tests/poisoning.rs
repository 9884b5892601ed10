//! After a failed write or sync the WAL refuses writes until reopened, and reopening recovers.

mod common;

use common::{open_entries, payload, small_segments};
use etcd_wal::{Error, FaultInjector, Record, Wal};

fn entries(range: std::ops::RangeInclusive<u64>) -> Vec<(u64, Vec<u8>)> {
    range.map(|i| (i, payload(i, 300))).collect()
}

fn records(entries: &[(u64, Vec<u8>)]) -> Vec<Record<'_>> {
    entries.iter().map(|(i, p)| Record::entry(*i, p)).collect()
}

#[test]
fn a_failed_write_poisons_the_wal_and_reopen_drops_the_partial_batch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let faults = FaultInjector::new();
    let mut wal = Wal::create(
        &dir,
        b"meta",
        small_segments().fault_injector(faults.clone()),
    )
    .expect("create");
    let acked = entries(1..=10);
    wal.append(&records(&acked)).expect("append");

    faults.fail_next_write();
    // An odd count, so the written half ends inside a record.
    let failed = entries(11..=19);
    assert!(matches!(
        wal.append(&records(&failed)),
        Err(Error::Io { .. })
    ));
    assert!(wal.is_poisoned());
    // Nothing more is accepted, even though the injector is disarmed now.
    assert!(matches!(
        wal.append(&records(&entries(11..=11))),
        Err(Error::Poisoned)
    ));
    assert!(matches!(
        wal.write(&records(&entries(11..=11))),
        Err(Error::Poisoned)
    ));
    assert!(matches!(wal.sync(), Err(Error::Poisoned)));
    assert!(matches!(
        wal.save_snapshot_marker(etcd_wal::SnapshotMarker { index: 1, term: 1 }),
        Err(Error::Poisoned)
    ));
    drop(wal);

    let (read, recovery, mut wal) = open_entries(&dir, small_segments()).expect("reopen");
    let read: Vec<(u64, Vec<u8>)> = read.into_iter().map(|e| (e.index, e.payload)).collect();
    // The acknowledged batch is whole; of the failed one, only complete records of its written half remain.
    assert!(
        read.len() >= acked.len() && read.len() < acked.len() + failed.len(),
        "{} records",
        read.len()
    );
    assert!(
        read[..acked.len()] == acked[..],
        "acknowledged records changed"
    );
    assert!(
        read[acked.len()..] == failed[..read.len() - acked.len()],
        "not a prefix of the failed batch"
    );
    assert!(
        recovery.torn_tail.is_some(),
        "the record cut in half is a torn tail"
    );
    let next = read.len() as u64 + 1;
    wal.append(&records(&entries(next..=next + 1)))
        .expect("append after reopen");
    drop(wal);
    let (again, _, _) = open_entries(&dir, small_segments()).expect("reopen again");
    assert_eq!(again.len(), read.len() + 2);
}

#[test]
fn a_failed_sync_poisons_the_wal_and_acknowledged_records_survive() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let faults = FaultInjector::new();
    let mut wal = Wal::create(
        &dir,
        b"meta",
        small_segments().fault_injector(faults.clone()),
    )
    .expect("create");
    let acked = entries(1..=5);
    wal.append(&records(&acked)).expect("append");

    faults.fail_next_sync();
    let unacked = entries(6..=8);
    assert!(matches!(
        wal.append(&records(&unacked)),
        Err(Error::Io { .. })
    ));
    assert!(matches!(
        wal.append(&records(&entries(6..=6))),
        Err(Error::Poisoned)
    ));
    assert!(matches!(wal.close(), Err(Error::Poisoned)));

    let (read, _, mut wal) = open_entries(&dir, small_segments()).expect("reopen");
    let read: Vec<(u64, Vec<u8>)> = read.into_iter().map(|e| (e.index, e.payload)).collect();
    // The unacknowledged batch may or may not have reached the disk; the acknowledged one must have.
    assert!(read[..5] == acked[..], "acknowledged records changed");
    assert!(
        read.len() == 5 || read[5..] == unacked[..],
        "the unsynced batch was written whole"
    );
    let next = read.len() as u64 + 1;
    wal.append(&records(&entries(next..=next)))
        .expect("append after reopen");
}

#[test]
fn a_failure_while_cutting_a_segment_poisons_the_wal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Count the writes that fill the first segment, on a scratch WAL written the same way.
    let scratch_dir = tmp.path().join("scratch");
    let mut scratch = Wal::create(&scratch_dir, b"meta", small_segments()).expect("create");
    let mut writes_to_cut = 0;
    while scratch.segment_count() == 1 {
        writes_to_cut += 1;
        scratch
            .write(&records(&entries(writes_to_cut..=writes_to_cut)))
            .expect("write");
    }
    drop(scratch);

    let dir = tmp.path().join("wal");
    let faults = FaultInjector::new();
    let mut wal = Wal::create(
        &dir,
        b"meta",
        small_segments().fault_injector(faults.clone()),
    )
    .expect("create");
    for i in 1..writes_to_cut {
        wal.write(&records(&entries(i..=i))).expect("write");
    }
    // This write fills the segment: the sync before the cut fails.
    faults.fail_next_sync();
    let result = wal.write(&records(&entries(writes_to_cut..=writes_to_cut)));
    assert!(matches!(result, Err(Error::Io { .. })), "{result:?}");
    assert!(wal.is_poisoned());
    assert_eq!(
        wal.segment_count(),
        1,
        "no segment may be cut after a failed sync"
    );
    assert!(matches!(
        wal.append(&records(&entries(1000..=1000))),
        Err(Error::Poisoned)
    ));
    drop(wal);
    let (read, _, _) = open_entries(&dir, small_segments()).expect("reopen recovers");
    let indices: Vec<u64> = read.iter().map(|e| e.index).collect();
    assert_eq!(
        indices,
        (1..=writes_to_cut).collect::<Vec<_>>(),
        "written records are readable in order"
    );
}
