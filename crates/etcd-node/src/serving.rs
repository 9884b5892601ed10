//! The shutdown pattern of the binary's servers (ARCHITECTURE.md, "Threads, tasks and locks"): the tasks
//! serving some ports run in one tracker and watch one cancellation token; stopping cancels it (no new
//! connections; each one answers what it is answering) and waits for the tasks with a deadline.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The tasks serving some ports, and the signal that stops them.
pub(crate) struct Serving {
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
}

impl Serving {
    pub(crate) fn new() -> Serving {
        Serving {
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Stops accepting and tells the connections to answer what they are answering and close (each ends at
    /// most `etcd_tls::CONNECTION_GRACE` later).
    pub(crate) fn signal(&self) {
        self.shutdown.cancel();
        self.tasks.close();
    }

    /// [`Serving::signal`], then waits for the connections, `within` at most.
    pub(crate) async fn stop(&self, within: Duration) {
        self.signal();
        if tokio::time::timeout(within, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after {within:?}; closing them");
        }
    }
}
