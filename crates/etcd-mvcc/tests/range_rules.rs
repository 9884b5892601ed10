//! Range: one test per rule of etcd's `RangeRequest`.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

mod common;

use common::*;
use etcd_mvcc::Error;
use etcd_proto::etcdserverpb::RangeRequest;
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};

/// a=1@2 b=2@3 c=3@4 d=4@5 e=5@6, then b again @7.
fn abcde() -> TestStore {
    let s = open();
    for (i, k) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        put(&s, k, &(i + 1).to_string());
    }
    put(&s, "b", "22");
    s
}

#[test]
fn an_empty_store_is_at_revision_1_and_the_first_write_is_revision_2() {
    let s = open();
    assert_eq!(s.current_revision(), 1);
    assert_eq!(put(&s, "k", "v"), 2);
}

#[test]
fn empty_range_end_reads_the_key_alone() {
    let s = abcde();
    let r = get(&s, range("b", ""));
    assert_eq!(keys(&r.kvs), ["b"]);
    assert_eq!((r.count, r.more), (1, false));
    assert_eq!(r.kvs[0].value, b"22");
}

#[test]
fn range_end_is_exclusive() {
    let s = abcde();
    assert_eq!(keys(&get(&s, range("b", "d")).kvs), ["b", "c"]);
}

#[test]
fn range_end_nul_reads_every_key_from_the_start() {
    let s = abcde();
    assert_eq!(keys(&get(&s, range("c", "\0")).kvs), ["c", "d", "e"]);
}

#[test]
fn key_nul_and_range_end_nul_read_the_whole_keyspace() {
    let s = abcde();
    assert_eq!(get(&s, range("\0", "\0")).count, 5);
}

#[test]
fn range_end_below_key_reads_nothing() {
    let s = abcde();
    let r = get(&s, range("d", "b"));
    assert_eq!((r.kvs.len(), r.count), (0, 0));
}

#[test]
fn limit_cuts_the_list_and_sets_more_while_count_is_the_whole_range() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            limit: 2,
            ..range("a", "\0")
        },
    );
    assert_eq!(keys(&r.kvs), ["a", "b"]);
    assert_eq!((r.count, r.more), (5, true));
    let exact = get(
        &s,
        RangeRequest {
            limit: 5,
            ..range("a", "\0")
        },
    );
    assert_eq!((exact.kvs.len(), exact.more), (5, false));
}

#[test]
fn zero_or_negative_limit_is_no_limit() {
    let s = abcde();
    assert_eq!(
        get(
            &s,
            RangeRequest {
                limit: -1,
                ..range("a", "\0")
            }
        )
        .kvs
        .len(),
        5
    );
}

#[test]
fn revision_reads_history() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            revision: 3,
            ..range("a", "\0")
        },
    );
    assert_eq!(keys(&r.kvs), ["a", "b"]);
    assert_eq!(r.kvs[1].value, b"2");
    assert_eq!(r.kvs[1].mod_revision, 3);
}

#[test]
fn a_future_revision_is_an_error() {
    let s = abcde();
    let err = s
        .range(&RangeRequest {
            revision: 8,
            ..range("a", "")
        })
        .unwrap_err();
    assert_eq!(err, Error::FutureRevision);
    assert_eq!(
        err.to_string(),
        "etcdserver: mvcc: required revision is a future revision"
    );
}

#[test]
fn a_compacted_revision_is_an_error_but_the_compaction_point_is_readable() {
    let s = abcde();
    s.compact(4, None).unwrap().wait().unwrap();
    let err = s
        .range(&RangeRequest {
            revision: 3,
            ..range("a", "\0")
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(
        keys(
            &get(
                &s,
                RangeRequest {
                    revision: 4,
                    ..range("a", "\0")
                }
            )
            .kvs
        ),
        ["a", "b", "c"]
    );
}

#[test]
fn the_response_revision_is_the_current_one_even_for_history_reads() {
    let s = abcde();
    assert_eq!(
        s.range(&RangeRequest {
            revision: 3,
            ..range("a", "")
        })
        .unwrap()
        .1,
        7
    );
}

#[test]
fn versions_create_and_mod_revisions_are_tracked_per_key() {
    let s = abcde();
    let b = &get(&s, range("b", "")).kvs[0];
    assert_eq!((b.create_revision, b.mod_revision, b.version), (3, 7, 2));
}

#[test]
fn keys_only_drops_values() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            keys_only: true,
            ..range("a", "c")
        },
    );
    assert_eq!(keys(&r.kvs), ["a", "b"]);
    assert!(
        r.kvs
            .iter()
            .all(|kv| kv.value.is_empty() && kv.mod_revision > 0)
    );
}

