//! How a proxy is set up: etcd's `--proxy*` flags and what they point at.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A proxy's configuration (etcd's defaults in [`ProxyConfig::new`]).
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// `--proxy readonly`: only GET is forwarded; anything else is answered 501.
    pub readonly: bool,
    /// `--proxy-failure-wait`: how long a failed member is skipped (5 s).
    pub failure_wait: Duration,
    /// `--proxy-refresh-interval`: how often the member list is refreshed (30 s).
    pub refresh_interval: Duration,
    /// `--proxy-dial-timeout`: connecting to a member (1 s).
    pub dial_timeout: Duration,
    /// `--proxy-write-timeout`: how long a member may take to answer a request that is not a watch (5 s).
    pub write_timeout: Duration,
    /// `--proxy-read-timeout`: how long a watch may wait for its answer; `None` (etcd's 0) waits forever.
    pub read_timeout: Option<Duration>,
    /// The peer URLs to find the cluster through when there is no saved cluster file (`--initial-cluster`).
    pub initial_peer_urls: Vec<String>,
    /// Where the known peer URLs are saved (`<data-dir>/proxy/cluster`); `None` keeps nothing.
    pub cluster_file: Option<PathBuf>,
    /// TLS for dialing members' client URLs.
    pub member_tls: Arc<etcd_tls::ClientConfig>,
    /// `--cors`: allowed origins (`*` for any).
    pub cors: Vec<String>,
    /// The largest request body forwarded.
    pub max_request_bytes: usize,
}

impl ProxyConfig {
    /// etcd's defaults, finding the cluster through `initial_peer_urls`, dialing members with `tls`.
    pub fn new(initial_peer_urls: Vec<String>, tls: Arc<etcd_tls::ClientConfig>) -> ProxyConfig {
        ProxyConfig {
            readonly: false,
            failure_wait: Duration::from_millis(5000),
            refresh_interval: Duration::from_millis(30_000),
            dial_timeout: Duration::from_millis(1000),
            write_timeout: Duration::from_millis(5000),
            read_timeout: None,
            initial_peer_urls,
            cluster_file: None,
            member_tls: tls,
            cors: vec!["*".to_owned()],
            max_request_bytes: 10 * 1024 * 1024,
        }
    }
}
