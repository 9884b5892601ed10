//! Put, DeleteRange, Txn and Compact: one test per rule.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

mod common;

use common::*;
use etcd_mvcc::Error;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

fn put_op(k: &str, v: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: k.into(),
            value: v.into(),
            ..Default::default()
        })),
    }
}
fn del_op(k: &str, end: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
            key: k.into(),
            range_end: end.into(),
            ..Default::default()
        })),
    }
}
fn range_op(k: &str) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestRange(RangeRequest {
            key: k.into(),
            ..Default::default()
        })),
    }
}
fn txn_op(t: TxnRequest) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestTxn(t)),
    }
}
fn cmp(k: &str, target: CompareTarget, result: CompareResult, u: TargetUnion) -> Compare {
    Compare {
        key: k.into(),
        target: target as i32,
        result: result as i32,
        target_union: Some(u),
        range_end: vec![],
    }
}
fn txn(
    s: &etcd_mvcc::Store,
    t: &TxnRequest,
) -> Result<(etcd_proto::etcdserverpb::TxnResponse, i64), Error> {
    let mut b = s.write()?;
    let r = b.txn(t, 128)?;
    Ok((r, b.commit()?.revision))
}

#[test]
fn put_without_a_key_is_refused() {
    let s = open();
    let err = s.write().unwrap().put(&PutRequest::default()).unwrap_err();
    assert_eq!(err.to_string(), "etcdserver: key is not provided");
}

