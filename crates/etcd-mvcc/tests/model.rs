//! Property test: random operations on the store match a simple in-memory model that keeps the whole keyspace
//! at every revision; every revision not compacted reads back exactly, before and after a restart.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

mod common;

use std::collections::BTreeMap;

use common::*;
use etcd_mvcc::Error;
use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest, request_op::Request,
};
use etcd_proto::mvccpb::KeyValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The keyspace at each revision: `history[r]` is the state after revision `r` (index 0 unused).
struct Model {
    history: Vec<BTreeMap<Vec<u8>, KeyValue>>,
    compacted: i64,
}

impl Model {
    fn new() -> Self {
        Self {
            history: vec![BTreeMap::new(), BTreeMap::new()],
            compacted: 0,
        }
    }
    fn current(&self) -> i64 {
        self.history.len() as i64 - 1
    }
    /// Applies one request's changes at a new revision (if any change).
    fn apply(&mut self, puts: &[(Vec<u8>, Vec<u8>)], dels: &[(Vec<u8>, Vec<u8>)]) {
        let rev = self.current() + 1;
        let mut next = self.history.last().unwrap().clone();
        let mut changed = false;
        for (start, end) in dels {
            let doomed: Vec<Vec<u8>> = next
                .keys()
                .filter(|k| in_range(k, start, end))
                .cloned()
                .collect();
            for k in doomed {
                next.remove(&k);
                changed = true;
            }
        }
        for (k, v) in puts {
            let prev = next.get(k);
            let kv = KeyValue {
                key: k.clone(),
                create_revision: prev.map_or(rev, |p| p.create_revision),
                mod_revision: rev,
                version: prev.map_or(1, |p| p.version + 1),
                value: v.clone(),
                lease: 0,
            };
            next.insert(k.clone(), kv);
            changed = true;
        }
        if changed {
            self.history.push(next);
        }
    }
}

fn in_range(k: &[u8], start: &[u8], end: &[u8]) -> bool {
    match end {
        [] => k == start,
        [0] => k >= start,
        e => k >= start && k < e,
    }
}

fn key(rng: &mut StdRng) -> Vec<u8> {
    format!("k{}", rng.gen_range(0..12)).into_bytes()
}

fn end_for(rng: &mut StdRng, start: &[u8]) -> Vec<u8> {
    match rng.gen_range(0..3) {
        0 => vec![],
        1 => vec![0],
        _ => {
            let mut e = start.to_vec();
            *e.last_mut().unwrap() += rng.gen_range(0..3);
            e
        }
    }
}

fn check_all(store: &etcd_mvcc::Store, model: &Model, seed: u64) {
    assert_eq!(store.current_revision(), model.current(), "seed {seed}");
    for rev in 1..=model.current() {
        let req = RangeRequest {
            key: vec![0],
            range_end: vec![0],
            revision: rev,
            ..Default::default()
        };
        match store.range(&req) {
            Err(Error::Compacted) => assert!(rev < model.compacted, "seed {seed} rev {rev}"),
            Err(e) => panic!("seed {seed} rev {rev}: {e}"),
            Ok((got, _)) => {
                assert!(
                    rev >= model.compacted,
                    "seed {seed} rev {rev} readable below {}",
                    model.compacted
                );
                let want: Vec<KeyValue> = model.history[rev as usize].values().cloned().collect();
                assert_eq!(got.kvs, want, "seed {seed} rev {rev}");
                assert_eq!(got.count, want.len() as i64);
            }
        }
    }
}

#[test]
fn random_operations_match_the_model_at_every_revision() {
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut s = open();
        let mut model = Model::new();
        for _round in 0..30 {
            let mut batch = s.write().unwrap();
            for _ in 0..rng.gen_range(1..6) {
                match rng.gen_range(0..10) {
                    0..=4 => {
                        let (k, v) = (
                            key(&mut rng),
                            format!("v{}", rng.r#gen::<u16>()).into_bytes(),
                        );
                        batch
                            .put(&PutRequest {
                                key: k.clone(),
                                value: v.clone(),
                                ..Default::default()
                            })
                            .unwrap();
                        model.apply(&[(k, v)], &[]);
                    }
                    5..=6 => {
                        let k = key(&mut rng);
                        let e = end_for(&mut rng, &k);
                        batch
                            .delete_range(&DeleteRangeRequest {
                                key: k.clone(),
                                range_end: e.clone(),
                                prev_kv: false,
                            })
                            .unwrap();
                        model.apply(&[], &[(k, e)]);
                    }
                    _ => {
                        // A txn of distinct puts and a delete of a key none of them writes.
                        let mut puts: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
                        for _ in 0..rng.gen_range(1..4) {
                            puts.insert(
                                key(&mut rng),
                                format!("t{}", rng.r#gen::<u16>()).into_bytes(),
                            );
                        }
                        let del = b"k99".to_vec();
                        let mut ops: Vec<RequestOp> = puts
                            .iter()
                            .map(|(k, v)| RequestOp {
                                request: Some(Request::RequestPut(PutRequest {
                                    key: k.clone(),
                                    value: v.clone(),
                                    ..Default::default()
                                })),
                            })
                            .collect();
                        ops.push(RequestOp {
                            request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                                key: del.clone(),
                                ..Default::default()
                            })),
                        });
                        batch
                            .txn(
                                &TxnRequest {
                                    success: ops,
                                    ..Default::default()
                                },
                                128,
                            )
                            .unwrap();
                        let puts: Vec<_> = puts.into_iter().collect();
                        model.apply(&puts, &[(del, vec![])]);
                    }
                }
            }
            batch.commit().unwrap();
            if rng.gen_range(0..8) == 0 && model.current() > model.compacted {
                let at = rng.gen_range(model.compacted.max(1) + 1..=model.current());
                s.compact(at, None).unwrap().wait().unwrap();
                model.compacted = at;
            }
            if rng.gen_range(0..10) == 0 {
                s = s.reopen();
            }
        }
        check_all(&s, &model, seed);
        let s = s.reopen();
        check_all(&s, &model, seed);
    }
}
