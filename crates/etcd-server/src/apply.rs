//! The apply loop: committed entries, in log order, to the v2 store and the v3 store; then their waiters.
//!
//! v2 requests always go to the v2 store (it is rebuilt from the raft snapshot and the entries after it). v3
//! requests go to the v3 store only above its consistent index: below it, the store already holds them (it
//! survived the restart), so nothing is applied twice. One v3 write batch spans all the entries of an apply
//! event and commits with the consistent index of the last one, before any waiter is answered.
//!
//! Anything the member cannot apply faithfully (an undecodable entry, a snapshot it cannot restore, a
//! membership change it cannot record, a store failure) stops the member: the others applied it, so going on
//! would serve a state that diverged.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use etcd_proto::etcdrs::internal_raft_request::Request as Kind;
use etcd_proto::etcdserverpb::CompactionResponse;
use etcd_raft::{ApplyEvent, CommittedEntry, EntryKind, MemberChangeKind};
use etcd_store::Applied;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::entry::{self, Applies};
use crate::members;
use crate::server::{Server, State};
use crate::v3::{V3Error, V3Response};
use crate::waiters::Outcome;

/// What one apply event leaves to do once the stores are committed.
#[derive(Default)]
struct Answers {
    outcomes: Vec<(u64, Outcome)>,
    /// Physical compactions: answered once the deletions are done.
    compactions: Vec<(u64, CompactionResponse, etcd_mvcc::CompactionHandle)>,
}

/// Applies every event raft gives, until raft stops or the member cannot go on.
pub(crate) async fn run(server: Arc<Server>, mut applies: UnboundedReceiver<ApplyEvent>) {
    while let Some(event) = applies.recv().await {
        let done = match event {
            ApplyEvent::Snapshot { index, term, data } => {
                restore(&server, index, term, &data).map(|()| (index, Answers::default()))
            }
            ApplyEvent::Entries(entries) => apply_entries(&server, entries),
        };
        let (applied, answers) = match done {
            Ok(done) => done,
            Err(why) => {
                server.fail(why);
                return;
            }
        };
        for (id, outcome) in answers.outcomes {
            server.waiters.resolve(id, outcome);
        }
        for (id, response, handle) in answers.compactions {
            let server = server.clone();
            tokio::task::spawn_blocking(move || {
                let outcome = match handle.wait() {
                    Ok(()) => Ok(V3Response::Compact(response)),
                    Err(e) => Err(V3Error::Mvcc(e)),
                };
                server.waiters.resolve(id, Outcome::V3(outcome));
            });
        }
        server.raft.report_applied(applied);
    }
}

/// Replaces both stores with a snapshot's, then records its position.
fn restore(server: &Server, index: u64, term: u64, data: &[u8]) -> Result<(), String> {
    let mut state = server.write_state();
    let file = server.backend_file.clone();
    let _file = file.lock();
    restore_stores(&mut state, &server.mvcc, &server.mvcc_path, index, data)?;
    server.follow_learner_state(&state.store);
    follow_membership(server, &state.store);
    let mut lessor = server.leases.lessor.lock();
    let min_ttl = lessor.min_ttl();
    *lessor = crate::lease::load(&server.mvcc(), min_ttl)
        .map_err(|e| format!("cannot restore the leases of the snapshot at index {index}: {e}"))?;
    *server.alarms.lock() = crate::alarms::Alarms::load(&server.mvcc())
        .map_err(|e| format!("cannot restore the alarms of the snapshot at index {index}: {e}"))?;
    *server.auth.store.write() = crate::auth::load(&server.mvcc()).map_err(|e| {
        format!("cannot restore the users and roles of the snapshot at index {index}: {e}")
    })?;
    server.raft_view.set_applied(index, term);
    Ok(())
}

