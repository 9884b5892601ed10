//! Reading a WAL back: verify every record in order, find the tail, and hand over to the writer.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, IoContext, Result};
use crate::format::{
    Corruption, FRAME_HEADER_LEN, Frame, Record, RecordType, SEGMENT_HEADER_LEN, SegmentHeader,
    SnapshotMarker, decode_frame, is_torn_tail,
};
use crate::fs::{self, DirLock};
use crate::options::Options;
use crate::segment_name::{self, SegmentName};
use crate::wal::{ActiveSegment, Wal};

/// Where replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// From the oldest segment still on disk; every entry is returned.
    Start,
    /// From the segment that may hold this snapshot's index. Only entries after the snapshot's index are
    /// returned, and the marker itself must be found in the log, or replay ends with
    /// [`Error::SnapshotNotFound`].
    Snapshot(SnapshotMarker),
}

/// What replay learned, returned with the writer by [`Replay::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The metadata record's payload, as given to [`Wal::create`].
    pub metadata: Vec<u8>,
    /// The payload of the last state record, if one was ever written.
    pub state: Option<Vec<u8>>,
    /// The index of the last entry record in the log.
    pub last_index: u64,
    /// Where an unacknowledged, partly written tail was cut off, if there was one.
    pub torn_tail: Option<TornTail>,
}

/// The place where recovery cut off the remains of an interrupted write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub path: PathBuf,
    /// The byte offset the segment now ends at.
    pub offset: u64,
}

/// A WAL opened for reading; yields every record in order, then becomes the writer with [`Replay::finish`].
///
/// Records borrow the memory-mapped segments, so replay copies nothing and its speed is that of the
/// checksum. The directory lock is held from [`Wal::open`] on, so nothing can write while we read.
#[derive(Debug)]
pub struct Replay {
    dir: PathBuf,
    lock: DirLock,
    options: Options,
    /// Segments before the first one read; still on disk, so still the writer's to release.
    earlier: Vec<SegmentName>,
    segments: Vec<MappedSegment>,
    from: ReadFrom,
    cursor: Cursor,
    last_index: u64,
    metadata: Option<Location>,
    state: Option<Location>,
    marker_seen: bool,
    progress: Progress,
}

#[derive(Debug)]
struct MappedSegment {
    name: SegmentName,
    path: PathBuf,
    header: SegmentHeader,
    map: Mmap,
}

#[derive(Debug, Clone, Copy)]
struct Cursor {
    segment: usize,
    offset: usize,
    crc: u32,
}

/// Where a payload lies: segment number (in `segments`) and byte range.
#[derive(Debug, Clone, Copy)]
struct Location {
    segment: usize,
    start: usize,
    len: usize,
}

#[derive(Debug, Clone)]
enum Progress {
    Reading,
    /// Every record was read; the log continues at `tail` in the last segment.
    Done {
        tail: usize,
        torn: bool,
    },
    /// Replay stopped at damage; `reported` once [`Replay::next_record`] has returned the error.
    Failed {
        failure: Failure,
        reported: bool,
    },
}

#[derive(Debug, Clone)]
enum Failure {
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: Corruption,
    },
    SnapshotNotFound(SnapshotMarker),
}

impl Failure {
    fn to_error(&self) -> Error {
        match self {
            Failure::Corrupt {
                path,
                offset,
                reason,
            } => Error::Corrupt {
                path: path.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            Failure::SnapshotNotFound(m) => Error::SnapshotNotFound(*m),
        }
    }
}

impl Replay {
    pub(crate) fn open(dir: &Path, from: ReadFrom, options: Options) -> Result<Replay> {
        options.validate()?;
        if !dir.is_dir() {
            return Err(Error::NotFound(dir.to_path_buf()));
        }
        let lock = DirLock::acquire(dir)?;
        segment_name::remove_tmp_segments(dir)?;
        let names = segment_name::list_segments(dir)?;
        if names.is_empty() {
            return Err(Error::NotFound(dir.to_path_buf()));
        }
        for pair in names.windows(2) {
            if pair[1].seq != pair[0].seq + 1 {
                return Err(Error::Corrupt {
                    path: pair[1].path_in(dir),
                    offset: 0,
                    reason: Corruption::MissingSegment {
                        expected_seq: pair[0].seq + 1,
                    },
                });
            }
        }
        let start = match from {
            ReadFrom::Start => 0,
            ReadFrom::Snapshot(m) => names
                .iter()
                .rposition(|n| n.first_index <= m.index)
                .ok_or(Error::SnapshotNotFound(m))?,
        };
        let segments = names[start..]
            .iter()
            .map(|name| map_segment(dir, *name))
            .collect::<Result<Vec<_>>>()?;
        let first = &segments[0];
        let cursor = Cursor {
            segment: 0,
            offset: SEGMENT_HEADER_LEN,
            crc: first.header.seed,
        };
        let last_index = first.name.first_index.saturating_sub(1);
        Ok(Replay {
            dir: dir.to_path_buf(),
            lock,
            options,
            earlier: names[..start].to_vec(),
            segments,
            from,
            cursor,
            last_index,
            metadata: None,
            state: None,
            marker_seen: false,
            progress: Progress::Reading,
        })
    }

