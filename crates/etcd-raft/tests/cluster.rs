//! Raft clusters of in-process members over a controllable network: elections, replication, failures,
//! partitions, membership, snapshots, restarts, proposals during leader changes, reads.

mod harness;

use std::collections::HashSet;
use std::time::Duration;

use etcd_raft::{MemberChange, MemberChangeKind, RaftError, Role};
use harness::{Cluster, PATIENCE, Settings, wait_for};

/// Runs a scenario twice: members talking in process, and members talking HTTP on loopback.
macro_rules! on_both_transports {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn in_process() {
                    super::$name(false).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn over_http() {
                    super::$name(true).await;
                }
            }
        )*
    };
}

async fn elect(n: u64, http: bool) {
    let cluster = Cluster::start(
        n,
        Settings {
            http,
            ..Settings::default()
        },
    )
    .await;
    let leader = cluster.leader().await;
    let statuses = cluster.statuses().await;
    assert_eq!(
        statuses.iter().filter(|s| s.role == Role::Leader).count(),
        1
    );
    assert!(
        statuses
            .iter()
            .all(|s| s.leader == leader && s.voters == (1..=n).collect::<Vec<_>>())
    );
    cluster.shutdown().await;
}

async fn election_with_one_member(http: bool) {
    elect(1, http).await;
}

async fn election_with_three_members(http: bool) {
    elect(3, http).await;
}

async fn election_with_five_members(http: bool) {
    elect(5, http).await;
}

async fn entries_replicate_in_the_same_order_everywhere(http: bool) {
    let cluster = Cluster::start(
        3,
        Settings {
            http,
            ..Settings::default()
        },
    )
    .await;
    let leader = cluster.leader().await;
    // A slow network: every message takes 5 ms more.
    cluster.net.set_delay(Some(Duration::from_millis(5)));
    let mut last = 0;
    for i in 0..50 {
        // Through the leader and through followers (which forward).
        let via = if i % 2 == 0 {
            leader
        } else {
            cluster.ids()[i % 3]
        };
        last = last.max(cluster.write(via, &format!("k{i}"), &i.to_string()).await);
    }
    cluster.wait_applied(&cluster.ids(), last).await;
    let reference = cluster.log(1);
    assert_eq!(reference.len(), 50);
    for id in cluster.ids() {
        assert_eq!(cluster.log(id), reference, "member {id}");
    }
    cluster.shutdown().await;
}

async fn a_crashed_leader_is_replaced_and_writes_go_on(http: bool) {
    let mut cluster = Cluster::start(
        3,
        Settings {
            http,
            ..Settings::default()
        },
    )
    .await;
    let old = cluster.leader().await;
    cluster.write(old, "before", "crash").await;
    cluster.stop_member(old).await;
    let survivors = cluster.ids();
    let new = cluster.leader_among(&survivors).await;
    assert_ne!(new, old);
    let index = cluster.write(new, "after", "crash").await;
    cluster.wait_applied(&survivors, index).await;
    for id in &survivors {
        assert_eq!(cluster.kv(*id, "before").as_deref(), Some("crash"));
        assert_eq!(cluster.kv(*id, "after").as_deref(), Some("crash"));
    }
    // The crashed member comes back from its disk and catches up.
    cluster.start_member(old, false);
    cluster.wait_applied(&[old], index).await;
    assert_eq!(cluster.log(old), cluster.log(new));
    cluster.shutdown().await;
}

async fn a_minority_cannot_commit_while_the_majority_can_and_a_healed_partition_converges(
    http: bool,
) {
    let cluster = Cluster::start(
        5,
        Settings {
            http,
            ..Settings::default()
        },
    )
    .await;
    let leader = cluster.leader().await;
    cluster.write(leader, "k", "0").await;
    let others: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let minority = vec![leader, others[0]];
    let majority = others[1..].to_vec();
    cluster.net.partition(&minority, &majority);

    // The old leader can no longer commit: its proposal fails (timeout or leader change), never hangs.
    let stuck = tokio::time::timeout(
        PATIENCE,
        cluster.handle(leader).propose(b"k=minority".to_vec()),
    )
    .await
    .expect("a proposal never hangs");
    assert!(stuck.is_err(), "a minority committed: {stuck:?}");

    let new_leader = cluster.leader_among(&majority).await;
    let index = cluster.write(new_leader, "k", "majority").await;
    cluster.wait_applied(&majority, index).await;
    for id in &minority {
        assert_ne!(cluster.kv(*id, "k").as_deref(), Some("majority"));
    }

    cluster.net.heal();
    let all = cluster.ids();
    cluster.wait_applied(&all, index).await;
    let reference = cluster.log(new_leader);
    for id in &all {
        assert_eq!(cluster.log(*id), reference, "member {id} diverged");
        assert_eq!(cluster.kv(*id, "k").as_deref(), Some("majority"));
    }
    assert!(
        !reference.iter().any(|(_, d)| d == b"k=minority"),
        "the minority's write survived"
    );
    cluster.shutdown().await;
}

