//! A client that opens a watch and never reads it: the member keeps answering other clients, turns that watcher
//! unsynced instead of queueing its events (`etcd_debugging_mvcc_slow_watcher_total`), and once the client
//! reads again, it gets every event, each once, in order, caught up from the backend.

use std::time::Duration;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{PutRequest, WatchCreateRequest, WatchRequest};
use etcd_tests as common;
use tonic::codegen::tokio_stream::{self, StreamExt as _};

use common::{Flavor, Server, http_get};

const PUTS: usize = 3_000;
const VALUE: usize = 16 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_never_reads_slows_nobody_and_still_gets_every_event() {
    let server = Server::start(Flavor::EtcdNode);
    let url = server.client_url.clone();
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: b"big/".to_vec(),
            range_end: b"big0".to_vec(),
            ..WatchCreateRequest::default()
        })),
    };
    // Catch-up messages hold up to 1,000 revisions, as etcd's do (Go clients accept any size).
    let mut watch = WatchClient::connect(url.clone())
        .await
        .expect("connect")
        .max_decoding_message_size(usize::MAX);
    let requests = tokio_stream::once(create).chain(tokio_stream::pending());
    let mut stalled = watch.watch(requests).await.expect("watch").into_inner();

    // Another client writes far more than the stalled stream's buffers hold, and is answered throughout.
    let mut kv = KvClient::connect(url.clone()).await.expect("connect");
    let mut last = 0;
    for i in 0..PUTS {
        let put = PutRequest {
            key: format!("big/{i:05}").into_bytes(),
            value: vec![b'x'; VALUE],
            ..PutRequest::default()
        };
        let answer = tokio::time::timeout(Duration::from_secs(30), kv.put(put))
            .await
            .expect("a put is answered while a watcher stalls")
            .expect("put");
        last = answer.into_inner().header.expect("header").revision;
    }
    let metrics = http_get(&url, "/metrics").expect("metrics");
    assert!(
        metrics.contains("\netcd_debugging_mvcc_slow_watcher_total 1\n"),
        "the stalled watcher is unsynced, its events not queued:\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("mvcc"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Now it reads: every revision from the first put to the last, once each, in order.
    let mut revisions = Vec::new();
    while revisions.last().copied().unwrap_or(0) < last {
        let response = tokio::time::timeout(Duration::from_secs(60), stalled.message())
            .await
            .expect("the watcher catches up")
            .expect("stream")
            .expect("open");
        revisions.extend(
            response
                .events
                .iter()
                .filter_map(|e| e.kv.as_ref().map(|kv| kv.mod_revision)),
        );
    }
    let expected: Vec<i64> = (last - PUTS as i64 + 1..=last).collect();
    assert_eq!(revisions, expected);
}
