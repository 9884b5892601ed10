//! Store benchmarks: set and get with 10k, 100k and 1M keys; memory per key at 1M keys (16-byte keys,
//! 128-byte values, printed in bytes/key); one write notifying 1000 watchers.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use etcd_store::{Depth, Expiry, NodeValue, Watching};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use etcd_store::Store;

/// Counts live heap bytes, to measure the store's memory per key.
struct CountingAlloc;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the pointer came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as for alloc and dealloc.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

const NOW: i64 = 1_795_392_000 * 1_000_000_000;
const VALUE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn key(i: u64) -> String {
    // "/1/" + a 16-byte name.
    format!("/1/{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn filled(n: u64) -> Store {
    let mut store = Store::new();
    for i in 0..n {
        store
            .set(&key(i), NodeValue::File(VALUE), Expiry::NEVER, NOW)
            .expect("set");
    }
    store
}

fn memory_per_key(_c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let store = filled(N);
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    let per_key = (after - before) as f64 / N as f64;
    println!(
        "memory: {per_key:.1} bytes/key for {N} keys (16-byte names, 128-byte values), event history included"
    );
    drop(store);
}

fn set_and_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    for n in [10_000u64, 100_000, 1_000_000] {
        let mut store = filled(n);
        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("set", n), |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                store
                    .set(&key(i), NodeValue::File(VALUE), Expiry::NEVER, NOW)
                    .expect("set");
            })
        });
        group.bench_function(BenchmarkId::new("get", n), |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                store.get(&key(i), Depth::Shallow, NOW).expect("get");
            })
        });
    }
    group.finish();
}

fn notify_watchers(c: &mut Criterion) {
    // Setup registers the watchers and the timed part writes; both need the store.
    let store = std::cell::RefCell::new(filled(1000));
    c.bench_function("set_notifying_1000_watchers", |b| {
        b.iter_batched(
            || {
                let mut store = store.borrow_mut();
                (0..1000)
                    .map(|_| {
                        store
                            .watch("/1/watched", Depth::Shallow, Watching::Once, 0)
                            .expect("watch")
                    })
                    .collect::<Vec<_>>()
            },
            |watches| {
                store
                    .borrow_mut()
                    .set("/1/watched", NodeValue::File(VALUE), Expiry::NEVER, NOW)
                    .expect("set");
                watches
            },
            BatchSize::PerIteration,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = memory_per_key, set_and_get, notify_watchers
}
criterion_main!(benches);
