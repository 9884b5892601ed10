//! The store statistics served at `/v2/stats/store`.

/// Counters of store operations, in etcd's field order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Successful gets (local reads, quorum reads, health checks).
    pub gets_success: u64,
    /// Failed gets.
    pub gets_fail: u64,
    /// Successful sets.
    pub sets_success: u64,
    /// Failed sets (also raised when a create fails walking a path through a file).
    pub sets_fail: u64,
    /// Successful deletes.
    pub delete_success: u64,
    /// Failed deletes.
    pub delete_fail: u64,
    /// Successful updates.
    pub update_success: u64,
    /// Failed updates.
    pub update_fail: u64,
    /// Successful creates.
    pub create_success: u64,
    /// Failed creates.
    pub create_fail: u64,
    /// Successful compare-and-swaps.
    pub compare_and_swap_success: u64,
    /// Failed compare-and-swaps.
    pub compare_and_swap_fail: u64,
    /// Successful compare-and-deletes.
    pub compare_and_delete_success: u64,
    /// Failed compare-and-deletes.
    pub compare_and_delete_fail: u64,
    /// Expired nodes.
    pub expire_count: u64,
    /// Watchers registered now.
    pub watchers: u64,
}

impl StoreStats {
    /// The counters as (etcd JSON name, value) pairs, in etcd's order.
    pub fn fields(&self) -> [(&'static str, u64); 16] {
        [
            ("getsSuccess", self.gets_success),
            ("getsFail", self.gets_fail),
            ("setsSuccess", self.sets_success),
            ("setsFail", self.sets_fail),
            ("deleteSuccess", self.delete_success),
            ("deleteFail", self.delete_fail),
            ("updateSuccess", self.update_success),
            ("updateFail", self.update_fail),
            ("createSuccess", self.create_success),
            ("createFail", self.create_fail),
            ("compareAndSwapSuccess", self.compare_and_swap_success),
            ("compareAndSwapFail", self.compare_and_swap_fail),
            ("compareAndDeleteSuccess", self.compare_and_delete_success),
            ("compareAndDeleteFail", self.compare_and_delete_fail),
            ("expireCount", self.expire_count),
            ("watchers", self.watchers),
        ]
    }
}

/// A member's raft role, as `/v2/stats/self` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RaftRole {
    /// Leads the cluster.
    Leader,
    /// Campaigns for leadership.
    Candidate,
    /// Asks whether a campaign could win (raft's pre-vote).
    PreCandidate,
    /// Follows the leader.
    #[default]
    Follower,
}

impl RaftRole {
    /// The name etcd writes (`StateLeader`, ...).
    pub fn etcd_name(self) -> &'static str {
        match self {
            RaftRole::Leader => "StateLeader",
            RaftRole::Candidate => "StateCandidate",
            RaftRole::PreCandidate => "StatePreCandidate",
            RaftRole::Follower => "StateFollower",
        }
    }
}

/// Append requests per second and bytes per second, over etcd's sampling window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrafficRate {
    /// Requests per second.
    pub packets: f64,
    /// Bytes per second.
    pub bytes: f64,
}

/// `/v2/stats/self`: this member, its view of the leader, and the append requests it sent and received.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelfStats {
    /// `--name`.
    pub name: String,
    /// This member's ID.
    pub id: u64,
    /// Its raft role now.
    pub role: RaftRole,
    /// When it started, in Unix nanoseconds.
    pub start_time: i64,
    /// The leader it knows (0: none).
    pub leader: u64,
    /// How long that leader has led.
    pub leader_uptime: std::time::Duration,
    /// Since when that leader has led, in Unix nanoseconds.
    pub leader_start_time: i64,
    /// Append requests received.
    pub received_appends: u64,
    /// Their rate; `None` when there were none lately (etcd leaves the fields out).
    pub receive_rate: Option<TrafficRate>,
    /// Append requests sent.
    pub sent_appends: u64,
    /// Their rate; `None` when there were none lately.
    pub send_rate: Option<TrafficRate>,
}

/// A follower's replication, as the leader measures it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FollowerView {
    /// Append round trips that succeeded.
    pub success: u64,
    /// Appends that failed.
    pub fail: u64,
    /// The last round trip, in milliseconds.
    pub latency_current: f64,
    /// Their average.
    pub latency_average: f64,
    /// Their standard deviation.
    pub latency_standard_deviation: f64,
    /// The shortest.
    pub latency_minimum: f64,
    /// The longest.
    pub latency_maximum: f64,
}

/// `/v2/stats/leader`: the leader and each follower's replication.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeaderStats {
    /// The leader's ID.
    pub leader: u64,
    /// Every other member by ID (a member never heard from has zeros).
    pub followers: std::collections::BTreeMap<u64, FollowerView>,
}
