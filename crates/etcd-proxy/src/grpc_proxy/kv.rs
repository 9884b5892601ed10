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
use super::upstream::Upstream;

/// How many answers the cache holds before it starts over.
const CACHE_ENTRIES: usize = 4096;
/// How long a cached answer is served.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(5);

pub(crate) struct KvProxy {
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) metrics: Arc<ProxyMetrics>,
    cache: Mutex<HashMap<Vec<u8>, (Instant, RangeResponse)>>,
}

impl KvProxy {
    pub(crate) fn new(upstream: Arc<Upstream>, metrics: Arc<ProxyMetrics>) -> KvProxy {
        KvProxy {
            upstream,
            metrics,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn invalidate(&self) {
        self.cache.lock().clear();
        self.metrics.set_cache_keys(0);
    }
}

/// Forwards one unary call to the member, moving to the next member when this one cannot be reached.
macro_rules! forward {
    ($self:ident, $request:ident, $method:ident) => {{
        let (index, channel) = $self.upstream.channel();
        let metadata = $request.metadata().clone();
        let upstream = upstream_request(&metadata, $request.into_inner());
        let answer = KvClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .$method(upstream)
            .await;
        if let Err(status) = &answer
            && Upstream::unreachable(status)
        {
            $self.upstream.failed(index);
        }
        answer.map_err(as_etcd_proxy)
    }};
}

#[tonic::async_trait]
impl Kv for KvProxy {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let cacheable = request.get_ref().serializable && !has_identity(request.metadata());
        if !cacheable {
            return forward!(self, request, range);
        }
        let key = request.get_ref().encode_to_vec();
        if let Some((at, answer)) = self.cache.lock().get(&key)
            && at.elapsed() < CACHE_TTL
        {
            self.metrics.cache_hit();
            return Ok(Response::new(answer.clone()));
        }
        self.metrics.cache_miss();
        let answer = forward!(self, request, range)?;
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), answer.get_ref().clone()));
        self.metrics.set_cache_keys(cache.len());
        Ok(answer)
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let answer = forward!(self, request, put);
        self.invalidate();
        answer
    }

    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let answer = forward!(self, request, delete_range);
        self.invalidate();
        answer
    }

    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let answer = forward!(self, request, txn);
        self.invalidate();
        answer
    }

    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let answer = forward!(self, request, compact);
        self.invalidate();
        answer
    }
}
