//! Every error the store can produce, with its code, HTTP status, cause and index.

mod common;

use common::NOW;
use etcd_api::v2::Error;
use etcd_store::Store;

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
    s.set("/1/file", false, "v", 0, false, NOW).expect("set");
    s.set("/1/dir/child", false, "c", 0, false, NOW)
        .expect("set");
    let i = s.index();
    check(
        s.get("/1/missing/deeper", false, NOW),
        100,
        404,
        "/1/missing",
        i,
    );
    check(
        s.compare_and_swap("/1/file", "other", 0, "x", 0, false, NOW),
        101,
        412,
        "[other != v]",
        i,
    );
    check(
        s.compare_and_swap("/1/file", "", 99, "x", 0, false, NOW),
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
        s.set("/1/dir", false, "x", 0, false, NOW),
        102,
        403,
        "/1/dir",
        i,
    );
    check(s.delete("/1/dir", false, false, NOW), 102, 403, "/1/dir", i);
    check(
        s.update("/1/dir", "value", 0, false, NOW),
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
    check(s.get("/1/file/below", false, NOW), 104, 400, "/1/file", i);
    check(
        s.create("/1/file/below", false, "x", false, 0, NOW),
        104,
        400,
        "/1/file",
        i,
    );
    check(
        s.create("/1/file", false, "x", true, 0, NOW),
        104,
        400,
        "/1/file",
        i,
    );
    check(
        s.create("/1/file", false, "x", false, 0, NOW),
        105,
        412,
        "/1/file",
        i,
    );
    for root in ["/", "/0", "/1", "/1/", "/1/a/.."] {
        check(s.set(root, false, "x", 0, false, NOW), 107, 400, "/", i);
        check(s.delete(root, true, true, NOW), 107, 400, "/", i);
        check(s.update(root, "x", 0, false, NOW), 107, 400, "/", i);
    }
    check(s.delete("/1/dir", true, false, NOW), 108, 403, "/1/dir", i);
    let deep = format!("/1{}", "/a".repeat(600));
    check(
        s.set(&deep, false, "x", 0, false, NOW),
        209,
        400,
        "key nests deeper than 512 levels",
        i,
    );
    check(
        s.get(&deep, false, NOW),
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
    s.set("/1/a/./b//c/", false, "v", 0, false, NOW)
        .expect("set");
    assert_eq!(
        s.get("/1/a/b/c", false, NOW).expect("get").node.key,
        "/1/a/b/c"
    );
    assert_eq!(
        s.get("/1/x/../a/b/c", false, NOW)
            .expect("get")
            .node
            .value
            .as_deref(),
        Some("v")
    );
}