    /// The next record in log order, `None` after the last, or the error that stopped replay.
    ///
    /// Every segment begins with the metadata record and the latest state record, so those are yielded again
    /// at each segment; the last one read is the current one. With [`ReadFrom::Snapshot`], entries at or
    /// before the snapshot's index are skipped.
    #[allow(clippy::should_implement_trait)] // a lending iterator: records borrow the replay
    pub fn next_record(&mut self) -> Option<Result<Record<'_>>> {
        let from_index = match self.from {
            ReadFrom::Start => 0,
            ReadFrom::Snapshot(m) => m.index,
        };
        loop {
            match &self.progress {
                Progress::Reading => {}
                Progress::Done { .. } => return None,
                Progress::Failed { reported: true, .. } => return None,
                Progress::Failed { failure, .. } => {
                    let error = failure.to_error();
                    if let Progress::Failed { reported, .. } = &mut self.progress {
                        *reported = true;
                    }
                    return Some(Err(error));
                }
            }
            let Cursor {
                segment,
                offset,
                crc,
            } = self.cursor;
            let seg = &self.segments[segment];
            let is_last = segment + 1 == self.segments.len();
            let at_start = offset == SEGMENT_HEADER_LEN;
            match decode_frame(&seg.map, offset, crc) {
                Frame::Record { record, crc, next } => {
                    if at_start && record.kind != RecordType::Metadata {
                        self.fail_corrupt(
                            offset,
                            Corruption::MalformedRecord("segment does not begin with metadata"),
                        );
                        continue;
                    }
                    let (kind, index) = (record.kind, record.index);
                    let location = Location {
                        segment,
                        start: offset + FRAME_HEADER_LEN,
                        len: record.payload.len(),
                    };
                    let marker = record.snapshot_marker();
                    self.cursor.offset = next;
                    self.cursor.crc = crc;
                    match kind {
                        RecordType::Entry => self.last_index = index,
                        RecordType::Metadata => self.metadata = Some(location),
                        RecordType::State => self.state = Some(location),
                        RecordType::Snapshot => {
                            if matches!(self.from, ReadFrom::Snapshot(m) if Some(m) == marker) {
                                self.marker_seen = true;
                            }
                        }
                    }
                    if kind == RecordType::Entry && index <= from_index {
                        continue;
                    }
                    let map = &self.segments[segment].map;
                    return Some(Ok(Record {
                        kind,
                        index,
                        payload: &map[location.start..location.start + location.len],
                    }));
                }
                Frame::End if is_last && !at_start => self.reach_tail(offset, false),
                Frame::End if !is_last && !at_start && offset == seg.map.len() => {
                    self.enter_segment(segment + 1)
                }
                Frame::End => self.fail_corrupt(offset, Corruption::UnexpectedEnd),
                Frame::Invalid(_)
                    if is_last && !at_start && is_torn_tail(&seg.map, offset, crc) =>
                {
                    self.reach_tail(offset, true)
                }
                Frame::Invalid(reason) => self.fail_corrupt(offset, reason),
            }
        }
    }

