//! TTLs: absolute expiry times, the `ttl` shown, expiry by SYNC exactly at the boundary, refresh, and the
//! rule that a write without a TTL makes a node permanent.

mod common;

use common::{NOW, SECOND};
use etcd_api::v2::{Action, Method, Request};
use etcd_store::{Applied, Store};
use etcd_store::{Depth, Expiry, NodeValue, Watching};

#[test]
fn a_ttl_shows_expiration_and_seconds_left_rounded_up() {
    let mut store = Store::new();
    let expire = NOW + 5 * SECOND;
    let event = store
        .set("/1/k", NodeValue::File("v"), Expiry::at(expire), NOW)
        .expect("set");
    assert_eq!(event.node.expiration, Some(expire));
    assert_eq!(event.node.ttl, 5);
    assert!(store.has_ttl_keys());
    assert_eq!(
        store
            .get("/1/k", Depth::Shallow, NOW + SECOND / 2)
            .expect("get")
            .node
            .ttl,
        5
    );
    assert_eq!(
        store
            .get("/1/k", Depth::Shallow, expire - 1)
            .expect("get")
            .node
            .ttl,
        1
    );
    assert_eq!(
        store
            .get("/1/k", Depth::Shallow, expire)
            .expect("get")
            .node
            .ttl,
        0
    );
    // An overdue key that no SYNC has expired yet shows a negative ttl.
    assert_eq!(
        store
            .get("/1/k", Depth::Shallow, expire + 3 * SECOND)
            .expect("get")
            .node
            .ttl,
        -3
    );
    let json = store
        .get("/1/k", Depth::Shallow, NOW)
        .expect("get")
        .without_prefix("/1")
        .to_json();
    assert!(
        json.contains(r#""expiration":"2026-11-23T00:00:05Z","ttl":5,"#),
        "{json}"
    );
}

#[test]
fn expiry_happens_exactly_at_the_boundary_and_only_through_sync() {
    let mut store = Store::new();
    let expire = NOW + 10 * SECOND;
    store
        .set("/1/k", NodeValue::File("v"), Expiry::at(expire), NOW)
        .expect("set");
    let watch = store
        .watch("/1/k", Depth::Shallow, Watching::Once, 0)
        .expect("watch");

    assert!(
        store.delete_expired_keys(expire - 1).is_empty(),
        "one nanosecond early"
    );
    assert_eq!(store.index(), 1);
    let sync = Request {
        method: Method::Sync,
        time: expire,
        ..Request::default()
    };
    let Applied::Expired(events) = store.apply(&sync, expire).expect("sync") else {
        panic!("SYNC gives expiry events");
    };
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.action, Action::Expire);
    assert_eq!(
        e.without_prefix("/1").to_json(),
        r#"{"action":"expire","node":{"key":"/k","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/k","value":"v","expiration":"2026-11-23T00:00:10Z","modifiedIndex":1,"createdIndex":1}}"#
    );
    assert_eq!(store.index(), 2);
    assert!(!store.has_ttl_keys());
    assert!(store.get("/1/k", Depth::Shallow, expire).is_err());
    assert_eq!(store.stats().expire_count, 1);
    assert_eq!(
        watch.receiver.try_recv().expect("watcher told").action,
        Action::Expire
    );
}

#[test]
fn each_expired_node_gets_its_own_index_in_expiry_order() {
    let mut store = Store::new();
    store
        .set(
            "/1/b",
            NodeValue::File("b"),
            Expiry::at(NOW + 2 * SECOND),
            NOW,
        )
        .expect("set");
    store
        .set("/1/a", NodeValue::File("a"), Expiry::at(NOW + SECOND), NOW)
        .expect("set");
    store
        .set(
            "/1/c",
            NodeValue::File("c"),
            Expiry::at(NOW + 9 * SECOND),
            NOW,
        )
        .expect("set");
    let events = store.delete_expired_keys(NOW + 5 * SECOND);
    let keys: Vec<(&str, u64)> = events
        .iter()
        .map(|e| (e.node.key.as_str(), e.node.modified_index))
        .collect();
    assert_eq!(keys, vec![("/1/a", 4), ("/1/b", 5)]);
    assert!(store.has_ttl_keys(), "/1/c is still to expire");
}

