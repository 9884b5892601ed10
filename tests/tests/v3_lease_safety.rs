//! Lease safety under faults (issue 20): clients keep some leases alive and let others go, each with a key
//! attached, through every member in turn, while the leader is killed (SIGKILL, then restarted) or cut off
//! behind its peer fault proxy. A sampler maps revisions to times (linearizable reads), so each key's deletion,
//! read back from the watch history, has a window of time. Then:
//! - no key disappears while its lease's keepalives are answered: a keepalive asked at `q` and answered with a
//!   TTL keeps the lease until `q + TTL` at least, so the deletion may not end before that;
//! - a lease whose keepalives stopped (the last one sent by `s`, answered or not: an unanswered keepalive may
//!   still have been applied) is gone by `s + TTL + election timeout`, plus, when a fault left the cluster
//!   without a leader meanwhile, that time and the grace a new leader gives (one election timeout).
//!
//! `ETCD_LEASE_CHAOS_SECONDS` sets the length.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest, RangeRequest, WatchCreateRequest,
    WatchRequest,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_tests as common;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use common::fault_proxy::cluster_behind_proxies;
use common::v3::{channel, runtime};

/// The members' election timeout (`etcd_tests::Server` starts them with 500 ms).
const ELECTION_TIMEOUT: Duration = Duration::from_millis(500);
const TTL: i64 = 3;
/// What the leader adds to the election timeout: a revoke's trip through raft. (Its expiry check runs every
/// 500 ms, etcd's interval, which is the election timeout here: the bound is TTL + election timeout + this.)
const SLACK: Duration = Duration::from_millis(400);

/// One lease's life as its client saw it.
#[derive(Debug, Clone)]
struct LeaseLog {
    id: i64,
    key: String,
    /// Whether its client meant to keep it alive until the clients stop.
    kept: bool,
    /// Whether the key is known to be attached (the put was answered).
    attached: bool,
    /// Every keepalive (or the grant) answered with a TTL: (asked, answered).
    answered: Vec<(Instant, Instant)>,
    /// When the last keepalive call ended, answered or not: no keepalive was sent after it.
    last_sent: Instant,
}

/// A linearizable read: (asked, answered, revision).
type Sample = (Instant, Instant, i64);

/// The first member in `urls` from `from` on that answers `call`, or `None`.
async fn first_answer<T, F, Fut>(urls: &[String], from: usize, mut call: F) -> Option<T>
where
    F: FnMut(Channel) -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    for i in 0..urls.len() {
        let url = &urls[(from + i) % urls.len()];
        if let Ok(Ok(v)) = tokio::time::timeout(Duration::from_secs(1), call(channel(url))).await {
            return Some(v);
        }
    }
    None
}

/// One keepalive through a fresh stream: the TTL answered (0 when the lease is gone), or `None` without an
/// answer.
async fn keep_alive_once(channel: Channel, id: i64) -> Result<i64, tonic::Status> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.send(LeaseKeepAliveRequest { id }).await;
    let mut stream = LeaseClient::new(channel)
        .lease_keep_alive(ReceiverStream::new(rx))
        .await?
        .into_inner();
    match stream.message().await? {
        Some(r) => Ok(r.ttl),
        None => Err(tonic::Status::unavailable("the stream ended")),
    }
}

/// A client: grants a lease, attaches a key, and keeps it alive every 300 ms, through the members in turn; a
/// `kept` client does so until `stop` (and starts over if the lease is lost), the others for a while, then let
/// it go and start another.
async fn client(id: usize, kept: bool, urls: Vec<String>, stop: Arc<AtomicBool>) -> Vec<LeaseLog> {
    let mut logs = Vec::new();
    let mut turn = id;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        turn += 1;
        let asked = Instant::now();
        let grant = first_answer(&urls, turn, |c| async move {
            LeaseClient::new(c)
                .lease_grant(LeaseGrantRequest { ttl: TTL, id: 0 })
                .await
        });
        let Some(granted) = grant.await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let lease = granted.into_inner().id;
        let mut log = LeaseLog {
            id: lease,
            key: format!("l/{}/{id}-{n}", if kept { "kept" } else { "dropped" }),
            kept,
            attached: false,
            answered: vec![(asked, Instant::now())],
            last_sent: Instant::now(),
        };
        let key = log.key.clone();
        let attached = first_answer(&urls, turn, |c| {
            let key = key.clone();
            async move {
                KvClient::new(c)
                    .put(PutRequest {
                        key: key.into_bytes(),
                        value: b"leased".to_vec(),
                        lease,
                        ..PutRequest::default()
                    })
                    .await
            }
        });
        if attached.await.is_none() {
            // Not known to be attached: its deletion (if the put happened after all) is still checked.
            logs.push(log);
            continue;
        }
        log.attached = true;
        // Dropped leases are kept alive for 0 to 2.4 s, then let go.
        let keep_for = if kept {
            Duration::MAX
        } else {
            Duration::from_millis(300 * ((id + n) % 9) as u64)
        };
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) && started.elapsed() < keep_for {
            tokio::time::sleep(Duration::from_millis(300)).await;
            turn += 1;
            let asked = Instant::now();
            let renewed = first_answer(&urls, turn, |c| keep_alive_once(c, lease)).await;
            log.last_sent = Instant::now();
            match renewed {
                Some(ttl) if ttl > 0 => log.answered.push((asked, Instant::now())),
                Some(_) => break,
                None => {}
            }
        }
        logs.push(log);
        if !kept {
            for _ in 0..TTL * 10 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    logs
}

