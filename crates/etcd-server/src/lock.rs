//! `v3lockpb.Lock` on the member: etcd's distributed mutex. A contender's key is `<name>/<lease in hex>`,
//! created with its lease; it holds the lock once every key of the name created before it is deleted (each
//! waited for by a watch), so contenders are served in the order they asked.

use std::sync::Arc;

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::response_op::Response as OpResponse;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest, TxnResponse,
};
use etcd_proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};

use etcd_auth::Caller;

use crate::server::Server;
use crate::v3::V3Error;
use crate::waiting::{Claim, go_hex, wait_deletes};

/// A txn that creates `key` with `put` unless it exists, and reads it back either way (etcd's `tryAcquire`).
pub(crate) async fn create_unless_exists(
    server: &Server,
    caller: &Caller,
    put: PutRequest,
) -> Result<TxnResponse, V3Error> {
    let key = put.key.clone();
    let get = RequestOp {
        request: Some(Op::RequestRange(RangeRequest {
            key: key.clone(),
            ..RangeRequest::default()
        })),
    };
    server
        .txn(
            caller,
            TxnRequest {
                compare: vec![Compare {
                    key: key.clone(),
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Create as i32,
                    target_union: Some(TargetUnion::CreateRevision(0)),
                    ..Compare::default()
                }],
                success: vec![RequestOp {
                    request: Some(Op::RequestPut(put)),
                }],
                failure: vec![get],
            },
        )
        .await
}

/// The create revision of the key a `create_unless_exists` txn made or found.
pub(crate) fn created_at(resp: &TxnResponse) -> Result<(i64, Option<Vec<u8>>), V3Error> {
    if resp.succeeded {
        return Ok((resp.header.unwrap_or_default().revision, None));
    }
    match resp.responses.first().and_then(|r| r.response.as_ref()) {
        Some(OpResponse::ResponseRange(range)) => match range.kvs.first() {
            Some(kv) => Ok((kv.create_revision, Some(kv.value.clone()))),
            None => Err(V3Error::SessionExpired),
        },
        _ => Err(V3Error::Canceled),
    }
}

impl Server {
    /// `Lock`: waits until the caller holds the lock `name` under `lease`; answers the key that holds it.
    pub async fn lock(
        self: &Arc<Self>,
        caller: &Caller,
        req: LockRequest,
    ) -> Result<LockResponse, V3Error> {
        let mut prefix = req.name.clone();
        prefix.push(b'/');
        let key = [prefix.as_slice(), go_hex(req.lease).as_bytes()].concat();
        let made = create_unless_exists(
            self,
            caller,
            PutRequest {
                key: key.clone(),
                lease: req.lease,
                ..PutRequest::default()
            },
        )
        .await?;
        let claim = Claim::new(self, caller, key.clone(), req.lease);
        let (my_rev, _) = created_at(&made)?;
        wait_deletes(self, caller, &prefix, my_rev - 1).await?;
        // The lease may have ended while waiting: then the key is gone and the lock is not held.
        let mine = self
            .range(
                caller,
                RangeRequest {
                    key: key.clone(),
                    ..RangeRequest::default()
                },
            )
            .await?;
        if mine.kvs.is_empty() {
            return Err(V3Error::SessionExpired);
        }
        claim.keep();
        Ok(LockResponse {
            header: mine.header,
            key,
        })
    }

    /// `Unlock`: deletes the key `Lock` answered.
    pub async fn unlock(
        &self,
        caller: &Caller,
        req: UnlockRequest,
    ) -> Result<UnlockResponse, V3Error> {
        let deleted = self
            .delete_range(
                caller,
                DeleteRangeRequest {
                    key: req.key,
                    ..DeleteRangeRequest::default()
                },
            )
            .await?;
        Ok(UnlockResponse {
            header: deleted.header,
        })
    }
}
