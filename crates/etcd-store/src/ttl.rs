//! The index of nodes with a TTL, ordered by expiry time (etcd's TTL heap).

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TtlIndex {
    /// (expiry time in Unix ns, full path); ties broken by path, so expiry order is deterministic.
    entries: BTreeSet<(i64, Box<str>)>,
}

impl TtlIndex {
    pub fn insert(&mut self, expire_time: i64, path: &str) {
        if expire_time != 0 {
            self.entries.insert((expire_time, path.into()));
        }
    }

    pub fn remove(&mut self, expire_time: i64, path: &str) {
        if expire_time != 0 {
            self.entries.remove(&(expire_time, Box::from(path)));
        }
    }

    /// The node that expires first.
    pub fn first(&self) -> Option<(i64, &str)> {
        self.entries.first().map(|(t, p)| (*t, &**p))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
