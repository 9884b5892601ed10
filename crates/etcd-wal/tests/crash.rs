//! A child process appends and syncs in a loop, reporting each synced record; the parent kills it with SIGKILL
//! at random moments and checks after each kill that every reported record is in the log, in order.
//!
//! The child is this same test binary, started with an environment variable that turns the test into the
//! writer loop.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{open_entries, payload};
use etcd_wal::{Options, ReadFrom, Record, Wal};
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "ETCD_WAL_CRASH_CHILD_DIR";
const KILLS: usize = 25;

fn options() -> Options {
    // Small segments, so kills also land inside segment cuts.
    Options::default().segment_size(64 * 1024)
}

fn payload_of(index: u64) -> Vec<u8> {
    payload(index, 16 + (index as usize * 31) % 500)
}

/// The child: append batches forever, printing the last index of each batch once it is synced.
fn writer_loop(dir: &Path) -> ! {
    let mut wal = if Wal::exists(dir) {
        let replay = Wal::open(dir, ReadFrom::Start, options()).expect("child: open");
        replay.finish().expect("child: recover").0
    } else {
        Wal::create(dir, b"crash-test", options()).expect("child: create")
    };
    let mut next = wal.last_index() + 1;
    let mut rng = rand::rngs::StdRng::seed_from_u64(next);
    let mut out = std::io::stdout().lock();
    loop {
        let count = rng.gen_range(1..=16u64);
        let payloads: Vec<Vec<u8>> = (next..next + count).map(payload_of).collect();
        let records: Vec<Record<'_>> = (next..next + count)
            .zip(&payloads)
            .map(|(i, p)| Record::entry(i, p))
            .collect();
        wal.append(&records).expect("child: append");
        next += count;
        writeln!(out, "synced {}", next - 1).expect("child: report");
        out.flush().expect("child: flush");
    }
}

#[test]
fn every_synced_record_survives_sigkill() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        writer_loop(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    let seed: u64 = rand::random();
    eprintln!("crash test seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let exe = std::env::current_exe().expect("test binary path");
    let mut acknowledged = 0u64;
    let mut recovered_before = 0u64;

    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "every_synced_record_survives_sigkill",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let reader = std::thread::spawn(move || {
            let mut last = 0u64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("synced ") {
                    last = n.trim().parse().expect("child reports a number");
                }
            }
            last
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..250)));
        child.kill().expect("SIGKILL child");
        let status = child.wait().expect("wait child");
        assert!(
            !status.success(),
            "round {round}: the child must die by the signal, not exit"
        );
        let reported = reader.join().expect("reader thread");
        acknowledged = acknowledged.max(reported);

        if !Wal::exists(&dir) {
            assert_eq!(
                acknowledged, 0,
                "round {round}: acknowledged records but no WAL"
            );
            continue;
        }
        let (entries, recovery, wal) =
            open_entries(&dir, options()).expect("recover after SIGKILL");
        drop(wal);
        let indices: Vec<u64> = entries.iter().map(|e| e.index).collect();
        let expected: Vec<u64> = (1..=indices.len() as u64).collect();
        assert!(
            indices == expected,
            "round {round}: the log is not 1..=n in order"
        );
        assert!(
            recovery.last_index >= acknowledged,
            "round {round}: acknowledged up to {acknowledged}, recovered only {}",
            recovery.last_index
        );
        assert!(
            recovery.last_index >= recovered_before,
            "round {round}: recovered records disappeared"
        );
        for e in &entries {
            assert!(
                e.payload == payload_of(e.index),
                "round {round}: entry {} has wrong bytes",
                e.index
            );
        }
        recovered_before = recovery.last_index;
    }
    assert!(acknowledged > 0, "the child never got to write");
}
