//! Watch guarantees under restarts and compaction (issue 20): writers put and delete keys under `w/` (txns of
//! several puts, so a revision holds several events) through every member, while a watcher on each member
//! follows `w/` from revision 1; members are SIGKILLed and restarted in turn, they take raft snapshots often,
//! and the history is compacted behind the head. A watcher whose stream breaks resumes on its member from the
//! revision after the last it saw. Then every watcher's events are checked (`tests/src/watch_check.rs`): in
//! order, no duplicate, no gap unless a compaction was reported, each revision whole in one response, and equal
//! to the committed history: the acknowledged writes, and every revision since the last compaction read back
//! with Range at that revision. A new watch from revision 1 must be told the compact revision.
//! `ETCD_WATCH_CHAOS_SECONDS` sets the length.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::request_op::Request as OpRequest;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
    WatchCreateRequest, WatchRequest,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_tests as common;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use common::v3::{Random, channel, head_revision, runtime};
use common::watch_check::{Change, Changes, WatcherLog, changes_between, violations};
use common::{Flavor, cluster_with};

const PREFIX: &str = "w/";
const KEYS: usize = 8;

/// Writes acknowledged with their revision.
type Acknowledged = BTreeMap<i64, Changes>;

fn prefix_end() -> Vec<u8> {
    // "w/" + 1 on the last byte: every key under the prefix.
    b"w0".to_vec()
}

/// A writer: txns of one to three puts, or a delete, through the members in turn, until `stop`.
async fn writer(id: usize, urls: Vec<String>, stop: Arc<AtomicBool>) -> Acknowledged {
    let mut clients: Vec<KvClient<Channel>> =
        urls.iter().map(|u| KvClient::new(channel(u))).collect();
    let mut random = Random(0x2545_F491_4F6C_DD1D ^ (id as u64 + 1));
    let mut acknowledged = Acknowledged::new();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let client = &mut clients[n % urls.len()];
        if random.below(5) == 0 {
            let key = format!("{PREFIX}{}", random.below(KEYS));
            let delete = client.delete_range(DeleteRangeRequest {
                key: key.clone().into_bytes(),
                ..DeleteRangeRequest::default()
            });
            match delete.await {
                Ok(r) => {
                    let r = r.into_inner();
                    if r.deleted > 0 {
                        let revision = r.header.map_or(0, |h| h.revision);
                        acknowledged.insert(revision, vec![Change { key, value: None }]);
                    }
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            continue;
        }
        let mut keys: Vec<usize> = (0..1 + random.below(3))
            .map(|_| random.below(KEYS))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let changes: Changes = keys
            .iter()
            .map(|k| Change {
                key: format!("{PREFIX}{k}"),
                value: Some(format!("v{id}-{n}")),
            })
            .collect();
        let success = changes
            .iter()
            .map(|c| RequestOp {
                request: Some(OpRequest::RequestPut(PutRequest {
                    key: c.key.clone().into_bytes(),
                    value: c.value.clone().unwrap_or_default().into_bytes(),
                    ..PutRequest::default()
                })),
            })
            .collect();
        match client
            .txn(TxnRequest {
                success,
                ..TxnRequest::default()
            })
            .await
        {
            Ok(r) => {
                let revision = r.into_inner().header.map_or(0, |h| h.revision);
                acknowledged.insert(revision, changes);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    acknowledged
}

/// A channel for a long-lived watch stream: no per-call timeout.
fn watch_channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .expect("a client URL")
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy()
}

fn create(start_revision: i64) -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: PREFIX.as_bytes().to_vec(),
            range_end: prefix_end(),
            start_revision,
            ..WatchCreateRequest::default()
        })),
    }
}

/// A watcher pinned to one member: follows `w/` from revision 1 and resumes after every failure, until it has
/// seen `target` (once the test sets it) or `give_up`.
async fn watcher(
    name: String,
    url: String,
    target: Arc<AtomicI64>,
    give_up: Arc<AtomicBool>,
) -> WatcherLog {
    let mut log = WatcherLog {
        name,
        start: 1,
        ..WatcherLog::default()
    };
    let done = |log: &WatcherLog| {
        let t = target.load(Ordering::Relaxed);
        (t > 0 && log.last_seen() >= t) || give_up.load(Ordering::Relaxed)
    };
    while !done(&log) {
        let asked = log.resume_at();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let _ = tx.send(create(asked)).await;
        let mut client = WatchClient::new(watch_channel(&url));
        let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_secs(3),
            client.watch(ReceiverStream::new(rx)),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut stream = stream.into_inner();
        loop {
            let next = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
            let response = match next {
                Err(_) if done(&log) => break,
                Err(_) => continue,
                Ok(Ok(Some(response))) => response,
                // The member went away, or ended the stream: resume.
                Ok(_) => break,
            };
            if response.compact_revision > 0 {
                log.compactions.push((asked, response.compact_revision));
                break;
            }
            if response.canceled {
                break;
            }
            let events: Vec<(i64, Change)> = response
                .events
                .iter()
                .filter_map(|e| {
                    let kv = e.kv.as_ref()?;
                    let key = String::from_utf8_lossy(&kv.key).into_owned();
                    let value = (e.r#type == EventType::Put as i32)
                        .then(|| String::from_utf8_lossy(&kv.value).into_owned());
                    Some((kv.mod_revision, Change { key, value }))
                })
                .collect();
            if !events.is_empty() {
                log.responses.push(events);
            }
            if done(&log) {
                break;
            }
        }
        drop(tx);
    }
    log
}

/// The keys under `w/` at `revision`: key → (value, mod revision).
async fn state_at(kv: &mut KvClient<Channel>, revision: i64) -> BTreeMap<String, (String, i64)> {
    let read = kv
        .range(RangeRequest {
            key: PREFIX.as_bytes().to_vec(),
            range_end: prefix_end(),
            revision,
            ..RangeRequest::default()
        })
        .await
        .unwrap_or_else(|e| panic!("range at revision {revision}: {e}"))
        .into_inner();
    read.kvs
        .into_iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                (
                    String::from_utf8_lossy(&kv.value).into_owned(),
                    kv.mod_revision,
                ),
            )
        })
        .collect()
}

