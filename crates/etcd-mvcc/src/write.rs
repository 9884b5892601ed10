//! Write batches: many write requests, one backend transaction, one commit.
//!
//! Each request in a batch that changes anything takes the next main revision; its changes take sub revisions
//! 0, 1, 2... The batch sees its own changes (an overlay on the index, the backend transaction's own writes);
//! readers see none of them until [`WriteBatch::commit`], which commits the backend transaction (no fsync),
//! then moves the overlay into the index and hands the events to the watchers.
//!
//! A request refused by its checks (every error etcd answers a client with) changes nothing, so the batch goes on.
//! A backend error can leave a request half applied in the batch: the batch must then be dropped (dropping it
//! aborts the backend transaction).

use std::collections::BTreeMap;

use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::{Event, KeyValue, event::EventType};
use parking_lot::MutexGuard;

use crate::backend::{self, KV, META, Record};
use crate::error::{Error, Result};
use crate::key_index::{KeyMeta, RangeEnd};
use crate::range::View;
use crate::revision::Revision;
use crate::store::{Store, check_key};

/// What a commit made visible.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// The store's revision after the commit.
    pub revision: i64,
    /// Every change, in revision order, each with its `prev_kv` filled in when the key existed before.
    pub events: Vec<Event>,
}

/// A group of write requests applied together; see the module documentation.
pub struct WriteBatch<'s> {
    pub(crate) store: &'s Store,
    _writer: MutexGuard<'s, ()>,
    pub(crate) tx: redb::WriteTransaction,
    /// The store's revision when the batch began.
    base: i64,
    /// The main revision the request being applied writes at.
    pub(crate) main: i64,
    /// The next sub revision of that request.
    sub: i64,
    /// Per key, each of this batch's changes with the state after it (`None`: deleted), oldest first; replayed
    /// into the index at commit.
    pending: BTreeMap<Vec<u8>, Vec<(Revision, Option<KeyMeta>)>>,
    events: Vec<Event>,
    consistent: Option<(u64, u64)>,
    /// A compaction to make at commit, and its handle.
    pub(crate) pending_compaction: Option<(i64, crate::compact::CompactionHandle)>,
}

impl Store {
    /// Starts a write batch; one at a time (later callers wait).
    pub fn write(&self) -> Result<WriteBatch<'_>> {
        let writer = self.writer.lock();
        let tx = self
            .backend()
            .db
            .begin_write()
            .map_err(|e| self.backend().err(e))?;
        let base = self.state.read().current;
        Ok(WriteBatch {
            store: self,
            _writer: writer,
            tx,
            base,
            main: base + 1,
            sub: 0,
            pending: BTreeMap::new(),
            events: Vec::new(),
            consistent: None,
            pending_compaction: None,
        })
    }
}

impl<'s> WriteBatch<'s> {
    /// The batch's newest revision (the store's revision once committed).
    pub fn revision(&self) -> i64 {
        if self.sub > 0 {
            self.main
        } else {
            self.main - 1
        }
    }

    /// Records that the batch holds every entry up to raft `index` (written with the data, atomically).
    pub fn set_consistent_index(&mut self, index: u64, term: u64) {
        self.consistent = Some((index, term));
    }

    /// Ends the request being applied: the next one writes at a new revision if this one wrote anything.
    pub(crate) fn end_request(&mut self) {
        if self.sub > 0 {
            self.main += 1;
            self.sub = 0;
        }
    }

    /// The compaction point, for reads inside the batch.
    pub(crate) fn compacted(&self) -> i64 {
        self.store.state.read().compacted
    }

    /// A key's state at main revision `at`, this batch's changes included.
    pub(crate) fn key_at(&self, key: &[u8], at: i64) -> Option<KeyMeta> {
        if let Some(states) = self.pending.get(key)
            && let Some((_, state)) = states.iter().rev().find(|(r, _)| r.main <= at)
        {
            return *state;
        }
        self.store
            .state
            .read()
            .index
            .get(key)
            .and_then(|ki| ki.get(at.min(self.base)))
    }

