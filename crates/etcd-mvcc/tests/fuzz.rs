//! The v3 store's snapshot stream against arbitrary and damaged input (issue 20): a restore succeeds or is
//! refused, never panics, and a store it made opens.

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
