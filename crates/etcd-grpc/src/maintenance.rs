//! `etcdserverpb.Maintenance` and `etcdserverpb.Cluster`: what etcd-server serves of them so far (`Status`,
//! `Alarm`, `Defragment`, `Downgrade`, `Hash`, `HashKV`, `Snapshot`, `MoveLeader`; `MemberList`, `MemberAdd`, `MemberRemove`, `MemberUpdate`, `MemberPromote`). The other RPCs answer `Unimplemented` naming themselves, never a made-up
//! success.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use etcd_proto::etcdserverpb::cluster_server::Cluster;
use etcd_proto::etcdserverpb::maintenance_server::Maintenance;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MemberAddRequest,
    MemberAddResponse, MemberListRequest, MemberListResponse, MemberPromoteRequest,
    MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest,
    MemberUpdateResponse, MoveLeaderRequest, MoveLeaderResponse, SnapshotRequest, SnapshotResponse,
    StatusRequest, StatusResponse,
};
use etcd_server::{Server, V3Error};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::metrics::{GrpcMetrics, Method};
use crate::status::{caller_of, refuse_learner, require_leader, status};
use crate::unary::call;

/// The Maintenance and Cluster services of one member.
pub(crate) struct MaintenanceService {
    pub(crate) server: Arc<Server>,
    pub(crate) metrics: Arc<GrpcMetrics>,
}

/// The responses of a `Snapshot` call: the backend in 32 KiB pieces, then its hash.
pub struct SnapshotResponses(mpsc::Receiver<Result<SnapshotResponse, V3Error>>);

impl tonic::codegen::tokio_stream::Stream for SnapshotResponses {
    type Item = Result<SnapshotResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_recv(cx)
            .map(|next| next.map(|r| r.map_err(status)))
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, r: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::Alarm,
            r,
            |s, r, _| async move { s.alarm(r).await },
        )
        .await
    }

    async fn status(&self, r: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::Status,
            r,
            |s, _, _| async move { s.status().await },
        )
        .await
    }

    async fn defragment(
        &self,
        r: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::Defragment,
            r,
            |s, _, who| async move { s.defragment(&who).await },
        )
        .await
    }

    async fn hash(&self, r: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::Hash,
            r,
            |s, _, who| async move { s.hash(&who) },
        )
        .await
    }

    async fn hash_kv(&self, r: Request<HashKvRequest>) -> Result<Response<HashKvResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::HashKv,
            r,
            |s, r, who| async move { s.hash_kv(&who, r) },
        )
        .await
    }

    type SnapshotStream = SnapshotResponses;

    async fn snapshot(
        &self,
        r: Request<SnapshotRequest>,
    ) -> Result<Response<SnapshotResponses>, Status> {
        self.metrics.started(Method::Snapshot);
        let started = require_leader(r.metadata(), &self.server)
            .and_then(|()| refuse_learner(&self.server, false))
            .and_then(|()| caller_of(Method::Snapshot, &self.server, &r).map_err(status))
            .and_then(|who| self.server.snapshot(&who).map_err(status));
        let responses = match started {
            Ok(responses) => responses,
            Err(e) => {
                self.metrics.handled(Method::Snapshot, e.code());
                return Err(e);
            }
        };
        self.metrics.handled(Method::Snapshot, tonic::Code::Ok);
        Ok(Response::new(SnapshotResponses(responses)))
    }

    async fn move_leader(
        &self,
        r: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::MoveLeader,
            r,
            |s, r, _| async move { s.move_leader(r).await },
        )
        .await
    }

    async fn downgrade(
        &self,
        r: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::Downgrade,
            r,
            |s, r, who| async move { s.downgrade(&who, r).await },
        )
        .await
    }
}

#[tonic::async_trait]
impl Cluster for MaintenanceService {
    async fn member_add(
        &self,
        r: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::MemberAdd,
            r,
            |s, r, who| async move { s.member_add(&who, r).await },
        )
        .await
    }

    async fn member_remove(
        &self,
        r: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::MemberRemove,
            r,
            |s, r, who| async move { s.member_remove(&who, r).await },
        )
        .await
    }

    async fn member_update(
        &self,
        r: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::MemberUpdate,
            r,
            |s, r, who| async move { s.member_update(&who, r).await },
        )
        .await
    }

    async fn member_list(
        &self,
        r: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::MemberList,
            r,
            |s, r, _| async move { s.member_list(r).await },
        )
        .await
    }

    async fn member_promote(
        &self,
        r: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::MemberPromote,
            r,
            |s, r, who| async move { s.member_promote(&who, r).await },
        )
        .await
    }
}
