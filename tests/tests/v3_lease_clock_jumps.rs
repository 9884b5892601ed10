//! Leases under wall-clock jumps (issue 20): three members run under libfaketime, each with its own clock file,
//! and their wall clocks jump hours forward and back (the leader's one way, the followers' the other) while a
//! client keeps one lease alive and lets another go. Leases are timed by the monotonic clock, as etcd's are, so:
//! the kept lease's key never disappears and every keepalive is answered with the whole TTL; the other lease
//! expires after its TTL and within an election timeout (+ 0.4 s for the revoke's trip) of it; a lease granted
//! after the jumps reports a remaining time within its TTL.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseTimeToLiveRequest, PutRequest,
    WatchCreateRequest, WatchRequest,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_tests as common;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use common::v3::{channel, runtime};
use common::{Flavor, Server, faketime_library, leader_of, peer_urls, start_all};

const TTL: i64 = 3;
/// The members' election timeout (`etcd_tests::Server` starts them with 500 ms), and the revoke's trip.
const LATE: Duration = Duration::from_millis(900);

/// Where `member`'s fake wall clock offset is written ("+0", "+2h", "-3h").
fn clock_file(member: &Server) -> std::path::PathBuf {
    member.dir.path().join("clock")
}

fn set_clock(member: &Server, offset: &str) {
    std::fs::write(clock_file(member), offset).expect("the clock file");
}

async fn grant(url: &str) -> (i64, Instant, Instant) {
    let asked = Instant::now();
    let id = LeaseClient::new(channel(url))
        .lease_grant(LeaseGrantRequest { ttl: TTL, id: 0 })
        .await
        .expect("a grant")
        .into_inner()
        .id;
    (id, asked, Instant::now())
}

async fn attach(url: &str, key: &str, lease: i64) {
    KvClient::new(channel(url))
        .put(PutRequest {
            key: key.as_bytes().to_vec(),
            value: b"leased".to_vec(),
            lease,
            ..PutRequest::default()
        })
        .await
        .expect("a put");
}

