//! The v2 store: operations on the tree, with etcd's indices, events, errors and statistics.

use crate::options::{Depth, Expiry, Naming, NodeValue, Removal, Watching};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use etcd_api::v2::{Action, Error, ErrorCode, Event, NodeView, StoreStats};

use crate::history::EventHistory;
use crate::node::{Content, Node, expiration_and_ttl, normalize_expire};
use crate::path::{self, MAX_DEPTH, clean, components, split};
use crate::ttl::TtlIndex;
use crate::watch::{WatchReceiver, WatcherHub};

/// Paths no write may target: the root and the two namespaces made at start.
const READ_ONLY: [&str; 3] = ["/", "/0", "/1"];

/// A watch as registered: the receiver and the store index at registration (the watch's `X-Etcd-Index`).
#[derive(Debug)]
pub struct Watch {
    /// Yields the watch's events.
    pub receiver: WatchReceiver,
    /// The store's index when the watch was made.
    pub etcd_index: u64,
}

/// The etcd v2 store. See the crate documentation.
#[derive(Debug)]
pub struct Store {
    pub(crate) root: Node,
    pub(crate) current_index: u64,
    pub(crate) ttl: TtlIndex,
    pub(crate) history: EventHistory,
    pub(crate) hub: WatcherHub,
    /// Every counter but the gets, which reads raise through `&self`.
    pub(crate) counters: StoreStats,
    pub(crate) gets_success: AtomicU64,
    pub(crate) gets_fail: AtomicU64,
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

impl Store {
    /// An empty store: the root with the `/0` (members) and `/1` (user keys) directories, index 0.
    pub fn new() -> Store {
        let mut root = Node::dir(0, 0);
        if let Content::Dir(children) = &mut root.content {
            children.insert("0".into(), Node::dir(0, 0));
            children.insert("1".into(), Node::dir(0, 0));
        }
        Store {
            root,
            current_index: 0,
            ttl: TtlIndex::default(),
            history: EventHistory::default(),
            hub: WatcherHub::default(),
            counters: StoreStats::default(),
            gets_success: AtomicU64::new(0),
            gets_fail: AtomicU64::new(0),
        }
    }

    /// The store's index: raised by one by every successful write and every expiry.
    pub fn index(&self) -> u64 {
        self.current_index
    }

    /// Whether any node has a TTL (the leader sends SYNC only then).
    pub fn has_ttl_keys(&self) -> bool {
        !self.ttl.is_empty()
    }

