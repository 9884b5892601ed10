//! etcd's Cluster service on a member: `MemberList`, and `MemberAdd` (voting members and learners),
//! `MemberRemove`, `MemberUpdate` and `MemberPromote` through the same membership changes the v2 members API
//! makes (one member list for v2 and v3), with etcd's v3 errors.
//!
//! A promotion is decided by the leader, the only member that knows how far each learner's log is: a member that
//! does not lead hands it to the leader over the peer port (`POST /members/promote/<id>`, as etcd does) and
//! answers what the leader answered.

use etcd_auth::Caller;
use std::time::Duration;

use etcd_raft::{MemberChange, MemberChangeKind, Role};

use etcd_api::v2::{Backend as _, Member as V2Member, MemberError, checked_peer_urls};
use etcd_proto::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};

use crate::server::{Server, Voting};
use crate::v3::V3Error;

/// The peer path a promotion is handed to the leader on (etcd's), followed by the member ID in decimal.
pub const PROMOTE_PATH: &str = "/members/promote/";
/// A learner is ready for promotion when its log holds this share of the leader's (etcd's rule).
const READY_SHARE: f64 = 0.9;
/// The errors a leader may answer a handed-over promotion with, recognised by their text.
const PROMOTE_ERRORS: [V3Error; 8] = [
    V3Error::MemberNotFound,
    V3Error::MemberNotLearner,
    V3Error::LearnerNotReady,
    V3Error::NotEnoughStarted,
    V3Error::NotLeader,
    V3Error::NoLeader,
    V3Error::Stopped,
    V3Error::Timeout,
];

fn v3_error(e: MemberError) -> V3Error {
    match e {
        MemberError::NotFound(_) | MemberError::Removed(_) => V3Error::MemberNotFound,
        MemberError::PeerUrlExists => V3Error::PeerUrlExists,
        MemberError::IdExists => V3Error::MemberExists,
        MemberError::NotEnoughStarted => V3Error::NotEnoughStarted,
        MemberError::Unhealthy => V3Error::Unhealthy,
        MemberError::TooManyLearners => V3Error::TooManyLearners,
        MemberError::Internal => V3Error::Timeout,
    }
}

impl Server {
    fn v3_members(&self) -> Vec<Member> {
        self.with_store(crate::members::records)
            .into_iter()
            .map(|(m, is_learner): (V2Member, bool)| Member {
                id: m.id,
                name: m.name,
                peer_ur_ls: m.peer_urls,
                client_ur_ls: m.client_urls,
                is_learner,
            })
            .collect()
    }

    /// `MemberList`: every member, by ID; with `linearizable`, after a read index. The header carries no
    /// revision: etcd's cluster service answers none.
    pub async fn member_list(&self, req: MemberListRequest) -> Result<MemberListResponse, V3Error> {
        if req.linearizable {
            self.linearizable_read().await?;
        }
        Ok(MemberListResponse {
            header: Some(self.header(0)),
            members: self.v3_members(),
        })
    }

    /// `MemberAdd`: a voting member or a learner with these peer URLs; answers it and the members after the
    /// change.
    pub async fn member_add(
        &self,
        caller: &Caller,
        req: MemberAddRequest,
    ) -> Result<MemberAddResponse, V3Error> {
        self.check_admin(caller)?;
        let urls = checked_peer_urls(req.peer_ur_ls).map_err(|_| V3Error::MemberBadUrls)?;
        let voting = if req.is_learner {
            Voting::Learner
        } else {
            Voting::Voter
        };
        let added = self.add_member_as(urls, voting).await.map_err(v3_error)?;
        Ok(MemberAddResponse {
            header: Some(self.header(0)),
            member: Some(Member {
                id: added.id,
                name: added.name,
                peer_ur_ls: added.peer_urls,
                client_ur_ls: added.client_urls,
                is_learner: req.is_learner,
            }),
            members: self.v3_members(),
        })
    }

    /// `MemberRemove`: answers the members after the change.
    pub async fn member_remove(
        &self,
        caller: &Caller,
        req: MemberRemoveRequest,
    ) -> Result<MemberRemoveResponse, V3Error> {
        self.check_admin(caller)?;
        self.remove_member(req.id).await.map_err(v3_error)?;
        Ok(MemberRemoveResponse {
            header: Some(self.header(0)),
            members: self.v3_members(),
        })
    }

