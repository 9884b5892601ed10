//! `etcdserverpb.KV`: each call is one etcd-server request.

use std::sync::Arc;

use etcd_proto::etcdserverpb::kv_server::Kv;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use etcd_server::Server;
use tonic::{Request, Response, Status};

use crate::status::{require_leader, status};

/// The KV service of one member.
pub(crate) struct KvService(pub(crate) Arc<Server>);

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, r: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        require_leader(r.metadata(), &self.0)?;
        self.0
            .range(r.into_inner())
            .await
            .map(Response::new)
            .map_err(status)
    }

    async fn put(&self, r: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        require_leader(r.metadata(), &self.0)?;
        self.0
            .put(r.into_inner())
            .await
            .map(Response::new)
            .map_err(status)
    }

    async fn delete_range(
        &self,
        r: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        require_leader(r.metadata(), &self.0)?;
        self.0
            .delete_range(r.into_inner())
            .await
            .map(Response::new)
            .map_err(status)
    }

    async fn txn(&self, r: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        require_leader(r.metadata(), &self.0)?;
        self.0
            .txn(r.into_inner())
            .await
            .map(Response::new)
            .map_err(status)
    }

    async fn compact(
        &self,
        r: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        require_leader(r.metadata(), &self.0)?;
        self.0
            .compact(r.into_inner())
            .await
            .map(Response::new)
            .map_err(status)
    }
}
