//! Fault injection for tests of code built on the WAL (feature `failpoints`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

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
}

impl FaultInjector {
    /// A new, unarmed injector.
    pub fn new() -> FaultInjector {
        FaultInjector::default()
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
    }

    pub(crate) fn take_sync_failure(&self) -> bool {
        self.armed.fetch_and(!FAIL_SYNC, Ordering::SeqCst) & FAIL_SYNC != 0
    }
}
