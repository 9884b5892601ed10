//! Txn: etcd's request checks (operation count, duplicate keys), compares, and execution as one revision.
//!
//! As in etcd, every compare on the chosen path (nested txns included) is evaluated against the state before
//! the txn, the path's puts are checked (`ignore_value`/`ignore_lease` on a missing key fail the whole txn
//! before anything is written), and only then are the operations applied, each seeing the ones before it.

use std::collections::HashSet;

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response;
use etcd_proto::etcdserverpb::{
    Compare, RangeResponse, RequestOp, ResponseOp, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::KeyValue;

use crate::error::{Error, Result};
use crate::key_index::RangeEnd;
use crate::range::{self, View};
use crate::store::check_key;
use crate::write::{WriteBatch, check_put};

/// etcd's checks of a txn request: operation counts at every level against `max_ops`, keys present, and no key
/// written twice on one path.
pub fn check(req: &TxnRequest, max_ops: usize) -> Result<()> {
    check_ops(req, max_ops)?;
    check_intervals(&req.success)?;
    check_intervals(&req.failure)?;
    Ok(())
}

fn check_ops(req: &TxnRequest, max_ops: usize) -> Result<()> {
    if req.compare.len() > max_ops || req.success.len() > max_ops || req.failure.len() > max_ops {
        return Err(Error::TooManyOps);
    }
    for c in &req.compare {
        check_key(&c.key)?;
    }
    for op in req.success.iter().chain(&req.failure) {
        match &op.request {
            Some(Request::RequestRange(r)) => check_key(&r.key)?,
            Some(Request::RequestPut(p)) => check_put(p)?,
            Some(Request::RequestDeleteRange(d)) => check_key(&d.key)?,
            Some(Request::RequestTxn(t)) => check_ops(t, max_ops)?,
            None => {}
        }
    }
    Ok(())
}

/// A delete's interval; `None` end: the key alone; empty vec end: unbounded.
struct Interval {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

impl Interval {
    fn contains(&self, key: &[u8]) -> bool {
        match &self.end {
            None => key == self.start.as_slice(),
            Some(end) if end.as_slice() == [0] => key >= self.start.as_slice(),
            Some(end) => key >= self.start.as_slice() && key < end.as_slice(),
        }
    }
}

/// etcd's duplicate check of one branch: the keys it puts (nested txns included) and the ranges it deletes. A
/// key put twice, or put inside a deleted range, is a duplicate; the then and else branches of a nested txn may
/// put the same key (only one of them runs).
fn check_intervals(ops: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Interval>)> {
    let mut dels: Vec<Interval> = Vec::new();
    for op in ops {
        if let Some(Request::RequestDeleteRange(d)) = &op.request {
            let end = (!d.range_end.is_empty()).then(|| d.range_end.clone());
            dels.push(Interval {
                start: d.key.clone(),
                end,
            });
        }
    }
    let deleted = |dels: &[Interval], k: &[u8]| dels.iter().any(|iv| iv.contains(k));
    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    for op in ops {
        let Some(Request::RequestTxn(t)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(Error::DuplicateKey);
            }
        }
        for k in &puts_else {
            if (puts.contains(k) && !puts_then.contains(k)) || deleted(&dels, k) {
                return Err(Error::DuplicateKey);
            }
        }
        puts.extend(puts_then);
        puts.extend(puts_else);
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        if let Some(Request::RequestPut(p)) = &op.request {
            if puts.contains(&p.key) || deleted(&dels, &p.key) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(p.key.clone());
        }
    }
    Ok((puts, dels))
}

/// Whether one compare holds at main revision `at`.
pub(crate) fn compare_holds(view: &dyn View, c: &Compare, at: i64) -> Result<bool> {
    let target = CompareTarget::try_from(c.target).unwrap_or(CompareTarget::Version);
    let (mut seen, mut holds, mut failure) = (false, true, None);
    // Key by key, stopping at the first that fails: a compare over a large range holds one value at a time.
    view.walk(
        &c.key,
        RangeEnd::from_request(&c.range_end),
        at,
        false,
        &mut |_, meta| {
            seen = true;
            match view.load(meta.modified) {
                Ok(kv) => holds = compare_kv(c, target, &kv),
                Err(e) => failure = Some(e),
            }
            holds && failure.is_none()
        },
    )?;
    if let Some(e) = failure {
        return Err(e);
    }
    if !seen {
        // A missing key compares as a zero key-value, except on its value.
        return Ok(target != CompareTarget::Value && compare_kv(c, target, &KeyValue::default()));
    }
    Ok(holds)
}

fn compare_kv(c: &Compare, target: CompareTarget, kv: &KeyValue) -> bool {
    let ordering = match target {
        CompareTarget::Value => {
            let v: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(v)
        }
        CompareTarget::Version => kv
            .version
            .cmp(&int_target(c, |t| matches!(t, TargetUnion::Version(_)))),
        CompareTarget::Create => kv.create_revision.cmp(&int_target(c, |t| {
            matches!(t, TargetUnion::CreateRevision(_))
        })),
        CompareTarget::Mod => kv
            .mod_revision
            .cmp(&int_target(c, |t| matches!(t, TargetUnion::ModRevision(_)))),
        CompareTarget::Lease => kv
            .lease
            .cmp(&int_target(c, |t| matches!(t, TargetUnion::Lease(_)))),
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ordering.is_eq(),
        Ok(CompareResult::NotEqual) => ordering.is_ne(),
        Ok(CompareResult::Greater) => ordering.is_gt(),
        Ok(CompareResult::Less) => ordering.is_lt(),
        Err(_) => true,
    }
}

/// The compare's integer when its union holds the kind the target names; 0 otherwise (as etcd reads it).
fn int_target(c: &Compare, is_kind: impl Fn(&TargetUnion) -> bool) -> i64 {
    match &c.target_union {
        Some(t) if is_kind(t) => match t {
            TargetUnion::Version(n)
            | TargetUnion::CreateRevision(n)
            | TargetUnion::ModRevision(n)
            | TargetUnion::Lease(n) => *n,
            TargetUnion::Value(_) => 0,
        },
        _ => 0,
    }
}

/// The branch taken at every level, depth first: evaluated before anything is applied.
fn path(view: &dyn View, req: &TxnRequest, at: i64, out: &mut Vec<bool>) -> Result<()> {
    let mut ok = true;
    for c in &req.compare {
        if !compare_holds(view, c, at)? {
            ok = false;
            break;
        }
    }
    out.push(ok);
    for op in if ok { &req.success } else { &req.failure } {
        if let Some(Request::RequestTxn(t)) = &op.request {
            path(view, t, at, out)?;
        }
    }
    Ok(())
}

/// etcd's checks of the path before anything is applied: `ignore_value`/`ignore_lease` puts need their key to
/// exist before the txn, and a range's revision must be readable then (so no error can come after a write).
fn check_path(
    batch: &WriteBatch<'_>,
    req: &TxnRequest,
    path: &[bool],
    pos: &mut usize,
    at: i64,
    lease_exists: &dyn Fn(i64) -> bool,
) -> Result<()> {
    let ok = path[*pos];
    *pos += 1;
    for op in if ok { &req.success } else { &req.failure } {
        match &op.request {
            Some(Request::RequestPut(p))
                if (p.ignore_value || p.ignore_lease) && batch.key_at(&p.key, at).is_none() =>
            {
                return Err(Error::KeyNotFound);
            }
            Some(Request::RequestPut(p)) if p.lease != 0 && !lease_exists(p.lease) => {
                return Err(Error::LeaseNotFound);
            }
            Some(Request::RequestRange(r)) if r.revision != 0 => {
                crate::range::read_revision(r.revision, at, batch.compacted())?;
            }
            Some(Request::RequestTxn(t)) => check_path(batch, t, path, pos, at, lease_exists)?,
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn apply(
    batch: &mut WriteBatch<'_>,
    req: &TxnRequest,
    lease_exists: &dyn Fn(i64) -> bool,
) -> Result<TxnResponse> {
    let at = batch.main - 1;
    let mut taken = Vec::new();
    path(batch, req, at, &mut taken)?;
    check_path(batch, req, &taken, &mut 0, at, lease_exists)?;
    execute(batch, req, &taken, &mut 0)
}

fn execute(
    batch: &mut WriteBatch<'_>,
    req: &TxnRequest,
    path: &[bool],
    pos: &mut usize,
) -> Result<TxnResponse> {
    let ok = path[*pos];
    *pos += 1;
    let mut responses = Vec::new();
    for op in if ok { &req.success } else { &req.failure } {
        let response = match &op.request {
            Some(Request::RequestRange(r)) => {
                let current = batch.revision();
                let found = range::range(&*batch, r, current, batch.compacted())?;
                Some(Response::ResponseRange(RangeResponse {
                    header: None,
                    kvs: found.kvs,
                    more: found.more,
                    count: found.count,
                }))
            }
            Some(Request::RequestPut(p)) => {
                let prev = batch.put_change(p)?;
                Some(Response::ResponsePut(
                    etcd_proto::etcdserverpb::PutResponse {
                        header: None,
                        prev_kv: if p.prev_kv { prev } else { None },
                    },
                ))
            }
            Some(Request::RequestDeleteRange(d)) => {
                Some(Response::ResponseDeleteRange(batch.delete_change(d)?))
            }
            Some(Request::RequestTxn(t)) => {
                Some(Response::ResponseTxn(execute(batch, t, path, pos)?))
            }
            None => None,
        };
        responses.push(ResponseOp { response });
    }
    Ok(TxnResponse {
        header: None,
        succeeded: ok,
        responses,
    })
}
