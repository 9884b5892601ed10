//! SIGTERM with long-lived streams open (issue 21's shutdown pattern): the member stops accepting, ends its
//! watches and lease keepalives with Unavailable (as etcd's clients see a stopping member, so they go on through
//! another one) instead of holding the connections open until a deadline, and exits cleanly with every
//! acknowledged write kept.

use std::time::Duration;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest, RangeRequest, WatchCreateRequest,
    WatchRequest,
};
use etcd_tests as common;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;

use common::{Flavor, Server};

/// The stream's end: the status it ended with, or `None` for a clean end. Generous timeout against a hang.
async fn end_of<T>(stream: &mut tonic::Streaming<T>) -> Option<tonic::Status> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.message()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => return None,
            Ok(Err(status)) => return Some(status),
            Err(_) => panic!("the stream neither ended nor failed after SIGTERM"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_watches_and_keepalives_with_unavailable_and_exits_cleanly() {
    let mut server = Server::start(Flavor::EtcdNode);
    let url = server.client_url.clone();
    let mut kv = KvClient::connect(url.clone()).await.expect("connect");
    kv.put(PutRequest {
        key: b"kept".to_vec(),
        value: b"yes".to_vec(),
        ..PutRequest::default()
    })
    .await
    .expect("put");

    let (watch_tx, watch_rx) = mpsc::channel(4);
    watch_tx
        .send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: b"k".to_vec(),
                ..WatchCreateRequest::default()
            })),
        })
        .await
        .expect("queue");
    let mut watch = WatchClient::connect(url.clone())
        .await
        .expect("connect")
        .watch(ReceiverStream::new(watch_rx))
        .await
        .expect("watch")
        .into_inner();
    let created = watch.message().await.expect("created").expect("a response");
    assert!(created.created);

    let mut lease = LeaseClient::connect(url.clone()).await.expect("connect");
    let granted = lease
        .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
        .await
        .expect("grant")
        .into_inner();
    let (keepalive_tx, keepalive_rx) = mpsc::channel(4);
    keepalive_tx
        .send(LeaseKeepAliveRequest { id: granted.id })
        .await
        .expect("queue");
    let mut keepalives = lease
        .lease_keep_alive(ReceiverStream::new(keepalive_rx))
        .await
        .expect("keepalive")
        .into_inner();
    let renewed = keepalives
        .message()
        .await
        .expect("renewed")
        .expect("a response");
    assert_eq!(renewed.id, granted.id);

    let terminated = tokio::task::spawn_blocking(move || {
        let clean = server.terminate();
        (server, clean)
    });
    let watch_end = end_of(&mut watch)
        .await
        .expect("the watch ends with a status");
    assert_eq!(watch_end.code(), tonic::Code::Unavailable, "{watch_end:?}");
    // Told by the member, not a connection cut at the drain's deadline.
    assert_eq!(watch_end.message(), "etcdserver: server stopped");
    let keepalive_end = end_of(&mut keepalives)
        .await
        .expect("keepalives end with a status");
    assert_eq!(
        keepalive_end.code(),
        tonic::Code::Unavailable,
        "{keepalive_end:?}"
    );
    let (mut server, clean) = terminated.await.expect("join");
    assert!(clean, "SIGTERM must end the process cleanly");
    drop((watch_tx, keepalive_tx));

    server.launch();
    server.wait_ready();
    let mut kv = KvClient::connect(server.client_url.clone())
        .await
        .expect("connect");
    let read = kv
        .range(RangeRequest {
            key: b"kept".to_vec(),
            ..RangeRequest::default()
        })
        .await
        .expect("range")
        .into_inner();
    assert_eq!(
        read.kvs.first().map(|kv| kv.value.as_slice()),
        Some(&b"yes"[..])
    );
}