#[test]
fn count_only_returns_the_count_without_key_values() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            count_only: true,
            limit: 1,
            ..range("a", "\0")
        },
    );
    assert_eq!((r.kvs.len(), r.count, r.more), (0, 5, false));
}

#[test]
fn sort_descend_by_key_with_limit_returns_the_last_keys() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            sort_order: SortOrder::Descend as i32,
            limit: 2,
            ..range("a", "\0")
        },
    );
    assert_eq!(keys(&r.kvs), ["e", "d"]);
    assert_eq!((r.count, r.more), (5, true));
}

#[test]
fn sort_target_other_than_key_with_order_none_sorts_ascending() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            sort_target: SortTarget::Mod as i32,
            ..range("a", "\0")
        },
    );
    assert_eq!(keys(&r.kvs), ["a", "c", "d", "e", "b"]);
}

#[test]
fn sort_by_mod_descend_with_limit() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            sort_target: SortTarget::Mod as i32,
            sort_order: SortOrder::Descend as i32,
            limit: 2,
            ..range("a", "\0")
        },
    );
    assert_eq!(keys(&r.kvs), ["b", "e"]);
    assert!(r.more);
}

#[test]
fn sort_by_value_version_and_create() {
    let s = abcde();
    let by = |t: SortTarget, o: SortOrder| {
        keys(
            &get(
                &s,
                RangeRequest {
                    sort_target: t as i32,
                    sort_order: o as i32,
                    ..range("a", "\0")
                },
            )
            .kvs,
        )
    };
    assert_eq!(
        by(SortTarget::Value, SortOrder::Ascend),
        ["a", "b", "c", "d", "e"]
    ); // "1" < "22" < "3"
    assert_eq!(
        by(SortTarget::Value, SortOrder::Descend),
        ["e", "d", "c", "b", "a"]
    );
    assert_eq!(by(SortTarget::Version, SortOrder::Descend)[0], "b");
    assert_eq!(
        by(SortTarget::Create, SortOrder::Descend),
        ["e", "d", "c", "b", "a"]
    );
}

#[test]
fn a_large_sorted_range_with_limit_keeps_only_the_best() {
    let s = open();
    let mut b = s.write().unwrap();
    for i in 0..500 {
        b.put(&etcd_proto::etcdserverpb::PutRequest {
            key: format!("k{i:03}").into(),
            value: format!("{:03}", 499 - i).into(),
            ..Default::default()
        })
        .unwrap();
    }
    b.commit().unwrap();
    let r = get(
        &s,
        RangeRequest {
            sort_target: SortTarget::Value as i32,
            limit: 3,
            ..range("k", "l")
        },
    );
    assert_eq!(keys(&r.kvs), ["k499", "k498", "k497"]);
    assert_eq!((r.count, r.more), (500, true));
}

#[test]
fn min_and_max_mod_revision_filter_but_count_does_not() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            min_mod_revision: 4,
            max_mod_revision: 6,
            ..range("a", "\0")
        },
    );
    assert_eq!(keys(&r.kvs), ["c", "d", "e"]);
    assert_eq!(r.count, 5);
}

#[test]
fn min_and_max_create_revision_filter() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            min_create_revision: 3,
            max_create_revision: 4,
            ..range("a", "\0")
        },
    );
    assert_eq!(keys(&r.kvs), ["b", "c"]);
}

#[test]
fn filters_with_limit_report_more_on_the_filtered_list() {
    let s = abcde();
    let r = get(
        &s,
        RangeRequest {
            min_mod_revision: 4,
            limit: 2,
            ..range("a", "\0")
        },
    );
    assert_eq!(keys(&r.kvs), ["b", "c"]);
    assert!(r.more);
    let r = get(
        &s,
        RangeRequest {
            min_mod_revision: 7,
            limit: 1,
            ..range("a", "\0")
        },
    );
    assert_eq!((keys(&r.kvs), r.more), (vec!["b".to_string()], false));
}

#[test]
fn deleted_keys_are_not_read_but_history_still_is() {
    let s = abcde();
    assert_eq!(delete(&s, "c", ""), 1);
    assert_eq!(keys(&get(&s, range("a", "\0")).kvs), ["a", "b", "d", "e"]);
    assert_eq!(
        keys(
            &get(
                &s,
                RangeRequest {
                    revision: 7,
                    ..range("c", "")
                }
            )
            .kvs
        ),
        ["c"]
    );
}

#[test]
fn a_key_put_again_after_a_delete_starts_a_new_generation() {
    let s = abcde();
    delete(&s, "a", "");
    put(&s, "a", "again");
    let a = &get(&s, range("a", "")).kvs[0];
    assert_eq!((a.create_revision, a.mod_revision, a.version), (9, 9, 1));
}
