//! The few file-system operations the WAL needs, each with the durability step it implies.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// An exclusive lock on a WAL directory, held for as long as this value lives.
///
/// It is an advisory `flock` on the directory itself, so the directory holds nothing but segments (as etcd's
/// does) and the lock goes away with the process however it ends.
#[derive(Debug)]
pub(crate) struct DirLock {
    dir: File,
    path: PathBuf,
}

impl DirLock {
    pub fn acquire(path: &Path) -> Result<DirLock> {
        let dir = File::open(path).at(path)?;
        match dir.try_lock() {
            Ok(()) => Ok(DirLock {
                dir,
                path: path.to_path_buf(),
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(path.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(e).at(path),
        }
    }

    /// Makes entries created, renamed or removed in the directory durable.
    pub fn sync(&self) -> Result<()> {
        self.dir.sync_all().at(&self.path)
    }

    /// The directory's path as it was opened; used after a rename of the directory too, since the lock
    /// follows the inode.
    pub fn set_path(&mut self, path: &Path) {
        self.path = path.to_path_buf();
    }
}

/// Makes the entry of `path` in its parent directory durable.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent).and_then(|d| d.sync_all()).at(parent)
}

/// Extends `file` to `len` bytes of allocated zeros, so later writes do not allocate (and the disk cannot run
/// out of space in the middle of a record). Falls back to a sparse extension where the file system cannot
/// preallocate.
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let current = file.metadata()?.len();
    if current >= len {
        return Ok(());
    }
    let Ok(len_off) = libc::off_t::try_from(len) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "segment size too large",
        ));
    };
    // SAFETY: the descriptor is valid for the lifetime of `file`; fallocate reads no memory of ours.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) };
    match rc {
        0 => Ok(()),
        libc::EINVAL | libc::EOPNOTSUPP => file.set_len(len),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

pub(crate) fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .at(path)
}

pub(crate) fn create_new_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .at(path)
}
