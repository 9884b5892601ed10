//! Watches: one-shot and stream, recursive, from the past through the 1000-event history (401 when too old),
//! hidden keys, directory deletes, buffer overflow, and cleanup of abandoned watchers.

mod common;

use common::NOW;
use etcd_api::v2::Action;
use etcd_store::{Depth, Expiry, NodeValue, Removal, Watching};
use etcd_store::{HISTORY_CAPACITY, Store, TryRecvError, WATCHER_BUFFER};

fn set(store: &mut Store, key: &str, value: &str) -> u64 {
    store
        .set(key, NodeValue::File(value), Expiry::NEVER, NOW)
        .expect("set")
        .node
        .modified_index
}

#[test]
fn a_one_shot_watch_gets_the_next_event_then_ends() {
    let mut store = Store::new();
    set(&mut store, "/1/foo", "a");
    let watch = store
        .watch("/1/foo", Depth::Shallow, Watching::Once, 0)
        .expect("watch");
    assert_eq!(watch.etcd_index, 1);
    assert_eq!(watch.receiver.try_recv(), Err(TryRecvError::Empty));
    set(&mut store, "/1/other", "x");
    assert_eq!(watch.receiver.try_recv(), Err(TryRecvError::Empty));
    set(&mut store, "/1/foo", "b");
    let e = watch.receiver.try_recv().expect("event");
    assert_eq!(
        (e.action, e.node.value.as_deref(), e.node.modified_index),
        (Action::Set, Some("b"), 3)
    );
    assert_eq!(watch.receiver.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(store.stats().watchers, 0);
}

#[test]
fn a_past_wait_index_is_answered_from_the_history() {
    let mut store = Store::new();
    set(&mut store, "/1/foo", "1");
    set(&mut store, "/1/bar", "2");
    set(&mut store, "/1/foo", "3");
    let watch = store
        .watch("/1/foo", Depth::Shallow, Watching::Once, 2)
        .expect("watch");
    let e = watch.receiver.try_recv().expect("from history");
    assert_eq!(e.node.modified_index, 3);
    assert_eq!(
        e.etcd_index, 3,
        "a history answer carries the index at registration"
    );
    assert_eq!(watch.receiver.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(
        store.stats().watchers,
        0,
        "answered watches are never registered"
    );
    // A future index waits.
    let later = store
        .watch("/1/foo", Depth::Shallow, Watching::Once, 10)
        .expect("watch");
    for i in 4..=10 {
        set(&mut store, "/1/foo", &i.to_string());
    }
    assert_eq!(
        later
            .receiver
            .try_recv()
            .expect("at index 10")
            .node
            .modified_index,
        10
    );
}

#[test]
fn a_wait_index_older_than_the_history_is_error_401() {
    let mut store = Store::new();
    for i in 0..(HISTORY_CAPACITY as u64 + 50) {
        set(&mut store, "/1/k", &i.to_string());
    }
    let current = store.index();
    let start = current - HISTORY_CAPACITY as u64 + 1;
    let err = store
        .watch("/1/k", Depth::Shallow, Watching::Once, start - 1)
        .expect_err("too old");
    assert_eq!(err.code.number(), 401);
    assert_eq!(err.code.http_status(), 400);
    assert_eq!(
        err.cause,
        format!(
            "the requested history has been cleared [{start}/{}]",
            start - 1
        )
    );
    assert_eq!(err.index, current);
    let ok = store
        .watch("/1/k", Depth::Shallow, Watching::Once, start)
        .expect("oldest kept");
    assert_eq!(
        ok.receiver.try_recv().expect("event").node.modified_index,
        start
    );
}

#[test]
fn recursive_watches_see_descendants_and_plain_ones_do_not() {
    let mut store = Store::new();
    let plain = store
        .watch("/1/dir", Depth::Shallow, Watching::Stream, 0)
        .expect("watch");
    let recursive = store
        .watch("/1/dir", Depth::Recursive, Watching::Stream, 0)
        .expect("watch");
    let root = store
        .watch("/", Depth::Recursive, Watching::Stream, 0)
        .expect("watch");
    set(&mut store, "/1/dir/a/b", "x");
    set(&mut store, "/1/dirx", "y");
    assert_eq!(plain.receiver.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        recursive.receiver.try_recv().expect("child event").node.key,
        "/1/dir/a/b"
    );
    assert_eq!(
        recursive.receiver.try_recv(),
        Err(TryRecvError::Empty),
        "/1/dirx is not below /1/dir"
    );
    assert_eq!(
        root.receiver.try_recv().expect("root sees all").node.key,
        "/1/dir/a/b"
    );
    assert_eq!(
        root.receiver.try_recv().expect("root sees all").node.key,
        "/1/dirx"
    );
}

#[test]
fn hidden_keys_reach_direct_watchers_and_history_but_not_live_recursive_watchers() {
    let mut store = Store::new();
    let recursive = store
        .watch("/1/d", Depth::Recursive, Watching::Stream, 0)
        .expect("watch");
    let direct = store
        .watch("/1/d/_h", Depth::Shallow, Watching::Once, 0)
        .expect("watch");
    let inside_hidden = store
        .watch("/1/d/_h", Depth::Recursive, Watching::Stream, 0)
        .expect("watch");
    set(&mut store, "/1/d/_h", "secret");
    set(&mut store, "/1/d/_hdir/x", "deeper");
    assert_eq!(recursive.receiver.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        direct.receiver.try_recv().expect("direct").node.key,
        "/1/d/_h"
    );
    assert_eq!(
        inside_hidden.receiver.try_recv().expect("own key").node.key,
        "/1/d/_h"
    );
    // The history scan does not filter hidden keys.
    let past = store
        .watch("/1/d", Depth::Recursive, Watching::Once, 1)
        .expect("watch");
    assert_eq!(
        past.receiver.try_recv().expect("from history").node.key,
        "/1/d/_h"
    );
}

#[test]
fn a_stream_watch_gets_every_event_but_only_one_from_the_history() {
    let mut store = Store::new();
    let stream = store
        .watch("/1/s", Depth::Shallow, Watching::Stream, 0)
        .expect("watch");
    for i in 0..3 {
        set(&mut store, "/1/s", &i.to_string());
    }
    let indices: Vec<u64> = std::iter::from_fn(|| stream.receiver.try_recv().ok())
        .map(|e| e.node.modified_index)
        .collect();
    assert_eq!(indices, vec![1, 2, 3]);
    assert_eq!(
        stream.receiver.try_recv(),
        Err(TryRecvError::Empty),
        "still open"
    );
    // etcd quirk: a stream whose wait index is in the history gets that one event, then nothing.
    let from_past = store
        .watch("/1/s", Depth::Shallow, Watching::Stream, 1)
        .expect("watch");
    assert_eq!(
        from_past
            .receiver
            .try_recv()
            .expect("one")
            .node
            .modified_index,
        1
    );
    set(&mut store, "/1/s", "later");
    assert_eq!(from_past.receiver.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn deleting_a_directory_tells_watchers_of_everything_in_it() {
    let mut store = Store::new();
    set(&mut store, "/1/wd/child", "c");
    let on_child = store
        .watch("/1/wd/child", Depth::Shallow, Watching::Once, 0)
        .expect("watch");
    let stream_on_dir = store
        .watch("/1/wd", Depth::Shallow, Watching::Stream, 0)
        .expect("watch");
    let e = store
        .delete("/1/wd", Removal::Recursive, NOW)
        .expect("delete");
    assert_eq!(
        e.without_prefix("/1").to_json(),
        r#"{"action":"delete","node":{"key":"/wd","dir":true,"modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/wd","dir":true,"modifiedIndex":1,"createdIndex":1}}"#
    );
    let heard = on_child.receiver.try_recv().expect("child watcher told");
    assert_eq!(
        (heard.action, heard.node.key.as_str()),
        (Action::Delete, "/1/wd")
    );
    // etcd quirk: a stream on the deleted directory gets the event twice.
    assert_eq!(
        stream_on_dir.receiver.try_recv().expect("first").node.key,
        "/1/wd"
    );
    assert_eq!(
        stream_on_dir.receiver.try_recv().expect("second").node.key,
        "/1/wd"
    );
    // The history matches a deleted directory by plain string prefix: /1/wd matches a watch on /1/wdx.
    let prefix_quirk = store
        .watch("/1/wdx", Depth::Shallow, Watching::Once, 2)
        .expect("watch");
    assert_eq!(
        prefix_quirk
            .receiver
            .try_recv()
            .expect("history match")
            .node
            .key,
        "/1/wd"
    );
}

#[test]
fn a_watcher_that_falls_behind_is_dropped() {
    let mut store = Store::new();
    let slow = store
        .watch("/1/k", Depth::Shallow, Watching::Stream, 0)
        .expect("watch");
    for i in 0..=WATCHER_BUFFER {
        set(&mut store, "/1/k", &i.to_string());
    }
    assert_eq!(
        store.stats().watchers,
        0,
        "the overflowing watcher is removed"
    );
    let mut received = 0;
    while slow.receiver.try_recv().is_ok() {
        received += 1;
    }
    assert_eq!(received, WATCHER_BUFFER);
    assert_eq!(slow.receiver.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn abandoned_watchers_are_removed() {
    let mut store = Store::new();
    let watches: Vec<_> = (0..50)
        .map(|i| {
            store
                .watch(&format!("/1/k{i}"), Depth::Shallow, Watching::Once, 0)
                .expect("watch")
        })
        .collect();
    assert_eq!(store.stats().watchers, 50);
    drop(watches);
    assert_eq!(store.stats().watchers, 0, "dropped receivers leave the hub");
    // Many short-lived watches never pile up.
    for i in 0..10_000 {
        drop(
            store
                .watch(
                    &format!("/1/churn{i}"),
                    Depth::Recursive,
                    Watching::Stream,
                    0,
                )
                .expect("watch"),
        );
    }
    assert_eq!(store.stats().watchers, 0);
    let kept = store
        .watch("/1/k", Depth::Shallow, Watching::Once, 0)
        .expect("watch");
    set(&mut store, "/1/k", "v");
    assert!(kept.receiver.try_recv().is_ok());
}

#[test]
fn a_watch_can_be_awaited() {
    let mut store = Store::new();
    let watch = store
        .watch("/1/k", Depth::Shallow, Watching::Once, 0)
        .expect("watch");
    set(&mut store, "/1/k", "v");
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(watch.receiver.recv());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Some(e)) => assert_eq!(e.node.key, "/1/k"),
        other => panic!("expected the event, got {other:?}"),
    }
}

#[test]
fn stats_count_live_watchers_through_a_shared_borrow() {
    let mut store = etcd_store::Store::new();
    let kept = store
        .watch("/1/a", Depth::Shallow, Watching::Stream, 0)
        .expect("watch");
    let dropped = store
        .watch("/1/b", Depth::Shallow, Watching::Stream, 0)
        .expect("watch");
    drop(dropped);
    // `stats` takes `&self`: readers get it under the server's read lock, without sweeping the hub.
    let shared: &etcd_store::Store = &store;
    assert_eq!(shared.stats().watchers, 1);
    drop(kept);
    assert_eq!(shared.stats().watchers, 0);
}
