//! `etcdserverpb.Lease`: grant, revoke, keepalive streams, time-to-live and the lease list.
//!
//! A keepalive stream answers each request once its renewal is applied (through raft: see etcd-server). The
//! renewals of one stream run concurrently, at most [`IN_FLIGHT`] at a time, so one client keeping many leases
//! alive on one stream (what etcd's client does) is not held to one raft round trip per lease; each answer names
//! its lease, so their order does not matter.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use etcd_proto::etcdserverpb::lease_server::Lease;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use etcd_server::Server;
use tokio::sync::{Semaphore, mpsc};
use tonic::{Request, Response, Status, Streaming};

use crate::metrics::{GrpcMetrics, Method};
use crate::status::{refuse_learner, require_leader, status};
use crate::unary::call;

/// Renewals of one stream in flight at once.
const IN_FLIGHT: usize = 128;

/// The Lease service of one member.
pub(crate) struct LeaseService {
    pub(crate) server: Arc<Server>,
    pub(crate) metrics: Arc<GrpcMetrics>,
}

/// The responses of one keepalive stream.
pub struct KeepAliveResponses(mpsc::Receiver<Result<LeaseKeepAliveResponse, Status>>);

impl tonic::codegen::tokio_stream::Stream for KeepAliveResponses {
    type Item = Result<LeaseKeepAliveResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        r: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::LeaseGrant,
            r,
            |s, r, _| async move { s.lease_grant(r).await },
        )
        .await
    }

    async fn lease_revoke(
        &self,
        r: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::LeaseRevoke,
            r,
            |s, r, who| async move { s.lease_revoke(&who, r).await },
        )
        .await
    }

    type LeaseKeepAliveStream = KeepAliveResponses;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<KeepAliveResponses>, Status> {
        self.metrics.started(Method::LeaseKeepAlive);
        if let Err(e) = require_leader(request.metadata(), &self.server)
            .and_then(|()| refuse_learner(&self.server, false))
        {
            self.metrics.handled(Method::LeaseKeepAlive, e.code());
            return Err(e);
        }
        let (out, responses) = mpsc::channel(IN_FLIGHT);
        let (server, metrics) = (self.server.clone(), self.metrics.clone());
        let mut requests = request.into_inner();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(IN_FLIGHT));
            let code = loop {
                let next = tokio::select! {
                    next = requests.message() => next,
                    () = out.closed() => break tonic::Code::Ok,
                    // The member stops: Unavailable, so that clients renew through another member.
                    () = server.shutting_down() => {
                        let _ = out.send(Err(status(etcd_server::V3Error::Stopped))).await;
                        break tonic::Code::Unavailable;
                    }
                };
                let ask = match next {
                    Ok(Some(ask)) => ask,
                    Ok(None) => break tonic::Code::Ok,
                    Err(e) => break e.code(),
                };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break tonic::Code::Ok;
                };
                let (server, out) = (server.clone(), out.clone());
                tokio::spawn(async move {
                    let answer = server.lease_keep_alive(ask.id).await.map_err(status);
                    let _ = out.send(answer).await;
                    drop(slot);
                });
            };
            metrics.handled(Method::LeaseKeepAlive, code);
        });
        Ok(Response::new(KeepAliveResponses(responses)))
    }

    async fn lease_time_to_live(
        &self,
        r: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::LeaseTimeToLive,
            r,
            |s, r, _| async move { s.lease_time_to_live(r).await },
        )
        .await
    }

    async fn lease_leases(
        &self,
        r: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::LeaseLeases,
            r,
            |s, _, _| async move { s.lease_leases().await },
        )
        .await
    }
}
