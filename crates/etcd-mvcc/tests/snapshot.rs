//! Snapshot stream round trip, damaged streams, and damaged database files.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

mod common;

use common::*;
use etcd_mvcc::{Error, Store};
use etcd_proto::etcdserverpb::RangeRequest;

fn filled() -> TestStore {
    let s = open();
    for i in 0..300 {
        put(&s, &format!("k{}", i % 40), &format!("v{i}"));
    }
    delete(&s, "k1", "k2");
    s.compact(100, None).unwrap().wait().unwrap();
    s
}

#[test]
fn a_snapshot_restores_to_an_identical_store() {
    let s = filled();
    let mut stream = Vec::new();
    let n = s.snapshot(&mut stream).unwrap();
    assert_eq!(n as usize, stream.len());
    let target = tempfile::tempdir().unwrap();
    let path = target.path().join("member/snap/db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    Store::restore(&path, stream.as_slice()).unwrap();
    let restored = Store::open(&path).unwrap();
    assert_eq!(restored.current_revision(), s.current_revision());
    assert_eq!(restored.compact_revision(), 100);
    assert_eq!(restored.hash_kv(0).unwrap(), s.hash_kv(0).unwrap());
    assert_eq!(restored.hash().unwrap(), s.hash().unwrap());
    let all = RangeRequest {
        key: vec![0],
        range_end: vec![0],
        revision: 150,
        ..Default::default()
    };
    assert_eq!(restored.range(&all).unwrap(), s.range(&all).unwrap());
}

#[test]
fn restore_replaces_an_existing_database() {
    let s = filled();
    let mut stream = Vec::new();
    s.snapshot(&mut stream).unwrap();
    let other = open();
    put(&other, "unrelated", "x");
    let path = other.dir.path().join("db");
    let TestStore { dir, store } = other;
    drop(store);
    Store::restore(&path, stream.as_slice()).unwrap();
    let restored = Store::open(&path).unwrap();
    assert_eq!(restored.hash_kv(0).unwrap(), s.hash_kv(0).unwrap());
    drop(dir);
}

#[test]
fn a_damaged_or_truncated_stream_is_refused_and_the_old_database_stays() {
    let s = filled();
    let mut stream = Vec::new();
    s.snapshot(&mut stream).unwrap();
    let target = open();
    put(&target, "mine", "kept");
    let path = target.dir.path().join("db");
    let TestStore { dir, store } = target;
    drop(store);
    let mut flipped = stream.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    for bad in [
        &stream[..stream.len() - 3],
        &stream[..20],
        flipped.as_slice(),
        b"not a snapshot at all".as_slice(),
    ] {
        match Store::restore(&path, bad) {
            Err(Error::Snapshot(_)) => {}
            other => panic!("damaged stream accepted: {other:?}"),
        }
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(get(&store, range("mine", "")).kvs[0].value, b"kept");
    drop(dir);
}

#[test]
fn a_corrupt_database_file_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = Store::open(&path).unwrap();
        for i in 0..100 {
            put(&s, &format!("k{i}"), "value");
        }
        s.sync().unwrap();
    }
    std::fs::write(&path, vec![0xAB; 64 * 1024]).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    std::fs::write(&path, b"").unwrap();
    // An empty file is a new database, not an error.
    drop(Store::open(&path));
}

#[test]
fn damaged_pages_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = Store::open(&path).unwrap();
        let mut b = s.write().unwrap();
        for i in 0..2000 {
            b.put(&etcd_proto::etcdserverpb::PutRequest {
                key: format!("key-{i:05}").into(),
                value: vec![b'v'; 64],
                ..Default::default()
            })
            .unwrap();
        }
        b.commit().unwrap();
        s.sync().unwrap();
    }
    let pristine = std::fs::read(&path).unwrap();
    for (n, offset) in (4096..pristine.len())
        .step_by(pristine.len() / 16 + 1)
        .enumerate()
    {
        let mut bytes = pristine.clone();
        for b in &mut bytes[offset..(offset + 512).min(pristine.len())] {
            *b ^= 0x5A;
        }
        std::fs::write(&path, &bytes).unwrap();
        // Either an error or a store that answers; never a panic.
        let outcome = std::panic::catch_unwind(|| match Store::open(&path) {
            Ok(s) => {
                let _ = s.range(&RangeRequest {
                    key: vec![0],
                    range_end: vec![0],
                    ..Default::default()
                });
                let _ = s.hash_kv(0);
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        });
        assert!(outcome.is_ok(), "damage #{n} at offset {offset} panicked");
    }
}
