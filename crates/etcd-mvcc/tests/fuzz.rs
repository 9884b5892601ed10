//! The v3 store against arbitrary and damaged input (issue 20): a snapshot stream restores or is refused, never
//! panics, and a store it made opens; a backend whose records (keys or values of the `kv` and `meta` tables) are
//! damaged opens or is refused, and is read, hashed and compacted without a panic.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

mod common;

use common::*;
use etcd_mvcc::Store;
use proptest::prelude::*;
use proptest::sample::Index;

fn valid_stream() -> Vec<u8> {
    let s = open();
    for i in 0..30 {
        put(&s, &format!("k{}", i % 7), &format!("v{i}"));
    }
    delete(&s, "k1", "k2");
    let mut stream = Vec::new();
    s.snapshot(&mut stream).unwrap();
    stream
}

/// Restores `bytes` into a fresh directory; a store that restored must open.
fn restore(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    if Store::restore(&path, bytes).is_ok() {
        Store::open(&path).expect("a restored store opens");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_bytes_restore_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        restore(&bytes);
    }

    #[test]
    fn a_damaged_or_cut_stream_restores_or_is_refused(at in any::<Index>(), byte in any::<u8>(), cut in any::<Index>()) {
        let valid = valid_stream();
        let mut damaged = valid.clone();
        damaged[at.index(valid.len())] = byte;
        restore(&damaged);
        restore(&valid[..cut.index(valid.len())]);
    }
}

#[test]
fn a_frame_longer_than_the_stream_is_refused() {
    // The header, then a table frame claiming 1 GiB of name with five bytes there. The reader grows its buffer
    // as bytes arrive instead of allocating the claimed length first.
    let mut damaged = b"ETCDRSDB".to_vec();
    damaged.extend_from_slice(&1u32.to_be_bytes());
    damaged.push(b'T');
    damaged.extend_from_slice(&(1u32 << 30).to_be_bytes());
    damaged.extend_from_slice(b"short");
    let dir = tempfile::tempdir().unwrap();
    let e = Store::restore(&dir.path().join("db"), damaged.as_slice()).unwrap_err();
    assert!(
        e.to_string()
            .contains("truncated stream: 5 of 1073741824 bytes"),
        "{e}"
    );
}

/// Overwrites records of the closed store's backend with `damage` (table, which record, new bytes for the key or
/// the value), as a damaged disk page would read back, then opens it and reads everything: the store opens or is
/// refused, and what it answers it answers without panicking.
fn open_damaged(damage: &[(bool, Index, bool, Vec<u8>)]) {
    let s = open();
    for i in 0..20 {
        put(&s, &format!("k{}", i % 6), &format!("v{i}"));
    }
    delete(&s, "k1", "k2");
    let dir = s.dir;
    drop(s.store);
    let path = dir.path().join("db");
    {
        let db = redb::Database::open(&path).unwrap();
        let write = db.begin_write().unwrap();
        for (meta, which, key, bytes) in damage {
            let name = if *meta { "meta" } else { "kv" };
            let def = redb::TableDefinition::<&[u8], &[u8]>::new(name);
            let mut table = write.open_table(def).unwrap();
            let records: Vec<(Vec<u8>, Vec<u8>)> = {
                use redb::ReadableTable;
                table
                    .iter()
                    .unwrap()
                    .map(|r| {
                        let (k, v) = r.unwrap();
                        (k.value().to_vec(), v.value().to_vec())
                    })
                    .collect()
            };
            if records.is_empty() {
                continue;
            }
            let (k, v) = &records[which.index(records.len())];
            if *key {
                table.remove(k.as_slice()).unwrap();
                table.insert(bytes.as_slice(), v.as_slice()).unwrap();
            } else {
                table.insert(k.as_slice(), bytes.as_slice()).unwrap();
            }
        }
        drop(db_commit(write));
    }
    let Ok(store) = Store::open(&path) else {
        return;
    };
    let all = etcd_proto::etcdserverpb::RangeRequest {
        key: vec![0],
        range_end: vec![0],
        ..Default::default()
    };
    let _ = store.range(&all);
    let _ = store.hash_kv(0);
    let _ = store.hash();
    let _ = store.leased_keys();
    let _ = store.compact(store.current_revision(), None);
}

fn db_commit(write: redb::WriteTransaction) -> Result<(), redb::CommitError> {
    write.commit()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_store_with_damaged_records_opens_or_is_refused(
        damage in proptest::collection::vec(
            (any::<bool>(), any::<Index>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)),
            1..4,
        )
    ) {
        open_damaged(&damage);
    }
}
