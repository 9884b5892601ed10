//! Every error the store can produce, with its code, HTTP status, cause and index.

mod common;

use common::NOW;
use etcd_api::v2::Error;
use etcd_store::Store;
use etcd_store::{Depth, Expiry, Naming, NodeValue, Removal};

fn check(
    result: Result<impl std::fmt::Debug, Error>,
    code: u16,
    status: u16,
    cause: &str,
    index: u64,
) {
    let err = result.expect_err("an error");
    assert_eq!(
        (
            err.code.number(),
            err.code.http_status(),
            err.cause.as_str(),
            err.index
        ),
        (code, status, cause, index),
        "{err}"
    );
}

#[test]
fn each_store_error_code() {
    let mut s = Store::new();
    s.set("/1/file", NodeValue::File("v"), Expiry::NEVER, NOW)
        .expect("set");
    s.set("/1/dir/child", NodeValue::File("c"), Expiry::NEVER, NOW)
        .expect("set");
    let i = s.index();
    check(
        s.get("/1/missing/deeper", Depth::Shallow, NOW),
        100,
        404,
        "/1/missing",
        i,
    );
    check(
        s.compare_and_swap("/1/file", "other", 0, "x", Expiry::NEVER, NOW),
        101,
        412,
        "[other != v]",
        i,
    );
    check(
        s.compare_and_swap("/1/file", "", 99, "x", Expiry::NEVER, NOW),
        101,
        412,
        "[99 != 1]",
        i,
    );
    check(
        s.compare_and_delete("/1/file", "no", 7, NOW),
        101,
        412,
        "[no != v] [7 != 1]",
        i,
    );
    check(
        s.set("/1/dir", NodeValue::File("x"), Expiry::NEVER, NOW),
        102,
        403,
        "/1/dir",
        i,
    );
    check(
        s.delete("/1/dir", Removal::File, NOW),
        102,
        403,
        "/1/dir",
        i,
    );
    check(
        s.update("/1/dir", "value", Expiry::NEVER, NOW),
        102,
        403,
        "/1/dir",
        i,
    );
    check(
        s.compare_and_delete("/1/dir", "x", 0, NOW),
        102,
        403,
        "/1/dir",
        i,
    );
    check(
        s.get("/1/file/below", Depth::Shallow, NOW),
        104,
        400,
        "/1/file",
        i,
    );
    check(
        s.create(
            "/1/file/below",
            NodeValue::File("x"),
            Naming::AtPath,
            0,
            NOW,
        ),
        104,
        400,
        "/1/file",
        i,
    );
    check(
        s.create("/1/file", NodeValue::File("x"), Naming::InOrder, 0, NOW),
        104,
        400,
        "/1/file",
        i,
    );
    check(
        s.create("/1/file", NodeValue::File("x"), Naming::AtPath, 0, NOW),
        105,
        412,
        "/1/file",
        i,
    );
    for root in ["/", "/0", "/1", "/1/", "/1/a/.."] {
        check(
            s.set(root, NodeValue::File("x"), Expiry::NEVER, NOW),
            107,
            400,
            "/",
            i,
        );
        check(s.delete(root, Removal::Recursive, NOW), 107, 400, "/", i);
        check(s.update(root, "x", Expiry::NEVER, NOW), 107, 400, "/", i);
    }
    check(
        s.delete("/1/dir", Removal::FileOrEmptyDir, NOW),
        108,
        403,
        "/1/dir",
        i,
    );
    let deep = format!("/1{}", "/a".repeat(600));
    check(
        s.set(&deep, NodeValue::File("x"), Expiry::NEVER, NOW),
        209,
        400,
        "key nests deeper than 512 levels",
        i,
    );
    check(
        s.get(&deep, Depth::Shallow, NOW),
        209,
        400,
        "key nests deeper than 512 levels",
        i,
    );
    assert_eq!(s.index(), i, "failed operations raise no index");
}

#[test]
fn keys_are_cleaned_like_paths() {
    let mut s = Store::new();
    s.set("/1/a/./b//c/", NodeValue::File("v"), Expiry::NEVER, NOW)
        .expect("set");
    assert_eq!(
        s.get("/1/a/b/c", Depth::Shallow, NOW)
            .expect("get")
            .node
            .key,
        "/1/a/b/c"
    );
    assert_eq!(
        s.get("/1/x/../a/b/c", Depth::Shallow, NOW)
            .expect("get")
            .node
            .value
            .as_deref(),
        Some("v")
    );
}
