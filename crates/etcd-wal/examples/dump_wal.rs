//! Prints the records of a WAL directory, like etcd's `etcd-dump-logs`.
//!
//! ```text
//! cargo run -p etcd-wal --example dump_wal -- <wal-dir>      # dump an existing WAL (read-only)
//! cargo run -p etcd-wal --example dump_wal                   # write a small demo WAL, then dump it
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use etcd_wal::{Options, ReadFrom, Record, RecordType, SnapshotMarker, Wal};

fn main() -> ExitCode {
    let demo_dir;
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => {
            demo_dir = std::env::temp_dir().join(format!("etcd-wal-demo-{}", std::process::id()));
            if let Err(e) = write_demo(&demo_dir) {
                eprintln!("error: writing the demo WAL: {e}");
                return ExitCode::FAILURE;
            }
            demo_dir.clone()
        }
    };
    let result = dump(&dir);
    if std::env::args_os().nth(1).is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_demo(dir: &std::path::Path) -> etcd_wal::Result<()> {
    let mut wal = Wal::create(dir, b"demo metadata", Options::default())?;
    wal.append(&[
        Record::entry(1, b"PUT /foo bar"),
        Record::entry(2, b"PUT /baz qux"),
        Record::state(b"term=1 vote=1 commit=2"),
    ])?;
    wal.save_snapshot_marker(SnapshotMarker { index: 2, term: 1 })?;
    wal.append(&[Record::entry(3, b"DELETE /foo")])?;
    wal.close()
}

/// Reads the whole log without finishing the replay, so the directory is not modified.
fn dump(dir: &std::path::Path) -> etcd_wal::Result<()> {
    println!("WAL {}", dir.display());
    let mut replay = Wal::open(dir, ReadFrom::Start, Options::default())?;
    let mut count = 0usize;
    while let Some(record) = replay.next_record() {
        let record = record?;
        count += 1;
        let shown =
            String::from_utf8_lossy(&record.payload[..record.payload.len().min(60)]).into_owned();
        match record.kind {
            RecordType::Entry => println!(
                "entry     index={:<8} {:>6} B  {shown:?}",
                record.index,
                record.payload.len()
            ),
            RecordType::State => println!(
                "state                     {:>6} B  {shown:?}",
                record.payload.len()
            ),
            RecordType::Metadata => println!(
                "metadata                  {:>6} B  {shown:?}",
                record.payload.len()
            ),
            RecordType::Snapshot => match record.snapshot_marker() {
                Some(m) => println!("snapshot  index={:<8} term={}", m.index, m.term),
                None => println!("snapshot  (malformed)"),
            },
        }
    }
    println!("{count} records");
    Ok(())
}
