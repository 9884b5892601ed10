//! The store's snapshot format, version 1: the whole replicated state (tree, index, event history,
//! statistics) in a compact binary form. Watchers are not part of it.
//!
//! All integers are little-endian. A *string* is a u32 byte length and that many bytes of UTF-8.
//!
//! ```text
//! snapshot  = magic "etcdv2st" | version u32 (1) | current_index u64 | stats | node (the root) | history
//! stats     = 15 × u64: getsSuccess getsFail setsSuccess setsFail deleteSuccess deleteFail updateSuccess
//!             updateFail createSuccess createFail compareAndSwapSuccess compareAndSwapFail
//!             compareAndDeleteSuccess compareAndDeleteFail expireCount
//! node      = created_index u64 | modified_index u64 | expire_time i64 (0: permanent) | kind u8 (0 file, 1 dir)
//!             | file: value string | dir: count u32, then count × (name string, node)
//! history   = count u32 (≤ 1000), then count × event, oldest first
//! event     = action u8 (0 get … 7 expire) | refresh u8 | etcd_index u64 | view | has_prev u8 | [view]
//! view      = key string | flags u8 (1 dir, 2 value, 4 expiration, 8 nodes) | [value string]
//!             | [expiration i64] | ttl i64 | modified_index u64 | created_index u64 | [count u32, count × view]
//! ```
//!
//! Children are written in key order, so equal stores give equal snapshots byte for byte. Decoding checks
//! every length against the bytes left, nesting depth, names and UTF-8, and never panics on bad input.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use etcd_api::v2::{Action, Event, NodeView, StoreStats};

use crate::Store;
use crate::history::{EventHistory, HISTORY_CAPACITY};
use crate::node::{Content, Node};
use crate::path::{MAX_DEPTH, join};
use crate::ttl::TtlIndex;

const MAGIC: [u8; 8] = *b"etcdv2st";
/// Version of the snapshot format written by [`Store::snapshot`].
pub const SNAPSHOT_VERSION: u32 = 1;

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid store snapshot at byte {offset}: {reason}")]
pub struct SnapshotError {
    /// Where decoding stopped.
    pub offset: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl Store {
    /// The store's replicated state as bytes; [`Store::restore`] gives back an equal store.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(&MAGIC);
        put_u32(&mut out, SNAPSHOT_VERSION);
        put_u64(&mut out, self.current_index);
        let stats = StoreStats {
            gets_success: self.gets_success.load(std::sync::atomic::Ordering::Relaxed),
            gets_fail: self.gets_fail.load(std::sync::atomic::Ordering::Relaxed),
            ..self.counters
        };
        for (_, value) in &stats.fields()[..15] {
            put_u64(&mut out, *value);
        }
        put_node(&mut out, &self.root);
        let events: Vec<&Arc<Event>> = self.history.events().collect();
        put_u32(&mut out, events.len() as u32);
        for event in events {
            put_event(&mut out, event);
        }
        out
    }

    /// A store from a snapshot made by [`Store::snapshot`], with no watchers.
    pub fn restore(bytes: &[u8]) -> Result<Store, SnapshotError> {
        let mut store = Store::new();
        store.recover(bytes)?;
        Ok(store)
    }

    /// Replaces this store's state with a snapshot's. Registered watchers stay, as in etcd; the history is
    /// replaced. On error the store is unchanged.
    pub fn recover(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        if r.take(8)? != MAGIC {
            return Err(r.error("not a store snapshot"));
        }
        if r.u32()? != SNAPSHOT_VERSION {
            return Err(r.error("unsupported snapshot version"));
        }
        let current_index = r.u64()?;
        let mut stats = [0u64; 15];
        for value in &mut stats {
            *value = r.u64()?;
        }
        let root = read_node(&mut r, 0)?;
        if !root.is_dir() {
            return Err(r.error("the root is not a directory"));
        }
        let count = r.u32()? as usize;
        if count > HISTORY_CAPACITY {
            return Err(r.error("history longer than its capacity"));
        }
        let mut history = EventHistory::default();
        for _ in 0..count {
            history.add(Arc::new(read_event(&mut r)?));
        }
        if r.pos != bytes.len() {
            return Err(r.error("bytes after the end of the snapshot"));
        }
        let mut ttl = TtlIndex::default();
        index_ttls(&root, "/", &mut ttl);

        self.root = root;
        self.current_index = current_index;
        self.ttl = ttl;
        self.history = history;
        self.gets_success = AtomicU64::new(stats[0]);
        self.gets_fail = AtomicU64::new(stats[1]);
        self.counters = StoreStats {
            gets_success: 0,
            gets_fail: 0,
            sets_success: stats[2],
            sets_fail: stats[3],
            delete_success: stats[4],
            delete_fail: stats[5],
            update_success: stats[6],
            update_fail: stats[7],
            create_success: stats[8],
            create_fail: stats[9],
            compare_and_swap_success: stats[10],
            compare_and_swap_fail: stats[11],
            compare_and_delete_success: stats[12],
            compare_and_delete_fail: stats[13],
            expire_count: stats[14],
            watchers: 0,
        };
        Ok(())
    }
}