/// Replaces the v2 store and (when the snapshot is ahead of it) the v3 store with the snapshot's; `applied`
/// becomes `index` only if both succeeded.
fn restore_stores(
    state: &mut State,
    mvcc: &parking_lot::RwLock<Arc<etcd_mvcc::Store>>,
    mvcc_path: &Path,
    index: u64,
    data: &[u8],
) -> Result<(), String> {
    let cannot = |e: String| format!("cannot restore the snapshot at index {index}: {e}");
    let parts = crate::snapshot::parse(data).map_err(cannot)?;
    // The v2 part is checked before anything changes, so a failure leaves both stores as they were.
    etcd_store::Store::restore(parts.v2).map_err(|e| cannot(format!("the v2 store: {e}")))?;
    if let Some((mvcc_index, stream)) = parts.mvcc {
        let current = mvcc.read().clone();
        // A store at or past the snapshot's point already holds it (a restart, or a snapshot of an older
        // point): entries past its consistent index bring it forward, none is applied twice.
        if current.consistent_index().0 < mvcc_index {
            etcd_mvcc::Store::restore(mvcc_path, stream)
                .map_err(|e| cannot(format!("the v3 store: {e}")))?;
            let restored = etcd_mvcc::Store::open(mvcc_path)
                .map_err(|e| cannot(format!("the restored v3 store: {e}")))?;
            *mvcc.write() = Arc::new(restored);
            tracing::info!(index, mvcc_index, "restored the v3 store from a snapshot");
        }
    }
    // Checked above; the store keeps its watchers, as etcd's does.
    state
        .store
        .recover(parts.v2)
        .map_err(|e| cannot(format!("the v2 store: {e}")))?;
    state.applied = index;
    Ok(())
}