    /// The statistics served at `/v2/stats/store`.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            gets_success: self.gets_success.load(Ordering::Relaxed),
            gets_fail: self.gets_fail.load(Ordering::Relaxed),
            watchers: self.hub.live_count() as u64,
            ..self.counters
        }
    }

    /// Reads the node at `path`; a directory lists its children (the whole subtree at [`Depth::Recursive`]).
    /// The listing is in key order, so `sorted` is always honoured. `now` (Unix ns) is used for the `ttl` shown.
    pub fn get(&self, path: &str, depth: Depth, now: i64) -> Result<Event, Error> {
        let result = self.peek(path, depth, now);
        let counter = if result.is_ok() {
            &self.gets_success
        } else {
            &self.gets_fail
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Reads like [`Store::get`] without counting in the statistics: for the server's own reads (membership,
    /// the cluster version), which etcd does not count either.
    pub fn peek(&self, path: &str, depth: Depth, now: i64) -> Result<Event, Error> {
        let path = clean(path);
        let recursive = depth.is_recursive();
        self.lookup(&path).map(|node| Event {
            action: Action::Get,
            node: node.listing(&path, recursive, now),
            prev_node: None,
            etcd_index: self.current_index,
            refresh: false,
        })
    }

    /// Creates or replaces the node at `path` (PUT without conditions). Missing parent directories are made.
    /// A file is replaced (its created index resets); a directory cannot be. With a refreshing [`Expiry`], the
    /// node must exist, its value is kept, only the TTL changes, and watchers are not told.
    pub fn set(
        &mut self,
        path: &str,
        value: NodeValue<'_>,
        expiry: Expiry,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        let (dir, value) = value.parts();
        let result = self.set_inner(path, dir, value, expiry.at, expiry.refresh, now);
        count(
            &result,
            &mut self.counters.sets_success,
            &mut self.counters.sets_fail,
        );
        result
    }

    fn set_inner(
        &mut self,
        path: &str,
        dir: bool,
        value: &str,
        expire_time: i64,
        refresh: bool,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        let path = clean(path);
        let existing = match self.lookup(&path) {
            Ok(node) => Some(node),
            Err(e) if e.code == ErrorCode::KeyNotFound && !refresh => None,
            Err(e) => return Err(e),
        };
        let prev = existing.map(|n| n.view(&path, false, now));
        let kept_value = existing.map(|n| n.value().to_owned());
        let value = match (&kept_value, refresh) {
            (Some(v), true) => v.as_str(),
            _ => value,
        };
        let mut event = self.create_node(
            &path,
            dir,
            value,
            false,
            true,
            expire_time,
            Action::Set,
            now,
        )?;
        if prev.is_some() {
            event.prev_node = prev;
        }
        event.refresh = refresh;
        Ok(self.publish(event))
    }

    /// Creates the node at `path`, failing if it exists (PUT `prevExist=false`). [`Naming::InOrder`] (POST)
    /// makes it under `path` with the new index as its 20-digit name. It expires at `expire_time` (Unix ns; 0
    /// for never).
    pub fn create(
        &mut self,
        path: &str,
        value: NodeValue<'_>,
        naming: Naming,
        expire_time: i64,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        let (dir, value) = value.parts();
        let unique = naming == Naming::InOrder;
        let result = self
            .create_node(
                &clean(path),
                dir,
                value,
                unique,
                false,
                expire_time,
                Action::Create,
                now,
            )
            .map(|e| self.publish(e));
        count(
            &result,
            &mut self.counters.create_success,
            &mut self.counters.create_fail,
        );
        result
    }

    /// Changes an existing node (PUT `prevExist=true`): a file gets `value`; a directory only its TTL (a
    /// non-empty value is refused). The TTL becomes `expire_time` — a write without a TTL makes the node
    /// permanent. With a refreshing [`Expiry`], the value is kept and watchers are not told.
    pub fn update(
        &mut self,
        path: &str,
        value: &str,
        expiry: Expiry,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        let path = clean(path);
        let result = self.update_inner(&path, value, expiry.at, expiry.refresh, now);
        // etcd counts 107 and 102 from update as successes: they are returned without passing its counter.
        count_as_etcd(
            &result,
            &mut self.counters.update_success,
            &mut self.counters.update_fail,
            |code| matches!(code, ErrorCode::RootReadOnly | ErrorCode::NotFile),
        );
        result
    }

    fn update_inner(
        &mut self,
        path: &str,
        value: &str,
        expire_time: i64,
        refresh: bool,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        self.check_writable(path)?;
        let node = self.lookup(path)?;
        if node.is_dir() && !value.is_empty() {
            return Err(Error::new(ErrorCode::NotFile, path, self.current_index));
        }
        self.rewrite_and_publish(Action::Update, path, value, expire_time, refresh, now)
    }

    /// Replaces a file's value when its current value and modified index match (an empty `prev_value` or a
    /// zero `prev_index` is not checked). The TTL is written as in [`Store::update`].
    pub fn compare_and_swap(
        &mut self,
        path: &str,
        prev_value: &str,
        prev_index: u64,
        value: &str,
        expiry: Expiry,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        let path = clean(path);
        let result = self.compare_and_swap_inner(
            &path,
            prev_value,
            prev_index,
            value,
            expiry.at,
            expiry.refresh,
            now,
        );
        // etcd counts the read-only-root error as a success (it bypasses the counter).
        count_as_etcd(
            &result,
            &mut self.counters.compare_and_swap_success,
            &mut self.counters.compare_and_swap_fail,
            |code| code == ErrorCode::RootReadOnly,
        );
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_and_swap_inner(
        &mut self,
        path: &str,
        prev_value: &str,
        prev_index: u64,
        value: &str,
        expire_time: i64,
        refresh: bool,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        self.check_writable(path)?;
        let node = self.lookup(path)?;
        self.check_compare(node, path, prev_value, prev_index)?;
        self.rewrite_and_publish(
            Action::CompareAndSwap,
            path,
            value,
            expire_time,
            refresh,
            now,
        )
    }

    /// The shared end of update and compare-and-swap: the node at `path` (which exists) gets `value` (or keeps
    /// its own on `refresh`) and `expire_time` at the next index; the event goes out.
    fn rewrite_and_publish(
        &mut self,
        action: Action,
        path: &str,
        value: &str,
        expire_time: i64,
        refresh: bool,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        let node = self.lookup(path)?;
        let prev = node.view(path, false, now);
        let value = if refresh { node.value() } else { value }.to_owned();
        let (created_index, is_dir) = (node.created_index, node.is_dir());
        let next = self.current_index + 1;
        let expire_time = normalize_expire(expire_time);
        self.rewrite(path, &value, next, expire_time)?;
        let (expiration, ttl) = expiration_and_ttl(expire_time, now);
        self.current_index = next;
        let event = Event {
            action,
            node: NodeView {
                key: path.to_owned(),
                value: (!is_dir).then_some(value),
                dir: is_dir,
                expiration,
                ttl,
                nodes: None,
                modified_index: next,
                created_index,
            },
            prev_node: Some(prev),
            etcd_index: next,
            refresh,
        };
        Ok(self.publish(event))
    }

    /// Deletes the node at `path`, as far as `removal` allows: a file always, an empty directory from
    /// [`Removal::FileOrEmptyDir`] on, a non-empty one only [`Removal::Recursive`]ly. Watchers on every removed
    /// node are told.
    pub fn delete(&mut self, path: &str, removal: Removal, now: i64) -> Result<Arc<Event>, Error> {
        let path = clean(path);
        let (dir, recursive) = removal.flags();
        let result = self.delete_inner(&path, dir, recursive, now);
        // etcd counts the read-only-root error as a success (it bypasses the counter).
        count_as_etcd(
            &result,
            &mut self.counters.delete_success,
            &mut self.counters.delete_fail,
            |code| code == ErrorCode::RootReadOnly,
        );
        result
    }

    fn delete_inner(
        &mut self,
        path: &str,
        dir: bool,
        recursive: bool,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        self.check_writable(path)?;
        let node = self.lookup(path)?;
        if let Content::Dir(children) = &node.content {
            if !dir {
                return Err(Error::new(ErrorCode::NotFile, path, self.current_index));
            }
            if !children.is_empty() && !recursive {
                return Err(Error::new(ErrorCode::DirNotEmpty, path, self.current_index));
            }
        }
        let next = self.current_index + 1;
        let event = removal_event(Action::Delete, node, path, next, now);
        self.remove_and_notify(path, event)
    }

    /// Deletes a file when its current value and modified index match, as [`Store::compare_and_swap`] tests.
    pub fn compare_and_delete(
        &mut self,
        path: &str,
        prev_value: &str,
        prev_index: u64,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        let path = clean(path);
        let result = self.compare_and_delete_inner(&path, prev_value, prev_index, now);
        // etcd counts every failure but "not found" as a success (they bypass the counter).
        count_as_etcd(
            &result,
            &mut self.counters.compare_and_delete_success,
            &mut self.counters.compare_and_delete_fail,
            |code| code != ErrorCode::KeyNotFound,
        );
        result
    }

    fn compare_and_delete_inner(
        &mut self,
        path: &str,
        prev_value: &str,
        prev_index: u64,
        now: i64,
    ) -> Result<Arc<Event>, Error> {
        let node = self.lookup(path)?;
        self.check_compare(node, path, prev_value, prev_index)?;
        let next = self.current_index + 1;
        let event = removal_event(Action::CompareAndDelete, node, path, next, now);
        self.remove_and_notify(path, event)
    }

    /// Expires every node whose expiry time is at or before `cutoff` (the SYNC the leader proposes with its
    /// clock): one `expire` event and one index per expired node, oldest expiry first. Returns the events.
    pub fn delete_expired_keys(&mut self, cutoff: i64) -> Vec<Arc<Event>> {
        let mut events = Vec::new();
        while let Some((expire_time, path)) = self.ttl.first() {
            if expire_time > cutoff {
                break;
            }
            let path = path.to_owned();
            let Ok(node) = self.lookup(&path) else {
                // The index and the tree disagree; drop the stale entry rather than loop on it.
                self.ttl.remove(expire_time, &path);
                continue;
            };
            let next = self.current_index + 1;
            let event = removal_event(Action::Expire, node, &path, next, cutoff);
            if let Ok(event) = self.remove_and_notify(&path, event) {
                self.counters.expire_count += 1;
                events.push(event);
            }
        }
        events
    }

    /// Watches `path` (and below it at [`Depth::Recursive`]) for events from index `since` (0: the next one).
    /// A matching event already in the history answers at once (and, as in etcd, even a stream watch then
    /// gets only that event); otherwise the watcher waits in the hub.
    pub fn watch(
        &mut self,
        path: &str,
        depth: Depth,
        watching: Watching,
        since: u64,
    ) -> Result<Watch, Error> {
        let path = clean(path);
        let (recursive, stream) = (depth.is_recursive(), watching == Watching::Stream);
        let since = if since == 0 {
            self.current_index + 1
        } else {
            since
        };
        let etcd_index = self.current_index;
        let found = self
            .history
            .scan(&path, recursive, since)
            .map_err(|mut e| {
                e.index = etcd_index;
                e
            })?;
        let receiver = match found {
            Some(event) => {
                let mut event = (*event).clone();
                event.etcd_index = etcd_index;
                self.hub.answered(Arc::new(event))
            }
            None => self.hub.register(&path, recursive, stream, since),
        };
        Ok(Watch {
            receiver,
            etcd_index,
        })
    }

    /// Refuses writes to the root and the two namespaces (error 107, cause "/").
    fn check_writable(&self, path: &str) -> Result<(), Error> {
        if READ_ONLY.contains(&path) {
            return Err(Error::new(ErrorCode::RootReadOnly, "/", self.current_index));
        }
        Ok(())
    }

    /// Makes `event` the store's latest: into the history, and to the watchers unless it is a refresh.
    fn publish(&mut self, event: Event) -> Arc<Event> {
        let event = Arc::new(event);
        self.history.add(event.clone());
        if !event.refresh {
            self.hub.notify(&event);
        }
        event
    }

    fn check_compare(
        &self,
        node: &Node,
        path: &str,
        prev_value: &str,
        prev_index: u64,
    ) -> Result<(), Error> {
        let Content::File(value) = &node.content else {
            return Err(Error::new(ErrorCode::NotFile, path, self.current_index));
        };
        let value_ok = prev_value.is_empty() || **value == *prev_value;
        let index_ok = prev_index == 0 || node.modified_index == prev_index;
        let cause = match (value_ok, index_ok) {
            (true, true) => return Ok(()),
            (true, false) => format!("[{prev_index} != {}]", node.modified_index),
            (false, true) => format!("[{prev_value} != {value}]"),
            (false, false) => format!(
                "[{prev_value} != {value}] [{prev_index} != {}]",
                node.modified_index
            ),
        };
        Err(Error::new(ErrorCode::TestFailed, cause, self.current_index))
    }

    /// Finds the node at a cleaned path. 100 names the first missing path; 104 names the file met on the way.
    pub(crate) fn lookup(&self, path: &str) -> Result<&Node, Error> {
        check_depth(path, self.current_index)?;
        let mut node = &self.root;
        let mut parent_end = 0;
        for (name, end) in components(path) {
            let Content::Dir(children) = &node.content else {
                return Err(Error::new(
                    ErrorCode::NotDir,
                    &path[..parent_end],
                    self.current_index,
                ));
            };
            match children.get(name) {
                Some(child) => node = child,
                None => {
                    return Err(Error::new(
                        ErrorCode::KeyNotFound,
                        &path[..end],
                        self.current_index,
                    ));
                }
            }
            parent_end = end;
        }
        Ok(node)
    }

    /// The node at a cleaned path that `lookup` found, for changing it.
    fn lookup_mut(&mut self, path: &str) -> Result<&mut Node, Error> {
        let index = self.current_index;
        let mut node = &mut self.root;
        for (name, end) in components(path) {
            node = match &mut node.content {
                Content::Dir(children) => children
                    .get_mut(name)
                    .ok_or_else(|| Error::new(ErrorCode::KeyNotFound, &path[..end], index))?,
                Content::File(_) => return Err(Error::new(ErrorCode::NotDir, path, index)),
            };
        }
        Ok(node)
    }

    /// Writes a new value (files only; a directory keeps its modified index, as etcd's) and expiry to an
    /// existing node, keeping the TTL index in step.
    fn rewrite(
        &mut self,
        path: &str,
        value: &str,
        index: u64,
        expire_time: i64,
    ) -> Result<(), Error> {
        let node = self.lookup_mut(path)?;
        if let Content::File(v) = &mut node.content {
            *v = value.into();
            node.modified_index = index;
        }
        let old_expire = std::mem::replace(&mut node.expire_time, expire_time);
        self.ttl.remove(old_expire, path);
        self.ttl.insert(expire_time, path);
        Ok(())
    }

    /// etcd's `internalCreate`: makes the node (and missing parents) at the next index, or fails.
    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        dir: bool,
        value: &str,
        unique: bool,
        replace: bool,
        expire_time: i64,
        action: Action,
        now: i64,
    ) -> Result<Event, Error> {
        let current = self.current_index;
        let next = current + 1;
        let path = if unique {
            clean(&format!("{path}/{next:020}"))
        } else {
            path.to_owned()
        };
        self.check_writable(&path)?;
        check_depth(&path, current)?;
        let expire_time = normalize_expire(expire_time);
        let (dir_path, name) = split(&path);
        let parent = match make_dirs(&mut self.root, dir_path, next) {
            Ok(children) => children,
            Err(cause) => {
                self.counters.sets_fail += 1;
                return Err(Error::new(ErrorCode::NotDir, cause, current));
            }
        };
        let mut prev_node = None;
        if let Some(existing) = parent.get(name) {
            if !replace {
                return Err(Error::new(ErrorCode::NodeExist, path, current));
            }
            if existing.is_dir() {
                return Err(Error::new(ErrorCode::NotFile, path, current));
            }
            prev_node = Some(existing.view(&path, false, now));
            let old_expire = existing.expire_time;
            parent.remove(name);
            self.ttl.remove(old_expire, &path);
        }
        let node = if dir {
            Node::dir(next, expire_time)
        } else {
            Node::file(value, next, expire_time)
        };
        parent.insert(name.into(), node);
        self.ttl.insert(expire_time, &path);
        self.current_index = next;
        let (expiration, ttl) = expiration_and_ttl(expire_time, now);
        Ok(Event {
            action,
            node: NodeView {
                key: path,
                value: (!dir).then(|| value.to_owned()),
                dir,
                expiration,
                ttl,
                nodes: None,
                modified_index: next,
                created_index: next,
            },
            prev_node,
            etcd_index: next,
            refresh: false,
        })
    }

    /// Removes the node at `path` with its subtree, tells the watchers on every removed node (children
    /// first), raises the index, and publishes `event`.
    fn remove_and_notify(&mut self, path: &str, event: Event) -> Result<Arc<Event>, Error> {
        let (parent_path, name) = split(path);
        let index = self.current_index;
        let Content::Dir(siblings) = &mut self.lookup_mut(parent_path)?.content else {
            return Err(Error::new(ErrorCode::NotDir, parent_path, index));
        };
        let Some(removed) = siblings.remove(name) else {
            return Err(Error::new(ErrorCode::KeyNotFound, path, index));
        };
        let event = Arc::new(event);
        let mut removed_paths = Vec::new();
        collect_removed(&removed, path, &mut removed_paths, &mut self.ttl);
        for removed_path in &removed_paths {
            self.hub.notify_path(&event, removed_path, true);
        }
        self.current_index = event.node.modified_index;
        self.history.add(event.clone());
        self.hub.notify(&event);
        Ok(event)
    }
}

/// The children map of the directory at `dir_path`, making missing directories at `index` on the way. On a
/// file in the way, returns that file's path.
fn make_dirs<'a>(
    root: &'a mut Node,
    dir_path: &str,
    index: u64,
) -> Result<&'a mut BTreeMap<Box<str>, Node>, String> {
    let mut children = match &mut root.content {
        Content::Dir(children) => children,
        Content::File(_) => return Err("/".to_owned()),
    };
    for (name, end) in components(dir_path) {
        if !children.contains_key(name) {
            children.insert(name.into(), Node::dir(index, 0));
        }
        let Some(child) = children.get_mut(name) else {
            return Err(dir_path[..end].to_owned());
        };
        match &mut child.content {
            Content::Dir(grandchildren) => children = grandchildren,
            Content::File(_) => return Err(dir_path[..end].to_owned()),
        }
    }
    Ok(children)
}

