//! `--resolver-prefix`: the proxy registers itself for endpoint discovery as etcd's proxy does, under
//! `<prefix>/<advertise-client-url>` with a lease of `--resolver-ttl` seconds that it keeps alive, the value
//! `{"Op":0,"Addr":"<url>","Metadata":"{\"name\":\"<host>\"}"}` (etcd's endpoint update, JSON). MemberList through
//! such a proxy answers the proxies registered under the prefix (a name and a client URL each, no header), as
//! etcd's does, so that clients that sync their endpoints find proxies rather than members.

use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::cluster_client::ClusterClient;
use etcd_proto::etcdserverpb::cluster_server::Cluster;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, Member, MemberAddRequest, MemberAddResponse,
    MemberListRequest, MemberListResponse, MemberPromoteRequest, MemberPromoteResponse,
    MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
    PutRequest, RangeRequest,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::Resolver;
use super::metadata::{as_etcd_proxy, upstream_request};
use super::namespace::{Namespace, prefix_end};
use super::upstream::Upstream;

/// etcd's endpoint update, as stored.
#[derive(Serialize, Deserialize)]
struct Registration {
    #[serde(rename = "Op")]
    op: u8,
    #[serde(rename = "Addr")]
    addr: String,
    #[serde(rename = "Metadata")]
    metadata: String,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    name: String,
}

/// Keeps the proxy registered until the task is dropped: registers, keeps the lease alive, and registers
/// again when the lease is lost or the member goes away.
pub(crate) async fn register(upstream: Arc<Upstream>, resolver: Resolver, namespace: Namespace) {
    loop {
        let (index, channel) = upstream.channel();
        if let Err(status) = register_once(channel, &resolver, &namespace).await {
            if Upstream::unreachable(&status) {
                upstream.failed(index);
            }
            tracing::warn!(
                "grpc-proxy: registration under {:?} lost: {status}",
                resolver.prefix
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn register_once(
    channel: tonic::transport::Channel,
    resolver: &Resolver,
    namespace: &Namespace,
) -> Result<(), Status> {
    let mut lease = LeaseClient::new(channel.clone());
    let id = lease
        .lease_grant(LeaseGrantRequest {
            ttl: resolver.ttl,
            id: 0,
        })
        .await?
        .into_inner()
        .id;
    let value = Registration {
        op: 0,
        addr: resolver.advertise.clone(),
        metadata: serde_json::to_string(&Meta {
            name: resolver.name.clone(),
        })
        .unwrap_or_default(),
    };
    KvClient::new(channel)
        .put(PutRequest {
            key: namespace.key(format!("{}/{}", resolver.prefix, resolver.advertise).as_bytes()),
            value: serde_json::to_vec(&value).unwrap_or_default(),
            lease: id,
            ..PutRequest::default()
        })
        .await?;
    tracing::info!(
        "grpc-proxy: registered {} under {:?}",
        resolver.advertise,
        resolver.prefix
    );
    let (tx, rx) = mpsc::channel(1);
    let mut answers = lease
        .lease_keep_alive(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let every = Duration::from_secs(u64::try_from(resolver.ttl / 3).unwrap_or(1).max(1));
    loop {
        if tx.send(LeaseKeepAliveRequest { id }).await.is_err() {
            return Err(Status::unavailable("keepalive stream closed"));
        }
        match answers.message().await? {
            Some(answer) if answer.ttl > 0 => {}
            _ => return Err(Status::not_found("the registration's lease expired")),
        }
        tokio::time::sleep(every).await;
    }
}

/// Cluster through a proxy with a resolver prefix: MemberList answers the registered proxies; the member
/// changes are forwarded.
pub(crate) struct ClusterProxy {
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) resolver: Resolver,
    pub(crate) namespace: Namespace,
}

macro_rules! forward {
    ($self:ident, $request:ident, $method:ident) => {{
        let (index, channel) = $self.upstream.channel();
        let upstream = upstream_request(&$request.metadata().clone(), $request.into_inner());
        let answer = ClusterClient::new(channel).$method(upstream).await;
        if let Err(status) = &answer
            && Upstream::unreachable(status)
        {
            $self.upstream.failed(index);
        }
        answer.map_err(as_etcd_proxy)
    }};
}

#[tonic::async_trait]
impl Cluster for ClusterProxy {
    async fn member_add(
        &self,
        request: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        forward!(self, request, member_add)
    }

    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        forward!(self, request, member_remove)
    }

    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        forward!(self, request, member_update)
    }

    async fn member_list(
        &self,
        _: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let prefix = self
            .namespace
            .key(format!("{}/", self.resolver.prefix).as_bytes());
        let (index, channel) = self.upstream.channel();
        let answer = KvClient::new(channel)
            .range(RangeRequest {
                range_end: prefix_end(&prefix),
                key: prefix,
                ..RangeRequest::default()
            })
            .await;
        if let Err(status) = &answer
            && Upstream::unreachable(status)
        {
            self.upstream.failed(index);
        }
        let members = answer
            .map_err(as_etcd_proxy)?
            .into_inner()
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice::<Registration>(&kv.value).ok())
            .map(|r| Member {
                name: serde_json::from_str::<Meta>(&r.metadata)
                    .map(|m| m.name)
                    .unwrap_or_default(),
                client_ur_ls: vec![r.addr],
                ..Member::default()
            })
            .collect();
        Ok(Response::new(MemberListResponse {
            members,
            ..MemberListResponse::default()
        }))
    }

    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        forward!(self, request, member_promote)
    }
}