fn apply_entries(server: &Server, entries: Vec<CommittedEntry>) -> Result<(u64, Answers), String> {
    let mut answers = Answers::default();
    let mut state = server.write_state();
    let mvcc = server.mvcc();
    let applied_v3 = mvcc.consistent_index().0;
    let mut lessor = server.leases.lessor.lock();
    let mut alarms = server.alarms.lock();
    let now = std::time::Instant::now();
    let mut batch: Option<etcd_mvcc::WriteBatch<'_>> = None;
    let mut last = None;
    for e in entries {
        match e.kind {
            EntryKind::Normal(data) if !data.is_empty() => {
                let decoded = entry::decode(e.index, &data).map_err(|e| e.to_string())?;
                let id = decoded.id;
                match decoded.request {
                    Applies::V2(request) => {
                        let result = state.store.apply(&request, decoded.proposed_at);
                        server
                            .metrics
                            .v2
                            .proposals_applied
                            .fetch_add(1, Ordering::Relaxed);
                        match result {
                            Ok(Applied::Write(event) | Applied::Read(event)) => {
                                answers.outcomes.push((id, Outcome::V2(Ok(event))));
                            }
                            // Keys a SYNC expired: nobody waits for it.
                            Ok(Applied::Expired(_)) => {}
                            Err(err) => answers.outcomes.push((id, Outcome::V2(Err(err)))),
                        }
                    }
                    Applies::V3(request) if e.index > applied_v3 => {
                        if batch.is_none() {
                            batch = Some(mvcc.write().map_err(|e| e.to_string())?);
                        }
                        if let Some(batch) = batch.as_mut() {
                            let mut v3 = V3Apply {
                                server,
                                batch,
                                lessor: &mut lessor,
                                alarms: &mut alarms,
                                now,
                            };
                            v3.apply(id, &decoded.caller, request, e.index, &mut answers)?;
                        }
                        server
                            .metrics
                            .v2
                            .proposals_applied
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    // Already in the v3 store (applied before a restart).
                    _ => {}
                }
            }
            EntryKind::Normal(_) => {}
            EntryKind::MemberChange { change, applied } => {
                if applied {
                    members::apply_change(&mut state.store, &change).map_err(|err| {
                        format!(
                            "raft entry {}: membership change not recorded: {err}",
                            e.index
                        )
                    })?;
                    follow_member_change(server, &change);
                    server.follow_learner_state(&state.store);
                }
            }
        }
        state.applied = e.index;
        last = Some((e.index, e.term));
        server
            .metrics
            .v2
            .proposals_committed
            .fetch_add(1, Ordering::Relaxed);
        server.raft_view.set_applied(e.index, e.term);
    }
    if let (Some(mut batch), Some((index, term))) = (batch, last) {
        batch.set_consistent_index(index, term);
        batch
            .commit()
            .map_err(|e| format!("committing the v3 store at raft index {index}: {e}"))?;
    }
    Ok((state.applied, answers))
}

/// Where one v3 request is applied: the batch, the lessor and the alarms (locked for the whole apply event).
struct V3Apply<'a, 'b> {
    server: &'a Server,
    batch: &'a mut etcd_mvcc::WriteBatch<'b>,
    lessor: &'a mut etcd_lease::Lessor,
    alarms: &'a mut crate::alarms::Alarms,
    now: std::time::Instant,
}

impl V3Apply<'_, '_> {
    /// Applies one v3 request; a request error is its answer, a store failure stops the member.
    fn apply(
        &mut self,
        id: u64,
        caller: &etcd_auth::Caller,
        request: Kind,
        index: u64,
        answers: &mut Answers,
    ) -> Result<(), String> {
        let server = self.server;
        let counters = &server.metrics.v3;
        let count = |c: &std::sync::atomic::AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        match &request {
            Kind::Put(_) => count(&counters.puts),
            Kind::DeleteRange(_) => count(&counters.deletes),
            Kind::Txn(_) => count(&counters.txns),
            _ => {}
        }
        if let Some(refused) = self.alarms.refusal(&request) {
            answers.outcomes.push((id, Outcome::V3(Err(refused))));
            return Ok(());
        }
        // Checked again with the identity and auth revision the entry carries: every member decides alike.
        let denied =
            crate::auth::check_write(&server.auth.store.read(), self.lessor, caller, &request);
        if let Err(denied) = denied {
            answers.outcomes.push((id, Outcome::V3(Err(denied.into()))));
            return Ok(());
        }
        let events_before = self.batch.event_count();
        let result = match request {
            Kind::Put(req) => {
                let lessor = &*self.lessor;
                self.batch
                    .put_leased(&req, &|id| lessor.contains(id))
                    .map(|mut r| {
                        r.header = Some(server.header(self.batch.revision()));
                        V3Response::Put(r)
                    })
            }
            Kind::DeleteRange(req) => self.batch.delete_range(&req).map(|mut r| {
                r.header = Some(server.header(self.batch.revision()));
                V3Response::DeleteRange(r)
            }),
            Kind::Txn(req) => {
                let lessor = &*self.lessor;
                self.batch
                    .txn_leased(&req, server.limits.max_txn_ops, &|id| lessor.contains(id))
                    .map(|mut r| {
                        let revision = self.batch.revision();
                        stamp_inner_headers(&mut r, revision);
                        r.header = Some(server.header(revision));
                        V3Response::Txn(r)
                    })
            }
            Kind::Compaction(req) => match self.batch.compact(req.revision) {
                Ok(handle) => {
                    let response = CompactionResponse {
                        header: Some(server.header(self.batch.revision())),
                    };
                    if req.physical {
                        answers.compactions.push((id, response, handle));
                        return Ok(());
                    }
                    Ok(V3Response::Compact(response))
                }
                Err(e) => Err(e),
            },
            Kind::Alarm(req) => crate::alarms::apply(self.alarms, self.batch, &req).map(|mut r| {
                r.header = Some(server.header(self.batch.revision()));
                V3Response::Alarm(r)
            }),
            auth if crate::auth::is_auth_request(&auth) => {
                let outcome = crate::auth::apply(server, self.batch, caller, auth, index, self.now)
                    .map_err(|e| format!("raft entry {index}: the v3 store failed: {e}"))?;
                answers.outcomes.push((id, Outcome::V3(outcome)));
                return Ok(());
            }
            Kind::DowngradeInfoSet(req) => {
                crate::downgrade::apply(self.batch, &req).map(|()| V3Response::DowngradeSet)
            }
            lease @ (Kind::LeaseGrant(_)
            | Kind::LeaseRevoke(_)
            | Kind::LeaseRenew(_)
            | Kind::LeaseTimeCheckpoint(_)
            | Kind::LeaseExpire(_)) => {
                let outcome = crate::lease::apply(server, self.lessor, self.batch, lease, self.now)
                    .map_err(|e| format!("raft entry {index}: the v3 store failed: {e}"))?;
                if let Some(outcome) = outcome {
                    answers.outcomes.push((id, Outcome::V3(outcome)));
                }
                return Ok(());
            }
            other => {
                return Err(format!(
                    "raft entry {index}: this member cannot apply {} requests yet: upgrade it",
                    kind_name(&other)
                ));
            }
        };
        crate::lease::follow_keys(self.lessor, self.batch.events_since(events_before));
        match result {
            Ok(response) => answers.outcomes.push((id, Outcome::V3(Ok(response)))),
            Err(e @ (etcd_mvcc::Error::Backend { .. } | etcd_mvcc::Error::Corrupt { .. })) => {
                return Err(format!("raft entry {index}: the v3 store failed: {e}"));
            }
            Err(e) => answers
                .outcomes
                .push((id, Outcome::V3(Err(V3Error::Mvcc(e))))),
        }
        Ok(())
    }
}

/// etcd gives each response inside a txn a header holding only the txn's revision.
fn stamp_inner_headers(txn: &mut etcd_proto::etcdserverpb::TxnResponse, revision: i64) {
    use etcd_proto::etcdserverpb::ResponseHeader;
    use etcd_proto::etcdserverpb::response_op::Response;
    let header = Some(ResponseHeader {
        revision,
        ..ResponseHeader::default()
    });
    for op in &mut txn.responses {
        match &mut op.response {
            Some(Response::ResponseRange(r)) => r.header = header,
            Some(Response::ResponsePut(r)) => r.header = header,
            Some(Response::ResponseDeleteRange(r)) => r.header = header,
            Some(Response::ResponseTxn(r)) => {
                stamp_inner_headers(r, revision);
                r.header = header;
            }
            None => {}
        }
    }
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::V2(_) => "v2",
        Kind::Range(_) => "range",
        Kind::Put(_) => "put",
        Kind::DeleteRange(_) => "delete-range",
        Kind::Txn(_) => "txn",
        Kind::Compaction(_) => "compaction",
        Kind::LeaseGrant(_)
        | Kind::LeaseRevoke(_)
        | Kind::LeaseCheckpoint(_)
        | Kind::LeaseRenew(_)
        | Kind::LeaseTimeCheckpoint(_)
        | Kind::LeaseExpire(_) => "lease",
        Kind::Alarm(_) => "alarm",
        auth if crate::auth::is_auth_request(auth) => "auth",
        Kind::DowngradeInfoSet(_) => "downgrade",
        _ => "cluster",
    }
}

