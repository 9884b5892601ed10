//! The watcher hub: who is waiting for which key, and the bounded channels events reach them through.
//!
//! The store has no threads and no clock, so a watcher is a small channel: the hub pushes events into it while
//! applying, and the client side receives them, blocking-free (`try_recv`) or as a future (`recv`). A watcher
//! whose buffer is full is dropped and its channel closed, as etcd does; a watcher whose receiver was dropped
//! is removed from the hub.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use etcd_api::v2::Event;

use crate::path::hidden_below;

/// Events a watcher may have waiting before it is dropped, as etcd.
pub const WATCHER_BUFFER: usize = 100;

/// The receiving end of a watch: yields events until the watch ends.
///
/// A one-shot watch ends after its first event; a stream ends when its buffer overflowed. Dropping the
/// receiver cancels the watch.
#[derive(Debug)]
pub struct WatchReceiver {
    shared: Arc<Shared>,
    dead: Arc<AtomicUsize>,
}

/// Why [`WatchReceiver::try_recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing yet; the watch is still open.
    Empty,
    /// The watch has ended and every event was received.
    Closed,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Arc<Event>>,
    /// No more events will come.
    closed: bool,
    receiver_alive: bool,
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl WatchReceiver {
    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<Arc<Event>, TryRecvError> {
        let mut state = self.shared.lock();
        match state.queue.pop_front() {
            Some(e) => Ok(e),
            None if state.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Polls for the next event; `Ready(None)` once the watch has ended.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Arc<Event>>> {
        let mut state = self.shared.lock();
        if let Some(e) = state.queue.pop_front() {
            return Poll::Ready(Some(e));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The next event, or `None` once the watch has ended.
    pub async fn recv(&self) -> Option<Arc<Event>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Drop for WatchReceiver {
    fn drop(&mut self) {
        self.shared.lock().receiver_alive = false;
        self.dead.fetch_add(1, Ordering::Relaxed);
    }
}

/// The hub's end of one watcher's channel.
#[derive(Debug)]
struct Sender {
    shared: Arc<Shared>,
}

enum Sent {
    Delivered,
    /// Buffer full or receiver gone: the watcher must go.
    Dropped,
}

impl Sender {
    fn send(&self, event: &Arc<Event>) -> Sent {
        let mut state = self.shared.lock();
        if !state.receiver_alive {
            return Sent::Dropped;
        }
        if state.queue.len() >= WATCHER_BUFFER {
            state.closed = true;
            wake(&mut state);
            return Sent::Dropped;
        }
        state.queue.push_back(event.clone());
        wake(&mut state);
        Sent::Delivered
    }

    fn close(&self) {
        let mut state = self.shared.lock();
        state.closed = true;
        wake(&mut state);
    }

    fn receiver_alive(&self) -> bool {
        self.shared.lock().receiver_alive
    }
}

fn wake(state: &mut State) {
    if let Some(waker) = state.waker.take() {
        waker.wake();
    }
}

#[derive(Debug)]
struct Watcher {
    recursive: bool,
    stream: bool,
    since: u64,
    sender: Sender,
}

#[derive(Debug, Default)]
pub(crate) struct WatcherHub {
    /// Watchers by the path they watch, in registration order.
    watchers: HashMap<Box<str>, Vec<Watcher>>,
    count: usize,
    /// Receivers dropped since the last sweep.
    dead: Arc<AtomicUsize>,
}

impl WatcherHub {
    /// A channel already holding `event` and closed: a watch answered from the history, never registered.
    pub fn answered(&self, event: Arc<Event>) -> WatchReceiver {
        let (sender, receiver) = self.channel();
        sender.send(&event);
        sender.close();
        receiver
    }

    /// Registers a watcher on `key` for events with index `since` or later.
    pub fn register(
        &mut self,
        key: &str,
        recursive: bool,
        stream: bool,
        since: u64,
    ) -> WatchReceiver {
        let dead = self.dead.load(Ordering::Relaxed);
        if dead > 0 && dead * 4 >= self.count {
            self.sweep();
        }
        let (sender, receiver) = self.channel();
        self.watchers.entry(key.into()).or_default().push(Watcher {
            recursive,
            stream,
            since,
            sender,
        });
        self.count += 1;
        receiver
    }

    /// How many watchers are registered and still have a receiver, without sweeping (for readers holding a
    /// shared borrow; walks every watcher).
    pub fn live_count(&self) -> usize {
        if self.dead.load(Ordering::Relaxed) == 0 {
            return self.count;
        }
        self.watchers
            .values()
            .map(|list| list.iter().filter(|w| w.sender.receiver_alive()).count())
            .sum()
    }

    /// Offers `event` to the watchers registered exactly at `path` (etcd's `notifyWatchers`). `deleted` is set
    /// when `path` itself was removed by the event.
    pub fn notify_path(&mut self, event: &Arc<Event>, path: &str, deleted: bool) {
        let Some(list) = self.watchers.get_mut(path) else {
            return;
        };
        let original = event.node.key == path;
        if !original && hidden_below(path, &event.node.key) {
            return;
        }
        let before = list.len();
        list.retain(|w| {
            if !((w.recursive || original || deleted) && event.index() >= w.since) {
                return true;
            }
            match w.sender.send(event) {
                Sent::Delivered if w.stream => true,
                Sent::Delivered => {
                    w.sender.close();
                    false
                }
                Sent::Dropped => {
                    w.sender.close();
                    false
                }
            }
        });
        self.count -= before - list.len();
        if list.is_empty() {
            self.watchers.remove(path);
        }
    }

    /// Offers `event` to the watchers on every prefix of its key, from the root down (etcd's `notify`).
    pub fn notify(&mut self, event: &Arc<Event>) {
        if self.watchers.is_empty() {
            return;
        }
        let key = event.node.key.clone();
        self.notify_path(event, "/", false);
        for (end, _) in key.match_indices('/').skip(1).chain([(key.len(), "")]) {
            self.notify_path(event, &key[..end], false);
        }
    }

    fn sweep(&mut self) {
        self.dead.store(0, Ordering::Relaxed);
        let mut removed = 0;
        self.watchers.retain(|_, list| {
            let before = list.len();
            list.retain(|w| w.sender.receiver_alive());
            removed += before - list.len();
            !list.is_empty()
        });
        self.count -= removed;
    }

    fn channel(&self) -> (Sender, WatchReceiver) {
        let shared = Arc::new(Shared::default());
        shared.lock().receiver_alive = true;
        (
            Sender {
                shared: shared.clone(),
            },
            WatchReceiver {
                shared,
                dead: self.dead.clone(),
            },
        )
    }
}