/// The compact revision a new watch from revision 1 is told.
async fn reported_compact_revision(url: &str) -> i64 {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(create(1)).await.expect("the request stream");
    let mut stream = WatchClient::new(watch_channel(url))
        .watch(ReceiverStream::new(rx))
        .await
        .expect("a watch stream")
        .into_inner();
    loop {
        let response = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("a watch response in time")
            .expect("a watch response")
            .expect("an open stream");
        if response.compact_revision > 0 || response.canceled || !response.events.is_empty() {
            return response.compact_revision;
        }
    }
}

#[test]
fn watchers_on_every_member_see_the_committed_history_across_restarts_and_compactions() {
    let seconds: u64 = std::env::var("ETCD_WATCH_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let mut members = cluster_with(Flavor::EtcdNode, 3, &["--snapshot-count", "200"]);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    let runtime = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let target = Arc::new(AtomicI64::new(0));
    let give_up = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|id| runtime.spawn(writer(id, urls.clone(), stop.clone())))
        .collect();
    let watchers: Vec<_> = members
        .iter()
        .map(|m| {
            runtime.spawn(watcher(
                format!("watcher on {}", m.name),
                m.client_url.clone(),
                target.clone(),
                give_up.clone(),
            ))
        })
        .collect();

    // The nemesis: kill a member and restart it; compact behind the head.
    let start = Instant::now();
    let mut kills = 0;
    let mut compactions = Vec::new();
    let mut round = 0usize;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(1200));
        round += 1;
        let victim = round % members.len();
        members[victim].kill();
        kills += 1;
        std::thread::sleep(Duration::from_millis(800));
        members[victim].launch();
        let alive = &urls[(victim + 1) % urls.len()];
        let compacted = runtime.block_on(async {
            let mut kv = KvClient::new(channel(alive));
            let at = head_revision(alive).await? - 30;
            (at > 1).then_some(())?;
            kv.compact(CompactionRequest {
                revision: at,
                physical: true,
            })
            .await
            .ok()
            .map(|_| at)
        });
        compactions.extend(compacted);
    }
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Acknowledged::new();
    for w in writers {
        acknowledged.extend(runtime.block_on(w).expect("writer"));
    }
    for m in &members {
        m.wait_ready();
    }

    let (head, compact_revision, committed) = runtime.block_on(async {
        let mut kv = KvClient::new(channel(&urls[0]));
        let head = head_revision(&urls[0]).await.expect("a linearizable read");
        let compact_revision = reported_compact_revision(&urls[0]).await;
        // The committed history since the last compaction, read back revision by revision.
        let mut committed = BTreeMap::new();
        let mut before = state_at(&mut kv, compact_revision.max(1)).await;
        for revision in compact_revision.max(1) + 1..=head {
            let after = state_at(&mut kv, revision).await;
            committed.insert(revision, changes_between(&before, &after, revision));
            before = after;
        }
        (head, compact_revision, committed)
    });
    target.store(head, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !watchers.iter().all(|w| w.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    give_up.store(true, Ordering::Relaxed);
    let logs: Vec<WatcherLog> = watchers
        .into_iter()
        .map(|w| runtime.block_on(w).expect("watcher"))
        .collect();

    let mut found = Vec::new();
    for (revision, changes) in &acknowledged {
        let mut changes = changes.clone();
        changes.sort();
        if let Some(read) = committed.get(revision)
            && *read != changes
        {
            found.push(format!(
                "revision {revision}: acknowledged {changes:?}, read back {read:?}"
            ));
        }
    }
    let mut known = acknowledged.clone();
    for changes in known.values_mut() {
        changes.sort();
    }
    known.extend(committed);
    // Revision 1 is the empty store's: nothing to see.
    known.insert(1, Vec::new());
    found.extend(violations(&logs, &known, head));
    let events: usize = logs
        .iter()
        .map(|l| l.responses.iter().map(Vec::len).sum::<usize>())
        .sum();
    let reported: usize = logs.iter().map(|l| l.compactions.len()).sum();
    eprintln!(
        "v3 watch guarantees: {seconds} s, {kills} kills, compactions at {compactions:?}, head {head}, {} acknowledged writes, {events} events to {} watchers, {reported} compactions reported to them",
        acknowledged.len(),
        logs.len()
    );
    assert!(
        found.is_empty(),
        "watch guarantees broken:\n{}",
        found.join("\n")
    );
    assert!(!compactions.is_empty(), "no compaction succeeded");
    // A compaction whose answer was lost may have been applied too: the compact revision is at least the
    // last acknowledged one.
    let last = compactions.iter().max().copied().unwrap_or(0);
    assert!(
        compact_revision >= last,
        "a new watch from revision 1 was told compact revision {compact_revision}, below the acknowledged {last}"
    );
    assert!(
        acknowledged.len() > 50,
        "the writers made progress: {}",
        acknowledged.len()
    );
}
