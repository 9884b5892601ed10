//! The watchable store: watchers on a key or range from a start revision, fed from commits when in sync and
//! from the backend when behind.
//!
//! A watcher is *synced* when it has seen everything up to the current revision; commits hand it their events
//! at once. It is *unsynced* when it starts in the past or when its buffer was full at a commit (a slow
//! consumer): it then catches up from the backend, a bounded batch per [`Store::sync_watchers`] call, and
//! becomes synced when it reaches the current revision. So a slow watcher costs the writer nothing, holds at
//! most its channel's capacity in memory, and sees every revision exactly once, in order. Each watcher tracks
//! the next revision it must see; events below it are never sent again.
//!
//! A watcher whose next revision falls below the compaction point gets one response carrying the compaction
//! revision and is removed, as in etcd.

use std::collections::HashMap;

use etcd_proto::mvccpb::{Event, event::EventType};
use tokio::sync::mpsc;

use crate::backend::{self, Record};
use crate::error::Result;
use crate::key_index::RangeEnd;
use crate::revision::Revision;
use crate::store::Store;

/// Records read from the backend for one watcher per catch-up step.
const CATCH_UP_BATCH: usize = 1000;

/// What a watcher is created with (etcd's `WatchCreateRequest` minus the stream's concerns).
#[derive(Debug, Clone, Default)]
pub struct WatchSpec {
    /// The key, or the start of the range.
    pub key: Vec<u8>,
    /// As in `RangeRequest.range_end`.
    pub range_end: Vec<u8>,
    /// First revision to report; 0 for "after the current one".
    pub start_revision: i64,
    /// Leave PUT events out.
    pub no_put: bool,
    /// Leave DELETE events out.
    pub no_delete: bool,
    /// Attach the previous key-value to each event.
    pub prev_kv: bool,
}

/// One message to a watcher.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WatchEvents {
    /// The watcher.
    pub watch_id: i64,
    /// Events in revision order; never a revision split over two messages.
    pub events: Vec<Event>,
    /// Set (with no events) when the watcher's start fell below the compaction point; the watcher is gone.
    pub compact_revision: i64,
    /// The store revision this message was produced at.
    pub revision: i64,
}

struct Watcher {
    spec: WatchSpec,
    /// The next revision this watcher must see.
    next: i64,
    synced: bool,
    tx: mpsc::Sender<WatchEvents>,
}

impl Watcher {
    fn wants(&self, e: &Event) -> bool {
        let Some(kv) = &e.kv else { return false };
        let is_put = e.r#type == EventType::Put as i32;
        RangeEnd::from_request(&self.spec.range_end).contains(&self.spec.key, &kv.key)
            && !(is_put && self.spec.no_put)
            && (is_put || !self.spec.no_delete)
    }

    fn shape(&self, e: &Event) -> Event {
        let mut e = e.clone();
        if !self.spec.prev_kv {
            e.prev_kv = None;
        }
        e
    }
}

/// All watchers of a store.
#[derive(Default)]
pub(crate) struct WatchHub {
    watchers: HashMap<i64, Watcher>,
    next_id: i64,
}

impl Store {
    /// Creates a watcher whose messages go to `tx`; answers its ID. A start below the compaction point gets the
    /// compaction response at once (and no watcher stays).
    pub fn watch(&self, spec: WatchSpec, tx: mpsc::Sender<WatchEvents>) -> Result<i64> {
        let id = {
            let mut hub = self.watchers.lock();
            let (current, compacted) = {
                let s = self.state.read();
                (s.current, s.compacted)
            };
            let id = hub.next_id;
            hub.next_id += 1;
            if spec.start_revision > 0 && spec.start_revision < compacted {
                let _ = tx.try_send(WatchEvents {
                    watch_id: id,
                    compact_revision: compacted,
                    revision: current,
                    ..Default::default()
                });
                return Ok(id);
            }
            let next = if spec.start_revision > 0 {
                spec.start_revision
            } else {
                current + 1
            };
            hub.watchers.insert(
                id,
                Watcher {
                    spec,
                    next,
                    synced: next > current,
                    tx,
                },
            );
            id
        };
        self.sync_watchers()?;
        Ok(id)
    }

    /// Removes a watcher; false when there was none.
    pub fn cancel_watch(&self, id: i64) -> bool {
        self.watchers.lock().watchers.remove(&id).is_some()
    }

    /// Whether the watcher has seen everything up to the current revision (progress notifications are sent only
    /// then).
    pub fn watcher_synced(&self, id: i64) -> Option<bool> {
        self.watchers.lock().watchers.get(&id).map(|w| w.synced)
    }

