//! Leases across leader kills on three etcd-node members: while leases are alive the leader is SIGKILLed, and
//! - no lease is reset to its whole TTL, nor cut short: every survivor's remaining TTL stays within one election
//!   timeout of the truth measured by the client;
//! - a lease nobody keeps alive expires on time, never early, and exactly once (one DELETE per attached key, all
//!   of a lease's keys at one revision);
//! - a lease kept alive through a surviving member never expires.
//!
//! `ETCD_LEASE_KILL_ROUNDS` sets how many leaders are killed in a row (default 3).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseTimeToLiveRequest, PutRequest, RangeRequest,
    WatchCreateRequest, WatchRequest,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_tests as common;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use common::{Flavor, Server, cluster, leader_of};

/// The election timeout the test members run with (`etcd_tests::Server` starts them with 500 ms).
const ELECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// The TTL of the leases that must outlive the kill, and of those that must expire after it.
const LONG_TTL: i64 = 30;
const SHORT_TTL: i64 = 5;

async fn channel(server: &Server) -> Channel {
    Channel::from_shared(server.client_url.clone())
        .expect("url")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .connect()
        .await
        .expect("connect")
}

/// The store's current revision, as a range answers it.
async fn revision(kv: &mut KvClient<Channel>) -> i64 {
    kv.range(RangeRequest {
        key: b"any".to_vec(),
        ..RangeRequest::default()
    })
    .await
    .expect("range")
    .into_inner()
    .header
    .expect("header")
    .revision
}

/// A granted lease and when the client asked for it (its deadline is no earlier than `asked + TTL`).
struct Granted {
    id: i64,
    asked: Instant,
    answered: Instant,
}

async fn grant(lease: &mut LeaseClient<Channel>, ttl: i64) -> Granted {
    let asked = Instant::now();
    let id = lease
        .lease_grant(LeaseGrantRequest { ttl, id: 0 })
        .await
        .expect("grant")
        .into_inner()
        .id;
    assert!(id > 0);
    Granted {
        id,
        asked,
        answered: Instant::now(),
    }
}

async fn attach(kv: &mut KvClient<Channel>, key: &str, lease: i64) {
    kv.put(PutRequest {
        key: key.into(),
        value: b"alive".to_vec(),
        lease,
        ..PutRequest::default()
    })
    .await
    .expect("put");
}