async fn members_and_learners_are_added_promoted_and_removed(http: bool) {
    let mut cluster = Cluster::start(
        3,
        Settings {
            http,
            ..Settings::default()
        },
    )
    .await;
    let leader = cluster.leader().await;
    let index = cluster.write(leader, "seed", "1").await;

    // A learner joins, catches up, then becomes a voter.
    let change = |kind, node_id| MemberChange {
        kind,
        node_id,
        context: format!("member {node_id}").into_bytes(),
    };
    cluster
        .handle(leader)
        .change_member(change(MemberChangeKind::AddLearner, 4))
        .await
        .expect("add learner");
    cluster.start_member(4, true);
    cluster.wait_applied(&[4], index).await;
    let status = cluster.handle(leader).status().await.expect("status");
    assert_eq!(status.learners, vec![4]);
    cluster
        .handle(leader)
        .change_member(change(MemberChangeKind::PromoteLearner, 4))
        .await
        .expect("promote");
    let status = cluster.handle(leader).status().await.expect("status");
    assert_eq!(status.voters, vec![1, 2, 3, 4]);
    assert!(status.learners.is_empty());

    // A voter joins directly.
    cluster
        .handle(leader)
        .change_member(change(MemberChangeKind::AddMember, 5))
        .await
        .expect("add member");
    cluster.start_member(5, true);
    let index = cluster.write(leader, "after", "adds").await;
    cluster.wait_applied(&[4, 5], index).await;
    assert_eq!(cluster.kv(5, "seed").as_deref(), Some("1"));

    // Update keeps the configuration; remove shrinks it.
    cluster
        .handle(leader)
        .change_member(change(MemberChangeKind::UpdateMember, 5))
        .await
        .expect("update member");
    cluster
        .handle(leader)
        .change_member(change(MemberChangeKind::RemoveMember, 5))
        .await
        .expect("remove member");
    cluster.stop_member(5).await;
    let status = cluster.handle(leader).status().await.expect("status");
    assert_eq!(status.voters, vec![1, 2, 3, 4]);
    let index = cluster.write(leader, "after", "remove").await;
    cluster.wait_applied(&[1, 2, 3, 4], index).await;
    // Every member saw the same changes, in order, through its apply stream.
    let kinds: Vec<MemberChangeKind> = cluster.members[&1]
        .app
        .lock()
        .expect("app")
        .member_changes
        .iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            MemberChangeKind::AddMember,
            MemberChangeKind::AddMember,
            MemberChangeKind::AddMember,
            MemberChangeKind::AddLearner,
            MemberChangeKind::PromoteLearner,
            MemberChangeKind::AddMember,
            MemberChangeKind::UpdateMember,
            MemberChangeKind::RemoveMember,
        ]
    );
    cluster.shutdown().await;
}

async fn a_follower_far_behind_catches_up_through_a_snapshot(http: bool) {
    let settings = Settings {
        snapshot_count: 40,
        catchup_entries: 10,
        http,
        ..Settings::default()
    };
    let cluster = Cluster::start(3, settings).await;
    let leader = cluster.leader().await;
    let lagging = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    let others: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != lagging)
        .collect();
    cluster.net.isolate(lagging, &others);
    let mut last = 0;
    for i in 0..200 {
        last = cluster
            .write(leader, &format!("k{i}"), &i.to_string())
            .await;
    }
    cluster.net.heal();
    cluster.wait_applied(&[lagging], last).await;
    let app = cluster.members[&lagging]
        .app
        .lock()
        .expect("app")
        .snapshots_installed;
    assert!(app >= 1, "the follower should have installed a snapshot");
    assert_eq!(cluster.kv(lagging, "k199").as_deref(), Some("199"));
    assert_eq!(cluster.kv(lagging, "k0").as_deref(), Some("0"));
    cluster.shutdown().await;
}

