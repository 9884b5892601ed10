//! Joining a running cluster (`--initial-cluster-state existing`): ask its members who they are, as etcd
//! does, to learn the cluster's ID and this member's ID (given when it was added).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde::Deserialize;

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
pub fn fetch(peer_urls: &[String]) -> Result<RemoteCluster, String> {
    let mut last_error = "no peer URLs to ask".to_owned();
    for url in peer_urls {
        match fetch_one(url) {
            Ok(cluster) => return Ok(cluster),
            Err(e) => last_error = format!("{url}: {e}"),
        }
    }
    Err(format!(
        "could not retrieve the cluster's members from any peer ({last_error})"
    ))
}

fn fetch_one(url: &str) -> Result<RemoteCluster, String> {
    let addr = url
        .strip_prefix("http://")
        .ok_or("only http peer URLs are supported")?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /members HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("malformed response")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or_default().to_owned());
    }
    let cluster_id = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("X-Etcd-Cluster-Id")
                .then(|| u64::from_str_radix(value.trim(), 16).ok())
                .flatten()
        })
        .ok_or("no cluster ID in the answer")?;
    let members: Vec<RemoteMember> =
        serde_json::from_str(body.trim()).map_err(|e| e.to_string())?;
    Ok(RemoteCluster {
        cluster_id,
        members: members.into_iter().map(|m| (m.id, m.peer_urls)).collect(),
    })
}
