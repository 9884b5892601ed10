//! KV through the proxy: serializable ranges answered from a cache, everything else forwarded; a write through
//! the proxy empties the cache (as etcd's proxy invalidates it), so a client reading through the proxy sees its
//! own writes.
//!
//! Calls that carry a user's token are never cached: another user's permissions may differ. Entries also expire
//! after [`CACHE_TTL`], so writes made elsewhere are seen within that time (etcd's proxy keeps them until a
//! write through it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::kv_server::Kv;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use parking_lot::Mutex;
use prost::Message;
use tonic::{Request, Response, Status};

use super::metadata::{as_etcd_proxy, has_identity, upstream_request};
use super::metrics::ProxyMetrics;
use super::namespace::Namespace;
use super::upstream::Upstream;

/// How many answers the cache holds before it starts over.
const CACHE_ENTRIES: usize = 4096;
/// How long a cached answer is served.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(5);

pub(crate) struct KvProxy {
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) metrics: Arc<ProxyMetrics>,
    namespace: Namespace,
    cache: Mutex<HashMap<Vec<u8>, (Instant, RangeResponse)>>,
}

impl KvProxy {
    pub(crate) fn new(
        upstream: Arc<Upstream>,
        metrics: Arc<ProxyMetrics>,
        namespace: Namespace,
    ) -> KvProxy {
        KvProxy {
            upstream,
            metrics,
            namespace,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn invalidate(&self) {
        self.cache.lock().clear();
        self.metrics.set_cache_keys(0);
    }
}

/// Forwards one unary call (`metadata`, `message`) to the member, moving to the next member when this one cannot
/// be reached.
macro_rules! forward {
    ($self:ident, $metadata:expr, $message:expr, $method:ident) => {{
        let (index, channel) = $self.upstream.channel();
        let upstream = upstream_request(&$metadata, $message);
        let answer = KvClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .$method(upstream)
            .await;
        if let Err(status) = &answer
            && Upstream::unreachable(status)
        {
            $self.upstream.failed(index);
        }
        answer.map_err(as_etcd_proxy).map(Response::into_inner)
    }};
}

#[tonic::async_trait]
impl Kv for KvProxy {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let cacheable = request.get_ref().serializable && !has_identity(request.metadata());
        let key = cacheable.then(|| request.get_ref().encode_to_vec());
        if let Some(key) = &key {
            if let Some((at, answer)) = self.cache.lock().get(key)
                && at.elapsed() < CACHE_TTL
            {
                self.metrics.cache_hit();
                return Ok(Response::new(answer.clone()));
            }
            self.metrics.cache_miss();
        }
        let metadata = request.metadata().clone();
        let mut message = request.into_inner();
        self.namespace.range_request(&mut message);
        let mut answer = forward!(self, metadata, message, range)?;
        self.namespace.range_response(&mut answer);
        if let Some(key) = key {
            let mut cache = self.cache.lock();
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, (Instant::now(), answer.clone()));
            self.metrics.set_cache_keys(cache.len());
        }
        Ok(Response::new(answer))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let metadata = request.metadata().clone();
        let mut message = request.into_inner();
        self.namespace.put_request(&mut message);
        let answer = forward!(self, metadata, message, put);
        self.invalidate();
        let mut answer = answer?;
        self.namespace.put_response(&mut answer);
        Ok(Response::new(answer))
    }

    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let metadata = request.metadata().clone();
        let mut message = request.into_inner();
        self.namespace.delete_request(&mut message);
        let answer = forward!(self, metadata, message, delete_range);
        self.invalidate();
        let mut answer = answer?;
        self.namespace.delete_response(&mut answer);
        Ok(Response::new(answer))
    }

    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let metadata = request.metadata().clone();
        let mut message = request.into_inner();
        self.namespace.txn_request(&mut message);
        let answer = forward!(self, metadata, message, txn);
        self.invalidate();
        let mut answer = answer?;
        self.namespace.txn_response(&mut answer);
        Ok(Response::new(answer))
    }

    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let metadata = request.metadata().clone();
        let answer = forward!(self, metadata, request.into_inner(), compact);
        self.invalidate();
        answer.map(Response::new)
    }
}