/// A snapshot every `snapshot_count` applied entries, counted from the last snapshot: not from the first entry
/// the log keeps, which is `catchup_entries` behind it (that took a snapshot after every entry once the
/// catch-up window was larger than the count).
async fn snapshots_are_taken_every_snapshot_count_entries(http: bool) {
    let settings = Settings {
        snapshot_count: 20,
        catchup_entries: 100,
        http,
        ..Settings::default()
    };
    let cluster = Cluster::start(1, settings).await;
    let leader = cluster.leader().await;
    let mut last = 0;
    for i in 0..200 {
        last = cluster
            .write(leader, &format!("k{i}"), &i.to_string())
            .await;
    }
    cluster.wait_applied(&[leader], last).await;
    let taken = cluster.members[&leader]
        .app
        .lock()
        .expect("app")
        .snapshots_taken;
    // About 200 / 20 (the bootstrap entries add one or two); one per entry would be about 180.
    assert!(
        (8..=13).contains(&taken),
        "{taken} snapshots for {last} entries at one per 20"
    );
    cluster.shutdown().await;
}

async fn every_member_restarts_from_disk_with_its_log(http: bool) {
    let settings = Settings {
        snapshot_count: 30,
        catchup_entries: 5,
        http,
        ..Settings::default()
    };
    let mut cluster = Cluster::start(3, settings).await;
    let leader = cluster.leader().await;
    let mut last = 0;
    for i in 0..100 {
        last = cluster
            .write(leader, &format!("k{i}"), &i.to_string())
            .await;
    }
    cluster.wait_applied(&cluster.ids(), last).await;
    let before = cluster.log(leader);
    for id in cluster.ids() {
        cluster.stop_member(id).await;
    }
    for id in 1..=3 {
        cluster.start_member(id, false);
    }
    cluster.wait_applied(&[1, 2, 3], last).await;
    for id in 1..=3 {
        let kv = cluster.members[&id].app.lock().expect("app").kv.clone();
        assert_eq!(kv.len(), 100, "member {id}");
        assert_eq!(kv.get("k99").map(String::as_str), Some("99"));
    }
    assert_eq!(before.last(), cluster.log(1).last());
    let leader = cluster.leader().await;
    let index = cluster.write(leader, "after", "restart").await;
    assert!(index > last);
    cluster.shutdown().await;
}

