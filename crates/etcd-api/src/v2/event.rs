//! Events and the node views they carry: what the store answers and what watchers receive.

use super::error::strip_key_prefix;

/// What an event records; the `action` field of a v2 response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A read.
    Get,
    /// A set (PUT without conditions).
    Set,
    /// A create (PUT `prevExist=false`, or POST).
    Create,
    /// An update (PUT `prevExist=true`).
    Update,
    /// A delete.
    Delete,
    /// A compare-and-swap.
    CompareAndSwap,
    /// A compare-and-delete.
    CompareAndDelete,
    /// A TTL expiry.
    Expire,
}

impl Action {
    /// The name etcd uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::Set => "set",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::CompareAndSwap => "compareAndSwap",
            Action::CompareAndDelete => "compareAndDelete",
            Action::Expire => "expire",
        }
    }
}

/// A node as a response shows it (etcd's `NodeExtern`). Fields that etcd leaves out of the JSON when empty are
/// `Option`s or zero here; the HTTP layer applies the same rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeView {
    /// The full key (internal path); empty for the root.
    pub key: String,
    /// The value, for files only.
    pub value: Option<String>,
    /// Whether the node is a directory.
    pub dir: bool,
    /// When the node expires (Unix ns), if it has a TTL.
    pub expiration: Option<i64>,
    /// Seconds left until expiry, rounded up, when the view was made; 0 when permanent (or exactly due).
    pub ttl: i64,
    /// The children of a listed directory; `None` when not listed.
    pub nodes: Option<Vec<NodeView>>,
    /// Index of the node's last modification.
    pub modified_index: u64,
    /// Index of the node's creation.
    pub created_index: u64,
}

impl NodeView {
    /// The view with `prefix` cut from the front of its key and every child's key.
    pub fn without_prefix(&self, prefix: &str) -> NodeView {
        NodeView {
            key: strip_key_prefix(&self.key, prefix).to_owned(),
            value: self.value.clone(),
            dir: self.dir,
            expiration: self.expiration,
            ttl: self.ttl,
            nodes: self
                .nodes
                .as_ref()
                .map(|nodes| nodes.iter().map(|n| n.without_prefix(prefix)).collect()),
            modified_index: self.modified_index,
            created_index: self.created_index,
        }
    }
}

/// The outcome of a store operation, and what watchers receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub action: Action,
    /// The node after the operation (for deletes and expiries: the key, the new index and the old created
    /// index, without a value).
    pub node: NodeView,
    /// The node before the operation, without children, when there was one.
    pub prev_node: Option<NodeView>,
    /// The store's index the response reports (`X-Etcd-Index`).
    pub etcd_index: u64,
    /// Whether this was a TTL refresh; refreshes are kept in the history but never sent to watchers.
    pub refresh: bool,
}

impl Event {
    /// The event's own index: the modified index of its node.
    pub fn index(&self) -> u64 {
        self.node.modified_index
    }

    /// The event with `prefix` cut from every key it shows.
    pub fn without_prefix(&self, prefix: &str) -> Event {
        Event {
            action: self.action,
            node: self.node.without_prefix(prefix),
            prev_node: self.prev_node.as_ref().map(|n| n.without_prefix(prefix)),
            etcd_index: self.etcd_index,
            refresh: self.refresh,
        }
    }
}
