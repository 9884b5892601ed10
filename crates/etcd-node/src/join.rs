//! Joining a running cluster (`--initial-cluster-state existing`): ask its members who they are, as etcd
//! does, to learn the cluster's ID and this member's ID (given when it was added). Peers are asked over
//! `http://`, `https://`, `unix://` or `unixs://` (with the peer TLS configuration) as their URLs say.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
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
    tls: Option<Arc<etcd_tls::ClientConfig>>,
) -> Result<RemoteCluster, String> {
    let config = match tls {
        Some(config) => config,
        // No peer TLS: https peers cannot be verified, http ones are asked in the clear.
        None => etcd_tls::TlsInfo::default()
            .client_config()
            .map_err(|e| e.to_string())?,
    };
    // The transport's connector: `http(s)://` and `unix(s)://` peers alike.
    let connector = etcd_raft::PeerConnector::new(config);
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
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

async fn fetch_one<C>(client: &Client<C, Empty<Bytes>>, url: &str) -> Result<RemoteCluster, String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let uri: hyper::Uri = format!("{}/members", url.trim_end_matches('/'))
        .parse()
        .map_err(|e| format!("{e}"))?;
    let response = client.get(uri).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let cluster_id = response
        .headers()
        .get("X-Etcd-Cluster-Id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    let cluster_id = cluster_id.ok_or("no cluster ID in the answer")?;
    let members: Vec<RemoteMember> = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok(RemoteCluster {
        cluster_id,
        members: members.into_iter().map(|m| (m.id, m.peer_urls)).collect(),
    })
}
