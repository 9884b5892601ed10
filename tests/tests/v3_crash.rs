//! v3 crash durability (issue 20): writers put over gRPC and keep a ledger of every acknowledged put with its
//! revision, while the members snapshot often (`--snapshot-count`), compact and defragment, and are SIGKILLed at
//! random instants, also in the middle of membership changes (a learner added while the leader is killed, then
//! promoted; a member removed while another is killed). After every restart each acknowledged put is there with
//! its value and its revision, no revision was given twice, the next put gets a revision above every
//! acknowledged one, and (3 members) the members agree on the membership and their `HashKV` agree at a shared
//! revision.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use etcd_proto::etcdserverpb::cluster_client::ClusterClient;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{
    CompactionRequest, DefragmentRequest, MemberAddRequest, MemberListRequest,
    MemberPromoteRequest, MemberRemoveRequest, PutRequest, RangeRequest,
};
use etcd_tests as common;
use tokio::runtime::Runtime;

use common::v3::{Random, channel, hashes_at_a_shared_revision, runtime};
use common::{Flavor, Server, cluster_with, leader_of};

/// key → (value, revision) of every acknowledged put.
type Ledger = BTreeMap<String, (String, i64)>;

/// Flags that make the members take raft snapshots often, so that kills land during them too.
const FLAGS: &[&str] = &["--snapshot-count", "150"];

/// Writers that put `r<round>-w<t>-<i>` = `<i>` through the members in turn, until stopped; and a maintainer
/// that compacts behind the head and defragments, so that kills also land in those.
struct Load {
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<Ledger>>,
    maintainer: tokio::task::JoinHandle<usize>,
}

