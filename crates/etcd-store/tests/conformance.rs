//! The store answers a scenario of keys-API calls exactly as etcd 3.4.23 did: same bodies (so the same actions,
//! nodes, indices, error codes and causes), same statuses, same statistics. The expected responses were
//! recorded from a real etcd (`tests/data/record_keys_scenario.py`).

mod common;

use std::collections::BTreeMap;

use common::{bootstrapped, call};
use serde_json::Value;

const SCENARIO: &str = include_str!("data/etcd-3.4.23-keys-scenario.json");

#[test]
fn every_response_matches_etcd() {
    let scenario: Value = serde_json::from_str(SCENARIO).expect("scenario JSON");
    let mut store = bootstrapped();
    let mut compared = 0;
    for step in scenario["steps"].as_array().expect("steps") {
        let method = step["method"].as_str().expect("method");
        let key = step["key"].as_str().expect("key");
        let params: BTreeMap<String, String> = step["params"]
            .as_object()
            .expect("params")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string param").to_owned()))
            .collect();
        let body = step["body"].as_str().expect("body");
        // Parameter validation errors (2xx codes, index 0) belong to the HTTP layer; the store never sees them.
        if body.contains("\"errorCode\":2") {
            continue;
        }
        let (status, got) = call(&mut store, method, key, &params);
        assert_eq!(got, body, "{method} {key} {params:?}");
        assert_eq!(
            u64::from(status),
            step["status"].as_u64().expect("status"),
            "{method} {key} {params:?}"
        );
        compared += 1;
    }
    assert!(compared > 50, "only {compared} steps compared");

    // Statistics: etcd's reads also count its auth probe, so only the write counters are comparable.
    let stats = store.stats();
    let expected = &scenario["stats"];
    for (name, value) in stats.fields() {
        if matches!(name, "getsSuccess" | "getsFail" | "watchers") {
            continue;
        }
        assert_eq!(Some(value), expected[name].as_u64(), "{name}");
    }
}
