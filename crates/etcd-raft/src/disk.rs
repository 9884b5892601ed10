//! The durable raft log: entries and hard state in `etcd-wal`, snapshots in `etcd-snapshot`.
//!
//! Layout under the member directory, as etcd's: `wal/` and `snap/`. WAL records (format version 1 of this
//! layer): the metadata record holds `{node_id, cluster_id}`; each raft entry is an entry record at its index
//! holding the protobuf `Entry`; the hard state is a state record holding the protobuf `HardState`; each
//! snapshot gets a snapshot marker (index, term). A snapshot file holds the protobuf raft `Snapshot` (metadata
//! with the conf state, and the application's data).
//!
//! On boot the newest snapshot whose marker the WAL holds is loaded, then every entry after it; a later
//! entry with an index already seen overrides the earlier one and everything after it (a follower's
//! truncation), as etcd's WAL replay does.

use std::path::{Path, PathBuf};

use etcd_snapshot::{SnapshotMeta, Snapshotter};
use etcd_wal::{Options, ReadFrom, Record, RecordType, SnapshotMarker, Wal};
use prost::Message as _;
use raft::eraftpb::{Entry, HardState, Snapshot};

use crate::error::RaftError;
use crate::wire::{self, WireMetadata};

/// What boot found on disk.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub node_id: u64,
    pub cluster_id: u64,
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

#[derive(Debug)]
pub(crate) struct DiskLog {
    wal: Wal,
    snaps: Snapshotter,
    /// Snapshot files kept on disk (etcd keeps 5).
    keep_snapshots: usize,
    /// fdatasyncs of the WAL so far.
    pub syncs: u64,
    /// Raft entries written to the WAL so far.
    pub entries_written: u64,
    /// How long each fdatasync took.
    pub sync_seconds: crate::types::Histogram,
}

/// Where a member's log lives: `<dir>/wal` and `<dir>/snap`, or a dedicated WAL directory (etcd's `--wal-dir`).
#[derive(Debug, Clone)]
pub(crate) struct LogDirs {
    pub wal: PathBuf,
    pub snap: PathBuf,
}

impl LogDirs {
    pub fn new(dir: &Path, wal_dir: Option<&Path>) -> LogDirs {
        LogDirs {
            wal: wal_dir.map_or_else(|| dir.join("wal"), Path::to_path_buf),
            snap: dir.join("snap"),
        }
    }
}

impl DiskLog {
    fn new(wal: Wal, snaps: Snapshotter) -> DiskLog {
        DiskLog {
            wal,
            snaps,
            keep_snapshots: 5,
            syncs: 0,
            entries_written: 0,
            sync_seconds: Default::default(),
        }
    }

    /// Whether `dir` holds a raft log.
    pub fn exists(dirs: &LogDirs) -> bool {
        Wal::exists(&dirs.wal)
    }

