//! Helpers shared by the store's tests.
#![allow(dead_code)]

use etcd_mvcc::Store;
use etcd_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest};
use etcd_proto::mvccpb::KeyValue;

pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

pub fn open() -> TestStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("db")).expect("open");
    TestStore { dir, store }
}

impl TestStore {
    pub fn reopen(self) -> TestStore {
        let TestStore { dir, store } = self;
        drop(store);
        let store = Store::open(&dir.path().join("db")).expect("reopen");
        TestStore { dir, store }
    }
}

pub fn put(store: &Store, key: &str, value: &str) -> i64 {
    put_req(
        store,
        PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        },
    )
}

pub fn put_req(store: &Store, req: PutRequest) -> i64 {
    let mut b = store.write().expect("write");
    b.put(&req).expect("put");
    b.commit().expect("commit").revision
}

pub fn delete(store: &Store, key: &str, range_end: &str) -> i64 {
    let mut b = store.write().expect("write");
    let n = b
        .delete_range(&DeleteRangeRequest {
            key: key.into(),
            range_end: range_end.into(),
            ..Default::default()
        })
        .expect("delete")
        .deleted;
    b.commit().expect("commit");
    n
}

pub fn get(store: &Store, req: RangeRequest) -> etcd_mvcc::RangeResult {
    store.range(&req).expect("range").0
}

pub fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

pub fn range(key: &str, end: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: end.into(),
        ..Default::default()
    }
}
