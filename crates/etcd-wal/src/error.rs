//! The WAL's error type.

use std::io;
use std::path::PathBuf;

use crate::format::{Corruption, SnapshotMarker};

/// Everything that can go wrong with a WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("WAL I/O error on {path}: {source}")]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Another process (or another handle in this one) has the WAL directory open.
    #[error("WAL directory {0} is locked by another user")]
    Locked(PathBuf),
    /// [`Wal::create`](crate::Wal::create) found segments already there.
    #[error("WAL directory {0} already holds a WAL")]
    AlreadyExists(PathBuf),
    /// [`Wal::open`](crate::Wal::open) found no segment.
    #[error("no WAL segment found in {0}")]
    NotFound(PathBuf),
    /// Bytes on disk before the tail of the log are damaged.
    #[error("corrupt WAL segment {path} at byte offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Where in the file the damage starts.
        offset: u64,
        /// What is wrong there.
        reason: Corruption,
    },
    /// The snapshot marker replay was asked to start from is not in the log.
    #[error("snapshot marker (index {}, term {}) not found in the WAL", .0.index, .0.term)]
    SnapshotNotFound(SnapshotMarker),
    /// An earlier write or sync failed, so what is on disk is unknown; reopen the WAL to recover.
    #[error("WAL refuses writes after an earlier failed write or sync; reopen it to recover")]
    Poisoned,
    /// A record given to append breaks a rule of the format.
    #[error("invalid record: {0}")]
    InvalidRecord(&'static str),
    /// An option is out of range.
    #[error("invalid WAL option: {0}")]
    InvalidOptions(&'static str),
}

/// Result with the WAL's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
