//! Helpers shared by the store's tests: requests as etcd's HTTP layer builds them, and a store bootstrapped
//! like a fresh single-member etcd.
#![allow(dead_code)] // each test binary uses its own subset

use etcd_store::{Depth, Expiry, Naming, NodeValue};
use std::collections::BTreeMap;

use etcd_api::v2::{Error, Event, Method, Request};
use etcd_store::{Applied, Store};

/// 2026-11-23T00:00:00Z, in Unix ns: the clock of these tests.
pub const NOW: i64 = 1_795_392_000 * 1_000_000_000;
pub const SECOND: i64 = 1_000_000_000;

/// A store after the three writes a fresh single-member etcd makes (its member's raft attributes, its
/// attributes, the cluster version), so the first user write is index 4 as in etcd.
pub fn bootstrapped() -> Store {
    let mut store = Store::new();
    let id = "/0/members/8e9e05c52164694d";
    store
        .create(
            &format!("{id}/raftAttributes"),
            NodeValue::File(r#"{"peerURLs":["http://127.0.0.1:2380"]}"#),
            Naming::AtPath,
            0,
            NOW,
        )
        .expect("raftAttributes");
    store
        .set(
            &format!("{id}/attributes"),
            NodeValue::File(r#"{"name":"default","clientURLs":[]}"#),
            Expiry::NEVER,
            NOW,
        )
        .expect("attributes");
    store
        .set("/0/version", NodeValue::File("3.4.0"), Expiry::NEVER, NOW)
        .expect("version");
    store
}

/// The request etcd's HTTP layer builds for a keys-API call with these form parameters.
pub fn request(method: &str, key: &str, params: &BTreeMap<String, String>) -> Request {
    let flag = |name: &str| params.get(name).is_some_and(|v| v == "true");
    Request {
        method: match method {
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            _ => Method::QGet,
        },
        path: format!("/1{key}"),
        val: params.get("value").cloned().unwrap_or_default(),
        dir: flag("dir"),
        prev_value: params.get("prevValue").cloned().unwrap_or_default(),
        prev_index: params
            .get("prevIndex")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        prev_exist: params.get("prevExist").map(|v| v == "true"),
        recursive: flag("recursive"),
        sorted: flag("sorted"),
        refresh: params.get("refresh").map(|v| v == "true"),
        ..Request::default()
    }
}

/// Runs one keys-API call as etcd does (GET locally, the rest through apply) and returns the HTTP status and
/// body etcd would send (without the trailing newline).
pub fn call(
    store: &mut Store,
    method: &str,
    key: &str,
    params: &BTreeMap<String, String>,
) -> (u16, String) {
    let req = request(method, key, params);
    let result: Result<Event, Error> = if method == "GET" {
        store.get(&req.path, Depth::recursive_if(req.recursive), NOW)
    } else {
        match store.apply(&req, NOW) {
            Ok(Applied::Write(event)) => Ok((*event).clone()),
            Ok(Applied::Read(event)) => Ok((*event).clone()),
            Ok(Applied::Expired(_)) => panic!("a keys call never syncs"),
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(event) => {
            let created = event.action.as_str() == "create"
                || (event.action.as_str() == "set" && event.prev_node.is_none());
            (
                if created { 201 } else { 200 },
                event.without_prefix("/1").to_json(),
            )
        }
        Err(e) => (e.code.http_status(), e.without_prefix("/1").to_json()),
    }
}

pub fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
