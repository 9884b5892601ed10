//! Learners, side by side with etcd 3.5.1 on three members: `etcdctl member add --learner`, a learner that catches
//! up from a snapshot (the cluster is past `--snapshot-count` before it joins), serves serializable reads only,
//! is promoted through a member that does not lead, and then serves linearizable reads; `--max-learners` and the
//! promotion errors in etcd's words.

use std::time::{Duration, Instant};

use etcd_tests as common;

use common::{Etcdctl, Flavor, Server, leader_of, peer_urls, text};

/// stdout then stderr, with the exit status; IDs (hex words of 10+ digits, which etcdctl pads with spaces)
/// become `ID`.
fn masked(out: &std::process::Output) -> String {
    let mut lines = Vec::new();
    for line in text(&out.stdout).lines().chain(text(&out.stderr).lines()) {
        if line.starts_with('{') || line.starts_with("ETCD_") || line.is_empty() {
            continue;
        }
        lines.push(common::mask_hex_ids(line));
    }
    format!("{:?} {}", out.status.code(), lines.join(" / "))
}

fn ok(server: &Server, args: &[&str]) -> String {
    server.etcdctl3_ok(args, "")
}

/// Retries `args` until it succeeds (a learner's catch-up, `--strict-reconfig-check`'s wait), for 30 s.
fn eventually(server: &Server, args: &[&str]) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = server.etcdctl3(Etcdctl::V35, args, "");
        if out.status.success() || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn transcript(flavor: Flavor) -> Vec<String> {
    let (peers, initial) = peer_urls("http", 3);
    let mut members: Vec<Server> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut m = Server::new(flavor, &format!("n{}", i + 1), p, &initial);
            m.extra = vec!["--snapshot-count".into(), "100".into()];
            if flavor == Flavor::EtcdNode {
                // Few entries kept behind a snapshot, so the learner can only catch up from one (etcd 3.5.1
                // has no such flag and keeps 5,000: its learner catches up from the log).
                m.extra.extend([
                    "--experimental-snapshot-catchup-entries".into(),
                    "20".into(),
                ]);
            }
            m
        })
        .collect();
    common::start_all(&mut members);
    let leader = leader_of(&members);
    let follower = &members[(leader + 1) % 3];
    // Past the snapshot count, so the learner is sent a snapshot.
    for batch in 0..3 {
        let puts: String = (0..100)
            .map(|i| format!("put key/{batch}/{i} v{i}\n"))
            .collect();
        let out = follower.etcdctl3(Etcdctl::V35, &["txn"], &format!("\n{puts}\n\n"));
        assert!(out.status.success(), "txn: {}", text(&out.stderr));
    }
    for i in 0..150 {
        ok(follower, &["put", &format!("fill/{}", i % 10), "x"]);
    }
    let mut t = Vec::new();
    let learner_peer = format!("http://127.0.0.1:{}", common::free_port());
    let added = eventually(
        follower,
        &[
            "member",
            "add",
            "n4",
            &format!("--peer-urls={learner_peer}"),
            "--learner",
        ],
    );
    t.push(format!("add learner: {}", masked(&added)));
    let id = text(&added.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let second = format!("http://127.0.0.1:{}", common::free_port());
    t.push(format!(
        "add second learner: {}",
        masked(&follower.etcdctl3(
            Etcdctl::V35,
            &[
                "member",
                "add",
                "n5",
                &format!("--peer-urls={second}"),
                "--learner"
            ],
            ""
        ))
    ));
    let list: serde_json::Value =
        serde_json::from_str(&ok(follower, &["member", "list", "-w", "json"])).expect("list");
    let learners = list["members"]
        .as_array()
        .map_or(0, |ms| ms.iter().filter(|m| m["isLearner"] == true).count());
    t.push(format!("learners listed: {learners}"));

    let mut learner = Server::new(
        flavor,
        "n4",
        &learner_peer,
        &format!("{initial},n4={learner_peer}"),
    );
    learner.state = "existing".to_owned();
    learner.launch();
    learner.wait_ready();
    if flavor == Flavor::EtcdNode {
        let log = std::fs::read_to_string(learner.log_path()).unwrap_or_default();
        assert!(
            log.contains("restored the v3 store from a snapshot"),
            "the learner caught up without a snapshot: {log}"
        );
    }
    let serializable = eventually(
        &learner,
        &["get", "key/2/99", "--consistency=s", "--print-value-only"],
    );
    t.push(format!(
        "learner serializable get: {}",
        masked(&serializable)
    ));
    for args in [
        vec!["get", "key/2/99"],
        vec!["put", "on", "learner"],
        vec!["lease", "grant", "60"],
    ] {
        t.push(format!(
            "learner {}: {}",
            args[0],
            masked(&learner.etcdctl3(Etcdctl::V35, &args, ""))
        ));
    }
    let status: serde_json::Value =
        serde_json::from_str(&ok(&learner, &["endpoint", "status", "-w", "json"])).expect("status");
    t.push(format!(
        "learner status isLearner: {}",
        status[0]["Status"]["isLearner"]
    ));

    t.push(format!(
        "promote unknown: {}",
        masked(&follower.etcdctl3(Etcdctl::V35, &["member", "promote", "1234"], ""))
    ));
    let promoted = eventually(follower, &["member", "promote", &id]);
    t.push(format!("promote: {}", masked(&promoted)));
    t.push(format!(
        "promote again: {}",
        masked(&follower.etcdctl3(Etcdctl::V35, &["member", "promote", &id], ""))
    ));
    let read = eventually(&learner, &["get", "fill/9", "--print-value-only"]);
    t.push(format!("promoted linearizable get: {}", masked(&read)));
    let put = eventually(&learner, &["put", "by", "promoted"]);
    t.push(format!("promoted put: {}", masked(&put)));
    let list: serde_json::Value =
        serde_json::from_str(&ok(&members[leader], &["member", "list", "-w", "json"]))
            .expect("list");
    let voters = list["members"]
        .as_array()
        .map_or(0, |ms| ms.iter().filter(|m| m["isLearner"] != true).count());
    t.push(format!("voting members: {voters}"));
    t
}

#[test]
fn learners_join_catch_up_and_are_promoted_as_in_etcd() {
    let ours = transcript(Flavor::EtcdNode);
    let theirs = transcript(Flavor::Etcd35);
    assert_eq!(ours.join("\n"), theirs.join("\n"));
}