#[test]
fn leases_ignore_wall_clock_jumps_of_any_member() {
    let library = faketime_library();
    let (peers, initial) = peer_urls("http", 3);
    let mut members: Vec<Server> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut m = Server::new(Flavor::EtcdNode, &format!("n{}", i + 1), p, &initial);
            set_clock(&m, "+0");
            m.env = vec![
                ("LD_PRELOAD".to_owned(), library.display().to_string()),
                (
                    "FAKETIME_TIMESTAMP_FILE".to_owned(),
                    clock_file(&m).display().to_string(),
                ),
                ("FAKETIME_NO_CACHE".to_owned(), "1".to_owned()),
                // The wall clock jumps; the monotonic one goes on, as on a real machine.
                ("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()),
            ];
            m
        })
        .collect();
    start_all(&mut members);
    let leader = leader_of(&members);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    let runtime = runtime();

    // Deletions under `jump/` with when they were seen.
    let deletions: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let (watch_tx, watch_rx) = tokio::sync::mpsc::channel(1);
    let mut events = runtime.block_on(async {
        watch_tx
            .send(WatchRequest {
                request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                    key: b"jump/".to_vec(),
                    range_end: b"jump0".to_vec(),
                    ..WatchCreateRequest::default()
                })),
            })
            .await
            .expect("the watch request");
        let watch_channel = Channel::from_shared(urls[leader].clone())
            .expect("a client URL")
            .connect_lazy();
        WatchClient::new(watch_channel)
            .watch(ReceiverStream::new(watch_rx))
            .await
            .expect("a watch")
            .into_inner()
    });
    let seen = deletions.clone();
    runtime.spawn(async move {
        let _open = watch_tx;
        while let Ok(Some(response)) = events.message().await {
            for e in response.events {
                if e.r#type == EventType::Delete as i32
                    && let Some(kv) = e.kv
                {
                    let key = String::from_utf8_lossy(&kv.key).into_owned();
                    seen.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((key, Instant::now()));
                }
            }
        }
    });

    let (kept, _, _) = runtime.block_on(grant(&urls[leader]));
    runtime.block_on(attach(&urls[leader], "jump/kept", kept));
    let (dropped, dropped_asked, dropped_answered) = runtime.block_on(grant(&urls[leader]));
    runtime.block_on(attach(&urls[leader], "jump/dropped", dropped));

    // Keep `kept` alive every 500 ms through the members in turn, while the clocks jump.
    let jumps = [
        ("+2h", "-3h"),
        ("-1d", "+1d"),
        ("+0", "-7h"),
        ("+30d", "+0"),
    ];
    let mut answers = Vec::new();
    for (round, (leader_offset, follower_offset)) in jumps.iter().enumerate() {
        for (i, m) in members.iter().enumerate() {
            set_clock(
                m,
                if i == leader {
                    leader_offset
                } else {
                    follower_offset
                },
            );
        }
        for step in 0..4 {
            let url = urls[(round + step) % urls.len()].clone();
            let ttl = runtime.block_on(async move {
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                tx.send(LeaseKeepAliveRequest { id: kept })
                    .await
                    .expect("the keepalive");
                let mut stream = LeaseClient::new(channel(&url))
                    .lease_keep_alive(ReceiverStream::new(rx))
                    .await
                    .expect("a keepalive stream")
                    .into_inner();
                stream
                    .message()
                    .await
                    .expect("a keepalive answer")
                    .expect("an open stream")
                    .ttl
            });
            answers.push(ttl);
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    assert!(
        answers.iter().all(|ttl| *ttl == TTL),
        "a keepalive of the kept lease was not answered with its TTL: {answers:?}"
    );

    // The jumps are real: the leader, 30 days ahead now, dates a v2 TTL (timed by the wall clock, as etcd's v2
    // store times it) in the future.
    let today = std::process::Command::new("date")
        .args(["-u", "+%F"])
        .output()
        .expect("date");
    let today = String::from_utf8_lossy(&today.stdout).trim().to_owned();
    let reply = common::http(&urls[leader], "PUT", "/v2/keys/probe?ttl=100", "value=x");
    let Some((201, body)) = reply else {
        panic!("a v2 put with a TTL: {reply:?}")
    };
    let expiration: serde_json::Value = serde_json::from_str(&body).expect("v2 JSON");
    let expiration = expiration["node"]["expiration"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !today.is_empty() && !expiration.starts_with(&today),
        "the leader's clock did not jump: the expiration is {expiration}, today is {today}"
    );

    // A lease granted now has at most its TTL left, and most of it, on every member.
    let (fresh, _, _) = runtime.block_on(grant(&urls[leader]));
    for url in &urls {
        let left = runtime
            .block_on(async {
                LeaseClient::new(channel(url))
                    .lease_time_to_live(LeaseTimeToLiveRequest {
                        id: fresh,
                        keys: false,
                    })
                    .await
            })
            .expect("time to live")
            .into_inner()
            .ttl;
        assert!(
            (TTL - 2..=TTL).contains(&left),
            "a lease granted with {TTL} s reports {left} s left on {url}"
        );
    }

    let deletions = deletions.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let keys: Vec<&str> = deletions.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec!["jump/dropped"],
        "only the lease let go expired: {deletions:?}"
    );
    let ttl = Duration::from_secs(TTL as u64);
    let at = deletions[0].1;
    assert!(
        at >= dropped_asked + ttl,
        "the lease let go expired {:?} early",
        dropped_asked + ttl - at
    );
    assert!(
        at <= dropped_answered + ttl + LATE,
        "the lease let go expired {:?} after its TTL",
        at - dropped_answered - ttl
    );
    eprintln!(
        "v3 leases under clock jumps {jumps:?}: {} keepalives answered with the whole TTL, the lease let go expired {:?} after its TTL",
        answers.len(),
        at.saturating_duration_since(dropped_answered + ttl)
    );
}
