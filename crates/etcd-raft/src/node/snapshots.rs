//! Snapshots on the raft loop: taken from the application's state every `snapshot_count` applied entries (and
//! once a member addition is applied, for the new member), saved, and the log compacted behind them.

use raft::eraftpb::ConfState;

use super::Loop;
use crate::error::RaftError;

impl Loop {
    pub(super) fn take_snapshot(&mut self) -> Result<(), RaftError> {
        let Some((index, data)) = self.snapshots.snapshot() else {
            return Ok(());
        };
        if index > self.applied || index <= self.snapshot_at {
            return Ok(());
        }
        let conf_state = self
            .conf_history
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map(|(_, cs)| cs.clone())
            .unwrap_or_else(|| self.snapshot_conf_state());
        let snapshot = self
            .store
            .create_snapshot(index, conf_state.clone(), data)
            .map_err(|e| RaftError::Storage(e.to_owned()))?;
        let Some(disk) = self.disk.as_mut() else {
            return Err(RaftError::Stopped);
        };
        disk.save_snapshot(&snapshot)?;
        self.snapshot_at = index;
        self.store
            .compact(index.saturating_sub(self.config.snapshot_catchup_entries));
        disk.release_before(index)?;
        // Keep only the configurations a later snapshot may still need.
        while self.conf_history.len() > 1
            && self.conf_history.get(1).is_some_and(|(i, _)| *i <= index)
        {
            self.conf_history.pop_front();
        }
        if self.conf_history.is_empty() {
            self.conf_history.push_back((index, conf_state));
        }
        tracing::info!(member = %format!("{:x}", self.config.id), index, "saved snapshot");
        Ok(())
    }

    /// The configuration as of the last snapshot (before any change recorded in the history).
    fn snapshot_conf_state(&self) -> ConfState {
        raft::Storage::snapshot(self.raw.store(), 0, 0).map_or_else(
            |_| self.store.conf_state(),
            |s| s.get_metadata().get_conf_state().clone(),
        )
    }
}
