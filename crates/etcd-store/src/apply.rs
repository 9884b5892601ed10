//! Applying a v2 request from the raft log: which store operation each request is (etcd's `applyV2Request`).

use crate::{Depth, Expiry, Naming, NodeValue, Removal};
use std::sync::Arc;

use etcd_api::v2::{Error, Event, Method, Request};

use crate::Store;

/// What applying one request produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A write's event (set, create, update, compareAndSwap, delete, compareAndDelete).
    Write(Arc<Event>),
    /// A quorum read's event.
    Read(Arc<Event>),
    /// A SYNC: the expiry events it caused, oldest first.
    Expired(Vec<Arc<Event>>),
}

impl Store {
    /// Applies one request as every member applies the log: `now` is the entry's time (Unix ns), used only for
    /// the `ttl` the events show, so the same requests always give the same state and responses.
    ///
    /// - PUT with `prevExist=true`: update, or compare-and-swap when `prevValue`/`prevIndex` are given;
    ///   `prevExist=false`: create; otherwise compare-and-swap when `prevValue`/`prevIndex` are given, else set.
    /// - POST: create an in-order key. DELETE: compare-and-delete or delete. QGET: get. SYNC: expire keys due
    ///   at `time`.
    pub fn apply(&mut self, request: &Request, now: i64) -> Result<Applied, Error> {
        let r = request;
        let refresh = r.refresh.unwrap_or(false);
        let conditional = r.prev_index > 0 || !r.prev_value.is_empty();
        let event = match r.method {
            Method::Put => match (r.prev_exist, conditional) {
                (Some(false), _) => self.create(
                    &r.path,
                    NodeValue::of(r.dir, &r.val),
                    Naming::AtPath,
                    r.expiration,
                    now,
                ),
                (Some(true), false) => self.update(
                    &r.path,
                    &r.val,
                    Expiry {
                        at: r.expiration,
                        refresh,
                    },
                    now,
                ),
                (_, true) => self.compare_and_swap(
                    &r.path,
                    &r.prev_value,
                    r.prev_index,
                    &r.val,
                    Expiry {
                        at: r.expiration,
                        refresh,
                    },
                    now,
                ),
                (None, false) => self.set(
                    &r.path,
                    NodeValue::of(r.dir, &r.val),
                    Expiry {
                        at: r.expiration,
                        refresh,
                    },
                    now,
                ),
            },
            Method::Post => self.create(
                &r.path,
                NodeValue::of(r.dir, &r.val),
                Naming::InOrder,
                r.expiration,
                now,
            ),
            Method::Delete if conditional => {
                self.compare_and_delete(&r.path, &r.prev_value, r.prev_index, now)
            }
            Method::Delete => self.delete(&r.path, Removal::from_flags(r.dir, r.recursive), now),
            Method::QGet => {
                return self
                    .get(&r.path, Depth::recursive_if(r.recursive), now)
                    .map(|e| Applied::Read(Arc::new(e)));
            }
            Method::Sync => return Ok(Applied::Expired(self.delete_expired_keys(r.time))),
        };
        event.map(Applied::Write)
    }
}
