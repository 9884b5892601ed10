//! etcd's corruption checks, comparing `HashKV` across members at a shared revision:
//! - at start (`--experimental-initial-corrupt-check`): this member's hash against each peer's at this member's
//!   revision; a peer with the same compaction but another hash stops this member before it serves clients;
//! - periodically on the leader (`--experimental-corrupt-check-time`): each follower's hash at the leader's
//!   revision; a follower ahead of the leader, compacted further, or with another hash under the same compaction
//!   gets the CORRUPT alarm (through raft), after which the cluster refuses writes until it is disarmed.
//!
//! Peers answer on the peer port (`POST /members/hashkv?revision=<rev>`, as etcd's peers do): 200 with the JSON
//! of a `HashKVResponse` (etcd's field names), or 400 with the error text (the revision is compacted or in the
//! future). Unreachable peers are skipped, with a warning.

use std::time::Duration;

use etcd_api::v2::Backend as _;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{AlarmRequest, AlarmType, HashKvRequest, HashKvResponse};
use etcd_raft::Role;

use crate::server::Server;

/// The peer path of a hash request (etcd's).
pub const HASHKV_PATH: &str = "/members/hashkv";

/// One peer's answer to a hash request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeerHash {
    member: u64,
    /// The peer's revision when it answered.
    revision: i64,
    hash: u32,
    compact_revision: i64,
}

/// The JSON a peer answers a hash request with.
fn hash_kv_json(r: &HashKvResponse) -> String {
    let header = r.header.unwrap_or_default();
    serde_json::json!({
        "header": {
            "cluster_id": header.cluster_id,
            "member_id": header.member_id,
            "revision": header.revision,
            "raft_term": header.raft_term,
        },
        "hash": r.hash,
        "compact_revision": r.compact_revision,
        "hash_revision": r.hash_revision,
    })
    .to_string()
}

fn parse_peer_hash(member: u64, body: &[u8]) -> Option<PeerHash> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(PeerHash {
        member,
        revision: v["header"]["revision"].as_i64()?,
        hash: u32::try_from(v["hash"].as_u64()?).ok()?,
        compact_revision: v["compact_revision"].as_i64()?,
    })
}

impl Server {
    /// The peer answer to a corruption check: this member's `HashKV` at `revision`, as JSON (the binary
    /// serving the peer port knows no protobuf types).
    pub fn hash_kv_for_peer(&self, revision: i64) -> Result<String, crate::V3Error> {
        self.local_hash_kv(HashKvRequest { revision })
            .map(|r| hash_kv_json(&r))
    }

    /// Every other member's hash at `revision` (those that answered).
    async fn peer_hashes(&self, revision: i64) -> Vec<PeerHash> {
        let path = format!("{HASHKV_PATH}?revision={revision}");
        let mut hashes = Vec::new();
        for member in self.members().into_iter().filter(|m| m.id != self.id) {
            match self
                .transport
                .call_peer(member.id, &path, self.limits.request_timeout)
                .await
            {
                Ok((200, body)) => match parse_peer_hash(member.id, &body) {
                    Some(h) => hashes.push(h),
                    None => tracing::warn!(
                        remote_peer_id = %format!("{:x}", member.id),
                        "could not read the hash a remote peer answered"
                    ),
                },
                Ok((_, body)) => tracing::warn!(
                    remote_peer_id = %format!("{:x}", member.id),
                    error = %String::from_utf8_lossy(&body).trim(),
                    "cannot fetch hash from remote peer"
                ),
                Err(e) => tracing::warn!(
                    remote_peer_id = %format!("{:x}", member.id),
                    error = %e,
                    "failed hash kv request"
                ),
            }
        }
        hashes
    }

