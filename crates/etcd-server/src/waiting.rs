//! What the Lock and Election services wait on: the deletion of the keys ahead of one, watched (not polled),
//! and the lease they hold kept alive while they wait, as etcd's concurrency sessions do.

use std::sync::Arc;
use std::time::Duration;

use etcd_mvcc::WatchSpec;
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::{DeleteRangeRequest, RangeRequest, RangeResponse, ResponseHeader};
use etcd_proto::mvccpb::event::EventType;
use tokio::sync::mpsc;

use etcd_auth::Caller;

use crate::server::Server;
use crate::v3::V3Error;

/// How long a wait trusts its watch before looking again (the store may have been replaced by a snapshot,
/// which ends its watchers).
const RECHECK: Duration = Duration::from_secs(1);

/// The end of the range of keys starting with `prefix` (etcd's `GetPrefixRangeEnd`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(&last) = end.last() {
        if last < 0xff {
            if let Some(b) = end.last_mut() {
                *b += 1;
            }
            return end;
        }
        end.pop();
    }
    vec![0]
}

/// A lease ID as Go's `%x` prints an `int64` (a sign, then the magnitude).
pub(crate) fn go_hex(id: i64) -> String {
    if id < 0 {
        format!("-{:x}", id.unsigned_abs())
    } else {
        format!("{id:x}")
    }
}

/// The key of `prefix` with the lowest (`first`) or highest create revision, at most `max_create` (0: any).
pub(crate) async fn by_create(
    server: &Server,
    caller: &Caller,
    prefix: &[u8],
    first: bool,
    max_create: i64,
) -> Result<RangeResponse, V3Error> {
    server
        .range(
            caller,
            RangeRequest {
                key: prefix.to_vec(),
                range_end: prefix_end(prefix),
                limit: 1,
                sort_target: SortTarget::Create as i32,
                sort_order: if first {
                    SortOrder::Ascend
                } else {
                    SortOrder::Descend
                } as i32,
                max_create_revision: max_create,
                ..RangeRequest::default()
            },
        )
        .await
}

/// Waits until no key of `prefix` has a create revision at or below `max_create`: the keys ahead in line are
/// gone. Answers the header of the last look.
pub(crate) async fn wait_deletes(
    server: &Server,
    caller: &Caller,
    prefix: &[u8],
    max_create: i64,
) -> Result<ResponseHeader, V3Error> {
    loop {
        let ahead = by_create(server, caller, prefix, false, max_create).await?;
        let header = ahead.header.unwrap_or_default();
        match ahead.kvs.first() {
            None => return Ok(header),
            Some(kv) => wait_delete(server, caller, &kv.key, header.revision).await?,
        }
    }
}

/// Waits for `key` to be deleted after revision `seen`.
async fn wait_delete(
    server: &Server,
    caller: &Caller,
    key: &[u8],
    seen: i64,
) -> Result<(), V3Error> {
    loop {
        let store = server.mvcc();
        let (tx, mut rx) = mpsc::channel(16);
        let spec = WatchSpec {
            key: key.to_vec(),
            range_end: Vec::new(),
            start_revision: seen + 1,
            no_put: true,
            no_delete: false,
            prev_kv: false,
        };
        let id = store.watch(spec, tx)?;
        let deleted = tokio::time::timeout(RECHECK, async {
            while let Some(batch) = rx.recv().await {
                if batch.compact_revision > 0
                    || batch
                        .events
                        .iter()
                        .any(|e| e.r#type == EventType::Delete as i32)
                {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        store.cancel_watch(id);
        if deleted {
            return Ok(());
        }
        let still = server
            .range(
                caller,
                RangeRequest {
                    key: key.to_vec(),
                    serializable: true,
                    keys_only: true,
                    ..RangeRequest::default()
                },
            )
            .await?;
        if still.kvs.is_empty() {
            return Ok(());
        }
    }
}

/// Deletes a waiter's key if the wait is given up (the client went away, or an error): armed until
/// [`Claim::keep`].
pub(crate) struct Claim {
    server: Arc<Server>,
    caller: Caller,
    key: Vec<u8>,
    keepalive: Option<tokio::task::JoinHandle<()>>,
    armed: bool,
}

impl Claim {
    /// Claims `key`, keeping `lease` alive meanwhile (every third of its TTL).
    pub(crate) fn new(server: &Arc<Server>, caller: &Caller, key: Vec<u8>, lease: i64) -> Self {
        let keepalive = (lease != 0).then(|| {
            let server = server.clone();
            tokio::spawn(async move {
                loop {
                    let ttl = server
                        .leases
                        .lessor
                        .lock()
                        .time_to_live(lease, std::time::Instant::now())
                        .map_or(0, |t| t.granted);
                    let pause = Duration::from_millis(u64::try_from(ttl).unwrap_or(0) * 1000 / 3);
                    tokio::time::sleep(pause.max(Duration::from_millis(500))).await;
                    if !matches!(server.lease_keep_alive(lease).await, Ok(r) if r.ttl > 0) {
                        return;
                    }
                }
            })
        });
        Self {
            server: server.clone(),
            caller: caller.clone(),
            key,
            keepalive,
            armed: true,
        }
    }

    /// The wait succeeded: the key stays.
    pub(crate) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(task) = self.keepalive.take() {
            task.abort();
        }
        if self.armed {
            let (server, key) = (self.server.clone(), std::mem::take(&mut self.key));
            let caller = std::mem::take(&mut self.caller);
            tokio::spawn(async move {
                let delete = DeleteRangeRequest {
                    key,
                    ..DeleteRangeRequest::default()
                };
                let _ = server.delete_range(&caller, delete).await;
            });
        }
    }
}
