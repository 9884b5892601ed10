//! The loop's report of its raft state ([`Status`]), for `RaftHandle::status`.

use super::{Loop, role_of};
use crate::types::{PeerProgress, ReplicationState, Role, Status};

impl Loop {
    pub(super) fn status(&self) -> Status {
        let raft = &self.raw.raft;
        let role = role_of(raft.state);
        let conf = raft.prs().conf();
        let mut voters: Vec<u64> = conf.voters().ids().iter().collect();
        voters.sort_unstable();
        let mut learners: Vec<u64> = conf.learners().iter().copied().collect();
        learners.sort_unstable();
        let progress = if role == Role::Leader {
            raft.prs()
                .iter()
                .map(|(id, pr)| {
                    let state = match pr.state {
                        raft::ProgressState::Probe => ReplicationState::Probe,
                        raft::ProgressState::Replicate => ReplicationState::Replicate,
                        raft::ProgressState::Snapshot => ReplicationState::Snapshot,
                    };
                    (
                        *id,
                        PeerProgress {
                            matched: pr.matched,
                            next: pr.next_idx,
                            state,
                            is_learner: conf.learners().contains(id),
                        },
                    )
                })
                .collect()
        } else {
            Default::default()
        };
        Status {
            id: self.config.id,
            leader: raft.leader_id,
            term: raft.term,
            commit: raft.raft_log.committed,
            applied: self.applied,
            role,
            wal_syncs: self.disk.as_ref().map_or(0, |d| d.syncs),
            wal_entries: self.disk.as_ref().map_or(0, |d| d.entries_written),
            wal_fsync_seconds: self
                .disk
                .as_ref()
                .map(|d| d.sync_seconds.clone())
                .unwrap_or_default(),
            voters,
            learners,
            progress,
        }
    }
}