#[test]
fn put_prev_kv_answers_the_previous_version() {
    let s = open();
    put(&s, "k", "v1");
    let mut b = s.write().unwrap();
    let r = b
        .put(&PutRequest {
            key: "k".into(),
            value: "v2".into(),
            prev_kv: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.prev_kv.unwrap().value, b"v1");
    let r = b
        .put(&PutRequest {
            key: "new".into(),
            prev_kv: true,
            ..Default::default()
        })
        .unwrap();
    assert!(r.prev_kv.is_none());
}

#[test]
fn put_with_a_lease_records_it() {
    let s = open();
    put_req(
        &s,
        PutRequest {
            key: "k".into(),
            lease: 77,
            ..Default::default()
        },
    );
    assert_eq!(get(&s, range("k", "")).kvs[0].lease, 77);
}

#[test]
fn ignore_value_keeps_the_value_and_ignore_lease_keeps_the_lease() {
    let s = open();
    put_req(
        &s,
        PutRequest {
            key: "k".into(),
            value: "v".into(),
            lease: 5,
            ..Default::default()
        },
    );
    put_req(
        &s,
        PutRequest {
            key: "k".into(),
            ignore_value: true,
            lease: 6,
            ..Default::default()
        },
    );
    let kv = get(&s, range("k", "")).kvs.remove(0);
    assert_eq!(
        (kv.value.as_slice(), kv.lease, kv.version),
        (b"v".as_slice(), 6, 2)
    );
    put_req(
        &s,
        PutRequest {
            key: "k".into(),
            value: "w".into(),
            ignore_lease: true,
            ..Default::default()
        },
    );
    let kv = get(&s, range("k", "")).kvs.remove(0);
    assert_eq!((kv.value.as_slice(), kv.lease), (b"w".as_slice(), 6));
}

#[test]
fn ignore_value_or_lease_on_a_missing_key_is_key_not_found() {
    let s = open();
    let mut b = s.write().unwrap();
    let err = b
        .put(&PutRequest {
            key: "k".into(),
            ignore_value: true,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "etcdserver: key not found");
    let err = b
        .put(&PutRequest {
            key: "k".into(),
            ignore_lease: true,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err, Error::KeyNotFound);
    assert_eq!(b.revision(), 1);
}

#[test]
fn ignore_value_with_a_value_and_ignore_lease_with_a_lease_are_refused() {
    let s = open();
    let mut b = s.write().unwrap();
    let err = b
        .put(&PutRequest {
            key: "k".into(),
            value: "v".into(),
            ignore_value: true,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "etcdserver: value is provided");
    let err = b
        .put(&PutRequest {
            key: "k".into(),
            lease: 1,
            ignore_lease: true,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "etcdserver: lease is provided");
}

#[test]
fn delete_range_counts_and_answers_prev_kvs_in_one_revision() {
    let s = open();
    for k in ["a", "b", "c"] {
        put(&s, k, k);
    }
    let mut b = s.write().unwrap();
    let r = b
        .delete_range(&DeleteRangeRequest {
            key: "a".into(),
            range_end: "c".into(),
            prev_kv: true,
        })
        .unwrap();
    assert_eq!(
        (r.deleted, keys(&r.prev_kvs)),
        (2, vec!["a".to_string(), "b".to_string()])
    );
    let c = b.commit().unwrap();
    assert_eq!(c.revision, 5);
    assert!(
        c.events
            .iter()
            .all(|e| e.kv.as_ref().unwrap().mod_revision == 5 && e.r#type == 1)
    );
}

#[test]
fn deleting_nothing_does_not_take_a_revision() {
    let s = open();
    put(&s, "a", "1");
    assert_eq!(delete(&s, "zz", ""), 0);
    assert_eq!(s.current_revision(), 2);
}

#[test]
fn each_request_in_a_batch_takes_its_own_revision_and_sees_the_ones_before() {
    let s = open();
    let mut b = s.write().unwrap();
    b.put(&PutRequest {
        key: "k".into(),
        value: "1".into(),
        ..Default::default()
    })
    .unwrap();
    let r = b
        .put(&PutRequest {
            key: "k".into(),
            value: "2".into(),
            prev_kv: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.prev_kv.unwrap().mod_revision, 2);
    let d = b
        .delete_range(&DeleteRangeRequest {
            key: "k".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(d.deleted, 1);
    // Readers see nothing before the commit.
    assert_eq!(get(&s, range("k", "")).count, 0);
    assert_eq!(b.commit().unwrap().revision, 4);
    let h = get(
        &s,
        RangeRequest {
            revision: 3,
            ..range("k", "")
        },
    );
    assert_eq!(
        (h.kvs[0].value.as_slice(), h.kvs[0].version),
        (b"2".as_slice(), 2)
    );
}

#[test]
fn txn_compare_on_value_version_create_mod_and_lease() {
    let s = open();
    put_req(
        &s,
        PutRequest {
            key: "k".into(),
            value: "v".into(),
            lease: 9,
            ..Default::default()
        },
    );
    use CompareResult::*;
    use CompareTarget::*;
    let cases = [
        (cmp("k", Value, Equal, TargetUnion::Value("v".into())), true),
        (
            cmp("k", Value, Greater, TargetUnion::Value("a".into())),
            true,
        ),
        (cmp("k", Version, Equal, TargetUnion::Version(1)), true),
        (cmp("k", Version, NotEqual, TargetUnion::Version(1)), false),
        (
            cmp("k", Create, Equal, TargetUnion::CreateRevision(2)),
            true,
        ),
        (cmp("k", Mod, Less, TargetUnion::ModRevision(3)), true),
        (cmp("k", Lease, Equal, TargetUnion::Lease(9)), true),
        (
            cmp("missing", Version, Equal, TargetUnion::Version(0)),
            true,
        ),
        (
            cmp("missing", Create, Equal, TargetUnion::CreateRevision(0)),
            true,
        ),
        (
            cmp("missing", Value, Equal, TargetUnion::Value(vec![])),
            false,
        ),
    ];
    for (c, want) in cases {
        let (r, _) = txn(
            &s,
            &TxnRequest {
                compare: vec![c.clone()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.succeeded, want, "{c:?}");
    }
}

#[test]
fn txn_compare_over_a_range_must_hold_for_every_key() {
    let s = open();
    put(&s, "a", "1");
    put(&s, "b", "2");
    let mut c = cmp(
        "a",
        CompareTarget::Version,
        CompareResult::Equal,
        TargetUnion::Version(1),
    );
    c.range_end = b"c".to_vec();
    assert!(
        txn(
            &s,
            &TxnRequest {
                compare: vec![c.clone()],
                ..Default::default()
            }
        )
        .unwrap()
        .0
        .succeeded
    );
    put(&s, "b", "3");
    assert!(
        !txn(
            &s,
            &TxnRequest {
                compare: vec![c],
                ..Default::default()
            }
        )
        .unwrap()
        .0
        .succeeded
    );
}

#[test]
fn txn_writes_take_one_revision_and_reads_see_earlier_writes() {
    let s = open();
    put(&s, "z", "old");
    let t = TxnRequest {
        compare: vec![],
        success: vec![
            put_op("a", "1"),
            put_op("b", "2"),
            range_op("a"),
            del_op("z", ""),
        ],
        failure: vec![],
    };
    let (r, rev) = txn(&s, &t).unwrap();
    assert_eq!(rev, 3);
    assert!(r.succeeded);
    let Some(Response::ResponseRange(rr)) = &r.responses[2].response else {
        panic!()
    };
    assert_eq!(rr.kvs[0].value, b"1");
    assert_eq!(keys(&get(&s, range("a", "\0")).kvs), ["a", "b"]);
    assert_eq!(get(&s, range("b", "")).kvs[0].mod_revision, 3);
    assert_eq!(
        get(
            &s,
            RangeRequest {
                revision: 2,
                ..range("z", "")
            }
        )
        .count,
        1
    );
}

#[test]
fn a_read_only_txn_does_not_take_a_revision() {
    let s = open();
    put(&s, "a", "1");
    let (_, rev) = txn(
        &s,
        &TxnRequest {
            success: vec![range_op("a")],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rev, 2);
}

#[test]
fn txn_failure_branch_runs_when_a_compare_fails() {
    let s = open();
    let t = TxnRequest {
        compare: vec![cmp(
            "k",
            CompareTarget::Version,
            CompareResult::Greater,
            TargetUnion::Version(0),
        )],
        success: vec![put_op("then", "x")],
        failure: vec![put_op("else", "y")],
    };
    let (r, _) = txn(&s, &t).unwrap();
    assert!(!r.succeeded);
    assert_eq!(keys(&get(&s, range("\0", "\0")).kvs), ["else"]);
}

#[test]
fn nested_txns_compare_against_the_state_before_the_txn() {
    let s = open();
    let inner = TxnRequest {
        compare: vec![cmp(
            "k",
            CompareTarget::Version,
            CompareResult::Equal,
            TargetUnion::Version(0),
        )],
        success: vec![put_op("inner", "saw-no-k")],
        failure: vec![put_op("inner", "saw-k")],
    };
    let t = TxnRequest {
        success: vec![put_op("k", "v"), txn_op(inner)],
        ..Default::default()
    };
    let (r, rev) = txn(&s, &t).unwrap();
    assert_eq!(rev, 2);
    let Some(Response::ResponseTxn(nested)) = &r.responses[1].response else {
        panic!()
    };
    assert!(nested.succeeded);
    assert_eq!(get(&s, range("inner", "")).kvs[0].value, b"saw-no-k");
}

#[test]
fn txn_with_too_many_operations_is_refused() {
    let s = open();
    let t = TxnRequest {
        success: (0..129).map(|i| put_op(&format!("k{i}"), "v")).collect(),
        ..Default::default()
    };
    assert_eq!(
        txn(&s, &t).unwrap_err().to_string(),
        "etcdserver: too many operations in txn request"
    );
    let nested = TxnRequest {
        success: vec![txn_op(t)],
        ..Default::default()
    };
    assert_eq!(txn(&s, &nested).unwrap_err(), Error::TooManyOps);
}

#[test]
fn txn_putting_a_key_twice_or_inside_a_deleted_range_is_a_duplicate() {
    let s = open();
    let dup = |ops: Vec<RequestOp>| {
        txn(
            &s,
            &TxnRequest {
                success: ops,
                ..Default::default()
            },
        )
        .map(|_| ())
    };
    let msg = "etcdserver: duplicate key given in txn request";
    assert_eq!(
        dup(vec![put_op("a", "1"), put_op("a", "2")])
            .unwrap_err()
            .to_string(),
        msg
    );
    assert_eq!(
        dup(vec![del_op("a", "c"), put_op("b", "2")]).unwrap_err(),
        Error::DuplicateKey
    );
    assert_eq!(
        dup(vec![put_op("b", "2"), del_op("a", "\0")]).unwrap_err(),
        Error::DuplicateKey
    );
    let nested = TxnRequest {
        success: vec![put_op("a", "1")],
        ..Default::default()
    };
    assert_eq!(
        dup(vec![put_op("a", "0"), txn_op(nested)]).unwrap_err(),
        Error::DuplicateKey
    );
    // Allowed: two deletes of one key, and the same key in a nested txn's then and else.
    dup(vec![del_op("a", ""), del_op("a", "")]).unwrap();
    let both = TxnRequest {
        success: vec![put_op("x", "1")],
        failure: vec![put_op("x", "2")],
        ..Default::default()
    };
    dup(vec![txn_op(both)]).unwrap();
}

#[test]
fn txn_with_ignore_value_on_a_missing_key_fails_whole_and_writes_nothing() {
    let s = open();
    let t = TxnRequest {
        success: vec![
            put_op("a", "1"),
            RequestOp {
                request: Some(Request::RequestPut(PutRequest {
                    key: "b".into(),
                    ignore_value: true,
                    ..Default::default()
                })),
            },
        ],
        ..Default::default()
    };
    assert_eq!(txn(&s, &t).unwrap_err(), Error::KeyNotFound);
    assert_eq!(s.current_revision(), 1);
}

#[test]
fn compact_at_or_below_the_compaction_point_is_compacted_and_above_current_is_future() {
    let s = open();
    for i in 0..5 {
        put(&s, "k", &i.to_string());
    }
    assert_eq!(s.compact(7, None).unwrap_err(), Error::FutureRevision);
    s.compact(4, None).unwrap().wait().unwrap();
    assert_eq!(
        s.compact(4, None).unwrap_err().to_string(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(s.compact(3, None).unwrap_err(), Error::Compacted);
    assert_eq!(s.compact_revision(), 4);
}

#[test]
fn compaction_keeps_versions_and_survives_a_restart() {
    let s = open();
    for i in 0..5 {
        put(&s, "k", &i.to_string());
    }
    put(&s, "gone", "x");
    delete(&s, "gone", "");
    s.compact(8, None).unwrap().wait().unwrap();
    let kv = get(&s, range("k", "")).kvs.remove(0);
    assert_eq!((kv.version, kv.create_revision, kv.mod_revision), (5, 2, 6));
    let s = s.reopen();
    assert_eq!((s.compact_revision(), s.current_revision()), (8, 8));
    let kv = get(&s, range("k", "")).kvs.remove(0);
    assert_eq!((kv.version, kv.create_revision), (5, 2));
    assert_eq!(put(&s, "k", "next"), 9);
    assert_eq!(get(&s, range("k", "")).kvs[0].version, 6);
    assert_eq!(get(&s, range("gone", "")).count, 0);
}

#[test]
fn physical_compaction_frees_old_records_while_writes_go_on() {
    let s = open();
    let mut b = s.write().unwrap();
    for i in 0..5000 {
        b.put(&PutRequest {
            key: format!("k{}", i % 10).into(),
            value: vec![b'x'; 100],
            ..Default::default()
        })
        .unwrap();
    }
    b.commit().unwrap();
    let all_before = s.hash().unwrap();
    let job = s.compact(5001, None).unwrap();
    let at_start = s.hash_kv(5001).unwrap();
    put(&s, "during", "compaction");
    job.wait().unwrap();
    // HashKV at the compaction point is the same before and after the deletions; the tables did change.
    assert_eq!(s.hash_kv(5001).unwrap(), at_start);
    assert_ne!(s.hash().unwrap(), all_before);
    let s = s.reopen();
    assert_eq!(get(&s, range("k", "l")).count, 10);
    assert_eq!(get(&s, range("during", "")).count, 1);
}

#[test]
fn consistent_index_is_committed_with_the_data() {
    let s = open();
    let mut b = s.write().unwrap();
    b.put(&PutRequest {
        key: "k".into(),
        ..Default::default()
    })
    .unwrap();
    b.set_consistent_index(42, 3);
    b.commit().unwrap();
    assert_eq!(s.consistent_index(), (42, 3));
    assert_eq!(s.durable_index(), 0);
    assert_eq!(s.sync().unwrap(), 42);
    assert_eq!(s.durable_index(), 42);
    let s = s.reopen();
    assert_eq!(s.consistent_index(), (42, 3));
}

#[test]
fn txn_range_at_a_future_or_compacted_revision_fails_whole_before_any_write() {
    let s = open();
    put(&s, "a", "1");
    put(&s, "a", "2");
    let future = RequestOp {
        request: Some(Request::RequestRange(RangeRequest {
            key: "a".into(),
            revision: 9,
            ..Default::default()
        })),
    };
    let t = TxnRequest {
        success: vec![put_op("b", "x"), future],
        ..Default::default()
    };
    assert_eq!(txn(&s, &t).unwrap_err(), Error::FutureRevision);
    s.compact(3, None).unwrap().wait().unwrap();
    let old = RequestOp {
        request: Some(Request::RequestRange(RangeRequest {
            key: "a".into(),
            revision: 2,
            ..Default::default()
        })),
    };
    let t = TxnRequest {
        success: vec![put_op("b", "x"), old],
        ..Default::default()
    };
    assert_eq!(txn(&s, &t).unwrap_err(), Error::Compacted);
    assert_eq!(get(&s, range("b", "")).count, 0);
}

#[test]
fn a_compaction_inside_a_batch_takes_effect_at_commit_with_the_batch_writes() {
    let s = open();
    for i in 0..4 {
        put(&s, "k", &i.to_string());
    }
    let mut b = s.write().unwrap();
    b.put(&PutRequest {
        key: "k".into(),
        value: "4".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(b.compact(7).unwrap_err(), Error::FutureRevision);
    let done = b.compact(6).unwrap();
    assert_eq!(b.compact(6).unwrap_err(), Error::Compacted);
    b.set_consistent_index(10, 1);
    // Not yet visible.
    assert_eq!(s.compact_revision(), 0);
    b.commit().unwrap();
    done.wait().unwrap();
    assert_eq!(s.compact_revision(), 6);
    assert_eq!(s.consistent_index(), (10, 1));
    let err = s
        .range(&RangeRequest {
            revision: 5,
            ..range("k", "")
        })
        .unwrap_err();
    assert_eq!(err, Error::Compacted);
}
