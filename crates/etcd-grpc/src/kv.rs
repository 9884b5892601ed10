//! `etcdserverpb.KV`: each call is one etcd-server request.

use std::sync::Arc;

use etcd_proto::etcdserverpb::kv_server::Kv;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use etcd_server::Server;
use tonic::{Request, Response, Status};

use crate::metrics::{GrpcMetrics, Method};
use crate::unary::call;

/// The KV service of one member.
pub(crate) struct KvService {
    pub(crate) server: Arc<Server>,
    pub(crate) metrics: Arc<GrpcMetrics>,
}

impl KvService {
    async fn call<Req, Resp, F>(
        &self,
        method: Method,
        request: Request<Req>,
        run: impl FnOnce(Arc<Server>, Req, etcd_server::Caller) -> F,
    ) -> Result<Response<Resp>, Status>
    where
        F: std::future::Future<Output = Result<Resp, etcd_server::V3Error>>,
    {
        call(&self.server, &self.metrics, method, request, run).await
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, r: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        self.call(Method::Range, r, |s, r, who| async move {
            if !r.serializable && s.is_learner() {
                return Err(etcd_server::V3Error::NotSupportedForLearner);
            }
            s.range(&who, r).await
        })
        .await
    }

    async fn put(&self, r: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        self.call(
            Method::Put,
            r,
            |s, r, who| async move { s.put(&who, r).await },
        )
        .await
    }

    async fn delete_range(
        &self,
        r: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        self.call(Method::DeleteRange, r, |s, r, who| async move {
            s.delete_range(&who, r).await
        })
        .await
    }

    async fn txn(&self, r: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        self.call(
            Method::Txn,
            r,
            |s, r, who| async move { s.txn(&who, r).await },
        )
        .await
    }

    async fn compact(
        &self,
        r: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        self.call(
            Method::Compact,
            r,
            |s, r, _| async move { s.compact(r).await },
        )
        .await
    }
}
