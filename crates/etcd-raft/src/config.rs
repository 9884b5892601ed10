//! The raft node's configuration, with etcd's defaults.

use std::time::Duration;

/// How a raft node runs. [`RaftConfig::new`] gives etcd 3.4's defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RaftConfig {
    /// This member's ID.
    pub id: u64,
    /// The cluster's ID (checked on every peer message by the transport; recorded in the WAL).
    pub cluster_id: u64,
    /// One raft tick: etcd's `--heartbeat-interval` (100 ms).
    pub tick_interval: Duration,
    /// Ticks without a leader before an election: `--election-timeout` / `--heartbeat-interval` (10).
    pub election_ticks: usize,
    /// Ticks between heartbeats (1).
    pub heartbeat_ticks: usize,
    /// Bytes of entries per append message (1 MiB).
    pub max_size_per_msg: u64,
    /// Append messages in flight per follower (512).
    pub max_inflight_msgs: usize,
    /// Pre-vote (on, as etcd).
    pub pre_vote: bool,
    /// Leaders step down without a quorum (on, as etcd).
    pub check_quorum: bool,
    /// Applied entries between snapshots: `--snapshot-count` (100000).
    pub snapshot_count: u64,
    /// Entries kept in memory behind a snapshot for slow followers (5000, as etcd).
    pub snapshot_catchup_entries: u64,
    /// How long a proposal or read may wait: 5 s + 2 × the election timeout (7 s by default), as etcd.
    pub request_timeout: Duration,
    /// WAL segment size (64 MiB).
    pub wal_segment_size: u64,
    /// A dedicated WAL directory (etcd's `--wal-dir`); `None` keeps it in `<dir>/wal`.
    pub wal_dir: Option<std::path::PathBuf>,
    /// Restart as a one-member cluster keeping the data (etcd's `--force-new-cluster`): the other members are
    /// removed by committed changes in the log. Only applies to a member with a log.
    pub force_new_cluster: bool,
}

impl RaftConfig {
    /// etcd's defaults for member `id` of cluster `cluster_id`.
    pub fn new(id: u64, cluster_id: u64) -> RaftConfig {
        let mut config = RaftConfig {
            id,
            cluster_id,
            tick_interval: Duration::from_millis(100),
            election_ticks: 10,
            heartbeat_ticks: 1,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 512,
            pre_vote: true,
            check_quorum: true,
            snapshot_count: 100_000,
            snapshot_catchup_entries: 5000,
            request_timeout: Duration::ZERO,
            wal_segment_size: etcd_wal::DEFAULT_SEGMENT_SIZE,
            wal_dir: None,
            force_new_cluster: false,
        };
        config.request_timeout = config.default_request_timeout();
        config
    }

    /// Sets the heartbeat interval and election timeout as etcd's flags do, and the request timeout with them.
    pub fn with_timing(mut self, heartbeat: Duration, election: Duration) -> RaftConfig {
        self.tick_interval = heartbeat.max(Duration::from_millis(1));
        let ticks = election.as_millis() / self.tick_interval.as_millis().max(1);
        self.election_ticks = usize::try_from(ticks).unwrap_or(usize::MAX).max(2);
        self.request_timeout = self.default_request_timeout();
        self
    }

    /// The election timeout this configuration gives.
    pub fn election_timeout(&self) -> Duration {
        self.tick_interval * u32::try_from(self.election_ticks).unwrap_or(u32::MAX)
    }

    fn default_request_timeout(&self) -> Duration {
        Duration::from_secs(5) + 2 * self.election_timeout()
    }

    pub(crate) fn to_raft(&self, applied: u64) -> raft::Config {
        raft::Config {
            id: self.id,
            election_tick: self.election_ticks,
            heartbeat_tick: self.heartbeat_ticks,
            applied,
            max_size_per_msg: self.max_size_per_msg,
            max_inflight_msgs: self.max_inflight_msgs,
            check_quorum: self.check_quorum,
            pre_vote: self.pre_vote,
            ..raft::Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_etcds() {
        let c = RaftConfig::new(1, 2);
        assert_eq!(c.election_timeout(), Duration::from_millis(1000));
        assert_eq!(c.request_timeout, Duration::from_secs(7));
        assert!(c.pre_vote && c.check_quorum);
        let c = c.with_timing(Duration::from_millis(50), Duration::from_millis(500));
        assert_eq!(c.election_ticks, 10);
        assert_eq!(c.request_timeout, Duration::from_secs(6));
        c.to_raft(0).validate().expect("valid raft config");
    }
}
