//! The proxy's own metrics, with etcd's grpc-proxy names (`/metrics` on the proxy's listener).

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct ProxyMetrics {
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    cache_keys: AtomicI64,
    /// Client watchers that share an upstream watch with another.
    watchers_coalescing: AtomicI64,
    /// Events delivered to more than one watcher from one upstream event.
    events_coalescing: AtomicU64,
    /// Keepalives answered from another client's upstream keepalive.
    keepalives_coalescing: AtomicU64,
}

impl ProxyMetrics {
    pub(crate) fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_cache_keys(&self, n: usize) {
        self.cache_keys
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn watchers_coalescing(&self, delta: i64) {
        self.watchers_coalescing.fetch_add(delta, Ordering::Relaxed);
    }

    pub(crate) fn events_coalescing(&self, n: u64) {
        self.events_coalescing.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn keepalive_coalesced(&self) {
        self.keepalives_coalescing.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus' text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        metric(
            "etcd_grpc_proxy_cache_hits_total",
            "gauge",
            "Total number of cache hits",
            load(&self.cache_hits),
        );
        metric(
            "etcd_grpc_proxy_cache_misses_total",
            "gauge",
            "Total number of cache misses",
            load(&self.cache_misses),
        );
        metric(
            "etcd_grpc_proxy_cache_keys_total",
            "gauge",
            "Total number of keys/ranges cached",
            self.cache_keys.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "etcd_grpc_proxy_watchers_coalescing_total",
            "gauge",
            "Total number of current watchers coalescing",
            self.watchers_coalescing.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "etcd_grpc_proxy_events_coalescing_total",
            "counter",
            "Total number of events coalescing",
            load(&self.events_coalescing),
        );
        metric(
            "etcd_grpc_proxy_keepalives_coalescing_total",
            "counter",
            "Total number of lease keepalives answered from another client's keepalive",
            load(&self.keepalives_coalescing),
        );
        out
    }
}
