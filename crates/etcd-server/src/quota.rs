//! etcd's backend quota (`--quota-backend-bytes`): a request that adds data (a put, a transaction with puts, a
//! lease grant) is refused when the backend plus the request's estimated cost would reach the quota, and the
//! refusal raises the NOSPACE alarm through raft; from then on every member refuses such requests at apply, until
//! the alarm is disarmed. The estimate and the defaults are etcd's.
//!
//! The size is checked where the request arrives, never at apply: backend files differ in size between members,
//! and an apply that depended on it would diverge. The alarm, once applied, is the same on every member.

use etcd_proto::etcdserverpb::AlarmType;
use etcd_proto::etcdserverpb::{
    AlarmRequest, PutRequest, RequestOp, TxnRequest, alarm_request::AlarmAction, request_op,
};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::server::Server;
use crate::v3::V3Error;

/// How long a measured backend size is used before the file is measured again: writes check the quota without a
/// system call each (the quota is an estimate anyway, checked before apply, as etcd's is).
const SIZE_FRESH_FOR: Duration = Duration::from_millis(100);

/// The backend file's size as last measured, and when.
#[derive(Debug)]
pub(crate) struct SizeCache {
    since: Instant,
    bytes: AtomicU64,
    /// Milliseconds after `since` of the measure (`u64::MAX`: never measured).
    measured_at: AtomicU64,
}

impl Default for SizeCache {
    fn default() -> Self {
        SizeCache {
            since: Instant::now(),
            bytes: AtomicU64::new(0),
            measured_at: AtomicU64::new(u64::MAX),
        }
    }
}

impl SizeCache {
    /// The size, measured with `measure` when the last measure is older than [`SIZE_FRESH_FOR`]. Two writers
    /// racing may both measure: harmless.
    fn get(&self, measure: impl FnOnce() -> u64) -> u64 {
        let now = self.since.elapsed().as_millis() as u64;
        let at = self.measured_at.load(Ordering::Relaxed);
        if at != u64::MAX && now.saturating_sub(at) < SIZE_FRESH_FOR.as_millis() as u64 {
            return self.bytes.load(Ordering::Relaxed);
        }
        let bytes = measure();
        self.bytes.store(bytes, Ordering::Relaxed);
        self.measured_at.store(now, Ordering::Relaxed);
        bytes
    }
}

/// etcd's default quota (its "low space quota"), for `--quota-backend-bytes 0`.
pub(crate) const DEFAULT_QUOTA: u64 = 2 * 1024 * 1024 * 1024;
/// Above this, etcd warns that the quota exceeds what it recommends.
const MAX_RECOMMENDED_QUOTA: u64 = 8 * 1024 * 1024 * 1024;
/// etcd's estimate of what storing a key costs besides its bytes.
const KV_OVERHEAD: u64 = 256;
/// etcd's estimate of what storing a lease costs.
pub(crate) const LEASE_OVERHEAD: u64 = 64;

/// `--quota-backend-bytes` and the backend file's size, measured at most every 100 ms for the check.
#[derive(Debug)]
pub(crate) struct BackendQuota {
    /// The quota in bytes; `None` when disabled.
    limit: Option<u64>,
    size: SizeCache,
}

impl BackendQuota {
    /// The quota a `--quota-backend-bytes` value means (logged as etcd logs it).
    pub(crate) fn new(flag: i64) -> BackendQuota {
        BackendQuota {
            limit: resolve(flag),
            size: SizeCache::default(),
        }
    }
}

/// The quota a `--quota-backend-bytes` value means, logged as etcd logs it.
fn resolve(flag: i64) -> Option<u64> {
    match flag {
        f if f < 0 => {
            tracing::warn!(quota_size_bytes = f, "disabled backend quota");
            None
        }
        0 => {
            tracing::info!(
                quota_size_bytes = DEFAULT_QUOTA,
                "enabled backend quota with default value"
            );
            Some(DEFAULT_QUOTA)
        }
        f => {
            let quota = f as u64;
            if quota > MAX_RECOMMENDED_QUOTA {
                tracing::warn!(
                    quota_size_bytes = quota,
                    quota_maximum_size_bytes = MAX_RECOMMENDED_QUOTA,
                    "quota exceeds the maximum value"
                );
            }
            tracing::info!(quota_size_bytes = quota, "enabled backend quota");
            Some(quota)
        }
    }
}

/// What a put adds to the backend, as etcd estimates it.
pub(crate) fn put_cost(put: &PutRequest) -> u64 {
    KV_OVERHEAD + put.key.len() as u64 + put.value.len() as u64
}

/// What a transaction adds: the puts of its costlier branch (nested transactions are not counted, as in etcd).
pub(crate) fn txn_cost(txn: &TxnRequest) -> u64 {
    let branch = |ops: &[RequestOp]| -> u64 {
        ops.iter()
            .map(|op| match &op.request {
                Some(request_op::Request::RequestPut(put)) => put_cost(put),
                _ => 0,
            })
            .sum()
    };
    branch(&txn.success).max(branch(&txn.failure))
}

impl Server {
    /// Refuses a request that would take the backend to the quota, raising NOSPACE for this member first (as
    /// etcd does). Requests that add nothing always pass.
    pub(crate) async fn check_quota(&self, cost: u64) -> Result<(), V3Error> {
        let Some(quota) = self.quota.limit else {
            return Ok(());
        };
        if cost == 0 {
            return Ok(());
        }
        let size = self.quota.size.get(|| self.mvcc().db_size());
        if size.saturating_add(cost) < quota {
            return Ok(());
        }
        let raise = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: self.id,
            alarm: AlarmType::Nospace as i32,
        };
        if let Err(e) = self.alarm(raise).await {
            tracing::warn!("could not raise the NOSPACE alarm: {e}");
        }
        Err(V3Error::NoSpace)
    }

    /// The quota in bytes, 0 when disabled (for `etcd_server_quota_backend_bytes`).
    pub(crate) fn quota_bytes(&self) -> u64 {
        self.quota.limit.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_etcds_estimates() {
        let put = |k: &str, v: &str| PutRequest {
            key: k.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
            ..Default::default()
        };
        assert_eq!(put_cost(&put("foo", "bar")), 262);
        let op = |p: PutRequest| RequestOp {
            request: Some(request_op::Request::RequestPut(p)),
        };
        let txn = TxnRequest {
            success: vec![op(put("a", "1")), op(put("b", "2"))],
            failure: vec![op(put("c", "12345"))],
            ..Default::default()
        };
        assert_eq!(txn_cost(&txn), 2 * 258);
        assert_eq!(txn_cost(&TxnRequest::default()), 0);
    }

    #[test]
    fn the_size_is_measured_again_only_once_stale() {
        let cache = SizeCache::default();
        assert_eq!(cache.get(|| 10), 10);
        assert_eq!(cache.get(|| 20), 10, "fresh: not measured again");
        cache.measured_at.store(0, Ordering::Relaxed);
        std::thread::sleep(SIZE_FRESH_FOR + Duration::from_millis(10));
        assert_eq!(cache.get(|| 30), 30);
    }

    #[test]
    fn the_flag_means_what_it_means_in_etcd() {
        assert_eq!(resolve(0), Some(DEFAULT_QUOTA));
        assert_eq!(resolve(-1), None);
        assert_eq!(resolve(4096), Some(4096));
    }
}