/// Linearizable reads through the members in turn every 50 ms, until `stop`.
async fn sampler(urls: Vec<String>, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut turn = 0;
    while !stop.load(Ordering::Relaxed) {
        turn += 1;
        let asked = Instant::now();
        let read = first_answer(&urls, turn, |c| async move {
            KvClient::new(c)
                .range(RangeRequest {
                    key: b"l/none".to_vec(),
                    ..RangeRequest::default()
                })
                .await
        });
        if let Some(r) = read.await
            && let Some(header) = r.into_inner().header
        {
            samples.push((asked, Instant::now(), header.revision));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    samples
}

/// Every deletion under `l/` from revision 1 to `head`: key → its revision.
async fn deletions(url: &str, head: i64) -> BTreeMap<String, i64> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: b"l/".to_vec(),
            range_end: b"l0".to_vec(),
            start_revision: 1,
            ..WatchCreateRequest::default()
        })),
    };
    tx.send(create).await.expect("the request stream");
    let watch_channel = Channel::from_shared(url.to_owned())
        .expect("a client URL")
        .connect_lazy();
    let mut stream = WatchClient::new(watch_channel)
        .watch(ReceiverStream::new(rx))
        .await
        .expect("a watch")
        .into_inner();
    let mut deleted = BTreeMap::new();
    let mut seen = 0;
    // Every revision is a change under `l/` (puts, and deletions by expiry), so the events reach the head.
    while seen < head {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.message()).await;
        let Ok(Ok(Some(response))) = next else {
            break;
        };
        for event in response.events {
            let Some(kv) = event.kv else { continue };
            seen = seen.max(kv.mod_revision);
            if event.r#type == EventType::Delete as i32 {
                deleted.insert(
                    String::from_utf8_lossy(&kv.key).into_owned(),
                    kv.mod_revision,
                );
            }
        }
    }
    deleted
}

/// When revision `revision` happened, as the samples bound it: (after, before).
fn window(samples: &[Sample], revision: i64) -> (Option<Instant>, Option<Instant>) {
    let after = samples.iter().filter(|s| s.2 < revision).map(|s| s.0).max();
    let before = samples
        .iter()
        .filter(|s| s.2 >= revision)
        .map(|s| s.1)
        .min();
    (after, before)
}