    /// Writes one change: its record in the backend, its state in the overlay (`None`: a tombstone).
    fn record(&mut self, rev: Revision, kv: &KeyValue, state: Option<KeyMeta>) -> Result<()> {
        let backend = &*self.store.backend();
        let mut table = self.tx.open_table(KV).map_err(|e| backend.err(e))?;
        table
            .insert(
                rev.to_bytes().as_slice(),
                Record::encode(state.is_none(), kv).as_slice(),
            )
            .map_err(|e| backend.err(e))?;
        self.pending
            .entry(kv.key.clone())
            .or_default()
            .push((rev, state));
        Ok(())
    }

    fn next_revision(&mut self) -> Revision {
        let rev = Revision::new(self.main, self.sub);
        self.sub += 1;
        rev
    }

    /// Applies a put as one request, any lease taken as existing (see [`WriteBatch::put_leased`]).
    pub fn put(&mut self, req: &PutRequest) -> Result<PutResponse> {
        self.put_leased(req, &|_| true)
    }

    /// Applies a put as one request; a lease for which `lease_exists` is false refuses it.
    pub fn put_leased(
        &mut self,
        req: &PutRequest,
        lease_exists: &dyn Fn(i64) -> bool,
    ) -> Result<PutResponse> {
        check_put(req)?;
        if req.lease != 0 && !lease_exists(req.lease) {
            return Err(Error::LeaseNotFound);
        }
        if (req.ignore_value || req.ignore_lease) && self.key_at(&req.key, self.main).is_none() {
            return Err(Error::KeyNotFound);
        }
        let prev = self.put_change(req)?;
        self.end_request();
        Ok(PutResponse {
            header: None,
            prev_kv: if req.prev_kv { prev } else { None },
        })
    }

    /// Applies a delete as one request.
    pub fn delete_range(&mut self, req: &DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        check_key(&req.key)?;
        let resp = self.delete_change(req)?;
        self.end_request();
        Ok(resp)
    }

    /// Applies a txn as one request (one revision for all its writes); `max_ops` is `--max-txn-ops`. Any lease
    /// is taken as existing (see [`WriteBatch::txn_leased`]).
    pub fn txn(&mut self, req: &TxnRequest, max_ops: usize) -> Result<TxnResponse> {
        self.txn_leased(req, max_ops, &|_| true)
    }

    /// Applies a txn as one request; a put on the taken path naming a lease for which `lease_exists` is false
    /// refuses the whole txn before anything is written.
    pub fn txn_leased(
        &mut self,
        req: &TxnRequest,
        max_ops: usize,
        lease_exists: &dyn Fn(i64) -> bool,
    ) -> Result<TxnResponse> {
        crate::txn::check(req, max_ops)?;
        let resp = crate::txn::apply(self, req, lease_exists)?;
        self.end_request();
        Ok(resp)
    }

    /// Deletes `keys` (those that exist) as one request: one revision, as a lease's revoke does. Answers how many
    /// were deleted.
    pub fn delete_keys(&mut self, keys: &[Vec<u8>]) -> Result<i64> {
        let mut deleted = 0;
        for key in keys {
            deleted += self
                .delete_change(&DeleteRangeRequest {
                    key: key.clone(),
                    ..DeleteRangeRequest::default()
                })?
                .deleted;
        }
        self.end_request();
        Ok(deleted)
    }

    /// How many changes the batch holds so far; with [`WriteBatch::events_since`], what one request changed.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The changes made since the batch held `count` (each with its `prev_kv` when the key existed).
    pub fn events_since(&self, count: usize) -> &[Event] {
        self.events.get(count..).unwrap_or(&[])
    }

