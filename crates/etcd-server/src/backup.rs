//! etcd's v3 snapshot file, what `etcdctl snapshot save` writes from the Maintenance `Snapshot` stream and
//! `etcd-node snapshot restore` builds a new data directory from.
//!
//! # Format (version 1)
//! ```text
//! content | SHA-256 of content (32 bytes)
//! content = the v3 backend's snapshot stream (etcd-mvcc's format), then zero bytes up to a multiple of 512
//! ```
//! The content's length is a multiple of 512 and the hash follows it, because that is how etcdctl 3.5 and etcdutl
//! tell a file with a hash (length % 512 == 32) from a bare database: etcd's content is a bbolt file, whose
//! pages are multiples of 512. etcd-mvcc's reader stops at the stream's end frame, so the padding is never read.
//! The stream carries its own CRC-32C besides: a file damaged after the hash check is still refused.
//!
//! The stream is sent in 32 KiB messages, as etcd sends it; each says how many content bytes follow it, and the
//! last carries the hash alone.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use etcd_api::v2::Backend as _;
use etcd_proto::etcdserverpb::SnapshotResponse;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::server::Server;
use crate::v3::V3Error;

/// Content bytes per `SnapshotResponse` (etcd's 32 KiB).
const CHUNK: usize = 32 * 1024;
/// The content is padded to a multiple of this.
const ALIGN: u64 = 512;
const HASH_LEN: u64 = 32;
/// Messages buffered between the reader thread and the client: the stream goes at the client's pace.
const IN_FLIGHT: usize = 4;

impl Server {
    /// `Snapshot`: the v3 backend as of now, as etcd's snapshot stream. The backend is read from one read
    /// transaction on a blocking thread, at the pace the client takes the messages; writes go on meanwhile.
    pub fn snapshot(
        &self,
        caller: &etcd_auth::Caller,
    ) -> Result<mpsc::Receiver<Result<SnapshotResponse, V3Error>>, V3Error> {
        self.check_admin_maintenance(caller)?;
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let store = self.mvcc();
        let header = self.header(store.current_revision());
        let version = self.versions().server;
        tokio::task::spawn_blocking(move || {
            let sent = (|| -> Result<(), V3Error> {
                let snapshot = store.begin_snapshot()?;
                let len = snapshot.len()?;
                let mut out = Chunks {
                    tx: &tx,
                    header,
                    version,
                    buf: Vec::with_capacity(CHUNK),
                    remaining: padded(len),
                    hash: Sha256::new(),
                };
                snapshot.write_to(&mut out)?;
                let padding = padded(len) - len;
                out.write_all(&vec![0; padding as usize])
                    .map_err(|e| etcd_mvcc::Error::Snapshot(format!("writing: {e}")))?;
                out.finish();
                Ok(())
            })();
            if let Err(e) = sent {
                // The client may be gone already: then nobody is there to tell.
                let _ = tx.blocking_send(Err(e));
            }
        });
        Ok(rx)
    }
}

fn padded(len: u64) -> u64 {
    len.div_ceil(ALIGN) * ALIGN
}

/// Cuts the content into messages and hashes it.
struct Chunks<'a> {
    tx: &'a mpsc::Sender<Result<SnapshotResponse, V3Error>>,
    header: etcd_proto::etcdserverpb::ResponseHeader,
    version: String,
    buf: Vec<u8>,
    /// Content bytes not yet sent.
    remaining: u64,
    hash: Sha256,
}

impl Chunks<'_> {
    fn send(&mut self, blob: Vec<u8>) -> std::io::Result<()> {
        self.remaining = self.remaining.saturating_sub(blob.len() as u64);
        let message = SnapshotResponse {
            header: Some(self.header),
            remaining_bytes: self.remaining,
            blob,
            version: self.version.clone(),
        };
        self.tx
            .blocking_send(Ok(message))
            .map_err(|_| std::io::Error::other("the client went away"))
    }

    /// Sends what is buffered, then the hash.
    fn finish(mut self) {
        let rest = std::mem::take(&mut self.buf);
        if !rest.is_empty() && self.send(rest).is_err() {
            return;
        }
        let hash = self.hash.clone().finalize().to_vec();
        let _ = self.send(hash);
    }
}