    /// Reads whatever is left, cuts off a torn tail, and returns the WAL ready for appending after the last
    /// valid record, together with what replay learned.
    pub fn finish(mut self) -> Result<(Wal, Recovery)> {
        while self.next_record().is_some() {}
        let (tail, torn) = match &self.progress {
            Progress::Done { tail, torn } => (*tail, *torn),
            Progress::Failed { failure, .. } => return Err(failure.to_error()),
            Progress::Reading => {
                unreachable!("next_record returns None only once replay has ended")
            }
        };
        let copy = |loc: Location, segments: &[MappedSegment]| {
            segments[loc.segment].map[loc.start..loc.start + loc.len].to_vec()
        };
        let metadata = self
            .metadata
            .map(|l| copy(l, &self.segments))
            .unwrap_or_default();
        let state = self.state.map(|l| copy(l, &self.segments));
        let last = self.segments.len() - 1;
        let tail_is_clean = !torn && self.segments[last].map[tail..].iter().all(|&b| b == 0);
        let last_name = self.segments[last].name;
        let last_path = self.segments[last].path.clone();
        let sealed: Vec<SegmentName> = self
            .earlier
            .iter()
            .copied()
            .chain(self.segments[..last].iter().map(|s| s.name))
            .collect();
        // The maps must go before the file they map is truncated.
        self.segments.clear();

        let file = fs::open_rw(&last_path)?;
        let len = file.metadata().at(&last_path)?.len();
        if !tail_is_clean || len < self.options.segment_size {
            if !tail_is_clean {
                // Zero everything after the tail, so no leftover of the interrupted write can ever be read
                // as part of the log once new records are appended.
                file.set_len(tail as u64).at(&last_path)?;
            }
            fs::preallocate(&file, self.options.segment_size).at(&last_path)?;
            file.sync_all().at(&last_path)?;
        }
        let recovery = Recovery {
            metadata: metadata.clone(),
            state: state.clone(),
            last_index: self.last_index,
            torn_tail: (!tail_is_clean).then(|| TornTail {
                path: last_path.clone(),
                offset: tail as u64,
            }),
        };
        let active = ActiveSegment {
            name: last_name,
            path: last_path,
            file,
            offset: tail as u64,
        };
        let wal = Wal::resume(
            self.dir,
            self.lock,
            self.options,
            active,
            sealed,
            self.cursor.crc,
            self.last_index,
            metadata,
            state,
        );
        Ok((wal, recovery))
    }

    fn enter_segment(&mut self, segment: usize) {
        let next = &self.segments[segment];
        if next.header.seed != self.cursor.crc {
            let reason = Corruption::ChainBroken {
                stored: next.header.seed,
                expected: self.cursor.crc,
            };
            self.progress = Progress::Failed {
                failure: Failure::Corrupt {
                    path: next.path.clone(),
                    offset: 12,
                    reason,
                },
                reported: false,
            };
            return;
        }
        self.cursor = Cursor {
            segment,
            offset: SEGMENT_HEADER_LEN,
            crc: next.header.seed,
        };
    }

    fn reach_tail(&mut self, tail: usize, torn: bool) {
        self.progress = match self.from {
            ReadFrom::Snapshot(m) if !self.marker_seen => Progress::Failed {
                failure: Failure::SnapshotNotFound(m),
                reported: false,
            },
            _ => Progress::Done { tail, torn },
        };
    }

    fn fail_corrupt(&mut self, offset: usize, reason: Corruption) {
        let path = self.segments[self.cursor.segment].path.clone();
        self.progress = Progress::Failed {
            failure: Failure::Corrupt {
                path,
                offset: offset as u64,
                reason,
            },
            reported: false,
        };
    }
}

fn map_segment(dir: &Path, name: SegmentName) -> Result<MappedSegment> {
    let path = name.path_in(dir);
    let file = File::open(&path).at(&path)?;
    let len = file.metadata().at(&path)?.len();
    let corrupt = |reason| Error::Corrupt {
        path: path.clone(),
        offset: 0,
        reason,
    };
    if len < SEGMENT_HEADER_LEN as u64 {
        return Err(corrupt(Corruption::BadSegmentHeader));
    }
    // SAFETY: the map is read-only and the WAL directory is locked, so no process that follows the lock
    // changes the file while it is mapped; the map is dropped before this process truncates the file.
    let map = unsafe { Mmap::map(&file) }.at(&path)?;
    let header = SegmentHeader::decode(&map).map_err(corrupt)?;
    if header.seq != name.seq || header.first_index != name.first_index {
        return Err(corrupt(Corruption::NameMismatch));
    }
    Ok(MappedSegment {
        name,
        path,
        header,
        map,
    })
}