fn index_ttls(node: &Node, path: &str, ttl: &mut TtlIndex) {
    ttl.insert(node.expire_time, path);
    if let Content::Dir(children) = &node.content {
        for (name, child) in children {
            index_ttls(child, &join(path, name), ttl);
        }
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn put_node(out: &mut Vec<u8>, node: &Node) {
    put_u64(out, node.created_index);
    put_u64(out, node.modified_index);
    put_u64(out, node.expire_time as u64);
    match &node.content {
        Content::File(value) => {
            out.push(0);
            put_str(out, value);
        }
        Content::Dir(children) => {
            out.push(1);
            put_u32(out, children.len() as u32);
            for (name, child) in children {
                put_str(out, name);
                put_node(out, child);
            }
        }
    }
}

const ACTIONS: [Action; 8] = [
    Action::Get,
    Action::Set,
    Action::Create,
    Action::Update,
    Action::Delete,
    Action::CompareAndSwap,
    Action::CompareAndDelete,
    Action::Expire,
];

fn put_event(out: &mut Vec<u8>, event: &Event) {
    let action = ACTIONS.iter().position(|a| *a == event.action).unwrap_or(0);
    out.push(action as u8);
    out.push(u8::from(event.refresh));
    put_u64(out, event.etcd_index);
    put_view(out, &event.node);
    match &event.prev_node {
        Some(prev) => {
            out.push(1);
            put_view(out, prev);
        }
        None => out.push(0),
    }
}

fn put_view(out: &mut Vec<u8>, view: &NodeView) {
    put_str(out, &view.key);
    let flags = u8::from(view.dir)
        | u8::from(view.value.is_some()) << 1
        | u8::from(view.expiration.is_some()) << 2
        | u8::from(view.nodes.is_some()) << 3;
    out.push(flags);
    if let Some(value) = &view.value {
        put_str(out, value);
    }
    if let Some(expiration) = view.expiration {
        put_u64(out, expiration as u64);
    }
    put_u64(out, view.ttl as u64);
    put_u64(out, view.modified_index);
    put_u64(out, view.created_index);
    if let Some(nodes) = &view.nodes {
        put_u32(out, nodes.len() as u32);
        for node in nodes {
            put_view(out, node);
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, reason: &'static str) -> SnapshotError {
        SnapshotError {
            offset: self.pos,
            reason,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if self.buf.len() - self.pos < n {
            return Err(self.error("truncated"));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn string(&mut self) -> Result<&'a str, SnapshotError> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| self.error("string is not UTF-8"))
    }

    fn flag(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.error("flag is neither 0 nor 1")),
        }
    }
}

fn read_node(r: &mut Reader<'_>, depth: usize) -> Result<Node, SnapshotError> {
    if depth > MAX_DEPTH + 1 {
        return Err(r.error("tree nests too deep"));
    }
    let created_index = r.u64()?;
    let modified_index = r.u64()?;
    let expire_time = r.u64()? as i64;
    let content = match r.u8()? {
        0 => Content::File(r.string()?.into()),
        1 => {
            let count = r.u32()?;
            let mut children = BTreeMap::new();
            for _ in 0..count {
                let name = r.string()?;
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return Err(r.error("invalid node name"));
                }
                let child = read_node(r, depth + 1)?;
                if children.insert(Box::from(name), child).is_some() {
                    return Err(r.error("duplicate node name"));
                }
            }
            Content::Dir(children)
        }
        _ => return Err(r.error("unknown node kind")),
    };
    Ok(Node {
        created_index,
        modified_index,
        expire_time,
        content,
    })
}

fn read_event(r: &mut Reader<'_>) -> Result<Event, SnapshotError> {
    let action = *ACTIONS
        .get(r.u8()? as usize)
        .ok_or_else(|| r.error("unknown event action"))?;
    let refresh = r.flag()?;
    let etcd_index = r.u64()?;
    let node = read_view(r, 0)?;
    let prev_node = if r.flag()? {
        Some(read_view(r, 0)?)
    } else {
        None
    };
    Ok(Event {
        action,
        node,
        prev_node,
        etcd_index,
        refresh,
    })
}

fn read_view(r: &mut Reader<'_>, depth: usize) -> Result<NodeView, SnapshotError> {
    if depth > MAX_DEPTH + 1 {
        return Err(r.error("node view nests too deep"));
    }
    let key = r.string()?.to_owned();
    let flags = r.u8()?;
    if flags & !0x0f != 0 {
        return Err(r.error("unknown node view flags"));
    }
    let value = if flags & 2 != 0 {
        Some(r.string()?.to_owned())
    } else {
        None
    };
    let expiration = if flags & 4 != 0 {
        Some(r.u64()? as i64)
    } else {
        None
    };
    let ttl = r.u64()? as i64;
    let modified_index = r.u64()?;
    let created_index = r.u64()?;
    let nodes = if flags & 8 != 0 {
        let count = r.u32()?;
        let mut nodes = Vec::new();
        for _ in 0..count {
            nodes.push(read_view(r, depth + 1)?);
        }
        Some(nodes)
    } else {
        None
    };
    Ok(NodeView {
        key,
        value,
        dir: flags & 1 != 0,
        expiration,
        ttl,
        nodes,
        modified_index,
        created_index,
    })
}
