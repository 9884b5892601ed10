//! Watch guarantees across failures: a watcher (etcdctl 3.5.1, given every member's endpoint) follows a prefix
//! from revision 1 while a writer puts keys under it; meanwhile the leader is killed (SIGKILL) and restarted,
//! then another member is stopped and restarted. The watcher must see every revision exactly once, in order:
//! no gap, no duplicate, resumed from the last revision it saw.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use etcd_tests as common;

use common::{Etcdctl, Flavor, cluster, leader_of, text};

/// Puts `key` through any member, retrying while the cluster elects a leader. A retried put may have been
/// applied twice: that is two revisions, and the watcher must see both.
fn put(members: &[common::Server], key: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for m in members.iter().filter(|m| m.child.is_some()) {
            let out = m.etcdctl3(Etcdctl::V35, &["put", key, "v"], "");
            if out.status.success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "put {key} keeps failing");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn revision(members: &[common::Server]) -> i64 {
    for m in members.iter().filter(|m| m.child.is_some()) {
        let out = m.etcdctl3(
            Etcdctl::V35,
            &["get", "w/", "--prefix", "--limit", "1", "-w", "json"],
            "",
        );
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            && let Some(rev) = json["header"]["revision"].as_i64()
        {
            return rev;
        }
    }
    let out: Vec<String> = members
        .iter()
        .map(|m| {
            let o = m.etcdctl3(
                Etcdctl::V35,
                &["get", "w/", "--prefix", "--limit", "1", "-w", "json"],
                "",
            );
            format!("{}{}", text(&o.stdout), text(&o.stderr))
        })
        .collect();
    panic!("no member answers: {out:?}")
}

/// The mod revisions of every event in etcdctl's `-w json` watch output.
fn revisions_seen(output: &str) -> Vec<i64> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|r| {
            r["Events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e["kv"]["mod_revision"].as_i64())
        })
        .collect()
}

#[test]
fn watchers_see_every_revision_once_across_a_leader_kill_and_a_member_restart() {
    let mut members = cluster(Flavor::EtcdNode, 3);
    // The leader's endpoint first, so the watch stream most likely starts on the member that is killed.
    let first = leader_of(&members);
    let mut endpoints: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    endpoints.swap(0, first);
    let mut watcher = std::process::Command::new(Etcdctl::V35.binary())
        .args(["--endpoints", &endpoints.join(",")])
        .args(["watch", "--prefix", "w/", "--rev", "1", "-w", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcdctl watch");
    let mut stdout = watcher.stdout.take().expect("watch output");
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stdout.read_to_string(&mut all);
        all
    });

    for i in 0..20 {
        put(&members, &format!("w/{i}"));
    }
    let leader = leader_of(&members);
    members[leader].kill();
    for i in 20..40 {
        put(&members, &format!("w/{i}"));
    }
    members[leader].launch();
    members[leader].wait_ready();
    let other = (leader + 1) % members.len();
    assert!(members[other].terminate(), "member {other} stops cleanly");
    for i in 40..60 {
        put(&members, &format!("w/{i}"));
    }
    members[other].launch();
    members[other].wait_ready();
    for i in 60..70 {
        put(&members, &format!("w/{i}"));
    }

    // Let the watcher catch up with the last revision, then stop it.
    let last = revision(&members);
    std::thread::sleep(Duration::from_secs(3));
    let _ = watcher.kill();
    let _ = watcher.wait();
    let output = reader.join().expect("reader");
    let seen = revisions_seen(&output);
    let expected: Vec<i64> = (2..=last).collect();
    assert_eq!(
        seen,
        expected,
        "every revision once, in order; watch output:\n{}",
        text(output.as_bytes())
    );
}