/// Keeps `id` alive through `channel` once a second, reopening the stream after an error (a leader change ends
/// it, as etcd's does; etcd's client reopens it the same way).
fn keep_alive(channel: Channel, id: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lease = LeaseClient::new(channel);
        loop {
            let (tx, rx) = mpsc::channel(4);
            let _ = tx.send(LeaseKeepAliveRequest { id }).await;
            let Ok(responses) = lease.lease_keep_alive(ReceiverStream::new(rx)).await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let mut responses = responses.into_inner();
            loop {
                match responses.message().await {
                    Ok(Some(r)) => assert!(r.ttl > 0, "lease {id} was lost while kept alive"),
                    _ => break,
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                if tx.send(LeaseKeepAliveRequest { id }).await.is_err() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// The DELETE events under `prefix` from `revision` on, with when each arrived: (key, revision, arrival).
type Deletes = Arc<Mutex<Vec<(String, i64, Instant)>>>;

async fn watch_deletes(channel: Channel, prefix: &str, revision: i64) -> Deletes {
    let deletes: Deletes = Arc::default();
    let mut watch = WatchClient::new(channel);
    let (tx, rx) = mpsc::channel(4);
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    tx.send(WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: prefix.into(),
            range_end: end,
            start_revision: revision,
            ..WatchCreateRequest::default()
        })),
    })
    .await
    .expect("send");
    let mut stream = watch
        .watch(ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    let seen = deletes.clone();
    tokio::spawn(async move {
        let _keep_open = tx;
        while let Ok(Some(r)) = stream.message().await {
            for e in r.events {
                if e.r#type == EventType::Delete as i32
                    && let Some(kv) = e.kv
                {
                    let key = String::from_utf8_lossy(&kv.key).into_owned();
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    seen.push((key, kv.mod_revision, Instant::now()));
                }
            }
        }
    });
    deletes
}

/// One round: leases granted, the leader killed, the leases checked on the survivors, the member restarted.
async fn round(members: &mut [Server], round: usize) {
    let leader = leader_of(members);
    let survivor = (leader + 1) % members.len();
    let through = channel(&members[survivor]).await;
    let mut lease = LeaseClient::new(through.clone());
    let mut kv = KvClient::new(through.clone());
    let prefix = format!("r{round}/");
    let start = revision(&mut kv).await;
    let deletes = watch_deletes(through.clone(), &prefix, start + 1).await;

    let long = grant(&mut lease, LONG_TTL).await;
    let short = grant(&mut lease, SHORT_TTL).await;
    let kept = grant(&mut lease, SHORT_TTL).await;
    attach(&mut kv, &format!("{prefix}long"), long.id).await;
    for key in ["short/a", "short/b"] {
        attach(&mut kv, &format!("{prefix}{key}"), short.id).await;
    }
    attach(&mut kv, &format!("{prefix}kept"), kept.id).await;
    let keeper = keep_alive(through.clone(), kept.id);

    // Long enough that a lease reset to its whole TTL would show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    members[leader].kill();
    let killed = Instant::now();
    let new_leader = leader_of(members);
    assert_ne!(new_leader, leader);

    // Every survivor's view of the long lease is the truth, give or take one election timeout (and the whole
    // seconds that TimeToLive rounds down to).
    for (i, member) in members.iter().enumerate() {
        if i == leader {
            continue;
        }
        let mut client = LeaseClient::new(channel(member).await);
        let asked = Instant::now();
        let ttl = client
            .lease_time_to_live(LeaseTimeToLiveRequest {
                id: long.id,
                keys: true,
            })
            .await
            .expect("time to live")
            .into_inner();
        let answered = Instant::now();
        let least = LONG_TTL as f64 - answered.duration_since(long.asked).as_secs_f64();
        let most = LONG_TTL as f64 - asked.duration_since(long.answered).as_secs_f64();
        let remaining = ttl.ttl as f64;
        assert!(
            remaining >= least.floor() - 1.0 && remaining <= most + ELECTION_TIMEOUT.as_secs_f64(),
            "round {round}, member {i}: {remaining} s left of a {LONG_TTL} s lease; the truth is {least:.1}..{most:.1} s"
        );
        assert_eq!(ttl.keys, vec![format!("{prefix}long").into_bytes()]);
    }

    // The short lease expires after its TTL and not before, exactly once, both keys at one revision.
    let due = short.asked + Duration::from_secs(SHORT_TTL as u64);
    let latest = short.answered + Duration::from_secs(SHORT_TTL as u64) + Duration::from_secs(8);
    loop {
        let count = deletes.lock().unwrap_or_else(|p| p.into_inner()).len();
        if count >= 2 || Instant::now() > latest {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Room for a duplicate expiry to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = deletes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut by_key: HashMap<&str, Vec<(i64, Instant)>> = HashMap::new();
    for (key, rev, at) in &seen {
        by_key.entry(key.as_str()).or_default().push((*rev, *at));
    }
    let (a, b) = (format!("{prefix}short/a"), format!("{prefix}short/b"));
    assert_eq!(
        by_key
            .keys()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [a.as_str(), b.as_str()].into_iter().collect(),
        "round {round}: only the short lease's keys are deleted (killed {:?} after the grant): {seen:?}",
        killed.duration_since(short.asked)
    );
    for key in [&a, &b] {
        assert_eq!(
            by_key[key.as_str()].len(),
            1,
            "round {round}: {key} deleted once: {seen:?}"
        );
        let at = by_key[key.as_str()][0].1;
        assert!(
            at >= due,
            "round {round}: {key} expired {:?} early",
            due - at
        );
    }
    assert_eq!(
        by_key[a.as_str()][0].0,
        by_key[b.as_str()][0].0,
        "one revision"
    );
    keeper.abort();

    // The kept lease's key is still there; the member comes back.
    let kept_key = kv
        .range(RangeRequest {
            key: format!("{prefix}kept").into_bytes(),
            ..RangeRequest::default()
        })
        .await
        .expect("range")
        .into_inner();
    assert_eq!(kept_key.count, 1, "round {round}: the kept lease lived");
    members[leader].launch();
    members[leader].wait_ready();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_survive_leader_kills_neither_reset_nor_cut_short() {
    let rounds: usize = std::env::var("ETCD_LEASE_KILL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mut members = cluster(Flavor::EtcdNode, 3);
    for r in 0..rounds {
        round(&mut members, r).await;
    }
}

/// A whole-cluster restart (one member, SIGKILLed) resumes each lease from its last checkpoint: not reset to its
/// whole TTL, never shorter than the truth, keys still attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_resume_from_their_checkpoint_after_a_crash() {
    let mut member = Server::start(Flavor::EtcdNode);
    let through = channel(&member).await;
    let mut lease = LeaseClient::new(through.clone());
    let granted = grant(&mut lease, LONG_TTL).await;
    attach(&mut KvClient::new(through), "resumed", granted.id).await;
    // Past the default checkpoint interval (5 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    member.kill();
    member.launch();
    member.wait_ready();
    let ttl = LeaseClient::new(channel(&member).await)
        .lease_time_to_live(LeaseTimeToLiveRequest {
            id: granted.id,
            keys: true,
        })
        .await
        .expect("time to live")
        .into_inner();
    let elapsed = granted.asked.elapsed().as_secs_f64();
    assert_eq!(ttl.granted_ttl, LONG_TTL);
    assert_eq!(ttl.keys, vec![b"resumed".to_vec()]);
    assert!(
        (ttl.ttl as f64) < LONG_TTL as f64 - 1.5,
        "{} s left after a restart: the lease was reset to its TTL",
        ttl.ttl
    );
    assert!(
        ttl.ttl as f64 >= (LONG_TTL as f64 - elapsed).floor() - 1.0,
        "{} s left {elapsed:.1} s after a grant of {LONG_TTL} s",
        ttl.ttl
    );
}

/// A leader cut off from the others sees a lease run out by its own clock (the keepalives go to the majority's
/// new leader), yet never revokes it: its expiry needs a quorum's confirmation first, and an expiry it might
/// have proposed names a renewal count the majority's renewals have moved past. After the heal every member,
/// the old leader included, still holds the lease and its key, and no DELETE was ever seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_never_revokes_a_kept_lease() {
    let (proxies, members) = common::fault_proxy::cluster_behind_proxies(3);
    let leader = leader_of(&members);
    let follower = (leader + 1) % members.len();
    let through = channel(&members[follower]).await;
    let mut kv = KvClient::new(through.clone());
    let kept = grant(&mut LeaseClient::new(through.clone()), SHORT_TTL).await;
    attach(&mut kv, "cut/kept", kept.id).await;
    let start = revision(&mut kv).await;
    let deletes = watch_deletes(through.clone(), "cut/", start + 1).await;
    let keeper = keep_alive(through.clone(), kept.id);

    proxies[leader].cut();
    // Two TTLs: by the old leader's clock the lease has long run out.
    tokio::time::sleep(Duration::from_secs(2 * SHORT_TTL as u64)).await;
    proxies[leader].heal();
    tokio::time::sleep(Duration::from_secs(3)).await;

    for (i, member) in members.iter().enumerate() {
        let ttl = LeaseClient::new(channel(member).await)
            .lease_time_to_live(LeaseTimeToLiveRequest {
                id: kept.id,
                keys: true,
            })
            .await
            .expect("time to live")
            .into_inner();
        assert!(
            ttl.ttl > 0,
            "member {i} (old leader {leader}) lost the kept lease: {ttl:?}"
        );
        assert_eq!(ttl.keys, vec![b"cut/kept".to_vec()], "member {i}");
    }
    keeper.abort();
    let seen = deletes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        seen.is_empty(),
        "the kept lease's key was deleted: {seen:?}"
    );
}
