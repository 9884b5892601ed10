//! What `/health`, `/livez` and `/readyz` report (the HTTP layer writes it out).
//!
//! `/health` follows etcd 3.5: unhealthy when an alarm is active (unless excluded), when no leader is known, or
//! when a read of the v3 store fails within a second (linearizable unless `serializable`). `/livez` asks whether
//! the member should be restarted: can it still serve a member-local read? `/readyz` asks whether it should get
//! traffic: no CORRUPT alarm, and both a member-local and a linearizable read succeed. The check names are etcd
//! 3.6's.

use std::time::Duration;

use etcd_proto::etcdserverpb::{AlarmType, RangeRequest};

use crate::server::Server;

/// How long the read a check makes may take.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

impl Server {
    /// Why `/health` is false now (`None`: it is true).
    pub(crate) async fn health_reason(
        &self,
        excluded: Vec<String>,
        serializable: bool,
    ) -> Option<String> {
        let active: Vec<i32> = self
            .alarms
            .lock()
            .get(AlarmType::None as i32)
            .iter()
            .map(|a| a.alarm)
            .collect();
        for alarm in active {
            let name = AlarmType::try_from(alarm).map_or("UNKNOWN", |a| a.as_str_name());
            if excluded.iter().any(|e| e == name) {
                tracing::debug!(alarm = name, "/health excluded alarm");
                continue;
            }
            let reason = match name {
                "NOSPACE" | "CORRUPT" => format!("ALARM {name}"),
                _ => "ALARM UNKNOWN".to_owned(),
            };
            tracing::warn!(alarm = name, "serving /health false; activated alarm");
            return Some(reason);
        }
        if !self.has_leader() {
            tracing::warn!("serving /health false; no leader");
            return Some("RAFT NO LEADER".to_owned());
        }
        self.read_check(serializable)
            .await
            .map(|e| format!("RANGE ERROR:{e}"))
    }

    /// The checks of `/readyz` (`ready`) or `/livez`, with why each failed.
    pub(crate) async fn probe_results(&self, ready: bool) -> Vec<(&'static str, Option<String>)> {
        let mut checks = Vec::new();
        if ready {
            let corrupt = !self.alarms.lock().get(AlarmType::Corrupt as i32).is_empty();
            checks.push((
                "data_corruption",
                corrupt.then(|| "ALARM CORRUPT".to_owned()),
            ));
        }
        checks.push(("serializable_read", self.read_check(true).await));
        if ready {
            checks.push(("linearizable_read", self.read_check(false).await));
        }
        checks
    }

    /// A one-key read of the v3 store: `None` when it answers in time, else the error.
    async fn read_check(&self, serializable: bool) -> Option<String> {
        if !serializable && !self.has_leader() {
            // A linearizable read needs a leader's read index: fail at once rather than after the timeout.
            return Some(crate::v3::V3Error::NoLeader.to_string());
        }
        let read = RangeRequest {
            key: b"health".to_vec(),
            limit: 1,
            keys_only: true,
            serializable,
            ..RangeRequest::default()
        };
        match tokio::time::timeout(READ_TIMEOUT, self.read_range(read)).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("context deadline exceeded".to_owned()),
        }
    }
}
