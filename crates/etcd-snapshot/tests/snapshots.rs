//! Saving, loading the newest valid, skipping damaged files, purging, and surviving a crash during save.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use etcd_snapshot::{Error, SnapshotMeta, Snapshotter};
use rand::{Rng, SeedableRng};

fn meta(term: u64, index: u64) -> SnapshotMeta {
    SnapshotMeta { term, index }
}

fn payload_for(m: SnapshotMeta, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 ^ m.index.wrapping_mul(31) ^ m.term) as u8)
        .collect()
}

fn broken_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".broken"))
        .collect();
    names.sort();
    names
}

#[test]
fn snapshots_round_trip() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snaps = Snapshotter::new(tmp.path()).expect("snapshotter");
    assert!(snaps.load_newest().expect("load").is_none());
    for (m, len) in [(meta(1, 10), 0), (meta(1, 20), 1), (meta(2, 30), 100_000)] {
        let path = snaps.save(m, &payload_for(m, len)).expect("save");
        assert_eq!(
            path.file_name().expect("name").to_string_lossy(),
            format!("{:016x}-{:016x}.snap", m.term, m.index)
        );
        let loaded = snaps.load(m).expect("load");
        assert_eq!(loaded.meta(), m);
        assert!(loaded.data() == payload_for(m, len).as_slice());
    }
    let newest = snaps.load_newest().expect("load").expect("some");
    assert_eq!(newest.meta(), meta(2, 30));
    assert_eq!(
        snaps.list().expect("list"),
        vec![meta(2, 30), meta(1, 20), meta(1, 10)]
    );
    assert!(matches!(snaps.load(meta(9, 9)), Err(Error::NotFound(_))));
}

#[test]
fn a_corrupt_newest_snapshot_is_skipped_and_renamed_broken() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snaps = Snapshotter::new(tmp.path()).expect("snapshotter");
    for m in [meta(1, 10), meta(1, 20), meta(2, 30)] {
        snaps.save(m, &payload_for(m, 5000)).expect("save");
    }
    // Newest: a flipped payload bit. Next: cut short.
    let newest = tmp.path().join("0000000000000002-000000000000001e.snap");
    let mut bytes = std::fs::read(&newest).expect("read");
    bytes[3000] ^= 0x80;
    std::fs::write(&newest, bytes).expect("write");
    let second = tmp.path().join("0000000000000001-0000000000000014.snap");
    let len = std::fs::metadata(&second).expect("stat").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&second)
        .expect("open")
        .set_len(len - 10)
        .expect("truncate");

    assert!(matches!(
        snaps.load(meta(2, 30)),
        Err(Error::Corrupt { .. })
    ));
    let loaded = snaps
        .load_newest()
        .expect("load")
        .expect("an older valid snapshot");
    assert_eq!(loaded.meta(), meta(1, 10));
    assert!(loaded.data() == payload_for(meta(1, 10), 5000).as_slice());
    assert_eq!(
        broken_files(tmp.path()),
        vec![
            "0000000000000001-0000000000000014.snap.broken",
            "0000000000000002-000000000000001e.snap.broken"
        ]
    );
    assert_eq!(snaps.list().expect("list"), vec![meta(1, 10)]);
}

#[test]
fn a_file_with_the_wrong_name_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snaps = Snapshotter::new(tmp.path()).expect("snapshotter");
    snaps.save(meta(1, 10), b"ten").expect("save");
    std::fs::copy(
        tmp.path().join("0000000000000001-000000000000000a.snap"),
        tmp.path().join("0000000000000001-000000000000000b.snap"),
    )
    .expect("copy");
    let loaded = snaps.load_newest().expect("load").expect("some");
    assert_eq!(loaded.meta(), meta(1, 10));
}

#[test]
fn load_newest_available_only_considers_the_given_snapshots() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snaps = Snapshotter::new(tmp.path()).expect("snapshotter");
    for m in [meta(1, 10), meta(1, 20), meta(2, 30)] {
        snaps.save(m, &payload_for(m, 10)).expect("save");
    }
    let loaded = snaps
        .load_newest_available(&[meta(1, 10), meta(1, 20)])
        .expect("load")
        .expect("some");
    assert_eq!(loaded.meta(), meta(1, 20));
    assert!(
        snaps
            .load_newest_available(&[meta(5, 5)])
            .expect("load")
            .is_none()
    );
}

#[test]
fn purge_keeps_the_newest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snaps = Snapshotter::new(tmp.path()).expect("snapshotter");
    for i in 1..=7 {
        snaps.save(meta(1, i * 100), b"x").expect("save");
    }
    assert_eq!(snaps.purge(3).expect("purge"), 4);
    assert_eq!(
        snaps.list().expect("list"),
        vec![meta(1, 700), meta(1, 600), meta(1, 500)]
    );
    assert_eq!(snaps.purge(5).expect("purge"), 0);
    assert_eq!(snaps.purge(0).expect("purge"), 3);
    assert!(snaps.load_newest().expect("load").is_none());
}

#[test]
fn leftovers_of_an_unfinished_save_are_ignored_and_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snaps = Snapshotter::new(tmp.path()).expect("snapshotter");
    snaps.save(meta(1, 10), b"good").expect("save");
    let tmp_file = tmp
        .path()
        .join("0000000000000001-0000000000000014.snap.tmp");
    std::fs::write(&tmp_file, b"half a snapsh").expect("write");
    assert_eq!(
        snaps.load_newest().expect("load").expect("some").meta(),
        meta(1, 10)
    );
    let reopened = Snapshotter::new(tmp.path()).expect("snapshotter");
    assert!(!tmp_file.exists());
    assert_eq!(reopened.list().expect("list"), vec![meta(1, 10)]);
}

const CHILD_ENV: &str = "ETCD_SNAPSHOT_CRASH_CHILD_DIR";

#[test]
fn a_crash_during_save_leaves_the_previous_snapshot_loadable() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        // The child: save ever newer, large snapshots until killed.
        let snaps = Snapshotter::new(&dir).expect("child: snapshotter");
        let mut index = snaps
            .list()
            .expect("child: list")
            .first()
            .map_or(0, |m| m.index);
        loop {
            index += 1;
            let m = meta(1, index);
            snaps
                .save(m, &payload_for(m, 8 << 20))
                .expect("child: save");
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let snaps = Snapshotter::new(tmp.path()).expect("snapshotter");
    let first = meta(1, 1);
    snaps
        .save(first, &payload_for(first, 8 << 20))
        .expect("save");
    let seed: u64 = rand::random();
    eprintln!("snapshot crash test seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let exe = std::env::current_exe().expect("test binary");
    let mut newest_seen = first;
    for round in 0..12 {
        let mut child = Command::new(&exe)
            .args([
                "a_crash_during_save_leaves_the_previous_snapshot_loadable",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD_ENV, tmp.path())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(rng.gen_range(10..300)));
        child.kill().expect("kill");
        child.wait().expect("wait");
        let snaps = Snapshotter::new(tmp.path()).expect("snapshotter");
        let loaded = snaps
            .load_newest()
            .expect("load")
            .expect("a snapshot survives every crash");
        assert!(
            loaded.meta() >= newest_seen,
            "round {round}: went back from {newest_seen:?} to {:?}",
            loaded.meta()
        );
        assert!(
            loaded.data() == payload_for(loaded.meta(), 8 << 20).as_slice(),
            "round {round}: wrong payload"
        );
        assert!(
            broken_files(tmp.path()).is_empty(),
            "round {round}: a crash produced a broken snapshot"
        );
        newest_seen = loaded.meta();
        snaps.purge(2).expect("purge");
    }
}
