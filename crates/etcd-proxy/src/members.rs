//! Asking peers who the members are: `GET <peer URL>/members`, the peer port's list of every member with its
//! peer and client URLs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// How long one peer may take to answer (etcd's).
const ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest member list accepted.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
struct Member {
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
}

/// Asks peers for the member list.
#[derive(Clone)]
pub struct PeerClient(Client<HttpsConnector<HttpConnector>, Empty<Bytes>>);

impl PeerClient {
    /// Dials peers with `tls` for `https://` URLs.
    pub fn new(tls: Arc<etcd_tls::ClientConfig>) -> PeerClient {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .build();
        PeerClient(Client::builder(TokioExecutor::new()).build(connector))
    }

    /// (every member's client URLs, every member's peer URLs) from the first of `peer_urls` that answers.
    pub async fn members(
        &self,
        peer_urls: &[String],
    ) -> Result<(Vec<String>, Vec<String>), String> {
        let mut last = "no peer URLs".to_owned();
        for url in peer_urls {
            match tokio::time::timeout(ASK_TIMEOUT, self.ask(url)).await {
                Ok(Ok(members)) => {
                    let client = members.iter().flat_map(|m| m.client_urls.clone()).collect();
                    let peer = members.iter().flat_map(|m| m.peer_urls.clone()).collect();
                    return Ok((client, peer));
                }
                Ok(Err(e)) => last = format!("{url}: {e}"),
                Err(_) => last = format!("{url}: no answer in {ASK_TIMEOUT:?}"),
            }
        }
        Err(last)
    }

    async fn ask(&self, url: &str) -> Result<Vec<Member>, String> {
        let uri: hyper::Uri = format!("{}/members", url.trim_end_matches('/'))
            .parse()
            .map_err(|e| format!("{e}"))?;
        let response = self.0.get(uri).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }
}
