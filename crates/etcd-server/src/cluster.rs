//! etcd's Cluster service on a member: `MemberList`, and `MemberAdd`, `MemberRemove` and `MemberUpdate` through
//! the same membership changes the v2 members API makes (one member list for v2 and v3), with etcd's v3 errors.
//! Learners are not served yet: adding one or promoting is refused by name.

use etcd_api::v2::{Backend as _, Member as V2Member, MemberError, checked_peer_urls};
use etcd_proto::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
};

use crate::server::Server;
use crate::v3::V3Error;

fn v3_error(e: MemberError) -> V3Error {
    match e {
        MemberError::NotFound(_) | MemberError::Removed(_) => V3Error::MemberNotFound,
        MemberError::PeerUrlExists => V3Error::PeerUrlExists,
        MemberError::IdExists => V3Error::MemberExists,
        MemberError::NotEnoughStarted => V3Error::NotEnoughStarted,
        MemberError::Unhealthy => V3Error::Unhealthy,
        MemberError::Internal => V3Error::Timeout,
    }
}

impl Server {
    fn v3_members(&self) -> Vec<Member> {
        let learners = self.cached_status().map(|s| s.learners).unwrap_or_default();
        let mut members: Vec<Member> = self
            .members()
            .into_iter()
            .map(|m: V2Member| Member {
                id: m.id,
                name: m.name,
                peer_ur_ls: m.peer_urls,
                client_ur_ls: m.client_urls,
                is_learner: learners.contains(&m.id),
            })
            .collect();
        members.sort_by_key(|m| m.id);
        members
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

    /// `MemberAdd`: a voting member with these peer URLs; answers it and the members after the change.
    pub async fn member_add(&self, req: MemberAddRequest) -> Result<MemberAddResponse, V3Error> {
        if req.is_learner {
            return Err(V3Error::NotSupported("adding a learner"));
        }
        let urls = checked_peer_urls(req.peer_ur_ls).map_err(|_| V3Error::MemberBadUrls)?;
        let added = self.add_member(urls).await.map_err(v3_error)?;
        Ok(MemberAddResponse {
            header: Some(self.header(0)),
            member: Some(Member {
                id: added.id,
                name: added.name,
                peer_ur_ls: added.peer_urls,
                client_ur_ls: added.client_urls,
                is_learner: false,
            }),
            members: self.v3_members(),
        })
    }

    /// `MemberRemove`: answers the members after the change.
    pub async fn member_remove(
        &self,
        req: MemberRemoveRequest,
    ) -> Result<MemberRemoveResponse, V3Error> {
        self.remove_member(req.id).await.map_err(v3_error)?;
        Ok(MemberRemoveResponse {
            header: Some(self.header(0)),
            members: self.v3_members(),
        })
    }

    /// `MemberUpdate`: new peer URLs for a member; answers the members after the change.
    pub async fn member_update(
        &self,
        req: MemberUpdateRequest,
    ) -> Result<MemberUpdateResponse, V3Error> {
        let urls = checked_peer_urls(req.peer_ur_ls).map_err(|_| V3Error::MemberBadUrls)?;
        self.update_member(req.id, urls).await.map_err(v3_error)?;
        Ok(MemberUpdateResponse {
            header: Some(self.header(0)),
            members: self.v3_members(),
        })
    }
}
