//! Crash test: a child process applies batches and is SIGKILLed at random instants. After every kill the store
//! opens at exactly the state after some committed batch (named by its consistent index, never below the last
//! batch the child reported synced: redb drops non-durable commits in a crash, which is why the server keeps WAL
//! entries above the durable index), and applying the remaining batches from there gives the same hash as a
//! store that never crashed.

#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etcd_mvcc::Store;
use etcd_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest};
use rand::{Rng, SeedableRng};

const CHILD_DIR: &str = "ETCD_MVCC_CRASH_CHILD_DIR";

/// The deterministic content of batch `i` (raft entry `i`).
fn apply_batch(store: &Store, i: u64) {
    let mut b = store.write().expect("write");
    b.put(&PutRequest {
        key: b"n".to_vec(),
        value: i.to_string().into_bytes(),
        ..Default::default()
    })
    .expect("put");
    b.put(&PutRequest {
        key: format!("k{}", i % 50).into_bytes(),
        value: vec![b'x'; (i % 300) as usize],
        ..Default::default()
    })
    .expect("put");
    if i.is_multiple_of(7) {
        b.delete_range(&DeleteRangeRequest {
            key: format!("k{}", (i * 3) % 50).into_bytes(),
            ..Default::default()
        })
        .expect("delete");
    }
    b.set_consistent_index(i, 1);
    b.commit().expect("commit");
}

fn run_child(dir: &Path) -> ! {
    let store = Store::open(&dir.join("db")).expect("child open");
    let mut i = store.consistent_index().0 + 1;
    loop {
        apply_batch(&store, i);
        if i.is_multiple_of(97) {
            store.sync().expect("sync");
            println!("synced {i}");
        }
        i += 1;
    }
}

fn n_of(store: &Store) -> u64 {
    let (r, _) = store
        .range(&RangeRequest {
            key: b"n".to_vec(),
            ..Default::default()
        })
        .expect("range");
    r.kvs.first().map_or(0, |kv| {
        String::from_utf8_lossy(&kv.value).parse().expect("n")
    })
}

#[test]
fn sigkill_at_any_instant_reopens_at_a_committed_batch_and_replay_converges() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        run_child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let exe = std::env::current_exe().expect("exe");
    // More rounds on request (a soak): ETCD_MVCC_CRASH_ROUNDS=200.
    let rounds: u32 = std::env::var("ETCD_MVCC_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "sigkill_at_any_instant_reopens_at_a_committed_batch_and_replay_converges",
                "--nocapture",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut last = 0u64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("synced ") {
                    last = n.parse().unwrap_or(last);
                }
            }
            last
        });
        // The first rounds die early: while the process starts or the database is being created.
        let delay = match round {
            0 => 1,
            1 => 15,
            2 => 40,
            _ if round % 2 == 1 => rng.gen_range(1..80),
            _ => rng.gen_range(60..600),
        };
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().expect("kill");
        child.wait().expect("wait");
        let reported = reader.join().expect("reader");
        let store = Store::open(&dir.path().join("db")).expect("reopen after kill");
        let (index, _) = store.consistent_index();
        assert!(
            index >= reported,
            "round {round}: consistent index {index} below the reported sync {reported}"
        );
        assert_eq!(
            n_of(&store),
            index,
            "round {round}: data and consistent index disagree"
        );
        eprintln!("round {round}: killed after {reported} synced, reopened at {index}");
    }
    // Replay the rest on the crashed store and compare with one that never crashed.
    let crashed = Store::open(&dir.path().join("db")).expect("reopen");
    let target = crashed.consistent_index().0 + 50;
    for i in crashed.consistent_index().0 + 1..=target {
        apply_batch(&crashed, i);
    }
    let clean_dir = tempfile::tempdir().expect("tempdir");
    let clean = Store::open(&clean_dir.path().join("db")).expect("open clean");
    let started = Instant::now();
    for i in 1..=target {
        apply_batch(&clean, i);
    }
    eprintln!("clean replay of {target} batches: {:?}", started.elapsed());
    assert_eq!(crashed.current_revision(), clean.current_revision());
    assert_eq!(
        crashed.hash_kv(0).expect("hash"),
        clean.hash_kv(0).expect("hash")
    );
}