    /// A new log for `node_id`, holding `entries` (the bootstrap conf changes, if any) and `hard_state`.
    pub fn create(
        dirs: &LogDirs,
        node_id: u64,
        cluster_id: u64,
        entries: &[Entry],
        hard_state: &HardState,
        options: Options,
    ) -> Result<DiskLog, RaftError> {
        for d in [dirs.wal.parent(), Some(dirs.snap.as_path())]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(d)
                .map_err(|e| RaftError::Storage(format!("{}: {e}", d.display())))?;
        }
        let metadata = WireMetadata {
            node_id,
            cluster_id,
        }
        .encode_to_vec();
        let wal = Wal::create(&dirs.wal, &metadata, options)?;
        let snaps = Snapshotter::new(&dirs.snap)?;
        let mut log = DiskLog::new(wal, snaps);
        log.persist(entries, Some(hard_state), true)?;
        Ok(log)
    }

    /// Opens the log in `dir` and reads it back.
    pub fn open(dirs: &LogDirs, options: Options) -> Result<(DiskLog, Recovered), RaftError> {
        let snaps = Snapshotter::new(&dirs.snap)?;
        let mut replay = Wal::open(&dirs.wal, ReadFrom::Start, options)?;
        let mut markers = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        let mut hard_state = HardState::default();
        while let Some(record) = replay.next_record() {
            let record = record?;
            match record.kind {
                RecordType::Entry => {
                    let entry = wire::decode_entry(record.payload)?;
                    if entry.index != record.index {
                        return Err(RaftError::Storage(format!(
                            "WAL entry record at index {} holds entry {}",
                            record.index, entry.index
                        )));
                    }
                    if let Some(pos) = entries.iter().rposition(|e| e.index < entry.index) {
                        entries.truncate(pos + 1);
                    } else {
                        entries.clear();
                    }
                    entries.push(entry);
                }
                RecordType::State => hard_state = wire::decode_hard_state(record.payload)?,
                RecordType::Snapshot => {
                    if let Some(m) = record.snapshot_marker() {
                        markers.push(SnapshotMeta {
                            term: m.term,
                            index: m.index,
                        });
                    }
                }
                RecordType::Metadata => {}
            }
        }
        let (wal, recovery) = replay.finish()?;
        let metadata = wire::decode_metadata(&recovery.metadata)?;
        let snapshot = match snaps.load_newest_available(&markers)? {
            Some(file) => Some(wire::decode_snapshot(file.data())?),
            None => None,
        };
        let snapshot_index = snapshot.as_ref().map_or(0, |s| s.get_metadata().index);
        entries.retain(|e| e.index > snapshot_index);
        if let Some(first) = entries.first()
            && snapshot_index > 0
            && first.index != snapshot_index + 1
        {
            return Err(RaftError::Storage(format!(
                "WAL entries start at {} but the snapshot ends at {snapshot_index}",
                first.index
            )));
        }
        if hard_state.commit < snapshot_index {
            hard_state.commit = snapshot_index;
        }
        let log = DiskLog::new(wal, snaps);
        Ok((
            log,
            Recovered {
                node_id: metadata.node_id,
                cluster_id: metadata.cluster_id,
                hard_state,
                snapshot,
                entries,
            },
        ))
    }

    /// Writes entries and the hard state as one batch; with `sync`, makes them durable with one fdatasync.
    pub fn persist(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
        sync: bool,
    ) -> Result<(), RaftError> {
        let encoded: Vec<(u64, Vec<u8>)> = entries
            .iter()
            .map(|e| (e.index, wire::encode_entry(e)))
            .collect();
        let state = hard_state.map(wire::encode_hard_state);
        let mut records: Vec<Record<'_>> =
            encoded.iter().map(|(i, b)| Record::entry(*i, b)).collect();
        if let Some(state) = &state {
            records.push(Record::state(state));
        }
        if !records.is_empty() {
            self.wal.write(&records)?;
            self.entries_written += entries.len() as u64;
        }
        if sync {
            let started = std::time::Instant::now();
            self.wal.sync()?;
            self.sync_seconds.observe(started.elapsed().as_secs_f64());
            self.syncs += 1;
        }
        Ok(())
    }

    /// Saves a snapshot: the file first (durable), then its marker in the WAL (durable).
    pub fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), RaftError> {
        let meta = snapshot.get_metadata();
        self.snaps.save(
            SnapshotMeta {
                term: meta.term,
                index: meta.index,
            },
            &wire::encode_snapshot(snapshot),
        )?;
        self.wal.save_snapshot_marker(SnapshotMarker {
            index: meta.index,
            term: meta.term,
        })?;
        Ok(())
    }

    /// Frees disk after a snapshot at `index`: WAL segments wholly before it and all but the newest
    /// snapshot files.
    pub fn release_before(&mut self, index: u64) -> Result<(), RaftError> {
        self.wal.release_before(index)?;
        self.snaps.purge(self.keep_snapshots)?;
        Ok(())
    }

    pub fn close(self) -> Result<(), RaftError> {
        self.wal.close()?;
        Ok(())
    }
}

/// The (member ID, cluster ID) recorded in the raft log of the member directory `dir` (with its WAL in
/// `wal_dir` when given), if there is one. Reads only the first record: a member that restarts takes its
/// identity from its log, not from its flags (as etcd does).
pub fn recorded_ids(dir: &Path, wal_dir: Option<&Path>) -> Result<Option<(u64, u64)>, RaftError> {
    let dirs = LogDirs::new(dir, wal_dir);
    if !DiskLog::exists(&dirs) {
        return Ok(None);
    }
    let mut replay = Wal::open(&dirs.wal, ReadFrom::Start, Options::default())?;
    match replay.next_record() {
        Some(Ok(record)) if record.kind == RecordType::Metadata => {
            let m = wire::decode_metadata(record.payload)?;
            Ok(Some((m.node_id, m.cluster_id)))
        }
        Some(Err(e)) => Err(e.into()),
        _ => Err(RaftError::Storage(format!(
            "the WAL in {} does not begin with its metadata",
            dir.display()
        ))),
    }
}

/// Writes the log a member of a new cluster begins with (the bootstrap entries of `bootstrap`) into the member
/// directory `dir`, without starting the member: its first start then restarts from this log. Used to make a
/// data directory offline (a restore from a snapshot). Refused when a log is already there.
pub fn create_log(
    dir: &Path,
    wal_dir: Option<&Path>,
    id: u64,
    cluster_id: u64,
    bootstrap: &crate::types::Bootstrap,
) -> Result<(), RaftError> {
    let dirs = LogDirs::new(dir, wal_dir);
    if DiskLog::exists(&dirs) {
        return Err(RaftError::Storage(format!(
            "{} already holds a raft log",
            dirs.wal.display()
        )));
    }
    let (entries, hard_state) = crate::membership::bootstrap_log(bootstrap);
    DiskLog::create(
        &dirs,
        id,
        cluster_id,
        &entries,
        &hard_state,
        Options::default(),
    )?
    .close()
}
