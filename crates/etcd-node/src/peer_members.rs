//! Asking peers who the members are (`GET <peer URL>/members`), the one way etcd-node does it: a member joining a
//! running cluster (`--initial-cluster-state existing`) learns the cluster's ID and its own (given when it was
//! added), and the v2 proxy refreshes its members' URLs. Peers are dialed as the raft transport dials them:
//! `http://`, `https://`, `unix://` or `unixs://` (with the peer TLS configuration) as their URLs say.

use std::time::Duration;

use serde::Deserialize;

/// How long one peer may take to answer (etcd's, for joining and for the proxy alike).
const ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest member list accepted.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// One member as a peer's `/members` lists it.
#[derive(Debug, Deserialize)]
pub struct RemoteMember {
    pub id: u64,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
}

/// The cluster as the members reachable at some peer URLs describe it.
#[derive(Debug)]
pub struct RemoteCluster {
    pub cluster_id: u64,
    /// Every member.
    pub members: Vec<RemoteMember>,
}

/// Asks peers, dialing with the member's peer TLS.
#[derive(Clone)]
pub struct PeerMembers(etcd_raft::PeerClient);

impl PeerMembers {
    pub fn new(tls: Option<etcd_tls::ClientTls>) -> PeerMembers {
        PeerMembers(etcd_raft::PeerClient::new(tls))
    }

    /// Asks each of `peer_urls` in turn for `/members` until one answers.
    pub async fn fetch(&self, peer_urls: &[String]) -> Result<RemoteCluster, String> {
        let mut last_error = "no peer URLs to ask".to_owned();
        for url in peer_urls {
            match tokio::time::timeout(ASK_TIMEOUT, self.fetch_one(url)).await {
                Ok(Ok(cluster)) => return Ok(cluster),
                Ok(Err(e)) => last_error = format!("{url}: {e}"),
                Err(_) => last_error = format!("{url}: no answer in {ASK_TIMEOUT:?}"),
            }
        }
        Err(format!(
            "could not retrieve the cluster's members from any peer ({last_error})"
        ))
    }

    async fn fetch_one(&self, url: &str) -> Result<RemoteCluster, String> {
        let url = format!("{}/members", url.trim_end_matches('/'));
        let answer = self.0.get(&url, MAX_ANSWER).await?;
        if !(200..300).contains(&answer.status) {
            return Err(format!("answered {}", answer.status));
        }
        let cluster_id = answer.cluster_id.ok_or("no cluster ID in the answer")?;
        let members = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        Ok(RemoteCluster {
            cluster_id,
            members,
        })
    }
}

impl etcd_proxy::MemberSource for PeerMembers {
    fn members<'a>(
        &'a self,
        peer_urls: &'a [String],
    ) -> etcd_proxy::BoxFuture<'a, etcd_proxy::MemberUrls> {
        Box::pin(async move {
            let cluster = self.fetch(peer_urls).await?;
            let client_urls = cluster
                .members
                .iter()
                .flat_map(|m| m.client_urls.clone())
                .collect();
            let peer_urls = cluster
                .members
                .into_iter()
                .flat_map(|m| m.peer_urls)
                .collect();
            Ok((client_urls, peer_urls))
        })
    }
}
