//! The Watch protocol message by message, against etcd-node and etcd 3.5.1 side by side (a gRPC client of our
//! own): history with prev_kv, a client-chosen watch ID and its duplicate, filters, an empty range, a progress
//! request, cancel, a compacted start, and fragments. The responses must be equal once member IDs, cluster IDs
//! and raft terms are cleared.

use std::time::Duration;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    CompactionRequest, DeleteRangeRequest, PutRequest, WatchCancelRequest, WatchCreateRequest,
    WatchProgressRequest, WatchRequest, WatchResponse,
};
use etcd_tests as common;
use tokio::sync::mpsc;

use common::{Flavor, Server};

fn create(c: WatchCreateRequest) -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(c)),
    }
}

/// Every response that arrives within a short quiet period.
async fn drain(stream: &mut tonic::Streaming<WatchResponse>) -> Vec<WatchResponse> {
    let mut out = Vec::new();
    while let Ok(Ok(Some(mut r))) =
        tokio::time::timeout(Duration::from_millis(700), stream.message()).await
    {
        if let Some(h) = r.header.as_mut() {
            (h.cluster_id, h.member_id, h.raft_term) = (0, 0, 0);
        }
        out.push(r);
    }
    out
}

fn put(key: &str, value: &[u8]) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.to_vec(),
        ..PutRequest::default()
    }
}

async fn session(server: &Server) -> Vec<(String, Vec<WatchResponse>)> {
    let url = server.client_url.clone();
    let mut kv = KvClient::connect(url.clone()).await.expect("connect");
    let mut watch = WatchClient::connect(url)
        .await
        .expect("connect")
        .max_decoding_message_size(usize::MAX);
    let (tx, rx) = mpsc::channel(16);
    for (k, v) in [("a", "1"), ("a", "2"), ("b", "1")] {
        kv.put(put(k, v.as_bytes())).await.expect("put");
    }
    // The first request goes before the call: etcd sends the response headers with its first message.
    tx.send(create(WatchCreateRequest {
        key: b"a".to_vec(),
        start_revision: 1,
        watch_id: 7,
        prev_kv: true,
        ..WatchCreateRequest::default()
    }))
    .await
    .expect("send");
    let requests = futures_stream(rx);
    let mut stream = watch.watch(requests).await.expect("watch").into_inner();
    let mut log = Vec::new();
    macro_rules! step {
        ($name:expr, $action:expr) => {{
            $action;
            log.push(($name.to_owned(), drain(&mut stream).await));
        }};
    }
    log.push((
        "history with prev_kv and a chosen ID".to_owned(),
        drain(&mut stream).await,
    ));
    step!("the same ID again", {
        tx.send(create(WatchCreateRequest {
            key: b"a".to_vec(),
            watch_id: 7,
            ..WatchCreateRequest::default()
        }))
        .await
        .expect("send")
    });
    step!("a range without puts, automatic ID", {
        tx.send(create(WatchCreateRequest {
            key: b"b".to_vec(),
            range_end: b"c".to_vec(),
            filters: vec![0],
            ..WatchCreateRequest::default()
        }))
        .await
        .expect("send")
    });
    step!("a delete and a filtered put", {
        kv.delete_range(DeleteRangeRequest {
            key: b"b".to_vec(),
            ..DeleteRangeRequest::default()
        })
        .await
        .expect("delete");
        kv.put(put("b", b"2")).await.expect("put");
        kv.put(put("a", b"3")).await.expect("put");
    });
    step!("an empty range", {
        tx.send(create(WatchCreateRequest {
            key: b"z".to_vec(),
            range_end: b"a".to_vec(),
            ..WatchCreateRequest::default()
        }))
        .await
        .expect("send")
    });
    step!("a progress request", {
        tx.send(WatchRequest {
            request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})),
        })
        .await
        .expect("send")
    });
    step!("cancel", {
        tx.send(WatchRequest {
            request_union: Some(RequestUnion::CancelRequest(WatchCancelRequest {
                watch_id: 7,
            })),
        })
        .await
        .expect("send")
    });
    step!("a compacted start", {
        kv.compact(CompactionRequest {
            revision: 5,
            physical: true,
        })
        .await
        .expect("compact");
        tx.send(create(WatchCreateRequest {
            key: b"a".to_vec(),
            start_revision: 2,
            ..WatchCreateRequest::default()
        }))
        .await
        .expect("send")
    });
    step!("fragments", {
        for i in 0..3 {
            kv.put(put(&format!("f/{i}"), &vec![b'x'; 700 * 1024]))
                .await
                .expect("put");
        }
        let first_big = 8;
        tx.send(create(WatchCreateRequest {
            key: b"f/".to_vec(),
            range_end: b"f0".to_vec(),
            start_revision: first_big,
            fragment: true,
            ..WatchCreateRequest::default()
        }))
        .await
        .expect("send")
    });
    log
}

/// The receiver as the request stream tonic takes.
fn futures_stream(
    rx: mpsc::Receiver<WatchRequest>,
) -> impl tonic::codegen::tokio_stream::Stream<Item = WatchRequest> {
    struct S(mpsc::Receiver<WatchRequest>);
    impl tonic::codegen::tokio_stream::Stream for S {
        type Item = WatchRequest;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<WatchRequest>> {
            self.0.poll_recv(cx)
        }
    }
    S(rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_protocol_answers_as_etcds() {
    let ours = Server::start(Flavor::EtcdNode);
    let reference = Server::start(Flavor::Etcd35);
    let (a, b) = (session(&ours).await, session(&reference).await);
    for ((step, ours), (_, theirs)) in a.iter().zip(&b) {
        let summary = |rs: &[WatchResponse]| {
            rs.iter()
                .map(|r| {
                    format!(
                        "{:?}",
                        WatchResponse {
                            events: Vec::new(),
                            ..r.clone()
                        }
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(ours), summary(theirs), "{step}: responses");
        assert_eq!(ours, theirs, "{step}: events");
    }
    assert_eq!(a.len(), b.len());
    let (_, fragments) = a.last().expect("steps");
    assert!(
        fragments.iter().any(|r| r.fragment),
        "the large events came in fragments"
    );
    assert_eq!(fragments.iter().map(|r| r.events.len()).sum::<usize>(), 3);
}
