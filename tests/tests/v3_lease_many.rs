//! Thousands of leases kept alive from many streams at once on one etcd-node member: the member's memory stays
//! flat while keepalives go on, and when half of the streams stop, exactly their leases expire, each no earlier
//! than its TTL after its last keepalive and on time after it (the leader's expiry check, batched); the other
//! half lives on. (Keepalive throughput against etcd is a benchmark: `etcd-bench --op lease-keepalive`.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest, WatchCreateRequest, WatchRequest,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_tests as common;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use common::{Flavor, Server};

const LEASES: usize = 2000;
const STREAMS: usize = 20;
/// Longer than granting all of them takes (5.5 s on a 2-core machine in a debug build), so none runs out before
/// its keepalives start.
const TTL: i64 = 10;

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// When each lease's last keepalive was sent and answered.
type LastKept = Arc<Mutex<HashMap<i64, (Instant, Instant)>>>;

/// Keeps `ids` alive on one stream, all of them once a second, until `stop` turns true.
fn keeper(
    channel: Channel,
    ids: Vec<i64>,
    last: LastKept,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lease = LeaseClient::new(channel);
        let (tx, rx) = mpsc::channel(ids.len());
        let mut sent = Instant::now();
        for id in &ids {
            tx.send(LeaseKeepAliveRequest { id: *id })
                .await
                .expect("send");
        }
        let mut answers = lease
            .lease_keep_alive(ReceiverStream::new(rx))
            .await
            .expect("keepalive stream")
            .into_inner();
        loop {
            for _ in &ids {
                let a = answers
                    .message()
                    .await
                    .expect("keepalive answer")
                    .expect("the stream goes on");
                assert_eq!(a.ttl, TTL, "lease {} lost while kept alive", a.id);
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                last.insert(a.id, (sent, Instant::now()));
            }
            tokio::time::sleep_until((sent + Duration::from_secs(1)).into()).await;
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            sent = Instant::now();
            for id in &ids {
                tx.send(LeaseKeepAliveRequest { id: *id })
                    .await
                    .expect("send");
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_kept_leases_hold_memory_flat_and_expire_on_time() {
    let server = Server::start(Flavor::EtcdNode);
    let pid = server.child.as_ref().expect("running").id();
    let channel = Channel::from_shared(server.client_url.clone())
        .expect("url")
        .connect()
        .await
        .expect("connect");

    // Grant and attach from several tasks at once.
    let granting_started = Instant::now();
    let mut granting = Vec::new();
    for part in 0..STREAMS {
        let channel = channel.clone();
        granting.push(tokio::spawn(async move {
            let (mut lease, mut kv) = (LeaseClient::new(channel.clone()), KvClient::new(channel));
            let mut ids = Vec::new();
            for i in 0..LEASES / STREAMS {
                let id = lease
                    .lease_grant(LeaseGrantRequest { ttl: TTL, id: 0 })
                    .await
                    .expect("grant")
                    .into_inner()
                    .id;
                kv.put(PutRequest {
                    key: format!("many/{part}/{i}").into_bytes(),
                    value: id.to_string().into_bytes(),
                    lease: id,
                    ..PutRequest::default()
                })
                .await
                .expect("put");
                ids.push(id);
            }
            ids
        }));
    }
    let mut parts = Vec::new();
    for g in granting {
        parts.push(g.await.expect("grants"));
    }
    assert!(
        granting_started.elapsed() < Duration::from_secs(TTL as u64),
        "granting took {:?}, longer than the leases' TTL: the first ran out before their keepalives began",
        granting_started.elapsed()
    );
    let last: LastKept = Arc::default();
    let stops: Vec<_> = (0..STREAMS)
        .map(|_| Arc::new(std::sync::atomic::AtomicBool::new(false)))
        .collect();
    let keepers: Vec<_> = parts
        .iter()
        .zip(&stops)
        .map(|(ids, stop)| keeper(channel.clone(), ids.clone(), last.clone(), stop.clone()))
        .collect();

    // Keepalives for a while: memory settles, then stays flat.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let settled = rss_kib(pid);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let later = rss_kib(pid);
    assert!(
        later < settled + 16 * 1024,
        "memory grew from {settled} KiB to {later} KiB under keepalives alone"
    );

    // Deletes from here on, with when they arrived.
    let deletes: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
    let (wtx, wrx) = mpsc::channel(1);
    wtx.send(WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: b"many/".to_vec(),
            range_end: b"many0".to_vec(),
            prev_kv: true,
            ..WatchCreateRequest::default()
        })),
    })
    .await
    .expect("send");
    let mut events = WatchClient::new(channel.clone())
        .watch(ReceiverStream::new(wrx))
        .await
        .expect("watch")
        .into_inner();
    let seen = deletes.clone();
    tokio::spawn(async move {
        let _open = wtx;
        while let Ok(Some(r)) = events.message().await {
            let now = Instant::now();
            for e in r.events {
                if e.r#type == EventType::Delete as i32 {
                    let lease = e.prev_kv.map_or(0, |kv| kv.lease);
                    seen.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((lease, now));
                }
            }
        }
    });

    // Half of the streams stop.
    let half = STREAMS / 2;
    for stop in &stops[..half] {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    for k in keepers.iter().take(half) {
        while !k.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let stopped: Vec<i64> = parts[..half].iter().flatten().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(TTL as u64 + 10);
    while deletes.lock().unwrap_or_else(|p| p.into_inner()).len() < stopped.len()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deletes = deletes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let last = last.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut expired: Vec<i64> = deletes.iter().map(|(l, _)| *l).collect();
    expired.sort_unstable();
    let mut want = stopped.clone();
    want.sort_unstable();
    assert_eq!(
        expired.len(),
        want.len(),
        "exactly the leases of the stopped streams expire, once each"
    );
    assert_eq!(expired, want);
    let ttl = Duration::from_secs(TTL as u64);
    let mut latest_lag = Duration::ZERO;
    for (lease, at) in &deletes {
        let (sent, answered) = last[lease];
        assert!(
            *at >= sent + ttl,
            "lease {lease:x} expired {:?} before its TTL ran out",
            sent + ttl - *at
        );
        latest_lag = latest_lag.max(at.saturating_duration_since(answered + ttl));
    }
    eprintln!(
        "{LEASES} leases on {STREAMS} streams: RSS {settled} KiB then {later} KiB; {} expired, the latest {latest_lag:?} after its TTL",
        deletes.len()
    );
    // The leader looks every 500 ms and revokes 1000 leases per entry.
    assert!(
        latest_lag < Duration::from_secs(4),
        "a lease expired {latest_lag:?} after its TTL ran out"
    );
    // etcd's lease metrics count the same.
    let metrics = server.get("/metrics").expect("metrics");
    let metric = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} is missing from /metrics"))
    };
    assert_eq!(metric("etcd_debugging_lease_granted_total"), LEASES as u64);
    assert_eq!(
        metric("etcd_debugging_server_lease_expired_total"),
        stopped.len() as u64
    );
    assert_eq!(
        metric("etcd_debugging_lease_revoked_total"),
        stopped.len() as u64
    );
    assert!(metric("etcd_debugging_lease_renewed_total") >= LEASES as u64 * 10);
    for k in &keepers[half..] {
        assert!(!k.is_finished(), "a stream of kept leases failed");
    }
    for stop in &stops {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
