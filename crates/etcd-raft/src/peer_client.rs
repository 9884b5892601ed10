//! Asking a peer outside raft (a joining member asks a running cluster's `/members`), dialing as the transport
//! does: `http://`, `https://`, `unix://` and `unixs://` peer URLs, with the member's peer TLS.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::http_transport::{CLUSTER_ID_HEADER, FrameBody};
use crate::peer_connector::PeerConnector;

pub(crate) type HttpClient = Client<PeerConnector, FrameBody>;

/// Dials peers by their URLs.
#[derive(Clone, Debug)]
pub struct PeerClient {
    pub(crate) http: HttpClient,
}

/// A peer's answer to a [`PeerClient::get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The cluster the peer belongs to (its `X-Etcd-Cluster-ID` header), when it says.
    pub cluster_id: Option<u64>,
    /// The body.
    pub body: Vec<u8>,
}

impl PeerClient {
    /// A client presenting and checking certificates with `tls` for `https://` and `unixs://` peers; without
    /// it, those stay unreachable ([`etcd_tls::ClientTls::trusting_none`]) and the others are dialed in the
    /// clear.
    pub fn new(tls: Option<etcd_tls::ClientTls>) -> PeerClient {
        let tls = tls.unwrap_or_else(etcd_tls::ClientTls::trusting_none);
        let connector = PeerConnector::new(tls.config().clone());
        PeerClient {
            http: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// GETs `url` (a peer URL and a path, e.g. `https://10.0.0.2:2380/members`), reading at most `limit` bytes of
    /// the answer. The caller bounds the time it waits.
    pub async fn get(&self, url: &str, limit: usize) -> Result<PeerAnswer, String> {
        let request = Request::get(url)
            .body(FrameBody::full(Bytes::new()))
            .map_err(|e| format!("{url}: {e}"))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let cluster_id = response
            .headers()
            .get(CLUSTER_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(PeerAnswer {
            status,
            cluster_id,
            body: body.to_vec(),
        })
    }
}
