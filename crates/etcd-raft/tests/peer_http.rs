//! The peer HTTP endpoints refuse what does not belong: another cluster's requests, undecodable messages,
//! wrong methods and unknown paths — with a status, never a panic or a hang.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use etcd_raft::{
    Bootstrap, InitialMember, OutMessage, RaftConfig, RaftNode, SnapshotSource, Transport,
    spawn_peer_server,
};

struct NoPeers;
impl Transport for NoPeers {
    fn send(&self, _: OutMessage) -> bool {
        false
    }
}

struct NoSnapshots;
impl SnapshotSource for NoSnapshots {
    fn snapshot(&mut self) -> Option<(u64, Vec<u8>)> {
        None
    }
}

/// Sends a raw HTTP/1.1 request and returns the status code.
fn status_of(addr: std::net::SocketAddr, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn post(path: &str, cluster: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: peer\r\nX-Etcd-Cluster-ID: {cluster}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_endpoints_refuse_foreign_and_broken_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = RaftConfig::new(1, 0xABC);
    let members = vec![InitialMember {
        id: 1,
        context: Vec::new(),
    }];
    let (raft, _applied) = RaftNode::start(
        config,
        dir.path(),
        Bootstrap::NewCluster(members),
        Box::new(NoPeers),
        Box::new(NoSnapshots),
    )
    .expect("start");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = spawn_peer_server(listener, raft.clone(), 0xABC);

    let statuses = tokio::task::spawn_blocking(move || {
        vec![
            status_of(addr, &post("/raft", "def", b"x")),
            status_of(addr, &post("/raft", "abc", b"\xff\xff\xff")),
            status_of(
                addr,
                &post("/raft/stream", "abc", b"\x00\x00\x00\x00\x00\x00\x00\x05ab"),
            ),
            status_of(addr, &post("/raft/stream", "abc", &[0xff; 8])),
            status_of(addr, &post("/raft/snapshot", "abc", b"")),
            status_of(
                addr,
                b"GET /raft HTTP/1.1\r\nHost: peer\r\nConnection: close\r\n\r\n",
            ),
            status_of(
                addr,
                b"GET /nowhere HTTP/1.1\r\nHost: peer\r\nConnection: close\r\n\r\n",
            ),
            // An empty stream is a valid (if idle) stream.
            status_of(addr, &post("/raft/stream", "abc", b"")),
        ]
    })
    .await
    .expect("client");
    assert_eq!(statuses, vec![412, 400, 400, 400, 400, 405, 404, 204]);
    // The member is unharmed.
    raft.status().await.expect("still running");
    server.abort();
    raft.shutdown().await;
}
