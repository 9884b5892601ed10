//! Segment file names: `{seq:016x}-{index:016x}.wal`, as etcd names them.

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// Suffix of segment files.
const SUFFIX: &str = ".wal";
/// Suffix of a segment being created; such files are never read and are removed on open.
pub(crate) const TMP_SUFFIX: &str = ".wal.tmp";

/// The sequence number and first index a segment's file name carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SegmentName {
    pub seq: u64,
    pub first_index: u64,
}

impl SegmentName {
    pub fn file_name(&self) -> String {
        format!("{:016x}-{:016x}{SUFFIX}", self.seq, self.first_index)
    }

    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }

    pub fn tmp_path_in(&self, dir: &Path) -> PathBuf {
        dir.join(format!(
            "{:016x}-{:016x}{TMP_SUFFIX}",
            self.seq, self.first_index
        ))
    }

    /// Parses a segment file name; `None` for any other name.
    pub fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(SUFFIX)?;
        let (seq, index) = stem.split_once('-')?;
        if seq.len() != 16 || index.len() != 16 {
            return None;
        }
        Some(SegmentName {
            seq: u64::from_str_radix(seq, 16).ok()?,
            first_index: u64::from_str_radix(index, 16).ok()?,
        })
    }
}

/// The segments in `dir`, sorted by sequence number.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentName>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        if let Some(name) = entry.file_name().to_str().and_then(SegmentName::parse) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Removes segments that were being created when a process stopped.
pub(crate) fn remove_tmp_segments(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(TMP_SUFFIX))
        {
            std::fs::remove_file(entry.path()).at(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_like_etcd() {
        let n = SegmentName {
            seq: 1,
            first_index: 0x2a,
        };
        assert_eq!(n.file_name(), "0000000000000001-000000000000002a.wal");
        assert_eq!(SegmentName::parse(&n.file_name()), Some(n));
    }

    #[test]
    fn other_names_are_ignored() {
        for bad in [
            "0000000000000001-000000000000002a.wal.tmp",
            "1-2.wal",
            "000000000000000g-0000000000000000.wal",
            "0000000000000001_000000000000002a.wal",
            "LOCK",
        ] {
            assert_eq!(SegmentName::parse(bad), None, "{bad}");
        }
    }
}