impl Load {
    fn start(runtime: &Runtime, urls: &[String], round: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..4)
            .map(|t| {
                let (urls, stop) = (urls.to_vec(), stop.clone());
                runtime.spawn(async move {
                    let mut clients: Vec<_> =
                        urls.iter().map(|u| KvClient::new(channel(u))).collect();
                    let mut ledger = Ledger::new();
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("r{round}-w{t}-{i}");
                        let n = clients.len();
                        let put = clients[(t + i) % n].put(PutRequest {
                            key: key.clone().into_bytes(),
                            value: i.to_string().into_bytes(),
                            ..PutRequest::default()
                        });
                        if let Ok(Ok(answer)) =
                            tokio::time::timeout(Duration::from_secs(5), put).await
                        {
                            let revision = answer.into_inner().header.expect("a header").revision;
                            ledger.insert(key, (i.to_string(), revision));
                        } else {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        i += 1;
                    }
                    ledger
                })
            })
            .collect();
        let (urls, stop_maintaining) = (urls.to_vec(), stop.clone());
        let maintainer = runtime.spawn(async move {
            let mut done = 0;
            let mut round = 0usize;
            while !stop_maintaining.load(Ordering::Relaxed) {
                round += 1;
                let url = &urls[round % urls.len()];
                let mut kv = KvClient::new(channel(url));
                let mut maintenance = MaintenanceClient::new(channel(url));
                let head = kv
                    .range(RangeRequest {
                        key: b"\0".to_vec(),
                        serializable: true,
                        ..RangeRequest::default()
                    })
                    .await
                    .ok()
                    .and_then(|r| r.into_inner().header)
                    .map_or(0, |h| h.revision);
                if head > 100
                    && kv
                        .compact(CompactionRequest {
                            revision: head - 50,
                            physical: round.is_multiple_of(2),
                        })
                        .await
                        .is_ok()
                {
                    done += 1;
                }
                if maintenance.defragment(DefragmentRequest {}).await.is_ok() {
                    done += 1;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            done
        });
        Load {
            stop,
            writers,
            maintainer,
        }
    }

    /// Stops the load; the acknowledged puts and how many compactions and defragmentations succeeded.
    fn finish(self, runtime: &Runtime) -> (Ledger, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let mut ledger = Ledger::new();
        for w in self.writers {
            ledger.extend(runtime.block_on(w).expect("writer"));
        }
        let maintained = runtime.block_on(self.maintainer).expect("maintainer");
        (ledger, maintained)
    }
}

/// Every acknowledged put, read through `url`: its value at its revision; no revision given twice; and a new put
/// lands above all of them.
fn check(runtime: &Runtime, ledger: &Ledger, url: &str, when: &str) {
    runtime.block_on(async {
        let mut kv = KvClient::new(channel(url));
        let mut revisions = HashSet::new();
        let mut highest = 0;
        for (key, (value, revision)) in ledger {
            assert!(
                revisions.insert(*revision),
                "{when}: revision {revision} was acknowledged twice"
            );
            highest = highest.max(*revision);
            let read = kv
                .range(RangeRequest {
                    key: key.clone().into_bytes(),
                    ..RangeRequest::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{when}: reading {key} through {url}: {e}"))
                .into_inner();
            let kv_read = read
                .kvs
                .first()
                .unwrap_or_else(|| panic!("{when}: the acknowledged put of {key} is lost"));
            assert_eq!(
                (
                    String::from_utf8_lossy(&kv_read.value).as_ref(),
                    kv_read.mod_revision
                ),
                (value.as_str(), *revision),
                "{when}: {key} through {url}"
            );
        }
        let next = kv
            .put(PutRequest {
                key: b"after-restart".to_vec(),
                value: when.as_bytes().to_vec(),
                ..PutRequest::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{when}: a put through {url}: {e}"))
            .into_inner()
            .header
            .expect("a header")
            .revision;
        assert!(
            next > highest,
            "{when}: a new put got revision {next}, not above the acknowledged {highest}"
        );
    });
}

/// Prints what a run did, and fails it if the writers made no real progress.
fn report(run: &str, ledger: &Ledger, maintained: usize) {
    eprintln!(
        "{run}, {} acknowledged puts, {maintained} compactions and defragmentations",
        ledger.len()
    );
    assert!(
        ledger.len() > 100,
        "the writers made progress: {}",
        ledger.len()
    );
}

#[test]
fn acknowledged_v3_puts_survive_sigkill_of_a_member_during_snapshots_compactions_and_defrags() {
    let peer_url = format!("http://127.0.0.1:{}", common::free_port());
    let mut server = Server::new(Flavor::EtcdNode, "n1", &peer_url, &format!("n1={peer_url}"));
    server.extra = FLAGS.iter().map(|f| (*f).to_owned()).collect();
    server.launch();
    server.wait_ready();
    let runtime = runtime();
    let mut random = Random(0x2545_F491_4F6C_DD1D);
    let mut ledger = Ledger::new();
    let mut maintained = 0;
    for round in 0..6 {
        let load = Load::start(&runtime, std::slice::from_ref(&server.client_url), round);
        std::thread::sleep(Duration::from_millis(400 + random.below(1200) as u64));
        server.kill();
        let (acknowledged, done) = load.finish(&runtime);
        ledger.extend(acknowledged);
        maintained += done;
        server.launch();
        server.wait_ready();
        check(
            &runtime,
            &ledger,
            &server.client_url,
            &format!("after kill {}", round + 1),
        );
    }
    report("v3 crash: 6 kills", &ledger, maintained);
}

#[test]
fn acknowledged_v3_puts_survive_sigkill_of_the_leader_and_another_member() {
    let mut members = cluster_with(Flavor::EtcdNode, 3, FLAGS);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    let runtime = runtime();
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut ledger = Ledger::new();
    let mut maintained = 0;
    let mut next_victim = 0usize;
    for round in 0..4 {
        let load = Load::start(&runtime, &urls, round);
        std::thread::sleep(Duration::from_millis(600 + random.below(1200) as u64));
        let leader = leader_of(&members);
        next_victim = (next_victim + 1) % members.len();
        members[leader].kill();
        members[next_victim].kill();
        let (acknowledged, done) = load.finish(&runtime);
        ledger.extend(acknowledged);
        maintained += done;
        for m in members.iter_mut().filter(|m| m.child.is_none()) {
            m.launch();
        }
        for m in &members {
            m.wait_ready();
        }
        for m in &members {
            check(
                &runtime,
                &ledger,
                &m.client_url,
                &format!("round {} through {}", round + 1, m.name),
            );
        }
        let (revision, hashes) = runtime.block_on(hashes_at_a_shared_revision(&urls));
        assert!(
            hashes.windows(2).all(|w| w[0] == w[1]),
            "round {}: the members' stores differ at revision {revision}: {hashes:x?}",
            round + 1
        );
    }
    report(
        "v3 crash, 3 members: 4 rounds of 2 kills",
        &ledger,
        maintained,
    );
}

/// A member that restarts from a raft snapshot does not replay the membership changes the snapshot covers: it
/// must learn its peers from the snapshot, or nothing it sends leaves and two such members never elect a leader.
#[test]
fn members_restarted_from_a_snapshot_find_their_peers() {
    let mut members = cluster_with(Flavor::EtcdNode, 3, &["--snapshot-count", "10"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut ledger = Ledger::new();
    runtime.block_on(async {
        let mut kv = KvClient::new(channel(&members[0].client_url));
        for i in 0..40 {
            let key = format!("k{i}");
            let put = kv.put(PutRequest {
                key: key.clone().into_bytes(),
                value: i.to_string().into_bytes(),
                ..PutRequest::default()
            });
            let revision = put
                .await
                .expect("a put")
                .into_inner()
                .header
                .expect("a header")
                .revision;
            ledger.insert(key, (i.to_string(), revision));
        }
    });
    members[1].kill();
    members[2].kill();
    members[1].launch();
    members[2].launch();
    for m in &members {
        m.wait_ready();
    }
    for m in &members {
        check(
            &runtime,
            &ledger,
            &m.client_url,
            &format!("through {}", m.name),
        );
    }
}

/// Retries a cluster call through `url` until it succeeds (strict reconfiguration checks refuse changes until
/// every member has been reachable for 5 s; a learner is promoted once it caught up), for up to a minute.
async fn until_ok<T, F, Fut>(url: &str, what: &str, mut call: F) -> T
where
    F: FnMut(ClusterClient<tonic::transport::Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match call(ClusterClient::new(channel(url))).await {
            Ok(r) => return r.into_inner(),
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("{what} through {url}: {e}"),
        }
    }
}

/// The member list as `url` answers it (linearizable): (ID, peer URLs), sorted.
async fn member_list(url: &str) -> Vec<(u64, Vec<String>)> {
    let list = until_ok(url, "member list", |mut c| async move {
        c.member_list(MemberListRequest { linearizable: true })
            .await
    })
    .await;
    let mut members: Vec<(u64, Vec<String>)> = list
        .members
        .into_iter()
        .map(|m| (m.id, m.peer_ur_ls))
        .collect();
    members.sort();
    members
}

#[test]
fn acknowledged_v3_puts_survive_sigkill_during_member_changes() {
    let mut members = cluster_with(Flavor::EtcdNode, 3, FLAGS);
    let runtime = runtime();
    let mut ledger = Ledger::new();
    let mut changes = 0;
    for round in 0..2 {
        let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
        let load = Load::start(&runtime, &urls, 100 + round);
        std::thread::sleep(Duration::from_millis(500));

        // A learner is added through a follower while the leader is SIGKILLed: the change may or may not have
        // been made; the member list after the restart says which.
        let leader = leader_of(&members);
        let through = members[(leader + 1) % members.len()].client_url.clone();
        let peer = format!("http://127.0.0.1:{}", common::free_port());
        let asked = runtime.spawn({
            let (through, peer) = (through.clone(), peer.clone());
            async move {
                ClusterClient::new(channel(&through))
                    .member_add(MemberAddRequest {
                        peer_ur_ls: vec![peer],
                        is_learner: true,
                    })
                    .await
            }
        });
        std::thread::sleep(Duration::from_millis(5));
        members[leader].kill();
        members[leader].launch();
        let _ = runtime.block_on(asked);
        let listed = runtime.block_on(member_list(&through));
        let id = match listed.iter().find(|(_, urls)| urls.contains(&peer)) {
            Some((id, _)) => *id,
            None => {
                let added = runtime.block_on(until_ok(&through, "member add", |mut c| {
                    let peer = peer.clone();
                    async move {
                        c.member_add(MemberAddRequest {
                            peer_ur_ls: vec![peer],
                            is_learner: true,
                        })
                        .await
                    }
                }));
                added.member.expect("the added member").id
            }
        };
        changes += 1;
        let name = format!("a{round}");
        let mut initial: Vec<String> = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect();
        initial.push(format!("{name}={peer}"));
        let mut joined = Server::new(Flavor::EtcdNode, &name, &peer, &initial.join(","));
        joined.state = "existing".to_owned();
        joined.extra = FLAGS.iter().map(|f| (*f).to_owned()).collect();
        joined.launch();
        joined.wait_ready();
        runtime.block_on(until_ok(&through, "member promote", |mut c| async move {
            c.member_promote(MemberPromoteRequest { id }).await
        }));
        changes += 1;
        members.push(joined);

        // An original member is removed while another is SIGKILLed.
        let leader = leader_of(&members);
        let victim = (leader + 1) % members.len();
        let killed = (leader + 2) % members.len();
        let victim_url = members[victim].peer_url.clone();
        let victim_id = runtime
            .block_on(member_list(&members[leader].client_url))
            .into_iter()
            .find(|(_, urls)| urls.contains(&victim_url))
            .expect("the victim is a member")
            .0;
        let leader_url = members[leader].client_url.clone();
        let removing = runtime.spawn(async move {
            until_ok(&leader_url, "member remove", |mut c| async move {
                c.member_remove(MemberRemoveRequest { id: victim_id }).await
            })
            .await
        });
        std::thread::sleep(Duration::from_millis(5));
        members[killed].kill();
        members[killed].launch();
        runtime.block_on(removing).expect("member remove");
        changes += 1;
        let (acknowledged, _) = load.finish(&runtime);
        ledger.extend(acknowledged);
        let mut removed = members.remove(victim);
        removed.kill();

        for m in &members {
            m.wait_ready();
        }
        let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
        let lists: Vec<_> = urls
            .iter()
            .map(|u| runtime.block_on(member_list(u)))
            .collect();
        assert!(
            lists.windows(2).all(|w| w[0] == w[1]),
            "round {round}: the members disagree on the membership: {lists:?}"
        );
        assert_eq!(lists[0].len(), members.len(), "round {round}: {lists:?}");
        for m in &members {
            check(
                &runtime,
                &ledger,
                &m.client_url,
                &format!("round {round} through {}", m.name),
            );
        }
        let (revision, hashes) = runtime.block_on(hashes_at_a_shared_revision(&urls));
        assert!(
            hashes.windows(2).all(|w| w[0] == w[1]),
            "round {round}: the members' stores differ at revision {revision}: {hashes:x?}"
        );
    }
    eprintln!(
        "v3 crash during member changes: {changes} changes with a SIGKILL each, {} acknowledged puts",
        ledger.len()
    );
}
