//! The in-memory key index: for every key, its generations of revisions.
//!
//! A generation is a key's life from a put that created it to the delete (tombstone) that ended it; a later put
//! starts a new generation. Every revision of a key that compaction has not removed is in the index, so a read at
//! any revision finds the key's version there without scanning the backend. Values are never in memory: the index
//! names the backend revision that holds them.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use crate::revision::Revision;

/// What a key is at one revision, as far as the index knows without reading its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMeta {
    /// The revision that wrote the key's current version (its `mod_revision` and backend key).
    pub modified: Revision,
    /// The main revision that created the key's current generation.
    pub created: i64,
    /// Writes in the current generation up to `modified` (1 for the creating put).
    pub version: i64,
}

#[derive(Debug, Clone, Default)]
struct Generation {
    created: Revision,
    /// Writes ever made in this generation, tombstone included: versions stay right after compaction.
    ver: i64,
    revs: Vec<Revision>,
    /// Set when the last revision in `revs` is the tombstone that ended the generation.
    closed: bool,
}

/// Every revision of one key.
#[derive(Debug, Clone, Default)]
pub struct KeyIndex {
    /// Oldest first, never empty ones; the last is open (the key is live) unless closed (the key is deleted).
    generations: Vec<Generation>,
}

impl KeyIndex {
    /// Records a put at `rev`.
    pub fn put(&mut self, rev: Revision) {
        match self.generations.last_mut() {
            Some(g) if !g.closed => {
                g.revs.push(rev);
                g.ver += 1;
            }
            _ => self.generations.push(Generation {
                created: rev,
                ver: 1,
                revs: vec![rev],
                closed: false,
            }),
        }
    }

    /// Records a put read back from the backend at open: a generation that compaction cut starts with the
    /// creation revision and version the record carries.
    pub fn restore(&mut self, rev: Revision, created: i64, version: i64) {
        match self.generations.last_mut() {
            Some(g) if !g.closed => {
                g.revs.push(rev);
                g.ver += 1;
            }
            _ => self.generations.push(Generation {
                created: Revision::new(created, 0),
                ver: version,
                revs: vec![rev],
                closed: false,
            }),
        }
    }

    /// Records a delete at `rev`; `false` (and nothing recorded) when the key is not live.
    pub fn tombstone(&mut self, rev: Revision) -> bool {
        match self.generations.last_mut() {
            Some(g) if !g.closed => {
                g.revs.push(rev);
                g.ver += 1;
                g.closed = true;
                true
            }
            _ => false,
        }
    }

    /// The key as it is at main revision `at`; `None` when it did not exist then (never created, deleted, or
    /// compacted away).
    pub fn get(&self, at: i64) -> Option<KeyMeta> {
        for g in self.generations.iter().rev() {
            let first = g.revs.first()?;
            if first.main > at {
                continue;
            }
            // How many revisions of this generation are at or below `at`.
            let n = g.revs.partition_point(|r| r.main <= at);
            if g.closed && n == g.revs.len() {
                return None;
            }
            let behind = (g.revs.len() - n) as i64;
            return Some(KeyMeta {
                modified: g.revs[n - 1],
                created: g.created.main,
                version: g.ver - behind,
            });
        }
        None
    }

    /// True when no revision is left (the key can leave the index).
    pub fn is_empty(&self) -> bool {
        self.generations.is_empty()
    }

    /// Drops what compaction at `at` makes unreachable: every generation that ended at or below `at`, and in the
    /// generation live at `at` every revision older than its newest one at or below `at`, which is kept and added to
    /// `keep` (the backend revisions at or below `at` that must stay).
    pub fn compact(&mut self, at: i64, keep: &mut HashSet<Revision>) {
        let ended = self
            .generations
            .iter()
            .take_while(|g| g.closed && g.revs.last().is_some_and(|r| r.main <= at))
            .count();
        self.generations.drain(..ended);
        if let Some(g) = self.generations.first_mut() {
            let n = g.revs.partition_point(|r| r.main <= at);
            if n > 0 {
                g.revs.drain(..n - 1);
                keep.insert(g.revs[0]);
            }
        }
    }
}

/// Keys in order, each with its [`KeyIndex`].
#[derive(Debug, Default)]
pub struct TreeIndex {
    keys: BTreeMap<Vec<u8>, KeyIndex>,
}

/// The end of a key range, as `RangeRequest.range_end` encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeEnd<'a> {
    /// Empty `range_end`: the key alone.
    Single,
    /// `range_end` = `"\0"`: every key at or above the start.
    Unbounded,
    /// `[key, end)`.
    Before(&'a [u8]),
}

/// A key range as BTreeMap bounds.
pub type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

impl<'a> RangeEnd<'a> {
    /// Reads a request's `range_end`.
    pub fn from_request(range_end: &'a [u8]) -> Self {
        match range_end {
            [] => RangeEnd::Single,
            [0] => RangeEnd::Unbounded,
            end => RangeEnd::Before(end),
        }
    }

    /// Whether `key` is in `[start, self)`.
    pub fn contains(&self, start: &[u8], key: &[u8]) -> bool {
        match self {
            RangeEnd::Single => key == start,
            RangeEnd::Unbounded => key >= start,
            RangeEnd::Before(end) => key >= start && key < *end,
        }
    }

