//! etcd's `Downgrade` (VALIDATE, ENABLE, CANCEL), answered as etcd 3.5 answers it: the target must be the
//! cluster version's previous minor (`3.4.0` → `3.3.0`), one downgrade at a time. The downgrade state is set
//! through raft and reported by `Status` (`downgradeInfo`).
//!
//! # Format (version 1)
//! Backend table `cluster`, key `downgrade`: one byte (1: a downgrade is enabled, 0: none) followed by the target
//! version in UTF-8 (`3.3.0`; empty when none). No key: no downgrade was ever enabled.

use etcd_api::v2::Backend as _;
use etcd_proto::etcdrs::DowngradeInfoSetRequest;
use etcd_proto::etcdrs::internal_raft_request::Request as Kind;
use etcd_proto::etcdserverpb::downgrade_request::DowngradeAction;
use etcd_proto::etcdserverpb::{DowngradeInfo, DowngradeRequest, DowngradeResponse};

use crate::server::Server;
use crate::v3::{V3Error, V3Response};

/// The backend table the downgrade state lives in.
const TABLE: &str = "cluster";
const KEY: &[u8] = b"downgrade";

/// Applies a downgrade state change to the backend batch.
pub(crate) fn apply(
    batch: &mut etcd_mvcc::WriteBatch<'_>,
    req: &DowngradeInfoSetRequest,
) -> etcd_mvcc::Result<()> {
    let mut value = vec![u8::from(req.enabled)];
    if req.enabled {
        value.extend_from_slice(req.ver.as_bytes());
    }
    batch.put_aux(TABLE, KEY, &value)
}

/// `major.minor.0` of a semantic version (`3.3.1-rc.0` → `3.3.0`), as etcd reduces a downgrade target.
fn cluster_version(text: &str) -> Option<(u64, u64)> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let (major, minor, patch) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || [major, minor, patch]
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

impl Server {
    /// The downgrade state as applied so far.
    pub(crate) fn downgrade_info(&self) -> DowngradeInfo {
        let entries = self.mvcc().aux_entries(TABLE).unwrap_or_default();
        let Some((_, value)) = entries.into_iter().find(|(k, _)| k == KEY) else {
            return DowngradeInfo::default();
        };
        match value.split_first() {
            Some((1, version)) => DowngradeInfo {
                enabled: true,
                target_version: String::from_utf8_lossy(version).into_owned(),
            },
            _ => DowngradeInfo::default(),
        }
    }

    /// `Downgrade`.
    pub async fn downgrade(
        &self,
        caller: &etcd_auth::Caller,
        req: DowngradeRequest,
    ) -> Result<DowngradeResponse, V3Error> {
        self.check_admin_maintenance(caller)?;
        match DowngradeAction::try_from(req.action) {
            Ok(DowngradeAction::Validate) => self.downgrade_validate(&req.version).await,
            Ok(DowngradeAction::Enable) => {
                let answer = self.downgrade_validate(&req.version).await?;
                let target =
                    cluster_version(&req.version).ok_or(V3Error::WrongDowngradeVersionFormat)?;
                self.set_downgrade(true, format!("{}.{}.0", target.0, target.1))
                    .await?;
                Ok(answer)
            }
            Ok(DowngradeAction::Cancel) => {
                self.linearizable_read().await?;
                if !self.downgrade_info().enabled {
                    return Err(V3Error::NoInflightDowngrade);
                }
                self.set_downgrade(false, String::new()).await?;
                Ok(DowngradeResponse {
                    header: Some(self.header(self.mvcc().current_revision())),
                    version: self.cluster_version_text()?,
                })
            }
            Err(_) => Err(V3Error::UnknownMethod),
        }
    }

    async fn downgrade_validate(&self, version: &str) -> Result<DowngradeResponse, V3Error> {
        let target = cluster_version(version).ok_or(V3Error::WrongDowngradeVersionFormat)?;
        // Answered from state at least as new as the leader's: a downgrade just enabled elsewhere is seen.
        self.linearizable_read().await?;
        let current = self.cluster_version_text()?;
        let (major, minor) = cluster_version(&current).ok_or(V3Error::ClusterVersionUnavailable)?;
        if minor == 0 || target != (major, minor - 1) {
            return Err(V3Error::InvalidDowngradeTargetVersion);
        }
        if self.downgrade_info().enabled {
            return Err(V3Error::DowngradeInProcess);
        }
        Ok(DowngradeResponse {
            header: Some(self.header(self.mvcc().current_revision())),
            version: current,
        })
    }

    fn cluster_version_text(&self) -> Result<String, V3Error> {
        let version = self.versions().cluster;
        if version == "not_decided" {
            return Err(V3Error::ClusterVersionUnavailable);
        }
        Ok(version)
    }

    async fn set_downgrade(&self, enabled: bool, ver: String) -> Result<(), V3Error> {
        match self
            .propose_v3(Kind::DowngradeInfoSet(DowngradeInfoSetRequest {
                enabled,
                ver,
            }))
            .await?
        {
            V3Response::DowngradeSet => Ok(()),
            _ => Err(V3Error::Canceled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_as_etcd_reads_them() {
        assert_eq!(cluster_version("3.3.0"), Some((3, 3)));
        assert_eq!(cluster_version("3.4.23"), Some((3, 4)));
        assert_eq!(cluster_version("3.5.0-rc.1"), Some((3, 5)));
        assert_eq!(cluster_version("3.3"), None);
        assert_eq!(cluster_version("v3.3.0"), None);
        assert_eq!(cluster_version(""), None);
    }
}
