//! Flags and environment as etcd takes them: `ETCD_*` variables, a flag beats its variable, flags not
//! implemented yet are refused by name, `--cors` lists origins.

use etcd_tests as common;

use std::process::Command;

use common::{Flavor, Server, free_port, text};

fn etcd_node() -> Command {
    Command::new(env!("CARGO_BIN_EXE_etcd-node"))
}

/// Runs etcd-node with `args` and `env`, which must make it refuse to start; returns its stderr. A member that
/// starts instead is stopped after 20 s and fails the test (rather than hanging it).
fn refusal(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = etcd_node()
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} {env:?} started instead of refusing");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert!(!out.status.success(), "{args:?} {env:?} started");
    (out.status.code(), text(&out.stderr))
}

#[test]
fn unimplemented_and_unknown_flags_are_refused_by_name() {
    for (args, needle) in [
        (
            &["--discovery", "https://discovery.etcd.io/x"][..],
            "--discovery",
        ),
        (&["--proxy", "maybe"], "-proxy"),
        (&["--no-such-flag"], "--no-such-flag"),
        (
            &["--initial-cluster-state", "maybe"],
            "--initial-cluster-state",
        ),
        // As etcd: two members cannot share a peer URL.
        (
            &[
                "--initial-cluster",
                "a=http://127.0.0.1:1,b=http://127.0.0.1:1",
            ],
            "has duplicate url",
        ),
    ] {
        let (_, err) = refusal(args, &[]);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // An etcd flag etcd-node does not implement, or its variable, is refused by name, never ignored.
    let (code, err) = refusal(&["--pre-vote=true"], &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--pre-vote") && err.contains("not implemented"),
        "{err}"
    );
    let (code, err) = refusal(&[], &[("ETCD_DISCOVERY_SRV", "example.com")]);
    assert_eq!(code, Some(2));
    assert!(err.contains("ETCD_DISCOVERY_SRV"), "{err}");
}

#[test]
fn environment_variables_configure_the_member_and_flags_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = format!("http://127.0.0.1:{}", free_port());
    let peer = format!("http://127.0.0.1:{}", free_port());
    let mut child = etcd_node()
        .env("ETCD_NAME", "from-env")
        .env("ETCD_DATA_DIR", dir.path().join("data"))
        .env("ETCD_LISTEN_CLIENT_URLS", &client)
        .env("ETCD_ADVERTISE_CLIENT_URLS", &client)
        .env("ETCD_LISTEN_PEER_URLS", &peer)
        .env("ETCD_INITIAL_ADVERTISE_PEER_URLS", &peer)
        .env("ETCD_INITIAL_CLUSTER", format!("from-flag={peer}"))
        // Go's flag package takes one dash as well as two, and so does etcd-node.
        .args(["-name", "from-flag"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let members = loop {
        if let Some((200, body)) = common::http(&client, "GET", "/v2/members", "")
            && body.contains("clientURLs\":[\"http")
        {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the member did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(members.contains("\"name\":\"from-flag\""), "{members}");
    assert!(dir.path().join("data/member/wal").is_dir());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn cors_origins_are_echoed_only_when_listed() {
    let peer = format!("http://127.0.0.1:{}", free_port());
    let mut server = Server::new(Flavor::EtcdNode, "n1", &peer, &format!("n1={peer}"));
    server.extra = vec![
        "--cors".to_owned(),
        "http://good.example,http://also.example".to_owned(),
    ];
    server.launch();
    server.wait_ready();
    let header = |origin: &str| {
        use std::io::{Read, Write};
        let addr = server.client_url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "GET /version HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut r = String::new();
        s.read_to_string(&mut r).expect("read");
        r.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("access-control-allow-origin: ")
                .map(str::to_owned)
        })
    };
    assert_eq!(
        header("http://good.example").as_deref(),
        Some("http://good.example")
    );
    assert_eq!(header("http://evil.example"), None);
}

#[test]
fn a_dedicated_wal_dir_holds_the_wal_across_restarts() {
    let peer = format!("http://127.0.0.1:{}", free_port());
    let mut server = Server::new(Flavor::EtcdNode, "n1", &peer, &format!("n1={peer}"));
    let wal_dir = server.dir.path().join("dedicated-wal");
    server.extra = vec!["--wal-dir".to_owned(), wal_dir.display().to_string()];
    server.launch();
    server.wait_ready();
    let put = common::http(&server.client_url, "PUT", "/v2/keys/k", "value=kept");
    assert_eq!(put.map(|r| r.0), Some(201));
    server.kill();
    let wal_files = std::fs::read_dir(&wal_dir).expect("wal dir").count();
    assert!(wal_files > 0, "the WAL is in the dedicated directory");
    assert!(
        !server.data.join("member/wal").exists(),
        "no WAL in the data dir"
    );
    server.launch();
    server.wait_ready();
    let (status, body) = common::http(&server.client_url, "GET", "/v2/keys/k", "").expect("get");
    assert_eq!(status, 200);
    assert!(body.contains("kept"), "{body}");
}
