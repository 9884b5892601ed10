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
