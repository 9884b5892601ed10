//! The watchable store: catch-up then live without gaps or duplicates, filters, compaction, slow watchers.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

mod common;

use common::*;
use etcd_mvcc::{WatchEvents, WatchSpec};
use etcd_proto::mvccpb::event::EventType;
use tokio::sync::mpsc;

fn spec(key: &str, end: &str, start: i64) -> WatchSpec {
    WatchSpec {
        key: key.into(),
        range_end: end.into(),
        start_revision: start,
        ..Default::default()
    }
}

fn drain(rx: &mut mpsc::Receiver<WatchEvents>) -> Vec<WatchEvents> {
    let mut out = Vec::new();
    while let Ok(m) = rx.try_recv() {
        out.push(m);
    }
    out
}

fn revisions(msgs: &[WatchEvents]) -> Vec<i64> {
    msgs.iter()
        .flat_map(|m| m.events.iter().map(|e| e.kv.as_ref().unwrap().mod_revision))
        .collect()
}

#[test]
fn a_watch_from_now_sees_only_later_writes() {
    let s = open();
    put(&s, "k", "old");
    let (tx, mut rx) = mpsc::channel(16);
    s.watch(spec("k", "", 0), tx).unwrap();
    put(&s, "k", "new");
    put(&s, "other", "x");
    let msgs = drain(&mut rx);
    assert_eq!(revisions(&msgs), [3]);
    assert_eq!(msgs[0].events[0].kv.as_ref().unwrap().value, b"new");
    assert_eq!(msgs[0].revision, 3);
}

#[test]
fn a_watch_from_the_past_catches_up_then_goes_live_without_gaps_or_duplicates() {
    let s = open();
    for i in 0..2500 {
        put(&s, &format!("k{}", i % 7), &i.to_string());
    }
    let (tx, mut rx) = mpsc::channel(1024);
    s.watch(spec("k", "l", 2), tx).unwrap();
    let mut got = Vec::new();
    loop {
        got.extend(drain(&mut rx));
        if !s.sync_watchers().unwrap() {
            break;
        }
    }
    for i in 0..100 {
        put(&s, "k1", &i.to_string());
        if i % 10 == 0 {
            s.sync_watchers().unwrap();
        }
    }
    got.extend(drain(&mut rx));
    let revs = revisions(&got);
    assert_eq!(revs, (2..2602).collect::<Vec<_>>());
    // No revision is split across messages.
    for w in got.windows(2) {
        let last = w[0]
            .events
            .last()
            .unwrap()
            .kv
            .as_ref()
            .unwrap()
            .mod_revision;
        let first = w[1].events[0].kv.as_ref().unwrap().mod_revision;
        assert!(first > last);
    }
}

#[test]
fn filters_leave_puts_or_deletes_out_and_prev_kv_is_attached_on_request() {
    let s = open();
    let (tx1, mut no_put) = mpsc::channel(16);
    let (tx2, mut with_prev) = mpsc::channel(16);
    s.watch(
        WatchSpec {
            no_put: true,
            ..spec("k", "", 0)
        },
        tx1,
    )
    .unwrap();
    s.watch(
        WatchSpec {
            prev_kv: true,
            no_delete: true,
            ..spec("k", "", 0)
        },
        tx2,
    )
    .unwrap();
    put(&s, "k", "1");
    put(&s, "k", "2");
    delete(&s, "k", "");
    let d = drain(&mut no_put);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].events[0].r#type, EventType::Delete as i32);
    assert!(d[0].events[0].prev_kv.is_none());
    let p = drain(&mut with_prev);
    assert_eq!(revisions(&p), [2, 3]);
    assert!(p[0].events[0].prev_kv.is_none());
    assert_eq!(p[1].events[0].prev_kv.as_ref().unwrap().value, b"1");
}