    /// `MemberUpdate`: new peer URLs for a member; answers the members after the change.
    pub async fn member_update(
        &self,
        caller: &Caller,
        req: MemberUpdateRequest,
    ) -> Result<MemberUpdateResponse, V3Error> {
        self.check_admin(caller)?;
        let urls = checked_peer_urls(req.peer_ur_ls).map_err(|_| V3Error::MemberBadUrls)?;
        self.update_member(req.id, urls).await.map_err(v3_error)?;
        Ok(MemberUpdateResponse {
            header: Some(self.header(0)),
            members: self.v3_members(),
        })
    }
}

impl Server {
    /// `MemberPromote`: makes a learner a voting member once its log is in step with the leader's; decided by
    /// the leader (handed to it by the others); answers the members after the change.
    pub async fn member_promote(
        &self,
        caller: &Caller,
        req: MemberPromoteRequest,
    ) -> Result<MemberPromoteResponse, V3Error> {
        self.check_admin(caller)?;
        let leader = self.raft.leadership().leader;
        if leader == 0 {
            return Err(V3Error::NoLeader);
        }
        if leader == self.id {
            self.promote_as_leader(req.id).await?;
        } else {
            self.promote_through(leader, req.id).await?;
            // The leader applied the change; this member answers once it has too.
            self.linearizable_read().await?;
        }
        Ok(MemberPromoteResponse {
            header: Some(self.header(0)),
            members: self.v3_members(),
        })
    }

    /// What the leader does with a promotion (its own, or one handed over by a peer).
    pub async fn promote_as_leader(&self, id: u64) -> Result<(), V3Error> {
        if self.raft.leadership().role != Role::Leader {
            return Err(V3Error::NotLeader);
        }
        let raft = self.raft.status().await.map_err(|_| V3Error::Stopped)?;
        let members = self.members();
        if !members.iter().any(|m| m.id == id) {
            return Err(V3Error::MemberNotFound);
        }
        if !raft.learners.contains(&id) {
            return Err(V3Error::MemberNotLearner);
        }
        if self.policy.strict_reconfig {
            // etcd's rule: the voting members started, with the learner, are a quorum of the cluster after.
            let voters: Vec<_> = members
                .iter()
                .filter(|m| !raft.learners.contains(&m.id))
                .collect();
            let started = 1 + voters.iter().filter(|m| !m.name.is_empty()).count();
            let voters_after = voters.len() + 1;
            if started < voters_after / 2 + 1 {
                return Err(V3Error::NotEnoughStarted);
            }
        }
        let matched = |member: u64| raft.progress.get(&member).map_or(0, |p| p.matched);
        if (matched(id) as f64) < matched(self.id) as f64 * READY_SHARE {
            return Err(V3Error::LearnerNotReady);
        }
        let change = MemberChange {
            kind: MemberChangeKind::PromoteLearner,
            node_id: id,
            context: Vec::new(),
        };
        self.change(change).await.map_err(v3_error)
    }

    /// Hands a promotion to the leader over the peer port; its error comes back as its text.
    async fn promote_through(&self, leader: u64, id: u64) -> Result<(), V3Error> {
        let path = format!("{PROMOTE_PATH}{id}");
        let timeout = self.limits.request_timeout + Duration::from_secs(1);
        match self.transport.call_peer(leader, &path, timeout).await {
            Ok((200, _)) => Ok(()),
            Ok((_, body)) => {
                let text = String::from_utf8_lossy(&body);
                let text = text.trim();
                Err(PROMOTE_ERRORS
                    .into_iter()
                    .find(|e| e.to_string() == text)
                    .unwrap_or(V3Error::Timeout))
            }
            Err(e) => {
                tracing::warn!("could not hand a promotion to the leader {leader:x}: {e}");
                Err(V3Error::Timeout)
            }
        }
    }

    /// Whether this member is a learner, as of the membership applied so far.
    pub fn is_learner(&self) -> bool {
        self.raft_view.is_learner()
    }
}

impl Server {
    /// Notes whether this member is a learner, from the membership just applied (after a membership change or
    /// a snapshot).
    pub(crate) fn follow_learner_state(&self, store: &etcd_store::Store) {
        let learner = crate::members::records(store)
            .iter()
            .any(|(m, learner)| m.id == self.id && *learner);
        self.raft_view.set_learner(learner);
    }
}
