//! The snapshot directory: save, list, load the newest valid, purge.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, IoContext, Result};
use crate::format::{self, BROKEN_SUFFIX, HEADER_LEN, TMP_SUFFIX};

/// The (term, index) a snapshot was taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SnapshotMeta {
    /// Term of the last entry the snapshot contains. Compared first, as etcd orders snapshot names.
    pub term: u64,
    /// Index of that entry.
    pub index: u64,
}

/// A loaded, verified snapshot. Its payload is memory-mapped, so loading a large snapshot costs one pass of the
/// checksum and no copy.
#[derive(Debug)]
pub struct Snapshot {
    meta: SnapshotMeta,
    path: PathBuf,
    map: Mmap,
}

impl Snapshot {
    /// The (term, index) of the snapshot.
    pub fn meta(&self) -> SnapshotMeta {
        self.meta
    }

    /// The file the snapshot was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The payload given to [`Snapshotter::save`].
    pub fn data(&self) -> &[u8] {
        &self.map[HEADER_LEN..]
    }
}

impl Deref for Snapshot {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.data()
    }
}

/// A directory of snapshot files.
#[derive(Debug, Clone)]
pub struct Snapshotter {
    dir: PathBuf,
}

impl Snapshotter {
    /// Uses `dir` (created if missing) for snapshots, and removes files left by saves that never finished.
    pub fn new(dir: impl AsRef<Path>) -> Result<Snapshotter> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).at(&dir)?;
        for name in file_names(&dir)? {
            if name.ends_with(TMP_SUFFIX) {
                let path = dir.join(&name);
                std::fs::remove_file(&path).at(&path)?;
            }
        }
        Ok(Snapshotter { dir })
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Saves `payload` as the snapshot at `meta`, atomically: a crash at any moment leaves either no file for
    /// it or the whole file, and never harms older snapshots. Returns the file's path.
    pub fn save(&self, meta: SnapshotMeta, payload: &[u8]) -> Result<PathBuf> {
        let name = format::file_name(meta);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .at(&tmp)?;
        let written = file
            .write_all(&format::encode_header(meta, payload))
            .and_then(|()| file.write_all(payload))
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).at(&tmp);
        }
        drop(file);
        std::fs::rename(&tmp, &path).at(&path)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .at(&self.dir)?;
        Ok(path)
    }

    /// Every snapshot file's (term, index), newest first. Files are not verified here.
    pub fn list(&self) -> Result<Vec<SnapshotMeta>> {
        let mut metas: Vec<SnapshotMeta> = file_names(&self.dir)?
            .iter()
            .filter_map(|n| format::parse_file_name(n))
            .collect();
        metas.sort_unstable_by(|a, b| b.cmp(a));
        Ok(metas)
    }

    /// Loads and verifies the snapshot at `meta`.
    pub fn load(&self, meta: SnapshotMeta) -> Result<Snapshot> {
        let path = self.dir.join(format::file_name(meta));
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(path));
            }
            Err(e) => return Err(e).at(path),
        };
        // SAFETY: the map is read-only; snapshot files are never modified after their rename into place (a
        // new snapshot is a new file), so the mapped bytes cannot change under us.
        let map = unsafe { Mmap::map(&file) }.at(&path)?;
        match format::verify(&map, meta) {
            Ok(()) => Ok(Snapshot { meta, path, map }),
            Err(reason) => Err(Error::Corrupt { path, reason }),
        }
    }

    /// Loads the newest snapshot that verifies. Each newer file that fails verification is renamed to
    /// `<name>.broken` (as etcd does) and the next older one is tried. `Ok(None)` when there is none.
    pub fn load_newest(&self) -> Result<Option<Snapshot>> {
        self.load_newest_where(|_| true)
    }

    /// Like [`Snapshotter::load_newest`], among the snapshots in `candidates` only: at boot, those whose markers
    /// the WAL holds.
    pub fn load_newest_available(&self, candidates: &[SnapshotMeta]) -> Result<Option<Snapshot>> {
        self.load_newest_where(|m| candidates.contains(m))
    }

    fn load_newest_where(
        &self,
        wanted: impl Fn(&SnapshotMeta) -> bool,
    ) -> Result<Option<Snapshot>> {
        for meta in self.list()?.into_iter().filter(|m| wanted(m)) {
            match self.load(meta) {
                Ok(snapshot) => return Ok(Some(snapshot)),
                Err(Error::Corrupt { path, .. }) => {
                    let mut broken = path.clone().into_os_string();
                    broken.push(BROKEN_SUFFIX);
                    std::fs::rename(&path, &broken).at(&path)?;
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Deletes every snapshot file but the newest `keep`; returns how many were deleted.
    pub fn purge(&self, keep: usize) -> Result<usize> {
        let mut deleted = 0;
        for meta in self.list()?.into_iter().skip(keep) {
            let path = self.dir.join(format::file_name(meta));
            match std::fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(path),
            }
        }
        Ok(deleted)
    }
}

fn file_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}