    /// The check `--experimental-initial-corrupt-check` makes before clients are served: `Err` when a peer
    /// with the same compaction has another hash at this member's revision.
    pub async fn initial_corruption_check(&self) -> Result<(), String> {
        tracing::info!(local_member_id = %format!("{:x}", self.id), "starting initial corruption check");
        let local = self
            .local_hash_kv(HashKvRequest { revision: 0 })
            .map_err(|e| e.to_string())?;
        let mut mismatches = 0;
        for peer in self.peer_hashes(local.hash_revision).await {
            if peer.hash == local.hash {
                continue;
            }
            if peer.compact_revision == local.compact_revision {
                tracing::warn!(
                    remote_peer_id = %format!("{:x}", peer.member),
                    local_member_hash = local.hash,
                    remote_peer_hash = peer.hash,
                    revision = local.hash_revision,
                    compact_revision = local.compact_revision,
                    "found different hash values from remote peer"
                );
                mismatches += 1;
            } else {
                tracing::warn!(
                    remote_peer_id = %format!("{:x}", peer.member),
                    local_member_compact_revision = local.compact_revision,
                    remote_peer_compact_revision = peer.compact_revision,
                    "found different compact revision values from remote peer"
                );
            }
        }
        if mismatches > 0 {
            return Err(format!("{:x} found data inconsistency with peers", self.id));
        }
        tracing::info!(local_member_id = %format!("{:x}", self.id), "initial corruption checking passed; no corruption");
        Ok(())
    }

    /// One periodic check on the leader: raises CORRUPT for the first member found inconsistent.
    async fn periodic_corruption_check(&self) {
        let Ok(before) = self.local_hash_kv(HashKvRequest { revision: 0 }) else {
            return;
        };
        let peers = self.peer_hashes(before.hash_revision).await;
        if self.linearizable_read().await.is_err() {
            return;
        }
        let Ok(after) = self.local_hash_kv(HashKvRequest { revision: 0 }) else {
            return;
        };
        let mut suspect = None;
        if after.hash != before.hash
            && after.hash_revision == before.hash_revision
            && after.compact_revision == before.compact_revision
        {
            tracing::warn!(
                revision = after.hash_revision,
                "found hash mismatch on the leader"
            );
            suspect = Some(self.id);
        }
        for peer in &peers {
            let reason = if peer.revision > after.hash_revision {
                Some("revision from follower must be less than or equal to leader's")
            } else if peer.compact_revision > after.compact_revision {
                Some("compact revision from follower must be less than or equal to leader's")
            } else if peer.compact_revision == before.compact_revision && peer.hash != before.hash {
                Some("same compact revision then hashes must match")
            } else {
                None
            };
            if let Some(reason) = reason {
                tracing::warn!(
                    remote_peer_id = %format!("{:x}", peer.member),
                    leader_hash = before.hash,
                    follower_hash = peer.hash,
                    leader_revision = before.hash_revision,
                    follower_revision = peer.revision,
                    "{reason}"
                );
                suspect = suspect.or(Some(peer.member));
            }
        }
        tracing::info!(
            number_of_peers_checked = peers.len(),
            "finished peer corruption check"
        );
        if let Some(member_id) = suspect {
            let raise = AlarmRequest {
                action: AlarmAction::Activate as i32,
                member_id,
                alarm: AlarmType::Corrupt as i32,
            };
            if let Err(e) = self.alarm(raise).await {
                tracing::warn!("could not raise the CORRUPT alarm: {e}");
            }
        }
    }
}

/// Every `period`, on the leader only, compares the members' hashes (`--experimental-corrupt-check-time`).
pub(crate) async fn duty(server: std::sync::Arc<Server>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        if server.raft.leadership().role == Role::Leader {
            server.periodic_corruption_check().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_answer_reads_back() {
        let r = HashKvResponse {
            header: Some(etcd_proto::etcdserverpb::ResponseHeader {
                member_id: 7,
                revision: 12,
                ..Default::default()
            }),
            hash: 4_000_000_000,
            compact_revision: -1,
            hash_revision: 12,
        };
        assert_eq!(
            parse_peer_hash(7, hash_kv_json(&r).as_bytes()),
            Some(PeerHash {
                member: 7,
                revision: 12,
                hash: 4_000_000_000,
                compact_revision: -1
            })
        );
    }
}
