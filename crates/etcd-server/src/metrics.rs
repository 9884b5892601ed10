//! `/metrics` in Prometheus text format, with etcd's metric names.

use std::sync::atomic::Ordering;

use etcd_api::metrics::{MetricFamily, MetricKind, SampleValue};
use etcd_api::v2::Backend;
use etcd_raft::Role;

use crate::server::Server;
use std::sync::atomic::AtomicU64;

/// Adds metric families to `/metrics` (the gRPC layer's counters).
pub type MetricSource = Box<dyn Fn(&mut Vec<MetricFamily>) + Send + Sync>;

/// The member's counters, and the other layers' metric sources.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) v2: Counters,
    pub(crate) v3: V3Counters,
    pub(crate) sources: parking_lot::RwLock<Vec<MetricSource>>,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) proposals_committed: AtomicU64,
    pub(crate) proposals_applied: AtomicU64,
    pub(crate) proposals_failed: AtomicU64,
    pub(crate) proposals_pending: AtomicU64,
    /// Told when the last pending proposal ends, for the drain at shutdown.
    pub(crate) no_proposals_pending: tokio::sync::Notify,
    pub(crate) leader_changes: AtomicU64,
}

impl Counters {
    /// Counts a proposal as pending (`etcd_server_proposals_pending`) until the guard is dropped, however its
    /// wait ends (answered, timed out, or the client gone).
    pub(crate) fn pending_proposal(&self) -> PendingProposal<'_> {
        self.proposals_pending.fetch_add(1, Ordering::Relaxed);
        PendingProposal(self)
    }

    /// Resolves once no proposal is pending.
    pub(crate) async fn no_proposals_pending(&self) {
        loop {
            let notified = self.no_proposals_pending.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the count is read, so a proposal that ends in between still wakes us.
            notified.as_mut().enable();
            if self.proposals_pending.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A pending proposal; see [`Counters::pending_proposal`].
pub(crate) struct PendingProposal<'a>(&'a Counters);

impl Drop for PendingProposal<'_> {
    fn drop(&mut self) {
        if self.0.proposals_pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.no_proposals_pending.notify_waiters();
        }
    }
}

/// Counters of the v3 paths for `/metrics`.
#[derive(Default)]
pub(crate) struct V3Counters {
    pub(crate) puts: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) ranges: AtomicU64,
    pub(crate) txns: AtomicU64,
    pub(crate) watch_streams: AtomicU64,
    pub(crate) events_sent: AtomicU64,
}

pub(crate) fn render(server: &Server) -> Vec<MetricFamily> {
    let status = server.raft_view.status();
    let leadership = server.raft.leadership();
    let has_leader = leadership.leader != 0;
    let is_leader = leadership.role == Role::Leader;
    let c = &server.metrics.v2;
    let stats = server.store_stats();
    let mut out = Vec::with_capacity(48);
    let mut gauge = |name: &str, help: &str, kind: MetricKind, value: u64| {
        out.push(MetricFamily::single(name, help, kind, value));
    };
    gauge(
        "etcd_server_has_leader",
        "Whether or not a leader exists. 1 is existence, 0 is not.",
        MetricKind::Gauge,
        u64::from(has_leader),
    );
    gauge(
        "etcd_server_is_leader",
        "Whether or not this member is a leader. 1 if is, 0 otherwise.",
        MetricKind::Gauge,
        u64::from(is_leader),
    );
    gauge(
        "etcd_server_leader_changes_seen_total",
        "The number of leader changes seen.",
        MetricKind::Counter,
        c.leader_changes.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_server_proposals_committed_total",
        "The total number of consensus proposals committed.",
        MetricKind::Gauge,
        c.proposals_committed.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_server_proposals_applied_total",
        "The total number of consensus proposals applied.",
        MetricKind::Gauge,
        c.proposals_applied.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_server_proposals_pending",
        "The current number of pending proposals to commit.",
        MetricKind::Gauge,
        c.proposals_pending.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_server_proposals_failed_total",
        "The total number of failed proposals seen.",
        MetricKind::Counter,
        c.proposals_failed.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_debugging_store_watchers",
        "Count of currently active watchers.",
        MetricKind::Gauge,
        stats.watchers,
    );
    gauge(
        "etcd_debugging_store_expires_total",
        "Total number of expired keys.",
        MetricKind::Counter,
        stats.expire_count,
    );
    let mvcc = server.mvcc();
    let v3 = &server.metrics.v3;
    gauge(
        "etcd_debugging_mvcc_current_revision",
        "The current revision of store.",
        MetricKind::Gauge,
        mvcc.current_revision().max(0) as u64,
    );
    gauge(
        "etcd_debugging_mvcc_compact_revision",
        "The revision of the last compaction in store.",
        MetricKind::Gauge,
        mvcc.compact_revision().max(0) as u64,
    );
    gauge(
        "etcd_debugging_mvcc_keys_total",
        "Total number of keys.",
        MetricKind::Gauge,
        mvcc.indexed_keys() as u64,
    );
    gauge(
        "etcd_debugging_mvcc_watcher_total",
        "Total number of watchers.",
        MetricKind::Gauge,
        mvcc.watcher_count() as u64,
    );
    gauge(
        "etcd_debugging_mvcc_slow_watcher_total",
        "Total number of unsynced slow watchers.",
        MetricKind::Gauge,
        mvcc.unsynced_watcher_count() as u64,
    );
    gauge(
        "etcd_debugging_mvcc_watch_stream_total",
        "Total number of watch streams.",
        MetricKind::Gauge,
        v3.watch_streams.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_debugging_mvcc_events_total",
        "Total number of events sent by this member.",
        MetricKind::Counter,
        v3.events_sent.load(Ordering::Relaxed),
    );
    // redb does not report its free pages: the file's size stands for both.
    gauge(
        "etcd_mvcc_db_total_size_in_bytes",
        "Total size of the underlying database physically allocated in bytes.",
        MetricKind::Gauge,
        mvcc.db_size(),
    );
    gauge(
        "etcd_server_quota_backend_bytes",
        "Current backend storage quota size in bytes.",
        MetricKind::Gauge,
        server.quota_bytes(),
    );
    gauge(
        "etcd_mvcc_db_total_size_in_use_in_bytes",
        "Total size of the underlying database logically in use in bytes.",
        MetricKind::Gauge,
        mvcc.db_size(),
    );
    for (name, what, counter) in [
        ("etcd_mvcc_put_total", "puts", &v3.puts),
        ("etcd_mvcc_delete_total", "deletes", &v3.deletes),
        ("etcd_mvcc_range_total", "ranges", &v3.ranges),
        ("etcd_mvcc_txn_total", "txns", &v3.txns),
    ] {
        gauge(
            name,
            &format!("Total number of {what} seen by this member."),
            MetricKind::Counter,
            counter.load(Ordering::Relaxed),
        );
    }
    let leases = &server.leases.counters;
    for (name, help, counter) in [
        (
            "etcd_debugging_lease_granted_total",
            "The total number of granted leases.",
            &leases.granted,
        ),
        (
            "etcd_debugging_lease_revoked_total",
            "The total number of revoked leases.",
            &leases.revoked,
        ),
        (
            "etcd_debugging_lease_renewed_total",
            "The number of renewed leases seen by the leader.",
            &leases.renewed,
        ),
        (
            "etcd_debugging_server_lease_expired_total",
            "The total number of expired leases.",
            &leases.expired,
        ),
    ] {
        gauge(
            name,
            help,
            MetricKind::Counter,
            counter.load(Ordering::Relaxed),
        );
    }
    gauge(
        "etcd_debugging_auth_revision",
        "The current revision of auth store.",
        MetricKind::Gauge,
        server.auth.store.read().revision(),
    );
    out.push(lease_ttls(leases));
    for render in server.metrics.sources.read().iter() {
        render(&mut out);
    }
    if let Some(status) = &status {
        out.push(histogram(
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            &status.wal_fsync_seconds,
        ));
    }
    out
}

