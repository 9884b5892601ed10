//! Readers, a writer and compactions at once: every read sees whole txns (never a batch before its commit),
//! reads at current revisions never fail while compaction deletes records underneath them.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{PutRequest, RangeRequest, RequestOp, TxnRequest};

#[test]
fn readers_see_whole_txns_while_writes_and_compactions_go_on() {
    let s = open();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for round in 0..400 {
                let ops = (0..10)
                    .map(|k| RequestOp {
                        request: Some(Request::RequestPut(PutRequest {
                            key: format!("k{k}").into(),
                            value: round.to_string().into(),
                            ..Default::default()
                        })),
                    })
                    .collect();
                let mut b = s.write().unwrap();
                b.txn(
                    &TxnRequest {
                        success: ops,
                        ..Default::default()
                    },
                    128,
                )
                .unwrap();
                b.commit().unwrap();
                if round % 50 == 49 {
                    let at = s.current_revision() - 5;
                    s.compact(at, None).unwrap();
                }
            }
            stop.store(true, Ordering::Release);
        });
        for _ in 0..2 {
            scope.spawn(|| {
                let mut reads = 0;
                while !stop.load(Ordering::Acquire) || reads == 0 {
                    let (r, rev) = s
                        .range(&RangeRequest {
                            key: "k".into(),
                            range_end: "l".into(),
                            ..Default::default()
                        })
                        .unwrap();
                    if r.kvs.is_empty() {
                        continue;
                    }
                    assert_eq!(r.kvs.len(), 10);
                    let first = &r.kvs[0];
                    assert!(
                        r.kvs
                            .iter()
                            .all(|kv| kv.value == first.value
                                && kv.mod_revision == first.mod_revision)
                    );
                    assert_eq!(first.mod_revision, rev);
                    reads += 1;
                }
            });
        }
    });
    assert_eq!(s.current_revision(), 401);
    let s = s.reopen();
    assert_eq!(get(&s, range("k", "l")).kvs[9].value, b"399");
}
