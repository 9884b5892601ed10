//! Defragmentation returns the space compaction freed, keeps every record the store still serves, and lets
//! writes and reads go on while it copies.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use etcd_proto::etcdserverpb::RangeRequest;

fn everything(store: &etcd_mvcc::Store, revision: i64) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    let (found, _) = store
        .range(&RangeRequest {
            key: vec![0],
            range_end: vec![0],
            revision,
            ..Default::default()
        })
        .unwrap();
    found
        .kvs
        .into_iter()
        .map(|kv| (kv.key, kv.value, kv.mod_revision))
        .collect()
}

#[test]
fn defragmentation_shrinks_the_file_and_keeps_every_served_record() {
    let s = open();
    let big = "v".repeat(4096);
    for i in 0..2_000 {
        put(&s, &format!("key/{i:05}"), &big);
    }
    for i in 0..100 {
        put(&s, &format!("keep/{i}"), &format!("{i}"));
    }
    delete(&s, "key/", "key0");
    let at = s.current_revision();
    s.compact(at, None).unwrap().wait().unwrap();
    put(&s, "after-compaction", "x");
    let before = (everything(&s, 0), everything(&s, at), s.hash_kv(0).unwrap());

    let done = s.defragment().unwrap();
    assert!(
        done.size_after * 4 < done.size_before,
        "{} bytes before, {} after",
        done.size_before,
        done.size_after
    );
    assert_eq!(s.db_size(), done.size_after);
    let after = (everything(&s, 0), everything(&s, at), s.hash_kv(0).unwrap());
    assert_eq!(before, after);

    // Writes go to the new file, and it is the one a restart opens.
    let rev = put(&s, "after-defrag", "y");
    let s = s.reopen();
    assert_eq!(s.current_revision(), rev);
    assert_eq!(everything(&s, at), before.1);
    assert_eq!(everything(&s, 0).len(), before.0.len() + 1);
    assert!(!s.dir.path().join("db.defrag").exists());
}

#[test]
fn writes_and_reads_go_on_while_the_store_is_defragmented() {
    let s = open();
    let value = "w".repeat(1024);
    for i in 0..3_000 {
        put(&s, &format!("old/{i}"), &value);
    }
    let stop = AtomicBool::new(false);
    let written = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut written = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Acquire) || i < 200 {
                let key = format!("new/{i:06}");
                let rev = put(&s, &key, &i.to_string());
                written.push((key, rev));
                i += 1;
            }
            written
        });
        let reader = scope.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                let (found, _) = s
                    .range(&RangeRequest {
                        key: b"old/1".to_vec(),
                        ..Default::default()
                    })
                    .unwrap();
                assert_eq!(found.kvs.len(), 1);
            }
        });
        for _ in 0..3 {
            s.defragment().unwrap();
        }
        stop.store(true, Ordering::Release);
        reader.join().unwrap();
        writer.join().unwrap()
    });
    let s = s.reopen();
    for (key, rev) in written {
        let (found, _) = s
            .range(&RangeRequest {
                key: key.clone().into_bytes(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            found.kvs.first().map(|kv| kv.mod_revision),
            Some(rev),
            "{key}"
        );
    }
}
