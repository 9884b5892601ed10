//! `/metrics` in Prometheus text format, with etcd's metric names.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use etcd_api::v2::Backend;
use etcd_raft::Role;

use crate::server::Server;

pub(crate) fn render(server: &Server) -> String {
    let status = server.cached_status();
    let leadership = server.raft.leadership();
    let has_leader = leadership.leader != 0;
    let is_leader = leadership.role == Role::Leader;
    let c = &server.counters;
    let stats = server.store_stats();
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    gauge(
        "etcd_server_has_leader",
        "Whether or not a leader exists. 1 is existence, 0 is not.",
        "gauge",
        u64::from(has_leader),
    );
    gauge(
        "etcd_server_is_leader",
        "Whether or not this member is a leader. 1 if is, 0 otherwise.",
        "gauge",
        u64::from(is_leader),
    );
    gauge(
        "etcd_server_leader_changes_seen_total",
        "The number of leader changes seen.",
        "counter",
        c.leader_changes.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_server_proposals_committed_total",
        "The total number of consensus proposals committed.",
        "gauge",
        c.proposals_committed.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_server_proposals_applied_total",
        "The total number of consensus proposals applied.",
        "gauge",
        c.proposals_applied.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_server_proposals_pending",
        "The current number of pending proposals to commit.",
        "gauge",
        c.proposals_pending.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_server_proposals_failed_total",
        "The total number of failed proposals seen.",
        "counter",
        c.proposals_failed.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_debugging_store_watchers",
        "Count of currently active watchers.",
        "gauge",
        stats.watchers,
    );
    gauge(
        "etcd_debugging_store_expires_total",
        "Total number of expired keys.",
        "counter",
        stats.expire_count,
    );
    let mvcc = server.mvcc();
    let v3 = &server.v3_counters;
    gauge(
        "etcd_debugging_mvcc_current_revision",
        "The current revision of store.",
        "gauge",
        mvcc.current_revision().max(0) as u64,
    );
    gauge(
        "etcd_debugging_mvcc_compact_revision",
        "The revision of the last compaction in store.",
        "gauge",
        mvcc.compact_revision().max(0) as u64,
    );
    gauge(
        "etcd_debugging_mvcc_keys_total",
        "Total number of keys.",
        "gauge",
        mvcc.indexed_keys() as u64,
    );
    gauge(
        "etcd_debugging_mvcc_watcher_total",
        "Total number of watchers.",
        "gauge",
        mvcc.watcher_count() as u64,
    );
    gauge(
        "etcd_debugging_mvcc_slow_watcher_total",
        "Total number of unsynced slow watchers.",
        "gauge",
        mvcc.unsynced_watcher_count() as u64,
    );
    gauge(
        "etcd_debugging_mvcc_watch_stream_total",
        "Total number of watch streams.",
        "gauge",
        v3.watch_streams.load(Ordering::Relaxed),
    );
    gauge(
        "etcd_debugging_mvcc_events_total",
        "Total number of events sent by this member.",
        "counter",
        v3.events_sent.load(Ordering::Relaxed),
    );
    // redb does not report its free pages: the file's size stands for both.
    gauge(
        "etcd_mvcc_db_total_size_in_bytes",
        "Total size of the underlying database physically allocated in bytes.",
        "gauge",
        mvcc.db_size(),
    );
    gauge(
        "etcd_server_quota_backend_bytes",
        "Current backend storage quota size in bytes.",
        "gauge",
        server.quota_bytes(),
    );
    gauge(
        "etcd_mvcc_db_total_size_in_use_in_bytes",
        "Total size of the underlying database logically in use in bytes.",
        "gauge",
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
            "counter",
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
        gauge(name, help, "counter", counter.load(Ordering::Relaxed));
    }
    gauge(
        "etcd_debugging_auth_revision",
        "The current revision of auth store.",
        "gauge",
        server.auth.store.read().revision(),
    );
    lease_ttls(&mut out, leases);
    for render in server.metric_sources.read().iter() {
        render(&mut out);
    }
    if let Some(status) = &status {
        histogram(
            &mut out,
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            &status.wal_fsync_seconds,
        );
    }
    out
}

/// `etcd_debugging_lease_ttl_total`: granted TTLs in etcd's buckets (1 s doubling to 2^23 s), bounds written as
/// Go's Prometheus client writes them (`1.048576e+06` from a million on).
fn lease_ttls(out: &mut String, c: &crate::lease::LeaseCounters) {
    let name = "etcd_debugging_lease_ttl_total";
    let _ = writeln!(
        out,
        "# HELP {name} Bucketed histogram of lease TTLs.\n# TYPE {name} histogram"
    );
    let mut cumulative = 0;
    for (b, count) in c
        .ttl_buckets
        .iter()
        .take(crate::lease::TTL_BUCKETS)
        .enumerate()
    {
        cumulative += count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"{}\"}} {cumulative}",
            go_float(1u64 << b)
        );
    }
    let total = c.granted.load(Ordering::Relaxed);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum {}", c.ttl_sum.load(Ordering::Relaxed));
    let _ = writeln!(out, "{name}_count {total}");
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

fn histogram(out: &mut String, name: &str, help: &str, h: &etcd_raft::Histogram) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut cumulative = 0;
    for (bound, count) in etcd_raft::Histogram::BOUNDS.iter().zip(h.buckets) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}", h.sum);
    let _ = writeln!(out, "{name}_count {}", h.count);
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
