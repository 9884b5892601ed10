//! The writer: append batches with one sync each, cut segments, release old ones.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::format::{
    MAX_RECORD_LEN, Record, RecordType, SEGMENT_HEADER_LEN, SegmentHeader, SnapshotMarker,
    encode_frame, malformed,
};
use crate::fs::{self, DirLock};
use crate::options::Options;
use crate::replay::{ReadFrom, Replay};
use crate::segment_name::{self, SegmentName};

/// An open write-ahead log: the only handle that can append to its directory.
///
/// Every method that writes takes `&mut self`; a WAL is owned by one writer (typically a thread that batches
/// the work of many callers, so that they share each sync). After any failed write or sync the WAL is
/// *poisoned*: what reached the disk is unknown, so every later write returns [`Error::Poisoned`] until the
/// WAL is reopened, which recovers to the last valid record.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    lock: DirLock,
    options: Options,
    active: ActiveSegment,
    /// Segments before the active one still on disk, oldest first.
    sealed: VecDeque<SegmentName>,
    /// Checksum of the last record written: the chain continues from it.
    crc: u32,
    last_index: u64,
    metadata: Vec<u8>,
    state: Option<Vec<u8>>,
    /// Encoding buffer, kept to avoid an allocation per batch.
    buf: Vec<u8>,
    unsynced: bool,
    poisoned: bool,
}

/// The segment being appended to.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    pub name: SegmentName,
    pub path: PathBuf,
    pub file: File,
    pub offset: u64,
}

impl Wal {
    /// Creates a WAL in `dir` whose first record is `metadata`.
    ///
    /// The directory is built under a temporary name and renamed into place, so a crash leaves either no WAL or
    /// a complete one. `dir` may exist if it is empty.
    pub fn create(dir: impl AsRef<Path>, metadata: &[u8], options: Options) -> Result<Wal> {
        let dir = dir.as_ref();
        options.validate()?;
        if metadata.len() > MAX_RECORD_LEN {
            return Err(Error::InvalidRecord("metadata larger than MAX_RECORD_LEN"));
        }
        if Wal::exists(dir) {
            return Err(Error::AlreadyExists(dir.to_path_buf()));
        }
        let tmp = tmp_dir_path(dir);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        std::fs::create_dir_all(&tmp).at(&tmp)?;
        let mut lock = DirLock::acquire(&tmp)?;
        let name = SegmentName {
            seq: 0,
            first_index: 0,
        };
        let (file, offset, crc) =
            write_new_segment(&tmp, &lock, name, 0, metadata, None, &options)?;
        std::fs::rename(&tmp, dir).at(dir)?;
        fs::sync_parent(dir)?;
        lock.set_path(dir);
        let active = ActiveSegment {
            name,
            path: name.path_in(dir),
            file,
            offset,
        };
        Ok(Wal::resume(
            dir.to_path_buf(),
            lock,
            options,
            active,
            Vec::new(),
            crc,
            0,
            metadata.to_vec(),
            None,
        ))
    }

    /// Opens the WAL in `dir` for replay. Read the records with [`Replay::next_record`], then call
    /// [`Replay::finish`] to get the writer back.
    pub fn open(dir: impl AsRef<Path>, from: ReadFrom, options: Options) -> Result<Replay> {
        Replay::open(dir.as_ref(), from, options)
    }

    /// Whether `dir` holds at least one WAL segment.
    pub fn exists(dir: impl AsRef<Path>) -> bool {
        segment_name::list_segments(dir.as_ref()).is_ok_and(|s| !s.is_empty())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn resume(
        dir: PathBuf,
        lock: DirLock,
        options: Options,
        active: ActiveSegment,
        sealed: Vec<SegmentName>,
        crc: u32,
        last_index: u64,
        metadata: Vec<u8>,
        state: Option<Vec<u8>>,
    ) -> Wal {
        Wal {
            dir,
            lock,
            options,
            active,
            sealed: sealed.into(),
            crc,
            last_index,
            metadata,
            state,
            buf: Vec::new(),
            unsynced: false,
            poisoned: false,
        }
    }

    /// Writes `records` and makes them durable with one `fdatasync`: when this returns `Ok`, all of them
    /// survive a crash; when it returns an error, the WAL is poisoned and none of them is acknowledged.
    pub fn append(&mut self, records: &[Record<'_>]) -> Result<()> {
        self.write(records)?;
        self.sync()
    }

    /// Writes `records` without waiting for the disk; they are durable only after the next [`Wal::sync`]
    /// (or [`Wal::append`]). Many writes followed by one sync is how callers share a sync.
    pub fn write(&mut self, records: &[Record<'_>]) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        for record in records {
            check_appendable(record)?;
        }
        self.buf.clear();
        let mut crc = self.crc;
        for record in records {
            crc = encode_frame(&mut self.buf, record, crc);
        }
        if let Err(e) = self.write_at_offset() {
            self.poisoned = true;
            return Err(e);
        }
        self.crc = crc;
        self.active.offset += self.buf.len() as u64;
        self.unsynced = true;
        for record in records {
            match record.kind {
                RecordType::Entry => self.last_index = record.index,
                RecordType::State => {
                    let state = self.state.get_or_insert_with(Vec::new);
                    state.clear();
                    state.extend_from_slice(record.payload);
                }
                RecordType::Metadata | RecordType::Snapshot => {}
            }
        }
        if self.active.offset >= self.options.segment_size {
            self.sync()?;
            self.cut()?;
        }
        Ok(())
    }

    /// Makes everything written so far durable with one `fdatasync`.
    pub fn sync(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if !self.unsynced {
            return Ok(());
        }
        if let Err(e) = self.sync_active() {
            self.poisoned = true;
            return Err(e);
        }
        self.unsynced = false;
        Ok(())
    }

    /// Appends a snapshot marker and syncs it. Replay can then start from this snapshot
    /// ([`ReadFrom::Snapshot`]).
    pub fn save_snapshot_marker(&mut self, marker: SnapshotMarker) -> Result<()> {
        let payload = marker.encode();
        self.append(&[Record {
            kind: RecordType::Snapshot,
            index: marker.index,
            payload: &payload,
        }])
    }

    /// Deletes the segments that hold only entries before `index` (every segment whose successor starts at or
    /// before `index`); the active segment is never deleted. Returns how many were deleted.
    ///
    /// Call it only after a snapshot at or after `index` is durable and its marker is in the log.
    pub fn release_before(&mut self, index: u64) -> Result<usize> {
        let mut released = 0;
        while let Some(&oldest) = self.sealed.front() {
            let successor = self.sealed.get(1).unwrap_or(&self.active.name);
            if successor.first_index > index {
                break;
            }
            let path = oldest.path_in(&self.dir);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(path),
            }
            self.sealed.pop_front();
            released += 1;
        }
        Ok(released)
    }

    /// Syncs anything written but not yet synced and closes the WAL, releasing the directory lock.
    pub fn close(mut self) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        self.sync()
    }