#[test]
fn catch_up_attaches_prev_kv_too() {
    let s = open();
    put(&s, "k", "1");
    put(&s, "k", "2");
    let (tx, mut rx) = mpsc::channel(16);
    s.watch(
        WatchSpec {
            prev_kv: true,
            ..spec("k", "", 2)
        },
        tx,
    )
    .unwrap();
    let msgs = drain(&mut rx);
    assert_eq!(revisions(&msgs), [2, 3]);
    assert_eq!(msgs[0].events[1].prev_kv.as_ref().unwrap().value, b"1");
}

#[test]
fn a_start_below_the_compaction_point_reports_the_compact_revision() {
    let s = open();
    for i in 0..5 {
        put(&s, "k", &i.to_string());
    }
    s.compact(4, None).unwrap().wait().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let id = s.watch(spec("k", "", 2), tx).unwrap();
    let msgs = drain(&mut rx);
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].watch_id, msgs[0].compact_revision), (id, 4));
    assert_eq!(s.watcher_synced(id), None);
    // At the compaction point itself the watch works.
    let (tx, mut rx) = mpsc::channel(16);
    s.watch(spec("k", "", 4), tx).unwrap();
    assert_eq!(revisions(&drain(&mut rx)), [4, 5, 6]);
}

#[test]
fn a_slow_watcher_does_not_block_writes_and_still_sees_every_revision_once() {
    let s = open();
    let (tx, mut rx) = mpsc::channel(2);
    let id = s.watch(spec("k", "\0", 0), tx).unwrap();
    for i in 0..300 {
        put(&s, "k", &i.to_string());
    }
    assert_eq!(s.watcher_synced(id), Some(false));
    let mut got = Vec::new();
    for _ in 0..10_000 {
        got.extend(drain(&mut rx));
        if !s.sync_watchers().unwrap() && s.watcher_synced(id) == Some(true) {
            break;
        }
    }
    got.extend(drain(&mut rx));
    assert_eq!(revisions(&got), (2..302).collect::<Vec<_>>());
}

#[test]
fn a_watcher_left_behind_by_a_compaction_is_told_and_removed() {
    let s = open();
    let (tx, mut rx) = mpsc::channel(1);
    let id = s.watch(spec("k", "", 0), tx).unwrap();
    for i in 0..10 {
        put(&s, "k", &i.to_string());
    }
    let first = drain(&mut rx);
    assert_eq!(revisions(&first), [2]);
    s.compact(8, None).unwrap().wait().unwrap();
    let msgs = drain(&mut rx);
    assert_eq!(msgs.last().unwrap().compact_revision, 8);
    assert_eq!(s.watcher_synced(id), None);
}

#[test]
fn cancelled_and_dropped_watchers_are_removed() {
    let s = open();
    let (tx, rx) = mpsc::channel(4);
    let id = s.watch(spec("k", "", 0), tx).unwrap();
    let (tx2, _rx2) = mpsc::channel(4);
    let id2 = s.watch(spec("k", "", 0), tx2).unwrap();
    drop(rx);
    put(&s, "k", "v");
    assert_eq!(s.watcher_synced(id), None);
    assert!(s.cancel_watch(id2));
    assert_eq!(s.watcher_count(), 0);
}

#[test]
fn a_txn_reaches_watchers_as_one_message_at_one_revision() {
    use etcd_proto::etcdserverpb::{PutRequest, RequestOp, TxnRequest, request_op::Request};
    let s = open();
    let (tx, mut rx) = mpsc::channel(4);
    s.watch(spec("a", "z", 0), tx).unwrap();
    let op = |k: &str| RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: k.into(),
            ..Default::default()
        })),
    };
    let mut b = s.write().unwrap();
    b.txn(
        &TxnRequest {
            success: vec![op("a"), op("b"), op("c")],
            ..Default::default()
        },
        128,
    )
    .unwrap();
    b.commit().unwrap();
    let msgs = drain(&mut rx);
    assert_eq!(msgs.len(), 1);
    assert_eq!(revisions(&msgs), [2, 2, 2]);
}