    /// Writes `value` under `key` in another state machine's table (leases, auth), in this batch's transaction:
    /// it commits atomically with the key-value changes and the consistent index.
    pub fn put_aux(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let backend = &*self.store.backend();
        check_aux_table(backend, table)?;
        let mut t = self
            .tx
            .open_table(redb::TableDefinition::<&[u8], &[u8]>::new(table))
            .map_err(|e| backend.err(e))?;
        t.insert(key, value).map_err(|e| backend.err(e))?;
        Ok(())
    }

    /// Removes `key` from another state machine's table, in this batch's transaction.
    pub fn delete_aux(&mut self, table: &str, key: &[u8]) -> Result<()> {
        let backend = &*self.store.backend();
        check_aux_table(backend, table)?;
        let mut t = self
            .tx
            .open_table(redb::TableDefinition::<&[u8], &[u8]>::new(table))
            .map_err(|e| backend.err(e))?;
        t.remove(key).map_err(|e| backend.err(e))?;
        Ok(())
    }

    /// A put inside the current request; answers the previous key-value.
    pub(crate) fn put_change(&mut self, req: &PutRequest) -> Result<Option<KeyValue>> {
        let prev_meta = self.key_at(&req.key, self.main);
        let prev = match prev_meta {
            Some(m) => Some(self.load(m.modified)?),
            None => None,
        };
        let rev = self.next_revision();
        let (created, version) = match prev_meta {
            Some(m) => (m.created, m.version + 1),
            None => (rev.main, 1),
        };
        let kv = KeyValue {
            key: req.key.clone(),
            create_revision: created,
            mod_revision: rev.main,
            version,
            value: match (&prev, req.ignore_value) {
                (Some(p), true) => p.value.clone(),
                _ => req.value.clone(),
            },
            lease: match (&prev, req.ignore_lease) {
                (Some(p), true) => p.lease,
                _ => req.lease,
            },
        };
        let meta = KeyMeta {
            modified: rev,
            created,
            version,
        };
        self.record(rev, &kv, Some(meta))?;
        self.events.push(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv: prev.clone(),
        });
        Ok(prev)
    }

    /// A delete inside the current request.
    pub(crate) fn delete_change(
        &mut self,
        req: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse> {
        let mut doomed: Vec<(Vec<u8>, KeyMeta)> = Vec::new();
        self.walk(
            &req.key,
            RangeEnd::from_request(&req.range_end),
            self.main,
            false,
            &mut |k, m| {
                doomed.push((k.to_vec(), m));
                true
            },
        )?;
        let mut prev_kvs = Vec::new();
        for (key, meta) in &doomed {
            let prev = self.load(meta.modified)?;
            let rev = self.next_revision();
            let kv = KeyValue {
                key: key.clone(),
                mod_revision: rev.main,
                ..Default::default()
            };
            self.record(rev, &kv, None)?;
            self.events.push(Event {
                r#type: EventType::Delete as i32,
                kv: Some(kv),
                prev_kv: Some(prev.clone()),
            });
            if req.prev_kv {
                prev_kvs.push(prev);
            }
        }
        Ok(DeleteRangeResponse {
            header: None,
            deleted: doomed.len() as i64,
            prev_kvs,
        })
    }

    /// Commits the batch (no fsync), makes it visible to readers, and notifies watchers. An error here leaves
    /// the store behind its backend: stop using it and reopen.
    pub fn commit(mut self) -> Result<Committed> {
        let backend = &*self.store.backend();
        if let Some((index, term)) = self.consistent {
            let mut meta = self.tx.open_table(META).map_err(|e| backend.err(e))?;
            backend::put_meta(&mut meta, "consistent_index", index).map_err(|e| backend.err(e))?;
            backend::put_meta(&mut meta, "consistent_term", term).map_err(|e| backend.err(e))?;
        }
        self.tx
            .set_durability(redb::Durability::None)
            .map_err(|e| backend.err(redb::Error::from(e)))?;
        let revision = self.revision();
        self.tx.commit().map_err(|e| backend.err(e))?;
        let snapshot = std::sync::Arc::new(backend.kv_snapshot()?);
        {
            let mut state = self.store.state.write();
            state.snapshot = snapshot;
            for (key, changes) in &self.pending {
                for (rev, after) in changes {
                    match after {
                        Some(_) => state.index.put(key, *rev),
                        None => {
                            state.index.tombstone(key, *rev);
                        }
                    }
                }
            }
            state.current = state.current.max(revision);
        }
        if let Some((index, term)) = self.consistent {
            self.store.set_consistent_index(index, term);
        }
        let events = std::mem::take(&mut self.events);
        self.store.notify(revision, &events);
        if let Some((rev, done)) = self.pending_compaction.take() {
            self.store.finish_compaction(rev, done);
        }
        Ok(Committed { revision, events })
    }
}