#[test]
fn an_expired_directory_takes_its_subtree_with_one_event() {
    let mut store = Store::new();
    store
        .set("/1/d", NodeValue::Dir, Expiry::at(NOW + SECOND), NOW)
        .expect("dir with ttl");
    store
        .set(
            "/1/d/child",
            NodeValue::File("x"),
            Expiry::at(NOW + 100 * SECOND),
            NOW,
        )
        .expect("child with ttl");
    store
        .set("/1/d/sub/deep", NodeValue::File("y"), Expiry::NEVER, NOW)
        .expect("deep child");
    let child_watch = store
        .watch("/1/d/child", Depth::Shallow, Watching::Once, 0)
        .expect("watch");

    let events = store.delete_expired_keys(NOW + SECOND);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].node.key, "/1/d");
    assert!(events[0].node.dir);
    assert!(
        !store.has_ttl_keys(),
        "the child's TTL went with the subtree"
    );
    assert!(store.get("/1/d/sub/deep", Depth::Shallow, NOW).is_err());
    // A watcher on a child hears of the directory's expiry.
    let heard = child_watch.receiver.try_recv().expect("child watcher told");
    assert_eq!(heard.node.key, "/1/d");
    assert_eq!(heard.action, Action::Expire);
}

#[test]
fn writes_without_a_ttl_make_the_node_permanent() {
    let mut store = Store::new();
    let expire = NOW + 60 * SECOND;
    store
        .set("/1/k", NodeValue::File("v"), Expiry::at(expire), NOW)
        .expect("set");
    store
        .update("/1/k", "v2", Expiry::NEVER, NOW)
        .expect("update without ttl");
    assert!(!store.has_ttl_keys());
    assert_eq!(
        store
            .get("/1/k", Depth::Shallow, NOW)
            .expect("get")
            .node
            .expiration,
        None
    );

    store
        .update("/1/k", "v3", Expiry::at(expire), NOW)
        .expect("update with ttl");
    assert!(store.has_ttl_keys());
    store
        .compare_and_swap("/1/k", "v3", 0, "v4", Expiry::NEVER, NOW)
        .expect("cas without ttl");
    assert!(!store.has_ttl_keys());

    store
        .set("/1/k", NodeValue::File("v5"), Expiry::at(expire), NOW)
        .expect("set with ttl");
    store
        .set("/1/k", NodeValue::File("v6"), Expiry::NEVER, NOW)
        .expect("set without ttl");
    assert!(!store.has_ttl_keys());
    assert!(store.delete_expired_keys(expire * 2).is_empty());
}

#[test]
fn expiry_times_before_2000_mean_permanent_and_ttl_zero_expires_at_once() {
    let mut store = Store::new();
    let event = store
        .set("/1/old", NodeValue::File("v"), Expiry::at(1), NOW)
        .expect("set");
    assert_eq!(event.node.expiration, None);
    assert!(!store.has_ttl_keys());

    let event = store
        .set("/1/now", NodeValue::File("v"), Expiry::at(NOW), NOW)
        .expect("ttl=0");
    assert_eq!(event.node.expiration, Some(NOW));
    assert_eq!(event.node.ttl, 0);
    assert!(!event.without_prefix("/1").to_json().contains("\"ttl\""));
    assert_eq!(store.delete_expired_keys(NOW).len(), 1);
}

#[test]
fn refresh_keeps_the_value_raises_the_index_and_tells_no_watcher() {
    let mut store = Store::new();
    store
        .set("/1/k", NodeValue::File("v"), Expiry::at(NOW + SECOND), NOW)
        .expect("set");
    store
        .update("/1/u", "", Expiry::NEVER, NOW)
        .expect_err("update of a missing key");
    store
        .set("/1/u", NodeValue::File("uv"), Expiry::at(NOW + SECOND), NOW)
        .expect("set");
    let watch = store
        .watch("/1", Depth::Recursive, Watching::Stream, 0)
        .expect("watch");

    // set + refresh: the value stays, createdIndex resets, the index rises.
    let e = store
        .set(
            "/1/k",
            NodeValue::File("ignored"),
            Expiry::refresh(NOW + 50 * SECOND),
            NOW,
        )
        .expect("refresh");
    assert_eq!(e.action, Action::Set);
    assert!(e.refresh);
    assert_eq!(e.node.value.as_deref(), Some("v"));
    assert_eq!((e.node.created_index, e.node.modified_index), (3, 3));
    assert_eq!(e.node.ttl, 50);
    // update + refresh keeps createdIndex.
    let e = store
        .update("/1/u", "", Expiry::refresh(NOW + 70 * SECOND), NOW)
        .expect("refresh");
    assert_eq!(
        (
            e.node.value.as_deref(),
            e.node.created_index,
            e.node.modified_index
        ),
        (Some("uv"), 2, 4)
    );
    assert_eq!(store.index(), 4);
    assert!(
        watch.receiver.try_recv().is_err(),
        "refreshes reach no watcher"
    );
    // Nor a watch that starts in the past.
    let past = store
        .watch("/1/k", Depth::Shallow, Watching::Once, 3)
        .expect("watch");
    assert!(past.receiver.try_recv().is_err());
    // A refresh of a missing key fails.
    let err = store
        .set(
            "/1/missing",
            NodeValue::File(""),
            Expiry::refresh(NOW + SECOND),
            NOW,
        )
        .expect_err("refresh of nothing");
    assert_eq!(err.code.number(), 100);
}
