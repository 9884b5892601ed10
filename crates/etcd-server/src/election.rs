//! `v3electionpb.Election` on the member: etcd's leader election. A candidate's key is `<name>/<lease in hex>`
//! holding its proposal; the leader is the key of the name with the lowest create revision. Campaigning waits
//! (by watch) for every earlier candidate's key to be deleted.

use std::sync::Arc;

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RequestOp, ResponseHeader, TxnRequest,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_proto::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};
use tokio::sync::mpsc;

use crate::lock::{create_unless_exists, created_at};
use etcd_auth::Caller;

use crate::server::Server;
use crate::v3::V3Error;
use crate::waiting::{Claim, by_create, go_hex, prefix_end, wait_deletes};

fn prefix_of(name: &[u8]) -> Vec<u8> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    prefix
}

/// A txn that runs `then` only while `leader` is still the key it campaigned with.
fn while_leader(leader: &LeaderKey, then: Op) -> TxnRequest {
    TxnRequest {
        compare: vec![Compare {
            key: leader.key.clone(),
            result: CompareResult::Equal as i32,
            target: CompareTarget::Create as i32,
            target_union: Some(TargetUnion::CreateRevision(leader.rev)),
            ..Compare::default()
        }],
        success: vec![RequestOp {
            request: Some(then),
        }],
        failure: Vec::new(),
    }
}

impl Server {
    /// `Campaign`: waits until the caller leads election `name`; answers its leader key.
    pub async fn campaign(
        self: &Arc<Self>,
        caller: &Caller,
        req: CampaignRequest,
    ) -> Result<CampaignResponse, V3Error> {
        let prefix = prefix_of(&req.name);
        let key = [prefix.as_slice(), go_hex(req.lease).as_bytes()].concat();
        let made = create_unless_exists(
            self,
            caller,
            PutRequest {
                key: key.clone(),
                value: req.value.clone(),
                lease: req.lease,
                ..PutRequest::default()
            },
        )
        .await?;
        let claim = Claim::new(self, caller, key.clone(), req.lease);
        let (rev, found) = created_at(&made)?;
        let leader = LeaderKey {
            name: req.name.clone(),
            key,
            rev,
            lease: req.lease,
        };
        let mut header = made.header;
        // A candidate already campaigning with another value proclaims the new one.
        if found.is_some_and(|v| v != req.value) {
            let proclaim = ProclaimRequest {
                leader: Some(leader.clone()),
                value: req.value.clone(),
            };
            header = self.proclaim(caller, proclaim).await?.header;
        }
        wait_deletes(self, caller, &prefix, rev - 1).await?;
        claim.keep();
        Ok(CampaignResponse {
            header,
            leader: Some(leader),
        })
    }

    /// `Proclaim`: a new value from the leader; "election: not leader" from anyone else.
    pub async fn proclaim(
        &self,
        caller: &Caller,
        req: ProclaimRequest,
    ) -> Result<ProclaimResponse, V3Error> {
        let leader = req.leader.ok_or(V3Error::MissingLeaderKey)?;
        let put = Op::RequestPut(PutRequest {
            key: leader.key.clone(),
            value: req.value,
            ignore_lease: true,
            ..PutRequest::default()
        });
        let resp = self.txn(caller, while_leader(&leader, put)).await?;
        if !resp.succeeded {
            return Err(V3Error::ElectionNotLeader);
        }
        Ok(ProclaimResponse {
            header: resp.header,
        })
    }

    /// `Leader`: the current leader's key-value; "election: no leader" when nobody campaigns.
    pub async fn election_leader(
        &self,
        caller: &Caller,
        req: LeaderRequest,
    ) -> Result<LeaderResponse, V3Error> {
        let found = by_create(self, caller, &prefix_of(&req.name), true, 0).await?;
        match found.kvs.into_iter().next() {
            Some(kv) => Ok(LeaderResponse {
                header: found.header,
                kv: Some(kv),
            }),
            None => Err(V3Error::ElectionNoLeader),
        }
    }

    /// `Resign`: the leader steps down (its key is deleted); a key that no longer leads is left alone.
    pub async fn resign(
        &self,
        caller: &Caller,
        req: ResignRequest,
    ) -> Result<ResignResponse, V3Error> {
        let leader = req.leader.ok_or(V3Error::MissingLeaderKey)?;
        let delete = Op::RequestDeleteRange(DeleteRangeRequest {
            key: leader.key.clone(),
            ..DeleteRangeRequest::default()
        });
        let resp = self.txn(caller, while_leader(&leader, delete)).await?;
        Ok(ResignResponse {
            header: resp.header,
        })
    }