impl View for WriteBatch<'_> {
    fn walk(
        &self,
        key: &[u8],
        end: RangeEnd<'_>,
        at: i64,
        reverse: bool,
        f: &mut dyn FnMut(&[u8], KeyMeta) -> bool,
    ) -> Result<()> {
        // This batch's keys in the range, each with its state at `at` (outer None: no change of ours by then).
        let mut ours: Vec<(&[u8], Option<Option<KeyMeta>>)> = match end.bounds(key) {
            None => Vec::new(),
            Some(bounds) => self
                .pending
                .range::<[u8], _>(bounds)
                .map(|(k, states)| {
                    (
                        k.as_slice(),
                        states
                            .iter()
                            .rev()
                            .find(|(r, _)| r.main <= at)
                            .map(|(_, s)| *s),
                    )
                })
                .collect(),
        };
        if reverse {
            ours.reverse();
        }
        let before = |a: &[u8], b: &[u8]| if reverse { a > b } else { a < b };
        let mut i = 0;
        let mut go_on = true;
        let state = self.store.state.read();
        state
            .index
            .walk(key, end, at.min(self.base), reverse, &mut |k, base_meta| {
                while i < ours.len() && before(ours[i].0, k) {
                    if let (k2, Some(Some(m))) = ours[i]
                        && !f(k2, m)
                    {
                        go_on = false;
                        return false;
                    }
                    i += 1;
                }
                let meta = if i < ours.len() && ours[i].0 == k {
                    i += 1;
                    match ours[i - 1].1 {
                        Some(state) => state,
                        None => Some(base_meta),
                    }
                } else {
                    Some(base_meta)
                };
                if let Some(m) = meta
                    && !f(k, m)
                {
                    go_on = false;
                    return false;
                }
                true
            });
        drop(state);
        if go_on {
            for (k, s) in &ours[i..] {
                if let Some(Some(m)) = s
                    && !f(k, *m)
                {
                    break;
                }
            }
        }
        Ok(())
    }

    fn load(&self, rev: Revision) -> Result<KeyValue> {
        let backend = &*self.store.backend();
        let table = self.tx.open_table(KV).map_err(|e| backend.err(e))?;
        Ok(backend::load(backend, &table, rev)?.kv)
    }
}

/// The store's own tables are not another state machine's to write.
fn check_aux_table(backend: &backend::Backend, table: &str) -> Result<()> {
    if table == "kv" || table == "meta" {
        return Err(Error::Backend {
            path: backend.path.clone(),
            detail: format!("table {table:?} belongs to the key-value store"),
        });
    }
    Ok(())
}

/// etcd's checks of a put before it is applied.
pub(crate) fn check_put(req: &PutRequest) -> Result<()> {
    check_key(&req.key)?;
    if req.ignore_value && !req.value.is_empty() {
        return Err(Error::ValueProvided);
    }
    if req.ignore_lease && req.lease != 0 {
        return Err(Error::LeaseProvided);
    }
    Ok(())
}