    /// The range as BTreeMap bounds; `None` when it is empty (`end <= start`).
    pub fn bounds(&self, start: &'a [u8]) -> Option<KeyBounds<'a>> {
        match self {
            RangeEnd::Single => Some((Bound::Included(start), Bound::Included(start))),
            RangeEnd::Unbounded => Some((Bound::Included(start), Bound::Unbounded)),
            RangeEnd::Before(end) if *end > start => {
                Some((Bound::Included(start), Bound::Excluded(*end)))
            }
            RangeEnd::Before(_) => None,
        }
    }
}

impl TreeIndex {
    /// The index of one key.
    pub fn get(&self, key: &[u8]) -> Option<&KeyIndex> {
        self.keys.get(key)
    }

    /// The index of `key`, made empty when missing.
    fn key_mut(&mut self, key: &[u8]) -> &mut KeyIndex {
        if !self.keys.contains_key(key) {
            self.keys.insert(key.to_vec(), KeyIndex::default());
        }
        self.keys.get_mut(key).expect("inserted above")
    }

    /// Records a put.
    pub fn put(&mut self, key: &[u8], rev: Revision) {
        self.key_mut(key).put(rev);
    }

    /// Records a put read back from the backend at open (see [`KeyIndex::restore`]).
    pub fn restore(&mut self, key: &[u8], rev: Revision, created: i64, version: i64) {
        self.key_mut(key).restore(rev, created, version);
    }

    /// Records a delete of a live key.
    pub fn tombstone(&mut self, key: &[u8], rev: Revision) -> bool {
        self.keys.get_mut(key).is_some_and(|ki| ki.tombstone(rev))
    }

    /// Calls `f` for every key in the range that exists at main revision `at`, in key order (or reversed), until
    /// `f` returns false.
    pub fn walk(
        &self,
        start: &[u8],
        end: RangeEnd<'_>,
        at: i64,
        reverse: bool,
        f: &mut dyn FnMut(&[u8], KeyMeta) -> bool,
    ) {
        if end == RangeEnd::Single {
            if let Some(meta) = self.keys.get(start).and_then(|ki| ki.get(at)) {
                f(start, meta);
            }
            return;
        }
        let Some(bounds) = end.bounds(start) else {
            return;
        };
        let range = self.keys.range::<[u8], _>(bounds);
        let mut visit = |(k, ki): (&Vec<u8>, &KeyIndex)| match ki.get(at) {
            Some(meta) => f(k, meta),
            None => true,
        };
        if reverse {
            for item in range.rev() {
                if !visit(item) {
                    return;
                }
            }
        } else {
            for item in range {
                if !visit(item) {
                    return;
                }
            }
        }
    }

    /// Compacts every key at `at` (see [`KeyIndex::compact`]); keys left without revisions leave the index.
    /// Returns the backend revisions at or below `at` that must stay.
    pub fn compact(&mut self, at: i64) -> HashSet<Revision> {
        let mut keep = HashSet::new();
        self.keys.retain(|_, ki| {
            ki.compact(at, &mut keep);
            !ki.is_empty()
        });
        keep
    }

    /// Number of keys with any revision left.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    #[test]
    fn versions_count_from_the_creating_put_and_restart_after_a_delete() {
        let mut ki = KeyIndex::default();
        ki.put(r(2));
        ki.put(r(4));
        assert!(ki.tombstone(r(6)));
        ki.put(r(8));
        assert_eq!(ki.get(1), None);
        assert_eq!(
            ki.get(3),
            Some(KeyMeta {
                modified: r(2),
                created: 2,
                version: 1
            })
        );
        assert_eq!(
            ki.get(5),
            Some(KeyMeta {
                modified: r(4),
                created: 2,
                version: 2
            })
        );
        assert_eq!(ki.get(6), None);
        assert_eq!(ki.get(7), None);
        assert_eq!(
            ki.get(9),
            Some(KeyMeta {
                modified: r(8),
                created: 8,
                version: 1
            })
        );
        assert!(!KeyIndex::default().tombstone(r(1)));
    }

    #[test]
    fn compaction_keeps_the_newest_revision_at_or_below_the_compaction_point() {
        let mut ki = KeyIndex::default();
        for m in [2, 3, 4] {
            ki.put(r(m));
        }
        let mut keep = HashSet::new();
        ki.compact(3, &mut keep);
        assert_eq!(keep, HashSet::from([r(3)]));
        assert_eq!(
            ki.get(3),
            Some(KeyMeta {
                modified: r(3),
                created: 2,
                version: 2
            })
        );
        assert_eq!(ki.get(4).map(|m| m.version), Some(3));
    }

    #[test]
    fn compaction_drops_generations_that_ended_and_a_deleted_key_leaves_the_index() {
        let mut t = TreeIndex::default();
        t.put(b"a", r(2));
        t.tombstone(b"a", r(3));
        t.put(b"b", r(4));
        assert_eq!(t.compact(3), HashSet::new());
        assert!(t.get(b"a").is_none());
        assert_eq!(t.compact(4), HashSet::from([r(4)]));
        assert_eq!(t.key_count(), 1);
    }
}
