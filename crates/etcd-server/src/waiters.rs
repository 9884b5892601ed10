//! Requests waiting for their entry to be applied, by request ID (etcd's `wait.Wait`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use etcd_api::v2::{Error, Event};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::v3::{V3Error, V3Response};

/// What applying an entry gave its proposer.
#[derive(Debug)]
pub(crate) enum Outcome {
    V2(Result<Arc<Event>, Error>),
    V3(Result<V3Response, V3Error>),
}

/// The waiters, and the IDs new requests get.
pub(crate) struct Waiters {
    waiting: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    next: AtomicU64,
}

impl Waiters {
    /// IDs unique across members and restarts: the member's ID in the high bits, then a counter started from
    /// the clock (etcd's `idutil.Generator`).
    pub(crate) fn new(member_id: u64, now_unix_nanos: i64) -> Waiters {
        let millis = (now_unix_nanos as u64 / 1_000_000) & 0xff_ffff_ffff;
        Waiters {
            waiting: Mutex::new(HashMap::new()),
            next: AtomicU64::new(((member_id & 0xffff) << 48) | (millis << 8)),
        }
    }

    /// A fresh ID from the request ID sequence, with nobody waiting on it (a lease ID, as etcd takes them).
    pub(crate) fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// A new request ID and the receiver of its outcome.
    pub(crate) fn register(&self) -> (u64, oneshot::Receiver<Outcome>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(id, tx);
        (id, rx)
    }

    /// Gives request `id` its outcome (nobody may wait: a request proposed by another member, or given up).
    pub(crate) fn resolve(&self, id: u64, outcome: Outcome) {
        if let Some(waiter) = self.waiting.lock().remove(&id) {
            let _ = waiter.send(outcome);
        }
    }

    /// Forgets request `id` (its proposer gave up).
    pub(crate) fn cancel(&self, id: u64) {
        self.waiting.lock().remove(&id);
    }
}