    /// Number of watchers.
    pub fn watcher_count(&self) -> usize {
        self.watchers.lock().watchers.len()
    }

    /// Number of watchers behind the current revision (fallen behind, or catching up from the past): their
    /// events are read from the backend when they have room, never queued for them.
    pub fn unsynced_watcher_count(&self) -> usize {
        self.watchers
            .lock()
            .watchers
            .values()
            .filter(|w| !w.synced)
            .count()
    }

    /// One catch-up step for every unsynced watcher; answers whether some are still behind (call again later).
    pub fn sync_watchers(&self) -> Result<bool> {
        let mut hub = self.watchers.lock();
        let view = self.read_view()?;
        let (current, compacted) = (view.state.current, view.state.compacted);
        let mut behind = false;
        let mut gone = Vec::new();
        for (&id, w) in hub.watchers.iter_mut().filter(|(_, w)| !w.synced) {
            if w.next < compacted {
                let _ = w.tx.try_send(WatchEvents {
                    watch_id: id,
                    compact_revision: compacted,
                    revision: current,
                    ..Default::default()
                });
                gone.push(id);
                continue;
            }
            if w.tx.is_closed() {
                gone.push(id);
                continue;
            }
            let Ok(permit) = w.tx.try_reserve() else {
                behind = true;
                continue;
            };
            let from = Revision::new(w.next, 0).to_bytes();
            let upto = Revision::new(current + 1, 0).to_bytes();
            let mut events = Vec::new();
            let mut reached = current;
            let mut last_main = 0;
            let records = view
                .table
                .range(from.as_slice()..upto.as_slice())
                .map_err(|e| self.backend().err(e))?;
            for (read, item) in records.enumerate() {
                let (k, v) = item.map_err(|e| self.backend().err(e))?;
                let rev = Revision::from_bytes(k.value()).ok_or_else(|| {
                    self.backend()
                        .corrupt("table kv has a key that is not a revision")
                })?;
                // Stop only between revisions, so none is split.
                if read >= CATCH_UP_BATCH && rev.main != last_main {
                    reached = last_main;
                    break;
                }
                last_main = rev.main;
                let record = Record::decode(v.value()).ok_or_else(|| {
                    self.backend().corrupt(format!(
                        "record at revision {}.{} does not decode",
                        rev.main, rev.sub
                    ))
                })?;
                let event = Event {
                    r#type: if record.tombstone {
                        EventType::Delete
                    } else {
                        EventType::Put
                    } as i32,
                    kv: Some(record.kv),
                    prev_kv: None,
                };
                if w.wants(&event) {
                    let mut event = event;
                    if w.spec.prev_kv
                        && let Some(kv) = &event.kv
                        && let Some(meta) = view
                            .state
                            .index
                            .get(&kv.key)
                            .and_then(|ki| ki.get(rev.main - 1))
                    {
                        event.prev_kv =
                            Some(backend::load(&self.backend(), &*view.table, meta.modified)?.kv);
                    }
                    events.push(event);
                }
            }
            if !events.is_empty() {
                permit.send(WatchEvents {
                    watch_id: id,
                    events,
                    compact_revision: 0,
                    revision: current,
                });
            }
            w.next = reached + 1;
            if reached >= current {
                w.synced = true;
            } else {
                behind = true;
            }
        }
        for id in gone {
            hub.watchers.remove(&id);
        }
        Ok(behind)
    }

    /// Hands a commit's events to synced watchers; a full buffer makes its watcher unsynced at the first
    /// revision it did not get.
    pub(crate) fn notify(&self, revision: i64, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let mut hub = self.watchers.lock();
        let mut gone = Vec::new();
        for (&id, w) in hub.watchers.iter_mut().filter(|(_, w)| w.synced) {
            let mine: Vec<Event> = events
                .iter()
                .filter(|e| e.kv.as_ref().is_some_and(|kv| kv.mod_revision >= w.next) && w.wants(e))
                .map(|e| w.shape(e))
                .collect();
            if !mine.is_empty() {
                match w.tx.try_send(WatchEvents {
                    watch_id: id,
                    events: mine,
                    compact_revision: 0,
                    revision,
                }) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        w.synced = false;
                        continue;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        gone.push(id);
                        continue;
                    }
                }
            }
            w.next = w.next.max(revision + 1);
        }
        for id in gone {
            hub.watchers.remove(&id);
        }
    }
}