    /// The index of the last entry written.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many segment files the WAL has on disk.
    pub fn segment_count(&self) -> usize {
        self.sealed.len() + 1
    }

    /// Whether an earlier failure has made the WAL refuse writes.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    fn write_at_offset(&mut self) -> Result<()> {
        let path = &self.active.path;
        #[cfg(any(test, feature = "failpoints"))]
        if let Some(faults) = &self.options.fault_injector
            && faults.take_write_failure()
        {
            let half = &self.buf[..self.buf.len() / 2];
            self.active
                .file
                .write_all_at(half, self.active.offset)
                .at(path)?;
            return Err(std::io::Error::other("injected write failure")).at(path);
        }
        self.active
            .file
            .write_all_at(&self.buf, self.active.offset)
            .at(path)
    }

    fn sync_active(&mut self) -> Result<()> {
        #[cfg(any(test, feature = "failpoints"))]
        if let Some(faults) = &self.options.fault_injector
            && faults.take_sync_failure()
        {
            return Err(std::io::Error::other("injected sync failure")).at(&self.active.path);
        }
        #[cfg(any(test, feature = "failpoints"))]
        if let Some(delay) = self
            .options
            .fault_injector
            .as_ref()
            .and_then(|f| f.sync_delay())
        {
            std::thread::sleep(delay);
        }
        self.active.file.sync_data().at(&self.active.path)
    }

    /// Seals the active segment at its last record and starts the next one.
    fn cut(&mut self) -> Result<()> {
        let result = self.cut_inner();
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn cut_inner(&mut self) -> Result<()> {
        let path = &self.active.path;
        self.active.file.set_len(self.active.offset).at(path)?;
        self.active.file.sync_all().at(path)?;
        let name = SegmentName {
            seq: self.active.name.seq + 1,
            first_index: self.last_index + 1,
        };
        let (file, offset, crc) = write_new_segment(
            &self.dir,
            &self.lock,
            name,
            self.crc,
            &self.metadata,
            self.state.as_deref(),
            &self.options,
        )?;
        let old = std::mem::replace(
            &mut self.active,
            ActiveSegment {
                name,
                path: name.path_in(&self.dir),
                file,
                offset,
            },
        );
        self.sealed.push_back(old.name);
        self.crc = crc;
        Ok(())
    }
}

fn check_appendable(record: &Record<'_>) -> Result<()> {
    if record.payload.len() > MAX_RECORD_LEN {
        return Err(Error::InvalidRecord("payload larger than MAX_RECORD_LEN"));
    }
    if record.kind == RecordType::Metadata {
        return Err(Error::InvalidRecord(
            "metadata is written by Wal::create and cannot be appended",
        ));
    }
    match malformed(record) {
        Some(what) => Err(Error::InvalidRecord(what)),
        None => Ok(()),
    }
}

/// Writes a complete new segment (header, metadata, latest state) under a temporary name, syncs it and
/// renames it into place, so a segment is never seen half-made. Returns the open file, the offset after the
/// records and the chain value after them.
fn write_new_segment(
    dir: &Path,
    lock: &DirLock,
    name: SegmentName,
    seed: u32,
    metadata: &[u8],
    state: Option<&[u8]>,
    options: &Options,
) -> Result<(File, u64, u32)> {
    let tmp = name.tmp_path_in(dir);
    let file = fs::create_new_rw(&tmp)?;
    fs::preallocate(&file, options.segment_size).at(&tmp)?;
    let mut buf = Vec::with_capacity(SEGMENT_HEADER_LEN + metadata.len() + 64);
    buf.extend_from_slice(
        &SegmentHeader {
            seed,
            seq: name.seq,
            first_index: name.first_index,
        }
        .encode(),
    );
    let mut crc = encode_frame(
        &mut buf,
        &Record {
            kind: RecordType::Metadata,
            index: 0,
            payload: metadata,
        },
        seed,
    );
    if let Some(state) = state {
        crc = encode_frame(&mut buf, &Record::state(state), crc);
    }
    file.write_all_at(&buf, 0).at(&tmp)?;
    file.sync_all().at(&tmp)?;
    let path = name.path_in(dir);
    std::fs::rename(&tmp, &path).at(&path)?;
    lock.sync()?;
    Ok((file, buf.len() as u64, crc))
}

fn tmp_dir_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    dir.with_file_name(name)
}
