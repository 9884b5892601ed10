//! `etcdctl endpoint status`, `endpoint hashkv` and `member list` (the Maintenance `Status` and `HashKV` and the
//! Cluster `MemberList` RPCs) against etcd-node and etcd 3.5.1 side by side, on one member and on three, with
//! `--cluster`: the same members, leader, revisions and compaction state once what differs between any two
//! clusters (IDs, URLs, terms, versions, database sizes, hash values) is set aside; the hashes of one cluster's
//! members agree with each other.

use etcd_tests as common;
use serde_json::Value;

use common::{Etcdctl, Flavor, Server, cluster, mask_number, text};

fn json(server: &Server, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["-w", "json"]);
    let out = server.etcdctl3(Etcdctl::V35, &args, "");
    assert!(
        out.status.success(),
        "{:?} etcdctl {args:?}: {}",
        server.flavor,
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// What two clusters share of `endpoint status --cluster`: per member (sorted), whether it leads, whether it is a
/// learner, its errors, its header revision; and that every member names the same leader, at the same term, with
/// its applied index at its commit index once idle.
fn status_summary(members: &[Server]) -> Vec<String> {
    let all = json(&members[0], &["endpoint", "status", "--cluster"]);
    let all = all.as_array().expect("a list");
    assert_eq!(all.len(), members.len());
    let leaders: Vec<&Value> = all.iter().map(|e| &e["Status"]["leader"]).collect();
    assert!(
        leaders.iter().all(|l| *l == leaders[0]),
        "one leader: {all:?}"
    );
    let mut summary: Vec<String> = all
        .iter()
        .map(|e| {
            let s = &e["Status"];
            assert_eq!(s["raftTerm"], s["header"]["raft_term"]);
            assert!(s["dbSize"].as_i64().unwrap_or(0) > 0);
            assert!(s["raftIndex"].as_u64() >= s["raftAppliedIndex"].as_u64());
            format!(
                "leads {} learner {} errors {} revision {}",
                s["leader"] == s["header"]["member_id"],
                s["isLearner"].as_bool().unwrap_or(false),
                s["errors"],
                s["header"]["revision"]
            )
        })
        .collect();
    summary.sort();
    summary
}

/// `endpoint hashkv --cluster`: every member's hash is the same; answers the shared parts.
fn hashkv_summary(members: &[Server], rev: Option<&str>) -> Vec<String> {
    let mut args = vec!["endpoint", "hashkv", "--cluster"];
    if let Some(rev) = rev {
        args.extend(["--rev", rev]);
    }
    let all = json(&members[0], &args);
    let all = all.as_array().expect("a list");
    assert_eq!(all.len(), members.len());
    let hashes: Vec<&Value> = all.iter().map(|e| &e["HashKV"]["hash"]).collect();
    assert!(
        hashes.iter().all(|h| *h == hashes[0]),
        "members disagree: {all:?}"
    );
    all.iter()
        .map(|e| {
            let h = &e["HashKV"];
            format!(
                "revision {} compact {}",
                h["header"]["revision"], h["compact_revision"]
            )
        })
        .collect()
}

/// `member list`: names, URL counts, learners, and what the header holds, by name.
fn member_summary(server: &Server) -> Vec<String> {
    let list = json(server, &["member", "list"]);
    assert_eq!(list["header"]["revision"], Value::Null, "no revision");
    let mut members: Vec<String> = list["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            format!(
                "{} peers {} clients {} learner {}",
                m["name"],
                m["peerURLs"].as_array().map_or(0, Vec::len),
                m["clientURLs"].as_array().map_or(0, Vec::len),
                m["isLearner"].as_bool().unwrap_or(false)
            )
        })
        .collect();
    members.sort();
    members
}

fn summary(members: &[Server]) -> Vec<String> {
    let first = &members[0];
    for (k, v) in [("a", "1"), ("b", "2"), ("a", "3")] {
        let out = first.etcdctl3(Etcdctl::V35, &["put", k, v], "");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let mut out = status_summary(members);
    out.extend(hashkv_summary(members, None));
    out.extend(hashkv_summary(members, Some("3")));
    let compact = first.etcdctl3(Etcdctl::V35, &["compaction", "3"], "");
    assert!(compact.status.success(), "{}", text(&compact.stderr));
    out.extend(hashkv_summary(members, None));
    let past = first.etcdctl3(Etcdctl::V35, &["endpoint", "hashkv", "--rev", "2"], "");
    out.push(format!(
        "hashkv below the compaction: {:?} {}",
        past.status.code(),
        text(&past.stderr)
            .lines()
            .filter(|l| !l.starts_with('{'))
            .map(|l| mask_number(l, "127.0.0.1:"))
            .collect::<Vec<_>>()
            .join(" | ")
    ));
    out.extend(member_summary(&members[members.len() - 1]));
    out
}

fn compare(n: usize) {
    let ours = summary(&cluster(Flavor::EtcdNode, n));
    let theirs = summary(&cluster(Flavor::Etcd35, n));
    assert_eq!(ours.join("\n"), theirs.join("\n"));
}

#[test]
fn status_hashkv_and_member_list_answer_as_etcds_on_one_member() {
    compare(1);
}

#[test]
fn status_hashkv_and_member_list_answer_as_etcds_on_three_members() {
    compare(3);
}
