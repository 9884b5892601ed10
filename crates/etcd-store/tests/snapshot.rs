//! Snapshots: exact round trip, refusal of damaged input without panicking, and the determinism property —
//! a store restored from a snapshot taken midway ends identical to one that applied everything.

mod common;

use common::{NOW, SECOND};
use etcd_api::v2::{Method, Request};
use etcd_store::{Applied, Store};
use etcd_store::{Depth, Expiry, Naming, NodeValue, Removal, Watching};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEYS: [&str; 8] = [
    "/1/a", "/1/b", "/1/d/x", "/1/d/y", "/1/d/_h", "/1/d/e/f", "/1/q", "/1",
];

fn random_request(rng: &mut StdRng, now: i64) -> Request {
    let path = KEYS[rng.gen_range(0..KEYS.len())].to_owned();
    let value = format!("v{}", rng.gen_range(0..4));
    let expiration = if rng.gen_bool(0.3) {
        now + rng.gen_range(0..5) * SECOND
    } else {
        0
    };
    let mut r = Request {
        path,
        val: value,
        expiration,
        ..Request::default()
    };
    match rng.gen_range(0..10) {
        0..=2 => {
            r.method = Method::Put;
            r.dir = rng.gen_bool(0.15);
            r.prev_exist = [None, None, Some(true), Some(false)][rng.gen_range(0..4)];
            if rng.gen_bool(0.2) {
                r.prev_value = format!("v{}", rng.gen_range(0..4));
            }
            if rng.gen_bool(0.1) {
                r.prev_index = rng.gen_range(0..40);
            }
            if rng.gen_bool(0.1) {
                r.refresh = Some(true);
                r.val.clear();
            }
        }
        3 => r.method = Method::Post,
        4 | 5 => {
            r.method = Method::Delete;
            r.dir = rng.gen_bool(0.5);
            r.recursive = rng.gen_bool(0.5);
            if rng.gen_bool(0.2) {
                r.prev_value = format!("v{}", rng.gen_range(0..4));
            }
        }
        6 | 7 => {
            r.method = Method::QGet;
            r.recursive = rng.gen_bool(0.5);
        }
        _ => {
            r.method = Method::Sync;
            r.time = now;
        }
    }
    r
}

#[test]
fn a_store_restored_midway_ends_identical() {
    for seed in 0..200u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut whole = Store::new();
        let mut now = NOW;
        let ops = 300;
        let mut restored = None;
        for step in 0..ops {
            if step == ops / 2 {
                restored = Some(Store::restore(&whole.snapshot()).expect("restore"));
            }
            now += rng.gen_range(0..2 * SECOND);
            let request = random_request(&mut rng, now);
            let a = whole.apply(&request, now);
            if let Some(copy) = restored.as_mut() {
                let b = copy.apply(&request, now);
                assert_eq!(a, b, "seed {seed} step {step}: {request:?}");
            }
        }
        let copy = restored.expect("restored midway");
        assert!(
            whole.snapshot() == copy.snapshot(),
            "seed {seed}: final states differ"
        );
        for key in KEYS {
            assert_eq!(
                whole.get(key, Depth::Recursive, now),
                copy.get(key, Depth::Recursive, now),
                "seed {seed} {key}"
            );
        }
    }
}

#[test]
fn the_same_requests_give_the_same_state() {
    let mut rng = StdRng::seed_from_u64(7);
    let requests: Vec<(Request, i64)> = (0..500)
        .map(|i| (random_request(&mut rng, NOW + i * SECOND), NOW + i * SECOND))
        .collect();
    let run = || {
        let mut store = Store::new();
        let results: Vec<Result<Applied, _>> = requests
            .iter()
            .map(|(r, now)| store.apply(r, *now))
            .collect();
        (results, store.snapshot())
    };
    assert_eq!(run(), run());
}

#[test]
fn snapshot_round_trip_keeps_everything() {
    let mut store = Store::new();
    store
        .set(
            "/1/a",
            NodeValue::File("1"),
            Expiry::at(NOW + 10 * SECOND),
            NOW,
        )
        .expect("set");
    store
        .set("/1/d/_h", NodeValue::File("hidden"), Expiry::NEVER, NOW)
        .expect("set");
    store
        .create("/1/q", NodeValue::File("job"), Naming::InOrder, 0, NOW)
        .expect("post");
    store
        .set("/1/emptydir", NodeValue::Dir, Expiry::NEVER, NOW)
        .expect("dir");
    store
        .delete("/1/emptydir", Removal::File, NOW)
        .expect_err("a directory needs dir=true");
    let _ = store.get("/1/missing", Depth::Shallow, NOW);
    let bytes = store.snapshot();
    let mut copy = Store::restore(&bytes).expect("restore");
    assert_eq!(copy.snapshot(), bytes);
    assert_eq!(copy.index(), store.index());
    assert_eq!(copy.stats(), store.stats());
    assert_eq!(
        copy.get("/1", Depth::Recursive, NOW),
        store.get("/1", Depth::Recursive, NOW)
    );
    assert!(copy.has_ttl_keys(), "TTLs are rebuilt from the tree");
    assert_eq!(copy.delete_expired_keys(NOW + 10 * SECOND).len(), 1);
    // The history came along: a watch from index 1 is answered at once.
    let watch = copy
        .watch("/1/a", Depth::Shallow, Watching::Once, 1)
        .expect("watch");
    assert_eq!(
        watch
            .receiver
            .try_recv()
            .expect("from history")
            .node
            .modified_index,
        1
    );
}

#[test]
fn recovering_keeps_the_watchers() {
    let mut store = Store::new();
    let donor = {
        let mut d = Store::new();
        d.set("/1/x", NodeValue::File("1"), Expiry::NEVER, NOW)
            .expect("set");
        d.snapshot()
    };
    let watch = store
        .watch("/1/k", Depth::Shallow, Watching::Once, 0)
        .expect("watch");
    store.recover(&donor).expect("recover");
    assert_eq!(store.index(), 1);
    store
        .set("/1/k", NodeValue::File("v"), Expiry::NEVER, NOW)
        .expect("set");
    assert_eq!(
        watch
            .receiver
            .try_recv()
            .expect("still watching")
            .node
            .modified_index,
        2
    );
}

#[test]
fn damaged_snapshots_are_refused_without_panicking() {
    let mut store = Store::new();
    for i in 0..30 {
        store
            .set(
                &format!("/1/d{}/k{i}", i % 3),
                NodeValue::File(&format!("value {i}")),
                Expiry::at(NOW + i * SECOND),
                NOW,
            )
            .expect("set");
    }
    store
        .delete("/1/d0", Removal::Recursive, NOW)
        .expect("delete");
    let bytes = store.snapshot();
    for len in 0..bytes.len() {
        assert!(Store::restore(&bytes[..len]).is_err(), "truncated to {len}");
    }
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..2000 {
        let mut damaged = bytes.clone();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..damaged.len());
            damaged[at] = rng.r#gen();
        }
        // Damage may still decode (a changed value is still a value); it must never panic.
        let _ = Store::restore(&damaged);
    }
    let garbage: Vec<u8> = (0..4096).map(|_| rng.r#gen()).collect();
    assert!(Store::restore(&garbage).is_err());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Store::restore(&trailing).is_err());
}
