//! `etcdctl check perf` (the smallest load, 60 s of writes from 50 clients, then its own compaction and
//! defragmentation) against etcd-node and etcd 3.5.1 in turn: etcd-node passes where etcd passes. The verdict is
//! etcd's own timing check, so it is compared, not required: on a machine too slow for etcd both may fail.

use etcd_tests as common;

use common::{Etcdctl, Flavor, Server, text};

fn verdict(flavor: Flavor) -> (String, String) {
    let server = Server::start(flavor);
    let out = server.etcdctl3(
        Etcdctl::V35,
        &[
            "check",
            "perf",
            "--load=s",
            "--auto-compact",
            "--auto-defrag",
        ],
        "",
    );
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim().to_owned();
    (last, format!("{stdout}\n{}", text(&out.stderr)))
}

#[test]
fn check_perf_passes_where_it_passes_on_etcd() {
    let (theirs, their_output) = verdict(Flavor::Etcd35);
    let (ours, our_output) = verdict(Flavor::EtcdNode);
    assert!(
        ["PASS", "FAIL"].contains(&ours.as_str()),
        "etcdctl gave no verdict: {our_output}"
    );
    if theirs == "PASS" {
        assert_eq!(
            ours, "PASS",
            "etcd 3.5.1:\n{their_output}\netcd-node:\n{our_output}"
        );
    }
    assert!(
        !our_output.contains("Error"),
        "check perf reported an error against etcd-node: {our_output}"
    );
}
