//! `v3lockpb.Lock` and `v3electionpb.Election`: etcd's lock and election services, over etcd-server's.
//!
//! etcd serves these through its own client library and hands its errors on as plain errors, so every failure
//! (a lease not found included) reaches the caller with code `Unknown` and etcd's text: answered the same here.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use etcd_proto::v3electionpb::election_server::Election;
use etcd_proto::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};
use etcd_proto::v3lockpb::lock_server::Lock;
use etcd_proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use etcd_server::{Server, V3Error};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::metrics::{GrpcMetrics, Method};
use crate::status::{caller, refuse_learner, require_leader, status};
use crate::unary::call_with;

/// The Lock and Election services of one member.
pub(crate) struct ConcurrencyService {
    pub(crate) server: Arc<Server>,
    pub(crate) metrics: Arc<GrpcMetrics>,
}

#[tonic::async_trait]
impl Lock for ConcurrencyService {
    async fn lock(&self, r: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        call_with(
            &self.server,
            &self.metrics,
            Method::Lock,
            r,
            |s, r, who| async move { s.lock(&who, r).await },
            as_unknown,
        )
        .await
    }

    async fn unlock(&self, r: Request<UnlockRequest>) -> Result<Response<UnlockResponse>, Status> {
        call_with(
            &self.server,
            &self.metrics,
            Method::Unlock,
            r,
            |s, r, who| async move { s.unlock(&who, r).await },
            as_unknown,
        )
        .await
    }
}

/// The responses of one `Observe` call.
pub struct ObserveResponses(mpsc::Receiver<Result<LeaderResponse, V3Error>>);

impl tonic::codegen::tokio_stream::Stream for ObserveResponses {
    type Item = Result<LeaderResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_recv(cx)
            .map(|next| next.map(|r| r.map_err(as_unknown)))
    }
}

#[tonic::async_trait]
impl Election for ConcurrencyService {
    async fn campaign(
        &self,
        r: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        call_with(
            &self.server,
            &self.metrics,
            Method::Campaign,
            r,
            |s, r, who| async move { s.campaign(&who, r).await },
            as_unknown,
        )
        .await
    }

    async fn proclaim(
        &self,
        r: Request<ProclaimRequest>,
    ) -> Result<Response<ProclaimResponse>, Status> {
        call_with(
            &self.server,
            &self.metrics,
            Method::Proclaim,
            r,
            |s, r, who| async move { s.proclaim(&who, r).await },
            as_unknown,
        )
        .await
    }

    async fn leader(&self, r: Request<LeaderRequest>) -> Result<Response<LeaderResponse>, Status> {
        call_with(
            &self.server,
            &self.metrics,
            Method::Leader,
            r,
            |s, r, who| async move { s.election_leader(&who, r).await },
            as_unknown,
        )
        .await
    }

    type ObserveStream = ObserveResponses;

    async fn observe(
        &self,
        r: Request<LeaderRequest>,
    ) -> Result<Response<ObserveResponses>, Status> {
        self.metrics.started(Method::Observe);
        let admitted = require_leader(r.metadata(), &self.server)
            .and_then(|()| refuse_learner(&self.server, false))
            .and_then(|()| caller(&self.server, &r).map_err(as_unknown));
        let who = match admitted {
            Ok(who) => who,
            Err(e) => {
                self.metrics.handled(Method::Observe, e.code());
                return Err(e);
            }
        };
        self.metrics.handled(Method::Observe, tonic::Code::Ok);
        Ok(Response::new(ObserveResponses(
            self.server.observe(who, r.into_inner()),
        )))
    }

    async fn resign(&self, r: Request<ResignRequest>) -> Result<Response<ResignResponse>, Status> {
        call_with(
            &self.server,
            &self.metrics,
            Method::Resign,
            r,
            |s, r, who| async move { s.resign(&who, r).await },
            as_unknown,
        )
        .await
    }
}

/// etcd's answer for any failure of these services: its text, code `Unknown`.
fn as_unknown(e: V3Error) -> Status {
    Status::unknown(status(e).message().to_owned())
}
