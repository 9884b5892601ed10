//! When a member serves and when it must stop by itself, as watch channels that any task can wait on.

use tokio::sync::watch;

/// Why a member stops by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// It was removed from the cluster.
    Removed,
    /// Its state can no longer follow the log (a snapshot or entry it cannot apply); the text says why.
    Fatal(String),
}

/// The member's readiness and its reason to stop.
pub(crate) struct Lifecycle {
    /// Becomes true once this member has published its attributes: everything committed before it is then
    /// applied, and clients are served (etcd's ReadyNotify).
    ready: watch::Sender<bool>,
    /// Set when the member must stop: removed from the cluster, or its state can no longer follow the log.
    stop: watch::Sender<Option<StopReason>>,
    /// Set when the member begins to shut down: long-lived streams (watches, keepalives) end then.
    shutting_down: watch::Sender<bool>,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            ready: watch::channel(false).0,
            stop: watch::channel(None).0,
            shutting_down: watch::channel(false).0,
        }
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.send_replace(true);
    }

    /// Resolves once the member begins to shut down.
    pub(crate) async fn shutting_down(&self) {
        let mut shutting_down = self.shutting_down.subscribe();
        let _ = shutting_down.wait_for(|s| *s).await;
    }

    pub(crate) fn set_ready(&self) {
        self.ready.send_replace(true);
    }

    /// Resolves once the member serves clients.
    pub(crate) async fn ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }

    pub(crate) fn stop(&self, reason: StopReason) {
        self.stop.send_replace(Some(reason));
    }

    /// Resolves with the reason once the member must stop by itself.
    pub(crate) async fn stopped(&self) -> StopReason {
        let mut stop = self.stop.subscribe();
        match stop.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or(StopReason::Removed),
            Err(_) => StopReason::Fatal("the member's state was dropped".into()),
        }
    }
}
