//! Snapshot benchmarks: save (with its fsyncs) and load (with verification) throughput.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etcd_snapshot::{SnapshotMeta, Snapshotter};

const SIZE: usize = 64 << 20;

fn save_and_load(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snaps = Snapshotter::new(tmp.path()).expect("snapshotter");
    let payload: Vec<u8> = (0..SIZE).map(|i| (i * 7 + i / 4096) as u8).collect();
    let mut group = c.benchmark_group("snapshot_64MiB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(SIZE as u64));
    let mut index = 0u64;
    group.bench_function("save", |b| {
        b.iter(|| {
            index += 1;
            snaps
                .save(SnapshotMeta { term: 1, index }, &payload)
                .expect("save");
            snaps.purge(1).expect("purge");
        })
    });
    group.bench_function("load", |b| {
        b.iter(|| {
            let snapshot = snaps.load_newest().expect("load").expect("a snapshot");
            assert_eq!(snapshot.data().len(), SIZE);
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = save_and_load
}
criterion_main!(benches);
