//! Joining a running cluster (`--initial-cluster-state existing`): ask its members who they are, as etcd
//! does, to learn the cluster's ID and this member's ID (given when it was added). Peers are asked over
//! `http://`, `https://`, `unix://` or `unixs://` (with the peer TLS configuration) as their URLs say.

use std::time::Duration;

use serde::Deserialize;

/// How long one peer may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest member list accepted.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
struct RemoteMember {
    id: u64,
    #[serde(rename = "peerURLs")]
    peer_urls: Vec<String>,
}

/// The cluster as the members reachable at `peer_urls` describe it.
#[derive(Debug)]
pub struct RemoteCluster {
    pub cluster_id: u64,
    /// (member ID, peer URLs), every member.
    pub members: Vec<(u64, Vec<String>)>,
}

/// Asks each URL in turn for `/members` until one answers.
pub async fn fetch(
    peer_urls: &[String],
    tls: Option<etcd_tls::ClientTls>,
) -> Result<RemoteCluster, String> {
    // The transport's way of dialing: `http(s)://` and `unix(s)://` peers alike.
    let client = etcd_raft::PeerClient::new(tls);
    let mut last_error = "no peer URLs to ask".to_owned();
    for url in peer_urls {
        match tokio::time::timeout(ASK_TIMEOUT, fetch_one(&client, url)).await {
            Ok(Ok(cluster)) => return Ok(cluster),
            Ok(Err(e)) => last_error = format!("{url}: {e}"),
            Err(_) => last_error = format!("{url}: no answer in {ASK_TIMEOUT:?}"),
        }
    }
    Err(format!(
        "could not retrieve the cluster's members from any peer ({last_error})"
    ))
}

async fn fetch_one(client: &etcd_raft::PeerClient, url: &str) -> Result<RemoteCluster, String> {
    let url = format!("{}/members", url.trim_end_matches('/'));
    let answer = client.get(&url, MAX_ANSWER).await?;
    if !(200..300).contains(&answer.status) {
        return Err(format!("answered {}", answer.status));
    }
    let cluster_id = answer.cluster_id.ok_or("no cluster ID in the answer")?;
    let members: Vec<RemoteMember> =
        serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
    Ok(RemoteCluster {
        cluster_id,
        members: members.into_iter().map(|m| (m.id, m.peer_urls)).collect(),
    })
}