/// Paths of a removed subtree, children before their parent, dropping their TTL entries on the way.
fn collect_removed(node: &Node, path: &str, out: &mut Vec<String>, ttl: &mut TtlIndex) {
    if let Content::Dir(children) = &node.content {
        for (name, child) in children {
            collect_removed(child, &path::join(path, name), out, ttl);
        }
    }
    ttl.remove(node.expire_time, path);
    out.push(path.to_owned());
}

/// The event of a delete, compare-and-delete or expiry: the node shows the key, the new index and the old
/// created index; the previous node is the old one without children.
fn removal_event(action: Action, node: &Node, path: &str, next: u64, now: i64) -> Event {
    Event {
        action,
        node: NodeView {
            key: path.to_owned(),
            dir: node.is_dir(),
            modified_index: next,
            created_index: node.created_index,
            ..NodeView::default()
        },
        prev_node: Some(node.view(path, false, now)),
        etcd_index: next,
        refresh: false,
    }
}

fn check_depth(path: &str, index: u64) -> Result<(), Error> {
    if path::depth(path) > MAX_DEPTH {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("key nests deeper than {MAX_DEPTH} levels"),
            index,
        ));
    }
    Ok(())
}

fn count<T>(result: &Result<T, Error>, success: &mut u64, fail: &mut u64) {
    count_as_etcd(result, success, fail, |_| false);
}

/// Counts a result as etcd does, where some errors escape its failure counter and count as successes.
fn count_as_etcd<T>(
    result: &Result<T, Error>,
    success: &mut u64,
    fail: &mut u64,
    counted_as_success: impl Fn(ErrorCode) -> bool,
) {
    match result {
        Ok(_) => *success += 1,
        Err(e) if counted_as_success(e.code) => *success += 1,
        Err(_) => *fail += 1,
    }
}
