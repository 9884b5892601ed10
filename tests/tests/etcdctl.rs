//! `ETCDCTL_API=2 etcdctl` 3.4.23 against etcd-node and against real etcd 3.4.23, command for command: the
//! same stdout, stderr and exit code.

use etcd_tests as common;

use common::{Flavor, Server, text};

/// Commands whose output does not depend on member IDs or the clock.
const SCRIPT: &[&[&str]] = &[
    &["set", "/a", "1"],
    &["get", "/a"],
    &["mk", "/a", "2"],
    &["mk", "/b", "2"],
    &["mkdir", "/d"],
    &["mkdir", "/d"],
    &["setdir", "/d2"],
    &["mk", "--in-order", "/q", "job1"],
    &["mk", "--in-order", "/q", "job2"],
    &["ls", "--sort", "-r", "-p", "/"],
    &["ls", "--sort", "/q"],
    &["get", "/d"],
    &["update", "/a", "3"],
    &["update", "/missing", "x"],
    &["updatedir", "/d2"],
    &["set", "/a", "4", "--swap-with-value", "3"],
    &["set", "/a", "5", "--swap-with-value", "nope"],
    &["set", "/a", "6", "--swap-with-index", "1"],
    &["-o", "extended", "get", "/a"],
    &["-o", "json", "get", "/a"],
    &["-o", "extended", "get", "/b"],
    &["rm", "/a", "--with-value", "nope"],
    &["rm", "/a", "--with-value", "4"],
    &["rm", "/b", "--with-index", "999"],
    &["rm", "/d"],
    &["rmdir", "/d"],
    &["rm", "-r", "/q"],
    &["rm", "/d2", "--dir"],
    &["get", "/d2"],
    &["get", "/"],
    &["watch", "--after-index", "4", "/b"],
    &["set", "/_hidden", "h"],
    &["ls", "/"],
    &["get", "/_hidden"],
    &["set", "/esc", "<a&b>"],
    &["-o", "json", "get", "/esc"],
];

#[test]
fn etcdctl_sees_the_same_answers_from_etcd_node_and_etcd() {
    let ours = Server::start(Flavor::EtcdNode);
    let reference = Server::start(Flavor::Etcd);
    for args in SCRIPT {
        let a = ours.etcdctl(args);
        let b = reference.etcdctl(args);
        let context = format!("etcdctl {}", args.join(" "));
        assert_eq!(text(&a.stdout), text(&b.stdout), "stdout of {context}");
        assert_eq!(text(&a.stderr), text(&b.stderr), "stderr of {context}");
        assert_eq!(a.status.code(), b.status.code(), "exit code of {context}");
    }
}

#[test]
fn cluster_health_and_member_list_work() {
    let server = Server::start(Flavor::EtcdNode);
    let health = server.etcdctl(&["cluster-health"]);
    assert!(health.status.success(), "{}", text(&health.stderr));
    assert!(text(&health.stdout).contains("cluster is healthy"));
    let members = server.etcdctl(&["member", "list"]);
    assert!(members.status.success());
    let line = text(&members.stdout);
    assert!(
        line.contains("name=n1") && line.contains("isLeader=true"),
        "{line}"
    );
    assert!(
        line.contains(&format!("clientURLs={}", server.client_url)),
        "{line}"
    );
}

#[test]
fn etcdctl_manages_a_three_member_cluster() {
    let members = common::cluster(Flavor::EtcdNode, 3);
    let health = members[0].etcdctl(&["cluster-health"]);
    let out = text(&health.stdout);
    assert!(health.status.success(), "{out}{}", text(&health.stderr));
    assert_eq!(out.matches("got healthy result").count(), 3, "{out}");
    assert!(out.contains("cluster is healthy"));

    let list = text(&members[1].etcdctl(&["member", "list"]).stdout);
    assert_eq!(list.lines().count(), 3, "{list}");
    assert_eq!(list.matches("isLeader=true").count(), 1, "{list}");

    // Writes through one member are read through the others.
    let set = members[2].etcdctl(&["set", "/shared", "value"]);
    assert!(set.status.success());
    for m in &members {
        let got = m.etcdctl(&["get", "--quorum", "/shared"]);
        assert_eq!(text(&got.stdout), "value\n");
    }

    // Update a member to the peer URL it already has: accepted, and the list is unchanged.
    let line = list.lines().next().expect("a member");
    let id = line.split(':').next().expect("id");
    let url = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("peerURLs="))
        .expect("peer URLs");
    let updated = members[0].etcdctl(&["member", "update", id, url]);
    assert!(updated.status.success(), "{}", text(&updated.stderr));
    assert_eq!(
        text(&updated.stdout),
        format!("Updated member with ID {id} in cluster\n")
    );
    let again = text(&members[1].etcdctl(&["member", "list"]).stdout);
    assert_eq!(again.lines().count(), 3);
    assert!(again.contains(url));
    // An unknown member cannot be removed.
    let missing = members[0].etcdctl(&["member", "remove", "1234"]);
    assert!(!missing.status.success());
}