async fn proposals_during_leader_changes_commit_once_or_fail(http: bool) {
    let cluster = Cluster::start(
        3,
        Settings {
            http,
            ..Settings::default()
        },
    )
    .await;
    let mut leader = cluster.leader().await;
    let mut tasks = Vec::new();
    for round in 0..4u64 {
        for i in 0..50u64 {
            let handle = cluster.handle(cluster.ids()[(i % 3) as usize]);
            let data = format!("p{round}-{i}=x").into_bytes();
            tasks.push(tokio::spawn(async move {
                let result = tokio::time::timeout(PATIENCE, handle.propose(data.clone())).await;
                (data, result)
            }));
        }
        // Move leadership while the proposals are in flight.
        let next = cluster
            .ids()
            .into_iter()
            .find(|id| *id != leader)
            .expect("another member");
        let _ = cluster.handle(leader).transfer_leader(next);
        leader = cluster.leader().await;
    }
    let mut committed = HashSet::new();
    let mut failed = 0;
    for task in tasks {
        let (data, result) = task.await.expect("task");
        match result.expect("a proposal never hangs") {
            Ok(_) => {
                committed.insert(data);
            }
            Err(RaftError::Timeout | RaftError::LeaderChanged | RaftError::ProposalDropped) => {
                failed += 1
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    // Let everything settle, then look at what was applied.
    let index = cluster.write(leader, "settle", "1").await;
    cluster.wait_applied(&cluster.ids(), index).await;
    let log = cluster.log(leader);
    let mut seen = HashSet::new();
    for (_, data) in &log {
        assert!(
            seen.insert(data.clone()),
            "{} applied twice",
            String::from_utf8_lossy(data)
        );
    }
    for data in &committed {
        assert!(
            seen.contains(data),
            "{} reported committed but not applied",
            String::from_utf8_lossy(data)
        );
    }
    assert!(committed.len() + failed == 200);
    for id in cluster.ids() {
        assert_eq!(cluster.log(id), log);
    }
    cluster.shutdown().await;
}

async fn read_index_sees_every_earlier_write_after_a_leader_change(http: bool) {
    let cluster = Cluster::start(
        3,
        Settings {
            http,
            ..Settings::default()
        },
    )
    .await;
    let old = cluster.leader().await;
    let next = cluster
        .ids()
        .into_iter()
        .find(|id| *id != old)
        .expect("another member");
    let new = wait_for("leadership to move", || async {
        // Raft gives up a transfer after an election timeout; ask again until it happens.
        let _ = cluster.handle(old).transfer_leader(next);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let l = cluster.leader().await;
        (l != old).then_some(l)
    })
    .await;
    let written = cluster.write(new, "fresh", "value").await;
    for id in cluster.ids() {
        let read = tokio::time::timeout(PATIENCE, cluster.handle(id).read_index())
            .await
            .expect("a read never hangs")
            .expect("read index");
        assert!(
            read >= written,
            "member {id}: read index {read} < write {written}"
        );
        assert_eq!(
            cluster.kv(id, "fresh").as_deref(),
            Some("value"),
            "member {id} read stale state"
        );
    }
    cluster.shutdown().await;
}

async fn bad_peer_messages_are_refused_without_a_panic(http: bool) {
    let cluster = Cluster::start(
        1,
        Settings {
            http,
            ..Settings::default()
        },
    )
    .await;
    let leader = cluster.leader().await;
    let handle = cluster.handle(leader);
    for bytes in [
        &b""[..],
        b"\xff\xff\xff\xff",
        b"\x08\x63\x10\x01\x18\x02",
        b"\x08\x03\x10\x07\x18\x02",
    ] {
        assert!(handle.step(bytes).is_err(), "{bytes:?} accepted");
    }
    let mut rng_state = 12345u64;
    for len in 0..200 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                rng_state = rng_state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (rng_state >> 56) as u8
            })
            .collect();
        let _ = handle.step(&bytes);
    }
    // Still alive and committing.
    cluster.write(leader, "still", "alive").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    cluster.shutdown().await;
}

/// Many reads at once on every member (followers forward theirs): each gets a read index, none hangs, and no
/// member trips over raft-rs's rules for messages produced while a Ready is being handled.
async fn concurrent_reads_on_followers_share_read_indexes(http: bool) {
    let cluster = Cluster::start(
        3,
        Settings {
            http,
            ..Settings::default()
        },
    )
    .await;
    let leader = cluster.leader().await;
    let written = cluster.write(leader, "k", "v").await;
    for _ in 0..5 {
        let mut reads = Vec::new();
        for id in cluster.ids() {
            for _ in 0..50 {
                let handle = cluster.handle(id).clone();
                reads.push(tokio::spawn(async move { handle.read_index().await }));
            }
        }
        for r in reads {
            let index = tokio::time::timeout(PATIENCE, r)
                .await
                .expect("a read never hangs")
                .expect("task")
                .expect("read index");
            assert!(index >= written);
        }
        cluster.write(leader, "k", "again").await;
    }
    cluster.shutdown().await;
}

on_both_transports!(
    election_with_one_member,
    election_with_three_members,
    election_with_five_members,
    entries_replicate_in_the_same_order_everywhere,
    a_crashed_leader_is_replaced_and_writes_go_on,
    a_minority_cannot_commit_while_the_majority_can_and_a_healed_partition_converges,
    members_and_learners_are_added_promoted_and_removed,
    a_follower_far_behind_catches_up_through_a_snapshot,
    snapshots_are_taken_every_snapshot_count_entries,
    every_member_restarts_from_disk_with_its_log,
    proposals_during_leader_changes_commit_once_or_fail,
    read_index_sees_every_earlier_write_after_a_leader_change,
    concurrent_reads_on_followers_share_read_indexes,
    bad_peer_messages_are_refused_without_a_panic,
);
