//! Every workload of `etcd-bench` runs once, briefly, against an etcd-node member with no errors: the tool the
//! performance figures come from keeps working (its timing is for `cargo xtask bench-compare`, not for tests).

use std::process::Command;

use etcd_tests::{Flavor, Server, text};

#[test]
fn every_workload_runs_without_errors() {
    let member = Server::start(Flavor::EtcdNode);
    for op in [
        "put",
        "get",
        "qget",
        "v3-put",
        "v3-range",
        "v3-range-serializable",
        "v3-txn-put",
        "lease-keepalive",
        "watch",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_etcd-bench"))
            .args(["--endpoints", &member.client_url, "--op", op])
            .args([
                "--clients",
                "4",
                "--conns",
                "2",
                "--requests",
                "200",
                "--keys",
                "50",
            ])
            .args(["--watchers", "4", "--events", "20", "--watch-rate", "200"])
            .output()
            .expect("etcd-bench");
        let report = text(&out.stdout);
        assert!(out.status.success(), "{op}: {report}{}", text(&out.stderr));
        let total = report
            .lines()
            .find(|l| l.starts_with("total"))
            .unwrap_or_default();
        assert!(total.ends_with("errors 0"), "{op}: {report}");
        assert!(!total.contains(" 0 req/s"), "{op}: {report}");
    }
}
