//! Fault injection for tests of code built on the WAL (feature `failpoints`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

const FAIL_WRITE: u32 = 1;
const FAIL_SYNC: u32 = 2;

/// Makes the next write or sync of a WAL fail, as a full disk or a failing device would.
///
/// Pass a clone in [`Options::fault_injector`](crate::Options::fault_injector), then arm it. A failed write
/// writes half of its bytes first, so the log really holds a partial batch; a failed sync writes everything and
/// skips the sync.
#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    armed: Arc<AtomicU32>,
    /// Writes (then syncs) left before the counted one fails; 0 when none is counted.
    write_countdown: Arc<AtomicI64>,
    sync_countdown: Arc<AtomicI64>,
}

/// The environment variable that arms an injector in every WAL a process opens (feature `failpoints` only):
/// `write:N` or `sync:N` makes the N-th write or sync of each WAL fail. For tests of whole programs.
pub const FAILPOINT_ENV: &str = "ETCD_WAL_FAILPOINT";

/// Counts down; true on the step that reaches zero.
fn counted(countdown: &AtomicI64) -> bool {
    countdown
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n > 0).then_some(n - 1)
        })
        .is_ok_and(|before| before == 1)
}

impl FaultInjector {
    /// A new, unarmed injector.
    pub fn new() -> FaultInjector {
        FaultInjector::default()
    }

    /// The injector [`FAILPOINT_ENV`] asks for, if it is set.
    pub fn from_env() -> Option<FaultInjector> {
        let spec = std::env::var(FAILPOINT_ENV).ok()?;
        let (what, n) = spec.split_once(':')?;
        let n: i64 = n.trim().parse().ok().filter(|n| *n > 0)?;
        let injector = FaultInjector::new();
        match what.trim() {
            "write" => injector.write_countdown.store(n, Ordering::SeqCst),
            "sync" => injector.sync_countdown.store(n, Ordering::SeqCst),
            _ => return None,
        }
        Some(injector)
    }

    /// The next write of records fails after writing part of its bytes.
    pub fn fail_next_write(&self) {
        self.armed.fetch_or(FAIL_WRITE, Ordering::SeqCst);
    }

    /// The next sync fails.
    pub fn fail_next_sync(&self) {
        self.armed.fetch_or(FAIL_SYNC, Ordering::SeqCst);
    }

    pub(crate) fn take_write_failure(&self) -> bool {
        self.armed.fetch_and(!FAIL_WRITE, Ordering::SeqCst) & FAIL_WRITE != 0
            || counted(&self.write_countdown)
    }

    pub(crate) fn take_sync_failure(&self) -> bool {
        self.armed.fetch_and(!FAIL_SYNC, Ordering::SeqCst) & FAIL_SYNC != 0
            || counted(&self.sync_countdown)
    }
}
