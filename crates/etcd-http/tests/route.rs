//! `route` against a fake `Backend` (a v2 store in memory, applied at once): the HTTP layer's own behaviour —
//! statuses, headers, bodies, validation, CORS, path cleaning, 404 and 405 — without raft or a real etcd.
#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

use etcd_store::Depth;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use etcd_api::v2::{
    Backend, BoxFuture, Error, Event, EventStream, LeaderStats, Member, MemberError, RaftPosition,
    Request, SelfStats, StoreStats,
};
use etcd_store::{Applied, Store};

struct Fake(Mutex<Store>);

struct NoEvents;

impl EventStream for NoEvents {
    fn poll_event(&mut self, _: &mut Context<'_>) -> Poll<Option<Arc<Event>>> {
        Poll::Ready(None)
    }
}

impl Backend for Fake {
    fn cluster_id(&self) -> u64 {
        0xc1
    }
    fn raft_position(&self) -> RaftPosition {
        RaftPosition { index: 9, term: 2 }
    }
    fn get(&self, path: &str, recursive: bool) -> Result<Event, Error> {
        self.0
            .lock()
            .unwrap()
            .get(path, Depth::recursive_if(recursive), 0)
    }
    fn watch(
        &self,
        _: &str,
        _: bool,
        _: bool,
        _: u64,
    ) -> Result<(Box<dyn EventStream>, u64), Error> {
        Ok((Box::new(NoEvents), self.0.lock().unwrap().index()))
    }
    fn propose(&self, request: Request) -> BoxFuture<'_, Result<Arc<Event>, Error>> {
        let result = self.0.lock().unwrap().apply(&request, 0).map(|a| match a {
            Applied::Write(e) | Applied::Read(e) => e,
            Applied::Expired(_) => unreachable!("no SYNC here"),
        });
        Box::pin(async move { result })
    }
    fn store_stats(&self) -> StoreStats {
        self.0.lock().unwrap().stats()
    }
    fn self_stats(&self) -> SelfStats {
        SelfStats::default()
    }
    fn leader_stats(&self) -> Option<LeaderStats> {
        None
    }
    fn members(&self) -> Vec<Member> {
        vec![Member {
            id: 0xa,
            name: "m".into(),
            peer_urls: vec!["http://p:2380".into()],
            client_urls: vec!["http://c:2379".into()],
        }]
    }
    fn leader(&self) -> Option<Member> {
        self.members().pop()
    }
    fn add_member(&self, _: Vec<String>) -> BoxFuture<'_, Result<Member, MemberError>> {
        Box::pin(async { Err(MemberError::Internal) })
    }
    fn remove_member(&self, id: u64) -> BoxFuture<'_, Result<(), MemberError>> {
        Box::pin(async move { Err(MemberError::NotFound(id)) })
    }
    fn update_member(&self, id: u64, _: Vec<String>) -> BoxFuture<'_, Result<(), MemberError>> {
        Box::pin(async move { Err(MemberError::NotFound(id)) })
    }
    fn health(&self, _: Vec<String>, _: bool) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }
    fn probes(&self, _: bool) -> BoxFuture<'_, Vec<(&'static str, Option<String>)>> {
        Box::pin(async { vec![("serializable_read", None)] })
    }
    fn versions(&self) -> etcd_api::v2::Versions {
        etcd_api::v2::Versions {
            server: "3.4.23".into(),
            cluster: "3.4.0".into(),
        }
    }
    fn metrics(&self) -> Vec<etcd_api::metrics::MetricFamily> {
        vec![etcd_api::metrics::MetricFamily::single(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            etcd_api::metrics::MetricKind::Gauge,
            1,
        )]
    }
}

/// One request on a fresh connection: (status line, headers, body).
fn exchange(addr: std::net::SocketAddr, request: &str) -> (String, String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_owned(), headers.to_owned(), body.to_owned())
}

fn serve() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let backend: Arc<dyn Backend> = Arc::new(Fake(Mutex::new(Store::new())));
            // Runs until the test process ends.
            let shutdown = tokio_util::sync::CancellationToken::new();
            etcd_http::serve_until(listener, None, backend, shutdown).await;
        });
    });
    rx.recv().unwrap()
}

fn request(method: &str, path: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn keys_are_written_and_read_with_etcds_statuses_headers_and_bodies() {
    let addr = serve();
    let (status, headers, body) = exchange(addr, &request("PUT", "/v2/keys/a", "value=1"));
    assert_eq!(status, "HTTP/1.1 201 Created");
    assert!(headers.contains("X-Etcd-Cluster-Id: c1"), "{headers}");
    assert!(headers.contains("X-Raft-Index: 9"), "{headers}");
    assert_eq!(
        body,
        "{\"action\":\"set\",\"node\":{\"key\":\"/a\",\"value\":\"1\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    let (status, _, body) = exchange(addr, &request("GET", "/v2/keys/a", ""));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"value\":\"1\""), "{body}");
    let (status, _, body) = exchange(addr, &request("GET", "/v2/keys/missing", ""));
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    assert_eq!(
        body,
        "{\"errorCode\":100,\"message\":\"Key not found\",\"cause\":\"/missing\",\"index\":1}\n"
    );
}

#[test]
fn bad_parameters_are_refused_before_the_backend_sees_them() {
    let addr = serve();
    let (status, _, body) = exchange(addr, &request("PUT", "/v2/keys/a?ttl=abc", "value=1"));
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("\"errorCode\":202"), "{body}");
    let (status, _, body) = exchange(addr, &request("PUT", "/v2/keys/a?prevIndex=x", "value=1"));
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("\"errorCode\":203"), "{body}");
}

#[test]
fn other_paths_methods_and_cors_answer_as_etcd() {
    let addr = serve();
    let (status, _, body) = exchange(addr, &request("GET", "/version", ""));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        body,
        "{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}"
    );
    let (status, _, _) = exchange(addr, &request("GET", "/nothing/here", ""));
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _, _) = exchange(addr, &request("PATCH", "/v2/keys/a", ""));
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, _, body) = exchange(addr, &request("GET", "/v2/members", ""));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"peerURLs\":[\"http://p:2380\"]"), "{body}");
    let (status, headers, body) = exchange(addr, &request("GET", "/metrics", ""));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("text/plain; version=0.0.4"), "{headers}");
    assert!(
        body.contains("# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n"),
        "{body}"
    );
    let preflight =
        "OPTIONS /v2/keys/a HTTP/1.1\r\nHost: x\r\nOrigin: http://o\r\nConnection: close\r\n\r\n";
    let (_, headers, _) = exchange(addr, preflight);
    assert!(
        headers.contains("Access-Control-Allow-Origin: *"),
        "{headers}"
    );
}