    /// `Observe`: the leader now, then every change of leader or of its value, until the receiver is dropped.
    pub fn observe(
        self: &Arc<Self>,
        caller: Caller,
        req: LeaderRequest,
    ) -> mpsc::Receiver<Result<LeaderResponse, V3Error>> {
        let (tx, rx) = mpsc::channel(16);
        let server = self.clone();
        tokio::spawn(async move {
            let prefix = prefix_of(&req.name);
            let observing = observe(&server, &caller, &prefix, &tx);
            // Ends when the member shuts down, as the other long-lived streams do.
            let ended = tokio::select! {
                ended = observing => ended,
                () = server.shutting_down() => Err(V3Error::Stopped),
            };
            if let Err(e) = ended {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }
}

/// Follows the leadership of the election at `prefix`; returns when the receiver is gone.
async fn observe(
    server: &Server,
    caller: &Caller,
    prefix: &[u8],
    tx: &mpsc::Sender<Result<LeaderResponse, V3Error>>,
) -> Result<(), V3Error> {
    loop {
        // The leader now, or the first candidate to appear.
        let found = by_create(server, caller, prefix, true, 0).await?;
        let mut seen = found.header.unwrap_or_default().revision;
        let leader = match found.kvs.into_iter().next() {
            Some(kv) => kv,
            None => match next_put(server, caller, prefix, &prefix_end(prefix), seen, tx).await? {
                Some(kv) => kv,
                None => return Ok(()),
            },
        };
        let header = Some(ResponseHeader {
            revision: leader.mod_revision.max(seen),
            ..server.header(seen)
        });
        if tx
            .send(Ok(LeaderResponse {
                header,
                kv: Some(leader.clone()),
            }))
            .await
            .is_err()
        {
            return Ok(());
        }
        seen = seen.max(leader.mod_revision);
        // Its new values, until its key is deleted.
        loop {
            let store = server.mvcc();
            let (etx, mut erx) = mpsc::channel(16);
            let id = store.watch(
                etcd_mvcc::WatchSpec {
                    key: leader.key.clone(),
                    range_end: Vec::new(),
                    start_revision: seen + 1,
                    no_put: false,
                    no_delete: false,
                    prev_kv: false,
                },
                etx,
            )?;
            let mut gone = false;
            let got = tokio::select! {
                got = erx.recv() => got,
                () = tx.closed() => { store.cancel_watch(id); return Ok(()) }
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => None,
            };
            store.cancel_watch(id);
            match got {
                Some(batch) => {
                    for e in batch.events {
                        seen = seen.max(e.kv.as_ref().map_or(0, |kv| kv.mod_revision));
                        if e.r#type == EventType::Delete as i32 {
                            gone = true;
                            break;
                        }
                        let send = LeaderResponse {
                            header: Some(server.header(batch.revision)),
                            kv: e.kv,
                        };
                        if tx.send(Ok(send)).await.is_err() {
                            return Ok(());
                        }
                    }
                    gone |= batch.compact_revision > 0;
                }
                // No news within a second: is it still there (the store may have been replaced)?
                None => {
                    let now = by_create(server, caller, prefix, true, 0).await?;
                    gone = now.kvs.first().is_none_or(|kv| kv.key != leader.key);
                }
            }
            if gone {
                break;
            }
        }
    }
}

/// Waits for the first put in `[key, end)` after revision `seen`.
async fn next_put(
    server: &Server,
    caller: &Caller,
    key: &[u8],
    end: &[u8],
    seen: i64,
    tx: &mpsc::Sender<Result<LeaderResponse, V3Error>>,
) -> Result<Option<etcd_proto::mvccpb::KeyValue>, V3Error> {
    loop {
        let store = server.mvcc();
        let (etx, mut erx) = mpsc::channel(16);
        let id = store.watch(
            etcd_mvcc::WatchSpec {
                key: key.to_vec(),
                range_end: end.to_vec(),
                start_revision: seen + 1,
                no_put: false,
                no_delete: true,
                prev_kv: false,
            },
            etx,
        )?;
        let got = tokio::select! {
            got = erx.recv() => got,
            () = tx.closed() => { store.cancel_watch(id); return Ok(None) }
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => None,
        };
        store.cancel_watch(id);
        if let Some(kv) = got.and_then(|b| b.events.into_iter().find_map(|e| e.kv)) {
            return Ok(Some(kv));
        }
        let now = by_create(server, caller, key, true, 0).await?;
        if let Some(kv) = now.kvs.into_iter().next() {
            return Ok(Some(kv));
        }
    }
}
