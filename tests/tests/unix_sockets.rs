//! `unix://` URLs (the socket path is the URL's `host:port` text, in the working directory), as etcd takes
//! them: a member with its peer URL on a Unix socket, started with the issue's very command line, serves as etcd
//! 3.4.23 does; three members replicate over Unix peer sockets; clients reach a `unix://` client URL; every
//! socket file is removed when its member stops.

use std::io::{Read, Write};
use std::path::Path;

use etcd_tests as common;

use common::{Etcdctl, Flavor, Server, text};

/// `GET path` over the Unix socket at `socket`: the body.
fn unix_get(socket: &Path, path: &str) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

#[test]
fn a_member_on_unix_sockets_serves_as_etcd() {
    let mut transcripts = Vec::new();
    for flavor in [Flavor::EtcdNode, Flavor::Etcd] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Server::new(
            flavor,
            "default",
            "unix://etcd.unix:1",
            "default=unix://etcd.unix:1",
        );
        server.cwd = Some(dir.path().to_path_buf());
        let plain = server.client_url.clone();
        server.client_url = format!("{plain},unix://client.unix:1");
        server.launch();
        server.client_url = plain;
        server.wait_ready();
        let mut t = Vec::new();
        let put = server.etcdctl3(Etcdctl::V35, &["put", "over", "unix"], "");
        t.push(format!("{:?} {}", put.status.code(), text(&put.stdout)));
        let version = unix_get(&dir.path().join("client.unix:1"), "/version");
        t.push(format!(
            "version over the client socket: {}",
            version.contains("etcdcluster")
        ));
        let got = unix_get(&dir.path().join("client.unix:1"), "/v2/keys/missing");
        t.push(format!(
            "v2 over the client socket: {}",
            got.contains("Key not found")
        ));
        let members = server.etcdctl3(Etcdctl::V35, &["member", "list", "-w", "json"], "");
        let members: serde_json::Value = serde_json::from_slice(&members.stdout).expect("json");
        t.push(format!("peer URLs: {}", members["members"][0]["peerURLs"]));
        let clean = server.terminate();
        assert!(clean || flavor == Flavor::Etcd, "etcd-node stops cleanly");
        t.push(format!(
            "sockets left: {} {}",
            dir.path().join("etcd.unix:1").exists(),
            dir.path().join("client.unix:1").exists()
        ));
        transcripts.push(t.join("\n"));
    }
    assert_eq!(transcripts[0], transcripts[1]);
    assert!(
        transcripts[0].contains("unix://etcd.unix:1"),
        "{}",
        transcripts[0]
    );
}

/// Members `n1`…`nN` of a new cluster, their peer URLs `peers`, started with `dir` as working directory (where
/// the sockets are) and the flags `extra(name)`; launched and ready.
fn unix_cluster(dir: &Path, peers: &[String], extra: impl Fn(&str) -> Vec<String>) -> Vec<Server> {
    let initial = common::initial_cluster(peers);
    let mut members: Vec<Server> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = format!("n{}", i + 1);
            let mut m = Server::new(Flavor::EtcdNode, &name, p, &initial);
            m.cwd = Some(dir.to_path_buf());
            m.extra = extra(&name);
            m
        })
        .collect();
    common::start_all(&mut members);
    members
}

#[test]
fn three_members_replicate_over_unix_peer_sockets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let peers: Vec<String> = (1..=3).map(|i| format!("unix://n{i}.peer:1")).collect();
    let mut members = unix_cluster(dir.path(), &peers, |_| Vec::new());
    let put = members[0].etcdctl3(Etcdctl::V35, &["put", "replicated", "yes"], "");
    assert!(put.status.success(), "{}", text(&put.stderr));
    let got = members[2].etcdctl3(
        Etcdctl::V35,
        &["get", "replicated", "--print-value-only"],
        "",
    );
    assert_eq!(text(&got.stdout), "yes\n", "{}", text(&got.stderr));
    // A member added to the running cluster joins over the peers' sockets (it asks them who they are).
    let added = common::until_success(|| {
        members[0].etcdctl3(
            Etcdctl::V35,
            &["member", "add", "n4", "--peer-urls=unix://n4.peer:1"],
            "",
        )
    });
    assert!(added.status.success(), "{}", text(&added.stderr));
    let initial: Vec<String> = (1..=4)
        .map(|i| format!("n{i}=unix://n{i}.peer:1"))
        .collect();
    let mut joining = Server::new(
        Flavor::EtcdNode,
        "n4",
        "unix://n4.peer:1",
        &initial.join(","),
    );
    joining.cwd = Some(dir.path().to_path_buf());
    joining.state = "existing".to_owned();
    joining.launch();
    joining.wait_ready();
    let got = joining.etcdctl3(
        Etcdctl::V35,
        &["get", "replicated", "--print-value-only"],
        "",
    );
    assert_eq!(text(&got.stdout), "yes\n", "{}", text(&got.stderr));
    assert!(members[1].terminate());
    assert!(
        !dir.path().join("n2.peer:1").exists(),
        "the stopped member's socket is removed"
    );
}

/// `unixs://`: peers over TLS on Unix sockets, each certificate checked against the URL's host part.
#[test]
fn members_replicate_over_unixs_peer_sockets() {
    use etcd_tls::testing::TestCa;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("peer CA").expect("CA");
    let ca_file = ca.write_cert(&dir.path().join("ca.pem")).expect("CA file");
    let peers: Vec<String> = (1..=2).map(|i| format!("unixs://localhost:{i}")).collect();
    let members = unix_cluster(dir.path(), &peers, |name| {
        let cert = ca
            .issue(dir.path(), &format!("peer-{name}"), name, &["localhost"])
            .expect("certificate");
        vec![
            format!("--peer-cert-file={}", cert.cert.display()),
            format!("--peer-key-file={}", cert.key.display()),
            format!("--peer-trusted-ca-file={}", ca_file.display()),
            "--peer-client-cert-auth".to_owned(),
        ]
    });
    let put = members[0].etcdctl3(Etcdctl::V35, &["put", "over", "unixs"], "");
    assert!(put.status.success(), "{}", text(&put.stderr));
    let got = members[1].etcdctl3(Etcdctl::V35, &["get", "over", "--print-value-only"], "");
    assert_eq!(text(&got.stdout), "unixs\n", "{}", text(&got.stderr));
}
