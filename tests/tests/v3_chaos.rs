//! Linearizability of the v3 API under faults (issue 20): clients run puts, deletes, linearizable ranges,
//! compare-and-swap txns (on the value, or on version 0 for "absent") and lease grants, revokes and time-to-live
//! reads over gRPC against a 3-member cluster, while a nemesis kills the leader (SIGKILL, then restart), cuts
//! members off behind TCP fault proxies on the peer URLs, and makes the leader's disk slow (a WAL failpoint).
//! Every key's history and every lease's must be linearizable (`tests/src/linearizability.rs`; a failure prints
//! the smallest failing part). Then, with every fault healed, the members' `HashKV` must agree at a shared
//! revision. `ETCD_CHAOS_SECONDS` sets the length (the suite runs a short one; `cargo xtask chaos --duration
//! 10m` a long one).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::request_op::Request as OpRequest;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest,
    PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use etcd_tests as common;
use tonic::transport::Channel;

use common::fault_proxy::{cluster_behind_proxies, slow_disk_flag};
use common::linearizability::{Op, Operation, describe, is_linearizable, shrink};
use common::v3::{Random, channel, hashes_at_a_shared_revision, runtime};

/// Keys and leases the clients share: few, so that operations overlap.
const KEYS: usize = 3;
const LEASES: usize = 2;
/// Long enough that no lease expires during a run: a lease changes only by grant and revoke.
const LEASE_TTL: i64 = 3600;
const GRANTED: &str = "granted";

fn lease_id(lease: usize) -> i64 {
    0x7100 + lease as i64
}

/// One client's view of the members.
struct Members {
    kv: Vec<KvClient<Channel>>,
    lease: Vec<LeaseClient<Channel>>,
}

/// What a call that failed means: the error etcd gives when the operation certainly did not happen, or `None`
/// when it may have (a timeout, a member that went away, no leader).
fn certainly_refused(status: &tonic::Status, refusals: &[&str]) -> bool {
    refusals.iter().any(|r| status.message() == *r)
}

/// A client's loop: random operations on random registers through random members until `stop`.
async fn client(
    id: usize,
    urls: Vec<String>,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<(String, Operation)> {
    let now = || start.elapsed().as_micros() as u64;
    let mut members = Members {
        kv: urls.iter().map(|u| KvClient::new(channel(u))).collect(),
        lease: urls.iter().map(|u| LeaseClient::new(channel(u))).collect(),
    };
    let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1));
    let mut last_seen: BTreeMap<usize, Option<String>> = BTreeMap::new();
    let mut history = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let m = random.below(urls.len());
        let kind = random.below(20);
        let call = now();
        if kind >= 17 {
            let lease = random.below(LEASES);
            if let Some(op) = lease_op(&mut members.lease[m], lease, kind, call, now).await {
                history.push((format!("lease{lease}"), op));
            }
            continue;
        }
        let key = random.below(KEYS);
        let name = format!("/chaos/k{key}").into_bytes();
        let kv = &mut members.kv[m];
        let fresh = format!("c{id}-{n}");
        let (op, ret) = match kind {
            // Put.
            0..=4 => {
                let put = kv.put(PutRequest {
                    key: name,
                    value: fresh.clone().into_bytes(),
                    ..PutRequest::default()
                });
                let known = put.await.is_ok();
                if known {
                    last_seen.insert(key, Some(fresh.clone()));
                }
                let op = Op::Write {
                    value: Some(fresh),
                    known,
                };
                (op, if known { now() } else { u64::MAX })
            }
            // Delete.
            5 => {
                let delete = kv.delete_range(DeleteRangeRequest {
                    key: name,
                    ..DeleteRangeRequest::default()
                });
                let known = delete.await.is_ok();
                if known {
                    last_seen.insert(key, None);
                }
                let op = Op::Write { value: None, known };
                (op, if known { now() } else { u64::MAX })
            }
            // A linearizable range.
            6..=11 => {
                let read = kv.range(RangeRequest {
                    key: name,
                    ..RangeRequest::default()
                });
                // A failed read changed nothing: leave it out.
                let Ok(read) = read.await else { continue };
                let value = read
                    .into_inner()
                    .kvs
                    .first()
                    .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
                last_seen.insert(key, value.clone());
                (Op::Read { value }, now())
            }
            // Compare-and-swap: a txn that puts a new value if the key holds the value last seen (or is absent).
            _ => {
                let expected = last_seen.get(&key).cloned().flatten();
                let compare = match &expected {
                    Some(v) => Compare {
                        result: CompareResult::Equal as i32,
                        target: CompareTarget::Value as i32,
                        key: name.clone(),
                        target_union: Some(TargetUnion::Value(v.clone().into_bytes())),
                        ..Compare::default()
                    },
                    None => Compare {
                        result: CompareResult::Equal as i32,
                        target: CompareTarget::Version as i32,
                        key: name.clone(),
                        target_union: Some(TargetUnion::Version(0)),
                        ..Compare::default()
                    },
                };
                let txn = kv.txn(TxnRequest {
                    compare: vec![compare],
                    success: vec![RequestOp {
                        request: Some(OpRequest::RequestPut(PutRequest {
                            key: name,
                            value: fresh.clone().into_bytes(),
                            ..PutRequest::default()
                        })),
                    }],
                    failure: Vec::new(),
                });
                let swapped = txn.await.ok().map(|r| r.into_inner().succeeded);
                if swapped == Some(true) {
                    last_seen.insert(key, Some(fresh.clone()));
                }
                let ret = if swapped.is_some() { now() } else { u64::MAX };
                let op = Op::Cas {
                    expected,
                    new: Some(fresh),
                    swapped,
                };
                (op, ret)
            }
        };
        history.push((format!("k{key}"), Operation { op, call, ret }));
    }
    history
}