impl Write for Chunks<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.hash.update(bytes);
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = CHUNK - self.buf.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.buf.extend_from_slice(now);
            rest = later;
            if self.buf.len() == CHUNK {
                let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
                self.send(full)?;
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a snapshot file could not be restored or read; each displays as etcdutl's message where it has one.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The file could not be opened or read.
    #[error("open {}: {detail}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why (Go's wording for the common cases).
        detail: String,
    },
    /// The data directory (or WAL directory) exists and is not empty.
    #[error("data-dir {:?} not empty or could not be read", dir.display().to_string())]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// The file has no hash (a database copied from a data directory), and the check was not skipped.
    #[error("snapshot missing hash but --skip-hash-check=false")]
    MissingHash,
    /// The hash does not match the content (the hashes written as Go writes byte slices, as etcdutl does).
    #[error("expected sha256 {}, got {}", go_bytes(expected), go_bytes(got))]
    HashMismatch {
        /// The hash in the file.
        expected: Vec<u8>,
        /// The hash of the content.
        got: Vec<u8>,
    },
    /// The content is not a backend snapshot, or is damaged.
    #[error("{0}")]
    Content(#[from] etcd_mvcc::Error),
    /// The new member's log could not be written.
    #[error("writing the raft log: {0}")]
    Log(#[from] etcd_raft::RaftError),
    /// A directory could not be made or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// What was being written.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// What a new member's data directory is made of by [`restore_snapshot`].
#[derive(Debug, Clone)]
pub struct RestoreConfig {
    /// The snapshot file.
    pub snapshot: PathBuf,
    /// `--data-dir`: made by the restore; must not exist or be empty.
    pub data_dir: PathBuf,
    /// `--wal-dir`, when the WAL is to live elsewhere.
    pub wal_dir: Option<PathBuf>,
    /// This member's ID.
    pub id: u64,
    /// The new cluster's ID.
    pub cluster_id: u64,
    /// The new cluster's members (IDs and member contexts, as a new cluster's first start has them).
    pub members: Vec<etcd_raft::InitialMember>,
    /// `--skip-hash-check`: accept a file without a hash (a database copied from a data directory).
    pub skip_hash_check: bool,
}

/// What `etcd-node snapshot status` reports of a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotStatus {
    /// A hash of the backend's content (its CRC-32C).
    pub hash: u32,
    /// The store's revision.
    pub revision: i64,
    /// Entries in every table of the backend.
    pub total_keys: u64,
    /// Bytes of content (without the hash).
    pub total_size: u64,
}

/// Builds the data directory of a member of a new cluster from a snapshot file: the v3 backend from the file
/// (its consistent index reset, since the new cluster's log starts again at 1) and a raft log holding the new
/// cluster's members. The member then starts from that directory as from any other: its flags' cluster settings
/// are not read again. The v2 store starts empty, as etcd's does after a restore.
pub fn restore_snapshot(config: &RestoreConfig) -> Result<(), RestoreError> {
    for dir in std::iter::once(&config.data_dir).chain(config.wal_dir.as_ref()) {
        if !is_empty_dir(dir) {
            return Err(RestoreError::NotEmpty { dir: dir.clone() });
        }
    }
    let check = if config.skip_hash_check {
        HashCheck::Skip
    } else {
        HashCheck::Required
    };
    let content = verified_content(&config.snapshot, check)?;
    let made = (|| {
        let member_dir = config.data_dir.join("member");
        let db = member_dir.join("snap").join("db");
        std::fs::create_dir_all(member_dir.join("snap")).map_err(|source| RestoreError::Io {
            path: member_dir.join("snap"),
            source,
        })?;
        etcd_mvcc::Store::restore(&db, content)?;
        let store = etcd_mvcc::Store::open(&db)?;
        let mut batch = store.write()?;
        batch.set_consistent_index(0, 0);
        batch.commit()?;
        store.sync()?;
        drop(store);
        etcd_raft::create_log(
            &member_dir,
            config.wal_dir.as_deref(),
            config.id,
            config.cluster_id,
            &etcd_raft::Bootstrap::NewCluster(config.members.clone()),
        )?;
        Ok(())
    })();
    if made.is_err() {
        // Nothing half-made is left for a member to start from.
        let _ = std::fs::remove_dir_all(config.data_dir.join("member"));
        if let Some(wal) = &config.wal_dir {
            let _ = std::fs::remove_dir_all(wal);
        }
    }
    made
}

/// Reads a snapshot file's status: its hash is checked when it has one, and its content read to the end.
pub fn snapshot_status(path: &Path) -> Result<SnapshotStatus, RestoreError> {
    let content = verified_content(path, HashCheck::IfPresent)?;
    let summary = etcd_mvcc::Store::summarize(content)?;
    Ok(SnapshotStatus {
        hash: summary.crc,
        revision: summary.revision,
        total_keys: summary.entries,
        total_size: file_len(path)?,
    })
}

fn is_empty_dir(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn open_error(path: &Path, e: &std::io::Error) -> RestoreError {
    let detail = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    };
    RestoreError::Open {
        path: path.to_path_buf(),
        detail,
    }
}

fn file_len(path: &Path) -> Result<u64, RestoreError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| open_error(path, &e))
}

/// Whether a file's hash is checked before its content is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashCheck {
    /// The file must have a hash, and it must match.
    Required,
    /// A hash, when there is one, must match.
    IfPresent,
    /// Not checked (`--skip-hash-check`); the stream's own checksum still is.
    Skip,
}

/// `[1 2 3]`: how Go's `%v` prints a byte slice.
fn go_bytes(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("[{}]", items.join(" "))
}

/// The file's content (without its hash), the hash checked first as `check` says.
fn verified_content(path: &Path, check: HashCheck) -> Result<impl Read, RestoreError> {
    let open = || std::fs::File::open(path).map_err(|e| open_error(path, &e));
    let len = file_len(path)?;
    let has_hash = len % ALIGN == HASH_LEN;
    let content_len = if has_hash { len - HASH_LEN } else { len };
    match (has_hash, check) {
        (false, HashCheck::Required) => return Err(RestoreError::MissingHash),
        (true, HashCheck::Required | HashCheck::IfPresent) => {
            let mut file = std::io::BufReader::new(open()?);
            let mut hash = Sha256::new();
            let copied = std::io::copy(&mut (&mut file).take(content_len), &mut hash)
                .map_err(|e| open_error(path, &e))?;
            let mut expected = vec![0u8; HASH_LEN as usize];
            file.read_exact(&mut expected)
                .map_err(|e| open_error(path, &e))?;
            let got = hash.finalize().to_vec();
            if copied != content_len || expected != got {
                return Err(RestoreError::HashMismatch { expected, got });
            }
        }
        _ => {}
    }
    Ok(std::io::BufReader::new(open()?).take(content_len))
}
