//! etcd's Maintenance service on a member, as far as it is served: `Status`, `Alarm`, `Hash`, `HashKV` and
//! `MoveLeader`.

use etcd_api::v2::Backend as _;
use etcd_auth::Caller;
use etcd_proto::etcdrs::internal_raft_request::Request as Kind;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentResponse, HashKvRequest, HashKvResponse, HashResponse,
    MoveLeaderRequest, MoveLeaderResponse, StatusResponse,
};
use etcd_raft::Role;

use crate::server::Server;
use crate::v3::{V3Error, V3Response};

impl Server {
    /// `Status`: this member's version, backend size, raft position and leader, and what keeps it from serving
    /// (etcd lists "etcdserver: no leader" among the errors when no leader is known).
    pub async fn status(&self) -> Result<StatusResponse, V3Error> {
        let raft = self.raft.status().await.map_err(|_| V3Error::Stopped)?;
        let store = self.mvcc();
        let db_size = i64::try_from(store.db_size()).unwrap_or(i64::MAX);
        let mut errors = Vec::new();
        if raft.leader == 0 {
            errors.push(V3Error::NoLeader.to_string());
        }
        errors.extend(self.alarms.lock().errors());
        Ok(StatusResponse {
            header: Some(self.header(store.current_revision())),
            version: self.versions().server,
            db_size,
            leader: raft.leader,
            raft_index: raft.commit,
            raft_term: raft.term,
            raft_applied_index: raft.applied,
            errors,
            db_size_in_use: db_size,
            is_learner: raft.learners.contains(&raft.id),
            // `dbSizeQuota`, `downgradeInfo` and `storageVersion` are etcd 3.6's: etcd 3.5 does not send them.
            ..StatusResponse::default()
        })
    }

    /// `Alarm`: lists, raises or clears an alarm, through raft (as etcd does, a GET included).
    pub async fn alarm(&self, req: AlarmRequest) -> Result<AlarmResponse, V3Error> {
        match self.propose_v3(Kind::Alarm(req)).await? {
            V3Response::Alarm(r) => Ok(r),
            _ => Err(V3Error::Canceled),
        }
    }

    /// `MoveLeader`: on the leader, hands the leadership to a voting member and answers once it leads.
    pub async fn move_leader(&self, req: MoveLeaderRequest) -> Result<MoveLeaderResponse, V3Error> {
        if self.raft.leadership().role != Role::Leader {
            return Err(V3Error::NotLeader);
        }
        let raft = self.raft.status().await.map_err(|_| V3Error::Stopped)?;
        if !raft.voters.contains(&req.target_id) {
            return Err(V3Error::BadLeaderTransferee);
        }
        let mut changes = self.raft.leadership_changes();
        self.raft
            .transfer_leader(req.target_id)
            .map_err(|_| V3Error::Stopped)?;
        let moved = tokio::time::timeout(self.limits.request_timeout, async {
            while changes.borrow_and_update().leader != req.target_id {
                if changes.changed().await.is_err() {
                    return false;
                }
            }
            true
        })
        .await;
        match moved {
            Ok(true) => Ok(MoveLeaderResponse { header: None }),
            Ok(false) => Err(V3Error::Stopped),
            Err(_) => Err(V3Error::LeaderTransferTimeout),
        }
    }

    /// `Defragment`: this member's backend rewritten into a file of live pages only, returning the space
    /// compactions freed to the file system. Writes wait only for the copy's last step (see etcd-mvcc's
    /// defragmentation), reads not at all. Member-local, as etcd's.
    pub async fn defragment(&self, caller: &Caller) -> Result<DefragmentResponse, V3Error> {
        self.check_admin_maintenance(caller)?;
        let store = self.mvcc();
        let file = self.backend_file.clone();
        tracing::info!(path = %self.mvcc_path.display(), "defragmenting");
        let done = tokio::task::spawn_blocking(move || {
            // No snapshot from the leader replaces the database file meanwhile.
            let _file = file.lock();
            store.defragment()
        })
        .await
        .map_err(|_| V3Error::Stopped)??;
        tracing::info!(
            current_db_size_bytes = done.size_before,
            new_db_size_bytes = done.size_after,
            took = ?done.took,
            writes_paused = ?done.writes_paused,
            "finished defragmenting directory"
        );
        Ok(DefragmentResponse {
            header: Some(self.header(self.mvcc().current_revision())),
        })
    }

    /// `Hash`: a hash of the whole v3 backend (etcd's is of its whole bbolt file).
    pub fn hash(&self, caller: &Caller) -> Result<HashResponse, V3Error> {
        self.check_admin_maintenance(caller)?;
        let store = self.mvcc();
        let hash = store.hash()?;
        Ok(HashResponse {
            header: Some(self.header(store.current_revision())),
            hash,
        })
    }

    /// `HashKV`: the hash of the key-value history up to a revision (0: the current one), which members that
    /// applied the same log agree on. A store never compacted answers compact revision -1, as etcd's does.
    pub fn hash_kv(&self, caller: &Caller, req: HashKvRequest) -> Result<HashKvResponse, V3Error> {
        self.check_admin_maintenance(caller)?;
        self.local_hash_kv(req)
    }

    /// `HashKV` for the member's own corruption checks.
    pub(crate) fn local_hash_kv(&self, req: HashKvRequest) -> Result<HashKvResponse, V3Error> {
        let store = self.mvcc();
        let h = store.hash_kv(req.revision)?;
        Ok(HashKvResponse {
            header: Some(self.header(store.current_revision())),
            hash: h.hash,
            compact_revision: if h.compact_revision > 0 {
                h.compact_revision
            } else {
                -1
            },
            hash_revision: h.hash_revision,
        })
    }
}