/// A grant (absent → granted), a revoke (granted → absent) or a time-to-live read of lease `lease`.
async fn lease_op(
    client: &mut LeaseClient<Channel>,
    lease: usize,
    kind: usize,
    call: u64,
    now: impl Fn() -> u64,
) -> Option<Operation> {
    let id = lease_id(lease);
    let granted = Some(GRANTED.to_owned());
    let cas = |expected: Option<String>, new: Option<String>, swapped: Option<bool>| Op::Cas {
        expected,
        new,
        swapped,
    };
    let (op, ret) = match kind {
        17 => {
            let grant = client.lease_grant(LeaseGrantRequest { ttl: LEASE_TTL, id });
            match grant.await {
                Ok(_) => (cas(None, granted, Some(true)), now()),
                Err(e) if certainly_refused(&e, &["etcdserver: lease already exists"]) => {
                    (cas(None, granted, Some(false)), now())
                }
                Err(_) => (cas(None, granted, None), u64::MAX),
            }
        }
        18 => match client.lease_revoke(LeaseRevokeRequest { id }).await {
            Ok(_) => (cas(granted, None, Some(true)), now()),
            Err(e) if certainly_refused(&e, &["etcdserver: requested lease not found"]) => {
                (cas(granted, None, Some(false)), now())
            }
            Err(_) => (cas(granted, None, None), u64::MAX),
        },
        _ => {
            let ttl = client.lease_time_to_live(LeaseTimeToLiveRequest { id, keys: false });
            // A failed read changed nothing: leave it out.
            let ttl = ttl.await.ok()?.into_inner().ttl;
            let value = (ttl != -1).then(|| GRANTED.to_owned());
            (Op::Read { value }, now())
        }
    };
    Some(Operation { op, call, ret })
}

#[test]
fn v3_histories_under_leader_kills_and_partitions_are_linearizable() {
    let seconds: u64 = std::env::var("ETCD_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let (proxies, mut members) = cluster_behind_proxies(3);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    let runtime = runtime();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|id| runtime.spawn(client(id, urls.clone(), start, stop.clone())))
        .collect();

    // The nemesis, in turn: kill the leader (and restart it), cut a member off (and heal it), slow the leader's
    // disk (every WAL sync 200 ms longer for two seconds).
    let mut faults = Vec::new();
    let mut round = 0usize;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(1500));
        round += 1;
        match round % 3 {
            1 => {
                if let Some(l) = common::current_leader(&members) {
                    members[l].kill();
                    faults.push(format!("killed leader {}", members[l].name));
                    std::thread::sleep(Duration::from_millis(1000));
                    members[l].launch();
                }
            }
            2 => {
                let victim = round / 3 % proxies.len();
                proxies[victim].cut();
                faults.push(format!("partitioned {}", members[victim].name));
                std::thread::sleep(Duration::from_millis(2000));
                proxies[victim].heal();
            }
            _ => {
                if let Some(l) = common::current_leader(&members) {
                    let flag = slow_disk_flag(&members[l]);
                    std::fs::write(&flag, b"").expect("the slow-disk flag");
                    faults.push(format!("slowed the disk of leader {}", members[l].name));
                    std::thread::sleep(Duration::from_millis(2000));
                    std::fs::remove_file(&flag).expect("the slow-disk flag");
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut by_register: BTreeMap<String, Vec<Operation>> = BTreeMap::new();
    for c in clients {
        for (register, op) in runtime.block_on(c).expect("client task") {
            by_register.entry(register).or_default().push(op);
        }
    }
    let total: usize = by_register.values().map(Vec::len).sum();
    let unknown = by_register
        .values()
        .flatten()
        .filter(|o| o.ret == u64::MAX)
        .count();
    eprintln!(
        "v3 chaos: {seconds} s, {} faults ({}), {total} operations on {} registers ({unknown} with unknown outcome)",
        faults.len(),
        faults.join(", "),
        by_register.len()
    );
    assert!(total > 100, "the clients made progress: {total}");
    assert!(!faults.is_empty());
    for (register, history) in &by_register {
        if !is_linearizable(history) {
            panic!(
                "the history of {register} ({} operations) is not linearizable; a smallest failing part:\n{}",
                history.len(),
                describe(&shrink(history, 5_000))
            );
        }
    }
    for member in &mut members {
        member.wait_ready();
    }
    let (revision, hashes) = runtime.block_on(hashes_at_a_shared_revision(&urls));
    eprintln!("v3 chaos: HashKV at revision {revision}: {hashes:x?}");
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "the members' stores differ at revision {revision}: {hashes:x?}"
    );
}
