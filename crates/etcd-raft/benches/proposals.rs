//! Committed proposals per second with 1 and 3 in-process members on real disk: 64 concurrent proposers,
//! 256-byte entries. Prints the entries per fsync each run achieved (group commit at work).
#![allow(missing_docs)] // criterion_group! generates undocumented items

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harness::{Cluster, Settings};

const PROPOSERS: u64 = 64;

fn proposals(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("committed_proposals_256B_64_proposers");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    for members in [1u64, 3] {
        let cluster = runtime.block_on(Cluster::start(members, Settings::default()));
        let leader = runtime.block_on(cluster.leader());
        let handle = cluster.handle(leader);
        let before = runtime.block_on(handle.status()).expect("status");
        group.bench_function(format!("{members}_members"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let per_task = iters.div_ceil(PROPOSERS);
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..PROPOSERS)
                        .map(|_| {
                            let handle = handle.clone();
                            tokio::spawn(async move {
                                for _ in 0..per_task {
                                    handle.propose(vec![0x42; 256]).await.expect("committed");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("proposer");
                    }
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per_task * PROPOSERS) as f64)
                })
            })
        });
        let after = runtime.block_on(handle.status()).expect("status");
        let syncs = after.wal_syncs - before.wal_syncs;
        let entries = after.wal_entries - before.wal_entries;
        if syncs > 0 {
            println!(
                "{members} member(s): {entries} entries in {syncs} fsyncs on the leader = {:.1} entries/fsync",
                entries as f64 / syncs as f64
            );
        }
        runtime.block_on(cluster.shutdown());
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = proposals
}
criterion_main!(benches);
