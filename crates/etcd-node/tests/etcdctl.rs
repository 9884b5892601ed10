//! `ETCDCTL_API=2 etcdctl` 3.4.23 against etcd-node and against real etcd 3.4.23, command for command: the
//! same stdout, stderr and exit code.

mod common;

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
