//! WAL benchmarks: append + sync throughput by batch size (group commit), and replay throughput.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use etcd_wal::{Options, ReadFrom, Record, Wal};

const RECORD_SIZE: usize = 256;

fn append_and_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_sync_256B");
    group.sample_size(20);
    for batch in [1usize, 16, 128, 1024] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut wal =
            Wal::create(tmp.path().join("wal"), b"bench", Options::default()).expect("create");
        let payload = vec![0x5Au8; RECORD_SIZE];
        let mut next = 1u64;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            b.iter(|| {
                let records: Vec<Record<'_>> = (next..next + batch as u64)
                    .map(|i| Record::entry(i, &payload))
                    .collect();
                wal.append(&records).expect("append");
                next += batch as u64;
            })
        });
    }
    group.finish();
}

fn replay(c: &mut Criterion) {
    const TOTAL: usize = 32 << 20;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let mut wal = Wal::create(&dir, b"bench", Options::default()).expect("create");
    let payload = vec![0xA5u8; RECORD_SIZE];
    let count = TOTAL / RECORD_SIZE;
    for start in (1..=count as u64).step_by(1024) {
        let records: Vec<Record<'_>> = (start..start + 1024)
            .map(|i| Record::entry(i, &payload))
            .collect();
        wal.write(&records).expect("write");
    }
    wal.close().expect("close");

    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Bytes((count * RECORD_SIZE) as u64));
    group.bench_function("32MiB_of_256B_records", |b| {
        b.iter(|| {
            let mut replay = Wal::open(&dir, ReadFrom::Start, Options::default()).expect("open");
            let mut n = 0usize;
            while let Some(record) = replay.next_record() {
                n += record.expect("record").payload.len();
            }
            assert!(n >= count * RECORD_SIZE);
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = append_and_sync, replay
}
criterion_main!(benches);
