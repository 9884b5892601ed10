//! Options for creating and opening a WAL.

use crate::error::{Error, Result};

/// Default size segments are preallocated to and cut at: 64 MiB, as etcd.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

/// The smallest segment size accepted; anything smaller would cut on nearly every append.
const MIN_SEGMENT_SIZE: u64 = 4096;

/// How a WAL lays out its segments.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Segments are preallocated to this many bytes, and a new segment is cut once a batch ends past it. A
    /// batch is never split between segments, so a segment can exceed this by up to one batch.
    pub segment_size: u64,
    /// Makes chosen writes and syncs fail; for tests.
    #[cfg(any(test, feature = "failpoints"))]
    pub fault_injector: Option<crate::FaultInjector>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            segment_size: DEFAULT_SEGMENT_SIZE,
            // With the `failpoints` feature, `ETCD_WAL_FAILPOINT` arms every WAL of the process.
            #[cfg(any(test, feature = "failpoints"))]
            fault_injector: crate::FaultInjector::from_env(),
        }
    }
}

impl Options {
    /// Sets [`segment_size`](Options::segment_size).
    pub fn segment_size(mut self, bytes: u64) -> Options {
        self.segment_size = bytes;
        self
    }

    /// Sets [`fault_injector`](Options::fault_injector).
    #[cfg(any(test, feature = "failpoints"))]
    pub fn fault_injector(mut self, faults: crate::FaultInjector) -> Options {
        self.fault_injector = Some(faults);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.segment_size < MIN_SEGMENT_SIZE {
            return Err(Error::InvalidOptions(
                "segment_size must be at least 4096 bytes",
            ));
        }
        Ok(())
    }
}
