//! A member that fell too far behind gets the leader's snapshot, and with it the v3 store: after restarting it
//! serves the same keys at the same revision as the leader (read member-locally), and watches from revision 1
//! still replay the history the snapshot holds.

use std::time::{Duration, Instant};

use etcd_tests as common;

use common::{Etcdctl, Flavor, Server, http, leader_of, text};

fn v3(server: &Server, args: &[&str]) -> String {
    server.etcdctl3_ok(args, "")
}

#[test]
fn a_member_restored_from_a_snapshot_serves_the_same_v3_state() {
    let mut members = common::cluster_with(Flavor::EtcdNode, 3, &["--snapshot-count", "100"]);
    let leader = leader_of(&members);
    let behind = (leader + 1) % 3;
    for i in 0..5 {
        v3(&members[leader], &["put", &format!("before/{i}"), "v"]);
    }
    assert!(members[behind].terminate());
    for i in 0..20 {
        v3(
            &members[leader],
            &["put", &format!("s/{i}"), &format!("v{i}")],
        );
    }
    v3(&members[leader], &["del", "before/0"]);
    // More entries than the leader keeps after a snapshot (5,000), so the member can only catch up from one.
    for i in 0..5_200 {
        let put = http(
            &members[leader].client_url,
            "PUT",
            &format!("/v2/keys/fill{}", i % 50),
            "value=x",
        );
        assert!(matches!(put, Some((200 | 201, _))), "v2 put {i}: {put:?}");
    }
    members[behind].launch();
    members[behind].wait_ready();

    let expected = v3(&members[leader], &["get", "", "--prefix", "-w", "json"]);
    let strip = |s: &str| {
        let json: serde_json::Value = serde_json::from_str(s).expect("json");
        (json["kvs"].clone(), json["header"]["revision"].clone())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let local = v3(
            &members[behind],
            &["get", "", "--prefix", "-w", "json", "--consistency", "s"],
        );
        if strip(&local) == strip(&expected) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the member never caught up: {local} vs {expected}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(members[behind].log_path()).unwrap_or_default();
    assert!(
        log.contains("restored the v3 store from a snapshot"),
        "the member caught up from a snapshot:\n{log}"
    );
    // The history came with the snapshot: a watch from revision 1 on that member replays it.
    let watch = members[behind].etcdctl3_for(
        Etcdctl::V35,
        &["watch", "before/0", "--rev", "1"],
        "",
        Duration::from_secs(2),
    );
    assert_eq!(
        text(&watch.stdout),
        "PUT\nbefore/0\nv\nDELETE\nbefore/0\n\n"
    );
}
