//! The event history: the last 1000 events that raised the index, for watches that start in the past.

use std::collections::VecDeque;
use std::sync::Arc;

use etcd_api::v2::{Action, Error, ErrorCode, Event};

/// How many events the history keeps, as etcd.
pub const HISTORY_CAPACITY: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct EventHistory {
    /// Oldest first. Indices are contiguous: every event that raises the index is added.
    events: VecDeque<Arc<Event>>,
}

impl EventHistory {
    pub fn add(&mut self, event: Arc<Event>) {
        if self.events.len() == HISTORY_CAPACITY {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Index of the oldest event kept (0 when empty).
    pub fn start_index(&self) -> u64 {
        self.events.front().map_or(0, |e| e.index())
    }

    /// Index of the newest event kept (0 when empty).
    pub fn last_index(&self) -> u64 {
        self.events.back().map_or(0, |e| e.index())
    }

    pub fn events(&self) -> impl Iterator<Item = &Arc<Event>> {
        self.events.iter()
    }

    /// The first event at or after `index` that a watch on `key` would see, as etcd's history scan decides;
    /// error 401 when `index` is older than the history (its `index` field is for the caller to fill).
    pub fn scan(
        &self,
        key: &str,
        recursive: bool,
        index: u64,
    ) -> Result<Option<Arc<Event>>, Error> {
        let start = self.start_index();
        if index < start {
            return Err(Error::new(
                ErrorCode::EventIndexCleared,
                format!("the requested history has been cleared [{start}/{index}]"),
                0,
            ));
        }
        if index > self.last_index() {
            return Ok(None);
        }
        let offset = usize::try_from(index - start).unwrap_or(usize::MAX);
        let found = self
            .events
            .iter()
            .skip(offset)
            .find(|e| !e.refresh && history_match(e, key, recursive));
        Ok(found.cloned())
    }
}

/// etcd's history matching: the key itself; below it when recursive; and for a deleted or expired directory,
/// any watch key that starts with the directory's key (a plain string prefix, as etcd). Hidden keys are not
/// filtered here, unlike live notifications.
fn history_match(event: &Event, key: &str, recursive: bool) -> bool {
    if event.node.key == key {
        return true;
    }
    if recursive {
        let below = match event.node.key.strip_prefix(key) {
            Some(rest) => key.ends_with('/') || rest.starts_with('/'),
            None => false,
        };
        if below {
            return true;
        }
    }
    matches!(event.action, Action::Delete | Action::Expire)
        && event
            .prev_node
            .as_ref()
            .is_some_and(|prev| prev.dir && key.starts_with(prev.key.as_str()))
}
