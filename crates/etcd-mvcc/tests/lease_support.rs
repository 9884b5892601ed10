//! What the lessor needs from the store: lease checks at apply, one-revision deletes, its own table committed
//! with the key-value changes, and the keys that name a lease.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

mod common;

use common::*;
use etcd_mvcc::Error;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{Compare, PutRequest, RequestOp, TxnRequest};
use etcd_proto::mvccpb::event::EventType;

fn leased(key: &str, lease: i64) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: b"v".to_vec(),
        lease,
        ..Default::default()
    }
}

#[test]
fn a_put_or_a_taken_txn_branch_naming_a_missing_lease_is_refused() {
    let s = open();
    let only_7 = |id: i64| id == 7;
    let mut b = s.write().unwrap();
    assert_eq!(
        b.put_leased(&leased("a", 8), &only_7).err(),
        Some(Error::LeaseNotFound)
    );
    b.put_leased(&leased("a", 7), &only_7).unwrap();
    // The failure branch names lease 8, but the success branch is taken.
    let txn = TxnRequest {
        compare: vec![Compare {
            key: b"a".to_vec(),
            result: CompareResult::Greater as i32,
            target: CompareTarget::Version as i32,
            target_union: Some(TargetUnion::Version(0)),
            ..Default::default()
        }],
        success: vec![RequestOp {
            request: Some(Request::RequestPut(leased("b", 7))),
        }],
        failure: vec![RequestOp {
            request: Some(Request::RequestPut(leased("c", 8))),
        }],
    };
    assert!(b.txn_leased(&txn, 128, &only_7).unwrap().succeeded);
    let mut refused = txn.clone();
    refused.success = refused.failure.clone();
    let before = b.revision();
    assert_eq!(
        b.txn_leased(&refused, 128, &only_7).err(),
        Some(Error::LeaseNotFound)
    );
    assert_eq!(b.revision(), before, "nothing written");
    b.commit().unwrap();
}

#[test]
fn deleting_a_leases_keys_takes_one_revision_and_the_lease_table_commits_with_it() {
    let s = open();
    put_req(&s, leased("k1", 5));
    put_req(&s, leased("k2", 5));
    put(&s, "other", "x");
    assert_eq!(
        s.leased_keys().unwrap(),
        vec![(b"k1".to_vec(), 5), (b"k2".to_vec(), 5)]
    );
    let mut b = s.write().unwrap();
    b.put_aux("lease", b"id-9", b"nine").unwrap();
    let n = b.event_count();
    assert_eq!(
        b.delete_keys(&[b"k1".to_vec(), b"k2".to_vec(), b"gone".to_vec()])
            .unwrap(),
        2
    );
    let events = b.events_since(n);
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.r#type == EventType::Delete as i32
        && e.prev_kv.as_ref().is_some_and(|p| p.lease == 5)));
    assert!(
        b.put_aux("kv", b"x", b"y").is_err(),
        "the store's own tables are refused"
    );
    let committed = b.commit().unwrap();
    assert_eq!(committed.revision, 5, "both deletes at one revision");
    assert_eq!(
        s.aux_entries("lease").unwrap(),
        vec![(b"id-9".to_vec(), b"nine".to_vec())]
    );
    let s = s.reopen();
    assert_eq!(s.aux_entries("lease").unwrap().len(), 1);
    assert!(s.leased_keys().unwrap().is_empty());
    let mut b = s.write().unwrap();
    b.delete_aux("lease", b"id-9").unwrap();
    b.commit().unwrap();
    assert!(s.aux_entries("lease").unwrap().is_empty());
    assert!(s.aux_entries("never-made").unwrap().is_empty());
}
