//! etcd's Cluster service on a member: `MemberList`, and `MemberAdd`, `MemberRemove` and `MemberUpdate` through
//! the same membership changes the v2 members API makes (one member list for v2 and v3), with etcd's v3 errors.
//! Learners are not served yet: adding one or promoting is refused by name.

use etcd_api::v2::{Backend as _, Member as V2Member, MemberError};
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

/// etcd's check of member URLs: at least one, each `scheme://host:port` with scheme http, https, unix or unixs, and
/// no path.
fn check_urls(urls: &[String]) -> Result<(), V3Error> {
    let valid = |url: &str| {
        let Some((scheme, rest)) = url.split_once("://") else {
            return false;
        };
        let Some((host, port)) = rest.rsplit_once(':') else {
            return false;
        };
        matches!(scheme, "http" | "https" | "unix" | "unixs")
            && !host.is_empty()
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
    };
    if !urls.is_empty() && urls.iter().all(|u| valid(u)) {
        Ok(())
    } else {
        Err(V3Error::MemberBadUrls)
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
        check_urls(&req.peer_ur_ls)?;
        let added = self.add_member(req.peer_ur_ls).await.map_err(v3_error)?;
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
        check_urls(&req.peer_ur_ls)?;
        self.update_member(req.id, req.peer_ur_ls)
            .await
            .map_err(v3_error)?;
        Ok(MemberUpdateResponse {
            header: Some(self.header(0)),
            members: self.v3_members(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_urls_are_checked_as_etcd_checks_them() {
        let urls = |u: &[&str]| u.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            check_urls(&urls(&["http://10.0.0.1:2380", "unixs://a:1"])),
            Ok(())
        );
        for bad in [
            &[][..],
            &["10.0.0.1:2380"],
            &["ftp://10.0.0.1:2380"],
            &["http://10.0.0.1"],
            &["http://10.0.0.1:2380/path"],
            &["http://:2380"],
        ] {
            assert_eq!(
                check_urls(&urls(bad)),
                Err(V3Error::MemberBadUrls),
                "{bad:?}"
            );
        }
    }
}
