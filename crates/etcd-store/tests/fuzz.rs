//! The v2 store against arbitrary input (issue 20): any sequence of requests applies or is refused with an
//! etcd error, never a panic, and its snapshot restores to a store whose snapshot is the same bytes; any bytes
//! given as a snapshot restore or are refused.

use etcd_api::v2::{Method, Request};
use etcd_store::Store;
use proptest::prelude::*;
use proptest::sample::Index;

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Put),
        Just(Method::Post),
        Just(Method::Delete),
        Just(Method::QGet),
        Just(Method::Sync),
    ]
}

/// Expiry times at the extremes as well as near `NOW`.
fn instant() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(i64::MIN),
        Just(i64::MAX),
        (NOW - 10_000_000_000..NOW + 10_000_000_000),
    ]
}

const NOW: i64 = 1_700_000_000_000_000_000;

fn request() -> impl Strategy<Value = Request> {
    (
        (
            method(),
            "(/1|/0|/2)?(/[a-c_]{0,2}){0,4}/?",
            "[a-z]{0,3}",
            any::<bool>(),
        ),
        ("[a-z]{0,2}", 0u64..40, proptest::option::of(any::<bool>())),
        (
            instant(),
            any::<bool>(),
            proptest::option::of(any::<bool>()),
        ),
        instant(),
    )
        .prop_map(
            |(
                (method, path, val, dir),
                (prev_value, prev_index, prev_exist),
                (expiration, recursive, refresh),
                time,
            )| Request {
                method,
                path,
                val,
                dir,
                prev_value,
                prev_index,
                prev_exist,
                expiration,
                recursive,
                refresh,
                time,
                ..Request::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_requests_apply_or_are_refused_and_the_snapshot_round_trips(
        requests in proptest::collection::vec(request(), 0..40),
    ) {
        let mut store = Store::new();
        for request in &requests {
            let _ = store.apply(request, NOW);
        }
        let snapshot = store.snapshot();
        let restored = Store::restore(&snapshot).expect("our own snapshot restores");
        prop_assert_eq!(restored.snapshot(), snapshot);
    }

    #[test]
    fn any_bytes_restore_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Store::restore(&bytes);
    }

    #[test]
    fn a_damaged_snapshot_restores_or_is_refused(
        requests in proptest::collection::vec(request(), 1..20),
        at in any::<Index>(),
        byte in any::<u8>(),
        cut in any::<Index>(),
    ) {
        let mut store = Store::new();
        for request in &requests {
            let _ = store.apply(request, NOW);
        }
        let valid = store.snapshot();
        let mut damaged = valid.clone();
        damaged[at.index(valid.len())] = byte;
        let _ = Store::restore(&damaged);
        let _ = Store::restore(&valid[..cut.index(valid.len())]);
    }
}
