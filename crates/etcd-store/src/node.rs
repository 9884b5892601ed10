//! The tree's nodes and how they are shown.

use std::collections::BTreeMap;

use etcd_api::v2::NodeView;

use crate::path::{is_hidden_name, join};

/// Expiry times before 2000-01-01T00:00:00Z mean "permanent", as in etcd (this also absorbs overflow of
/// `now + ttl`).
pub(crate) const MIN_EXPIRE_TIME: i64 = 946_684_800 * 1_000_000_000;

/// An expiry time as the store keeps it: 0 for permanent.
pub(crate) fn normalize_expire(expire: i64) -> i64 {
    if expire < MIN_EXPIRE_TIME { 0 } else { expire }
}

/// One node of the tree. Its name is the key it is stored under in its parent; its full path is known to
/// whoever walked to it, so it is not stored again here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub created_index: u64,
    pub modified_index: u64,
    /// Unix ns; 0 when permanent.
    pub expire_time: i64,
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    File(Box<str>),
    Dir(BTreeMap<Box<str>, Node>),
}

impl Node {
    pub fn file(value: &str, index: u64, expire_time: i64) -> Node {
        Node {
            created_index: index,
            modified_index: index,
            expire_time,
            content: Content::File(value.into()),
        }
    }

    pub fn dir(index: u64, expire_time: i64) -> Node {
        Node {
            created_index: index,
            modified_index: index,
            expire_time,
            content: Content::Dir(BTreeMap::new()),
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.content, Content::Dir(_))
    }

    pub fn value(&self) -> &str {
        match &self.content {
            Content::File(v) => v,
            Content::Dir(_) => "",
        }
    }

    /// The node as etcd's `Repr` shows it: files with their value; directories with their children only when
    /// `recursive` (hidden children left out at every level). Children always come in key order, which is
    /// what `sorted` asks for and one of the orders etcd may give without it.
    pub fn view(&self, key: &str, recursive: bool, now: i64) -> NodeView {
        let (expiration, ttl) = expiration_and_ttl(self.expire_time, now);
        let mut view = NodeView {
            key: key.to_owned(),
            value: None,
            dir: self.is_dir(),
            expiration,
            ttl,
            nodes: None,
            modified_index: self.modified_index,
            created_index: self.created_index,
        };
        match &self.content {
            Content::File(v) => view.value = Some(v.to_string()),
            Content::Dir(children) if recursive => {
                view.nodes = Some(children_views(children, key, true, now));
            }
            Content::Dir(_) => {}
        }
        view
    }

    /// The node as a GET shows it (etcd's `loadInternalNode`): a directory always lists one level of
    /// children, and the whole subtree when `recursive`.
    pub fn listing(&self, key: &str, recursive: bool, now: i64) -> NodeView {
        let mut view = self.view(key, false, now);
        if let Content::Dir(children) = &self.content {
            view.nodes = Some(children_views(children, key, recursive, now));
        }
        view
    }
}

fn children_views(
    children: &BTreeMap<Box<str>, Node>,
    key: &str,
    recursive: bool,
    now: i64,
) -> Vec<NodeView> {
    children
        .iter()
        .filter(|(name, _)| !is_hidden_name(name))
        .map(|(name, child)| child.view(&join(key, name), recursive, now))
        .collect()
}

/// The expiration and the seconds left (rounded up, as etcd does) of a node expiring at `expire_time`.
pub(crate) fn expiration_and_ttl(expire_time: i64, now: i64) -> (Option<i64>, i64) {
    if expire_time == 0 {
        return (None, 0);
    }
    let left = i128::from(expire_time) - i128::from(now);
    let mut ttl = left / 1_000_000_000;
    if left % 1_000_000_000 > 0 {
        ttl += 1;
    }
    (Some(expire_time), ttl as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn ttl_rounds_up_and_can_go_negative() {
        let now = MIN_EXPIRE_TIME + 100 * SECOND;
        assert_eq!(expiration_and_ttl(0, now), (None, 0));
        assert_eq!(expiration_and_ttl(now + 5 * SECOND, now).1, 5);
        assert_eq!(expiration_and_ttl(now + 5 * SECOND - 1, now).1, 5);
        assert_eq!(expiration_and_ttl(now + 1, now).1, 1);
        assert_eq!(expiration_and_ttl(now, now).1, 0);
        assert_eq!(expiration_and_ttl(now - SECOND / 2, now).1, 0);
        assert_eq!(expiration_and_ttl(now - 3 * SECOND / 2, now).1, -1);
    }

    #[test]
    fn expiry_before_2000_is_permanent() {
        assert_eq!(normalize_expire(0), 0);
        assert_eq!(normalize_expire(MIN_EXPIRE_TIME - 1), 0);
        assert_eq!(normalize_expire(MIN_EXPIRE_TIME), MIN_EXPIRE_TIME);
        assert_eq!(normalize_expire(-5), 0);
    }
}