#[test]
fn leases_live_while_kept_alive_and_end_on_time_under_leader_kills_and_partitions() {
    let seconds: u64 = std::env::var("ETCD_LEASE_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let (proxies, mut members) = cluster_behind_proxies(3);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    let runtime = runtime();
    let (stop, stop_sampling) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let sampling = runtime.spawn(sampler(urls.clone(), stop_sampling.clone()));
    let clients: Vec<_> = (0..6)
        .map(|id| runtime.spawn(client(id, id < 2, urls.clone(), stop.clone())))
        .collect();

    // The nemesis: kill the leader and restart it, or cut it off and heal it; each fault's start is noted.
    let faults = Arc::new(Mutex::new(Vec::<(Instant, String)>::new()));
    let start = Instant::now();
    let mut round = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(2500));
        round += 1;
        let Some(leader) = common::current_leader(&members) else {
            continue;
        };
        let at = Instant::now();
        if round % 2 == 1 {
            members[leader].kill();
            faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((at, format!("killed leader {}", members[leader].name)));
            std::thread::sleep(Duration::from_millis(1000));
            members[leader].launch();
        } else {
            proxies[leader].cut();
            faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((at, format!("cut off leader {}", members[leader].name)));
            std::thread::sleep(Duration::from_millis(2000));
            proxies[leader].heal();
        }
    }
    // Every client lets its lease go; the sampler runs until the last have run out.
    stop.store(true, Ordering::Relaxed);
    let logs: Vec<LeaseLog> = clients
        .into_iter()
        .flat_map(|c| runtime.block_on(c).expect("client"))
        .collect();
    std::thread::sleep(Duration::from_secs(TTL as u64 + 3));
    stop_sampling.store(true, Ordering::Relaxed);
    let samples = runtime.block_on(sampling).expect("sampler");
    for m in &members {
        m.wait_ready();
    }
    let head = samples.iter().map(|s| s.2).max().unwrap_or(0);
    let deleted = runtime.block_on(deletions(&urls[0], head));
    let faults = faults.lock().unwrap_or_else(|p| p.into_inner()).clone();

    // Each fault leaves the cluster without a leader until the first linearizable read asked after it.
    let leaderless: Vec<(Instant, Instant)> = faults
        .iter()
        .map(|(at, _)| {
            let until = samples
                .iter()
                .filter(|s| s.0 > *at + Duration::from_millis(100))
                .map(|s| s.1)
                .min()
                .unwrap_or(*at + Duration::from_secs(3600));
            (*at, until)
        })
        .collect();
    let ttl = Duration::from_secs(TTL as u64);
    let mut violations = Vec::new();
    let mut checked = (0, 0);
    let mut latest = Duration::ZERO;
    for lease in &logs {
        let Some(&revision) = deleted.get(&lease.key) else {
            if lease.attached {
                violations.push(format!(
                    "{} (lease {:x}) was let go and its key never deleted",
                    lease.key, lease.id
                ));
            }
            continue;
        };
        let (after, before) = window(&samples, revision);
        let &(last_asked, last_answered) = lease.answered.last().expect("granted");
        // Not early: the deletion may not have ended before the last answered keepalive's guarantee.
        if let Some(before) = before
            && before < last_asked + ttl
        {
            violations.push(format!(
                "{} (lease {:x}) was deleted at revision {revision}, {:?} before its last keepalive ran out",
                lease.key,
                lease.id,
                last_asked + ttl - before
            ));
        }
        checked.0 += 1;
        // Not late: gone by TTL + one election timeout after the last keepalive sent, plus the leaderless
        // time of a fault meanwhile and the new leader's grace.
        let last_sent = lease.last_sent.max(last_answered);
        let due = last_sent + ttl + ELECTION_TIMEOUT;
        let allowance: Duration = leaderless
            .iter()
            .filter(|(from, until)| *from <= due && *until >= last_sent)
            .map(|(from, until)| until.duration_since(*from) + ELECTION_TIMEOUT)
            .sum();
        if let Some(after) = after {
            latest = latest.max(after.saturating_duration_since(last_sent + ttl));
        }
        if let Some(after) = after
            && after > due + allowance + SLACK
        {
            let at = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
            violations.push(format!(
                "{} (lease {:x}) outlived its TTL: last keepalive answered at {:.2} s, sent by {:.2} s, deleted at revision {revision} between {:.2} s and {:?} s, {:?} after it was due (allowed {:?}; leaderless {:?})",
                lease.key,
                lease.id,
                at(last_answered),
                at(last_sent),
                at(after),
                before.map(at),
                after - due,
                allowance + SLACK,
                leaderless.iter().map(|(f, u)| (at(*f), at(*u))).collect::<Vec<_>>()
            ));
        }
        checked.1 += 1;
    }
    let kept_renewals: usize = logs
        .iter()
        .filter(|l| l.kept)
        .map(|l| l.answered.len())
        .sum();
    eprintln!(
        "v3 lease safety: {seconds} s, faults {:?}, {} leases ({} kept alive, {kept_renewals} keepalives answered), {} deletions checked for early and {} for late expiry (the latest at least {latest:?} after its TTL), {} samples",
        faults.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>(),
        logs.len(),
        logs.iter().filter(|l| l.kept).count(),
        checked.0,
        checked.1,
        samples.len()
    );
    assert!(
        violations.is_empty(),
        "lease safety broken:\n{}",
        violations.join("\n")
    );
    assert!(!faults.is_empty(), "no fault was injected");
    assert!(checked.1 >= 5, "too few leases were let go: {}", checked.1);
}
