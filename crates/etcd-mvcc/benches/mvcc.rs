//! Put, Range (one key; a 100-key prefix with limit 10) and Txn on a store holding 1M keys of 256-byte values;
//! restart (reopen + index rebuild) with those keys; heap and database bytes per key.
//!
//! `cargo bench -p etcd-mvcc`. Under `--test` (the gate runs every bench once) the store holds 10k keys.

#![allow(clippy::unwrap_used)] // A benchmark that cannot set up has nothing to measure.
#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use etcd_mvcc::Store;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{Compare, PutRequest, RangeRequest, RequestOp, TxnRequest};
use rand::{Rng, SeedableRng};

struct Counting;
static HEAP: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HEAP.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HEAP.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HEAP.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

fn bench(c: &mut Criterion) {
    let quick = std::env::args().any(|a| a == "--test");
    let n: u64 = if quick { 10_000 } else { 1_000_000 };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let before = HEAP.load(Ordering::Relaxed);
    let store = Store::open(&path).unwrap();
    let started = Instant::now();
    for chunk in 0..n.div_ceil(10_000) {
        let mut b = store.write().unwrap();
        for i in chunk * 10_000..((chunk + 1) * 10_000).min(n) {
            b.put(&PutRequest {
                key: key(i),
                value: vec![b'v'; 256],
                ..Default::default()
            })
            .unwrap();
        }
        b.commit().unwrap();
    }
    store.sync().unwrap();
    let fill = started.elapsed();
    let heap = HEAP.load(Ordering::Relaxed) - before;
    eprintln!(
        "filled {n} keys in {fill:?} ({:.0} puts/s in batches of 10k); heap {:.1} bytes/key; db {:.1} bytes/key",
        n as f64 / fill.as_secs_f64(),
        heap as f64 / n as f64,
        store.db_size() as f64 / n as f64
    );
    drop(store);
    let before = HEAP.load(Ordering::Relaxed);
    let started = Instant::now();
    let store = Store::open(&path).unwrap();
    eprintln!(
        "restart with {n} keys: {:?}; heap after restart {:.1} bytes/key",
        started.elapsed(),
        (HEAP.load(Ordering::Relaxed) - before) as f64 / n as f64
    );

    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut g = c.benchmark_group("mvcc");
    g.bench_function("put (one per commit)", |b| {
        b.iter(|| {
            let mut w = store.write().unwrap();
            w.put(&PutRequest {
                key: key(rng.gen_range(0..n)),
                value: vec![b'w'; 256],
                ..Default::default()
            })
            .unwrap();
            w.commit().unwrap()
        })
    });
    g.bench_function("put (64 per commit, per put)", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            let mut left = iters;
            while left > 0 {
                let mut w = store.write().unwrap();
                for _ in 0..left.min(64) {
                    w.put(&PutRequest {
                        key: key(rng.gen_range(0..n)),
                        value: vec![b'w'; 256],
                        ..Default::default()
                    })
                    .unwrap();
                }
                w.commit().unwrap();
                left = left.saturating_sub(64);
            }
            started.elapsed()
        })
    });
    g.bench_function("range one key", |b| {
        b.iter(|| {
            store
                .range(&RangeRequest {
                    key: key(rng.gen_range(0..n)),
                    ..Default::default()
                })
                .unwrap()
        })
    });
    g.bench_function("range 100-key prefix, limit 10", |b| {
        b.iter(|| {
            let p = rng.gen_range(0..n / 100);
            let prefix = format!("key{p:06}").into_bytes();
            let mut end = prefix.clone();
            *end.last_mut().unwrap() += 1;
            let (r, _) = store
                .range(&RangeRequest {
                    key: prefix,
                    range_end: end,
                    limit: 10,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!((r.kvs.len(), r.count), (10, 100));
        })
    });
    g.bench_function("txn compare + put (one per commit)", |b| {
        b.iter(|| {
            let k = key(rng.gen_range(0..n));
            let t = TxnRequest {
                compare: vec![Compare {
                    key: k.clone(),
                    target: CompareTarget::Version as i32,
                    result: CompareResult::Greater as i32,
                    target_union: Some(TargetUnion::Version(0)),
                    range_end: vec![],
                }],
                success: vec![RequestOp {
                    request: Some(Request::RequestPut(PutRequest {
                        key: k,
                        value: vec![b't'; 256],
                        ..Default::default()
                    })),
                }],
                failure: vec![],
            };
            let mut w = store.write().unwrap();
            assert!(w.txn(&t, 128).unwrap().succeeded);
            w.commit().unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