/// Makes the transport's peer list the membership a restored store holds. A member that restarts from a
/// snapshot, or catches up through one, never replays the changes the snapshot covers, so without this it would
/// not know its peers and nothing it sends would leave.
fn follow_membership(server: &Server, store: &etcd_store::Store) {
    let peers: Vec<(u64, String)> = members::list(store)
        .into_iter()
        .filter(|m| m.id != server.id)
        .filter_map(|m| Some((m.id, m.peer_urls.into_iter().next()?)))
        .collect();
    // A store without members is not a cluster's (a damaged or foreign snapshot): keep the peers known.
    if !peers.is_empty() {
        server.transport.set_peers(&peers);
    }
}

/// Keeps the transport's peer list in step with membership.
fn follow_member_change(server: &Server, change: &etcd_raft::MemberChange) {
    if change.node_id == server.id {
        if change.kind == MemberChangeKind::RemoveMember {
            tracing::warn!("this member was removed from the cluster; shutting down");
            server.lifecycle.stop(crate::server::StopReason::Removed);
        }
        return;
    }
    match change.kind {
        MemberChangeKind::RemoveMember => server.transport.remove_peer(change.node_id),
        _ => {
            if let Some(url) = members::peer_urls(&change.context)
                .ok()
                .and_then(|urls| urls.into_iter().next())
            {
                server.transport.add_peer(change.node_id, &url);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_store::{Depth, Expiry, NodeValue};

    fn stores(
        dir: &Path,
    ) -> (
        State,
        parking_lot::RwLock<Arc<etcd_mvcc::Store>>,
        std::path::PathBuf,
    ) {
        let path = dir.join("db");
        let mvcc = etcd_mvcc::Store::open(&path).expect("open");
        let state = State {
            store: etcd_store::Store::new(),
            applied: 7,
        };
        (state, parking_lot::RwLock::new(Arc::new(mvcc)), path)
    }

    #[test]
    fn a_snapshot_that_fails_to_restore_is_an_error_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut state, mvcc, path) = stores(dir.path());
        state
            .store
            .set("/1/kept", NodeValue::File("v"), Expiry::NEVER, 0)
            .expect("set");
        for bad in [&b"not a v2 store"[..], b"ETCDRSSN\0\0\0\x09 newer format"] {
            let e = restore_stores(&mut state, &mvcc, &path, 50, bad).expect_err("refused");
            assert!(e.contains("cannot restore the snapshot at index 50"), "{e}");
            assert_eq!(state.applied, 7, "applied stays where the state is");
            assert!(
                state.store.get("/1/kept", Depth::Shallow, 0).is_ok(),
                "the v2 store is untouched"
            );
        }
    }
}