/// `etcd_debugging_lease_ttl_total`: granted TTLs in etcd's buckets (1 s doubling to 2^23 s), bounds written as
/// Go's Prometheus client writes them (`1.048576e+06` from a million on).
fn lease_ttls(c: &crate::lease::LeaseCounters) -> MetricFamily {
    let mut cumulative = 0;
    let buckets: Vec<(String, u64)> = c
        .ttl_buckets
        .iter()
        .take(crate::lease::TTL_BUCKETS)
        .enumerate()
        .map(|(b, count)| {
            cumulative += count.load(Ordering::Relaxed);
            (go_float(1u64 << b), cumulative)
        })
        .collect();
    MetricFamily::histogram(
        "etcd_debugging_lease_ttl_total",
        "Bucketed histogram of lease TTLs.",
        buckets,
        SampleValue::Int(c.ttl_sum.load(Ordering::Relaxed)),
        c.granted.load(Ordering::Relaxed),
    )
}

/// A whole number as Go's `%g` (Prometheus bucket bounds) writes it: plain below a million, then `d.ddde+XX`.
fn go_float(v: u64) -> String {
    if v < 1_000_000 {
        return v.to_string();
    }
    let digits = v.to_string();
    let (first, rest) = digits.split_at(1);
    let rest = rest.trim_end_matches('0');
    let exponent = digits.len() - 1;
    if rest.is_empty() {
        format!("{first}e+{exponent:02}")
    } else {
        format!("{first}.{rest}e+{exponent:02}")
    }
}

fn histogram(name: &str, help: &str, h: &etcd_raft::Histogram) -> MetricFamily {
    let mut cumulative = 0;
    let buckets: Vec<(String, u64)> = etcd_raft::Histogram::BOUNDS
        .iter()
        .zip(h.buckets)
        .map(|(bound, count)| {
            cumulative += count;
            (bound.to_string(), cumulative)
        })
        .collect();
    MetricFamily::histogram(name, help, buckets, SampleValue::Float(h.sum), h.count)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bucket_bounds_are_written_as_gos_prometheus_client_writes_them() {
        assert_eq!(super::go_float(524_288), "524288");
        assert_eq!(super::go_float(1_048_576), "1.048576e+06");
        assert_eq!(super::go_float(8_388_608), "8.388608e+06");
        assert_eq!(super::go_float(1_000_000), "1e+06");
    }
}

#[cfg(test)]
mod pending_tests {
    use super::*;

    #[tokio::test]
    async fn a_proposal_whose_wait_is_dropped_is_no_longer_pending() {
        let counters = Counters::default();
        let guard = counters.pending_proposal();
        {
            // The wait of a client that went away: dropped before it was answered.
            let _second = counters.pending_proposal();
            assert_eq!(counters.proposals_pending.load(Ordering::Relaxed), 2);
        }
        assert_eq!(counters.proposals_pending.load(Ordering::Relaxed), 1);
        let drained = counters.no_proposals_pending();
        let mut drained = std::pin::pin!(drained);
        assert!(
            futures_poll_once(drained.as_mut()).await.is_none(),
            "one is still pending"
        );
        drop(guard);
        tokio::time::timeout(std::time::Duration::from_secs(10), drained)
            .await
            .expect("the drain ends with the last proposal");
    }

    /// Polls `f` once.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(out) => Some(out),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
