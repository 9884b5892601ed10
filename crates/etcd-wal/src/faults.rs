//! Fault injection for tests of code built on the WAL (feature `failpoints`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

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
    /// Every sync first sleeps this many milliseconds: a slow disk.
    sync_delay_ms: Arc<AtomicU64>,
    /// Only while this file exists, when set: a disk that turns slow and fast again under a test's control.
    sync_delay_while: Option<Arc<PathBuf>>,
}

/// The environment variable that arms an injector in every WAL a process opens (feature `failpoints` only):
/// `write:N` or `sync:N` makes the N-th write or sync of each WAL fail; `delay-sync:MS` makes every sync take
/// MS milliseconds longer, and `delay-sync:MS:PATH` only while the file PATH exists. For tests of whole programs.
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
        if let Some(delay) = spec.strip_prefix("delay-sync:") {
            let (ms, path) = match delay.split_once(':') {
                Some((ms, path)) => (ms, Some(Arc::new(PathBuf::from(path)))),
                None => (delay, None),
            };
            let injector = FaultInjector {
                sync_delay_while: path,
                ..FaultInjector::default()
            };
            injector.delay_syncs(Duration::from_millis(ms.trim().parse().ok()?));
            return Some(injector);
        }
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

    /// Every sync from now on takes `delay` longer, as on a slow or overloaded disk (zero: back to normal).
    pub fn delay_syncs(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.sync_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How long the next sync waits first.
    pub(crate) fn sync_delay(&self) -> Option<Duration> {
        let ms = self.sync_delay_ms.load(Ordering::SeqCst);
        let active = self.sync_delay_while.as_ref().is_none_or(|p| p.exists());
        (ms > 0 && active).then(|| Duration::from_millis(ms))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_delay_applies_while_its_file_exists() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let flag = dir.path().join("slow");
        let injector = FaultInjector {
            sync_delay_while: Some(Arc::new(flag.clone())),
            ..FaultInjector::default()
        };
        injector.delay_syncs(Duration::from_millis(30));
        assert_eq!(injector.sync_delay(), None);
        std::fs::write(&flag, b"").expect("the flag file");
        assert_eq!(injector.sync_delay(), Some(Duration::from_millis(30)));
        injector.delay_syncs(Duration::ZERO);
        assert_eq!(injector.sync_delay(), None);
    }

    #[test]
    fn a_sync_delay_without_a_file_always_applies() {
        let injector = FaultInjector::new();
        assert_eq!(injector.sync_delay(), None);
        injector.delay_syncs(Duration::from_millis(5));
        assert_eq!(injector.sync_delay(), Some(Duration::from_millis(5)));
    }
}
