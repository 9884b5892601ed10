//! `--quota-backend-bytes`, side by side with etcd 3.5.1: a member filled past a small quota raises NOSPACE and
//! refuses what adds data in etcd's words; deletes, compaction, `etcdctl defrag` and `alarm disarm` bring it
//! back; nothing acknowledged before the alarm is lost. The file shrinks on defragmentation.

use etcd_tests as common;

use common::{Etcdctl, Flavor, Server, mask_number, text};

fn masked(out: &std::process::Output) -> String {
    let mut lines = Vec::new();
    for line in text(&out.stdout).lines().chain(text(&out.stderr).lines()) {
        if line.starts_with('{') {
            continue;
        }
        let line = mask_number(line, "memberID:");
        let line = mask_number(&line, "127.0.0.1:");
        let line = mask_number(&line, "compacted revision ");
        lines.push(line);
    }
    format!("{:?} {}", out.status.code(), lines.join(" / "))
}

fn transcript(flavor: Flavor) -> Vec<String> {
    let peer = format!("http://127.0.0.1:{}", common::free_port());
    let mut server = Server::new(flavor, "n1", &peer, &format!("n1={peer}"));
    server.extra = vec!["--quota-backend-bytes".into(), "3000000".into()];
    server.launch();
    server.wait_ready();
    let run = |args: &[&str]| server.etcdctl3(Etcdctl::V35, args, "");
    let mut t = Vec::new();
    let value = "a".repeat(100_000);
    let mut acknowledged = 0;
    let refusal = loop {
        let out = run(&["put", &format!("k{acknowledged:03}"), &value]);
        if !out.status.success() {
            break out;
        }
        acknowledged += 1;
        assert!(acknowledged < 200, "{flavor:?} never ran out of space");
    };
    t.push(format!("refused: {}", masked(&refusal)));
    let keys = run(&["get", "k", "--prefix", "--keys-only"]);
    let stored = text(&keys.stdout)
        .lines()
        .filter(|l| l.starts_with('k'))
        .count();
    assert_eq!(
        stored, acknowledged,
        "{flavor:?}: every acknowledged put is stored"
    );
    t.push(format!("alarm list: {}", masked(&run(&["alarm", "list"]))));
    t.push(format!(
        "small put: {}",
        masked(&run(&["put", "small", "x"]))
    ));
    t.push(format!(
        "txn put: {}",
        masked(&server.etcdctl3(Etcdctl::V35, &["txn"], "\nput t x\n\n"))
    ));
    t.push(format!(
        "lease grant: {}",
        masked(&run(&["lease", "grant", "60"]))
    ));
    let deleted = run(&["del", "k", "--prefix"]);
    t.push(format!(
        "delete: {:?} {}",
        deleted.status.code(),
        text(&deleted.stdout).trim() == acknowledged.to_string()
    ));
    let revision: serde_json::Value =
        serde_json::from_slice(&run(&["get", "x", "-w", "json"]).stdout).expect("json");
    let revision = revision["header"]["revision"]
        .as_i64()
        .expect("revision")
        .to_string();
    t.push(format!(
        "compact: {}",
        masked(&run(&["compact", &revision, "--physical"]))
    ));
    let size = |s: &Server| std::fs::metadata(s.data.join("member/snap/db")).map_or(0, |m| m.len());
    let before = size(&server);
    t.push(format!("defrag: {}", masked(&run(&["defrag"]))));
    assert!(
        size(&server) < before / 2,
        "{flavor:?}: {before} bytes before the defragmentation, {} after",
        size(&server)
    );
    t.push(format!("disarm: {}", masked(&run(&["alarm", "disarm"]))));
    t.push(format!("alarm list: {}", masked(&run(&["alarm", "list"]))));
    t.push(format!("put: {}", masked(&run(&["put", "x", "y"]))));
    t.push(format!(
        "get: {}",
        masked(&run(&["get", "x", "--print-value-only"]))
    ));
    t
}

#[test]
fn a_full_backend_raises_nospace_and_recovers_as_in_etcd() {
    let ours = transcript(Flavor::EtcdNode);
    let theirs = transcript(Flavor::Etcd35);
    assert_eq!(ours.join("\n"), theirs.join("\n"));
    assert_eq!(
        ours[0],
        "refused: Some(1) Error: etcdserver: mvcc: database space exceeded"
    );
    assert!(
        ours.iter().any(|l| l.contains("Finished defragmenting")),
        "{ours:?}"
    );
}
