//! Lease through the proxy: grant, revoke, time-to-live and list forwarded; keepalives coalesced. All clients'
//! keepalives travel on one upstream keepalive stream, and a lease that several clients keep alive at once is
//! renewed once: every client waiting for it gets that renewal's answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::lease_server::Lease;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::metadata::{as_etcd_proxy, upstream_request};
use super::metrics::ProxyMetrics;
use super::namespace::Namespace;
use super::upstream::Upstream;

/// How long a keepalive waits for the member's answer before it is sent again on a new stream.
const RENEW_TIMEOUT: Duration = Duration::from_secs(5);
/// Sends of one keepalive before the client is told nothing (it keeps alive again on its own schedule).
const RENEW_ATTEMPTS: usize = 3;
/// Keepalives of one client stream in flight at once.
const IN_FLIGHT: usize = 128;

type Waiters = HashMap<i64, Vec<oneshot::Sender<LeaseKeepAliveResponse>>>;

pub(crate) struct LeaseProxy {
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) metrics: Arc<ProxyMetrics>,
    namespace: Namespace,
    renewals: Arc<Renewals>,
}

impl LeaseProxy {
    pub(crate) fn new(
        upstream: Arc<Upstream>,
        metrics: Arc<ProxyMetrics>,
        namespace: Namespace,
    ) -> LeaseProxy {
        LeaseProxy {
            namespace,
            renewals: Arc::new(Renewals {
                upstream: upstream.clone(),
                stream: Mutex::new(None),
                waiters: Arc::new(Mutex::new(HashMap::new())),
            }),
            upstream,
            metrics,
        }
    }
}

/// The shared upstream keepalive stream and the clients waiting on it, by lease.
struct Renewals {
    upstream: Arc<Upstream>,
    stream: Mutex<Option<mpsc::Sender<LeaseKeepAliveRequest>>>,
    waiters: Arc<Mutex<Waiters>>,
}

impl Renewals {
    /// Renews lease `id` (joining a renewal already on its way); the member's answer, or `None`.
    async fn renew(&self, id: i64, metrics: &ProxyMetrics) -> Option<LeaseKeepAliveResponse> {
        for _ in 0..RENEW_ATTEMPTS {
            let (tx, rx) = oneshot::channel();
            let first = {
                let mut waiters = self.waiters.lock();
                let list = waiters.entry(id).or_default();
                list.push(tx);
                list.len() == 1
            };
            if first {
                let stream = self.stream();
                if stream.send(LeaseKeepAliveRequest { id }).await.is_err() {
                    self.stream.lock().take();
                    continue;
                }
            } else {
                metrics.keepalive_coalesced();
            }
            match tokio::time::timeout(RENEW_TIMEOUT, rx).await {
                Ok(Ok(answer)) => return Some(answer),
                // The stream failed or the member is silent: start over on a new stream.
                _ => {
                    self.waiters.lock().remove(&id);
                    self.stream.lock().take();
                }
            }
        }
        None
    }

    /// The upstream stream, opened when there is none.
    fn stream(&self) -> mpsc::Sender<LeaseKeepAliveRequest> {
        let mut stream = self.stream.lock();
        if let Some(tx) = stream.as_ref().filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(1024);
        *stream = Some(tx.clone());
        let (index, channel) = self.upstream.channel();
        let (upstream, waiters) = (self.upstream.clone(), self.waiters.clone());
        tokio::spawn(async move {
            let mut answers = match LeaseClient::new(channel)
                .lease_keep_alive(ReceiverStream::new(rx))
                .await
            {
                Ok(answers) => answers.into_inner(),
                Err(status) => {
                    if Upstream::unreachable(&status) {
                        upstream.failed(index);
                    }
                    return;
                }
            };
            loop {
                match answers.message().await {
                    Ok(Some(answer)) => {
                        let list = waiters.lock().remove(&answer.id).unwrap_or_default();
                        for waiter in list {
                            let _ = waiter.send(answer);
                        }
                    }
                    Ok(None) => return,
                    Err(status) => {
                        if Upstream::unreachable(&status) {
                            upstream.failed(index);
                        }
                        return;
                    }
                }
            }
        });
        tx
    }
}

macro_rules! forward {
    ($self:ident, $request:ident, $method:ident) => {{
        let (index, channel) = $self.upstream.channel();
        let upstream = upstream_request(&$request.metadata().clone(), $request.into_inner());
        let answer = LeaseClient::new(channel).$method(upstream).await;
        if let Err(status) = &answer
            && Upstream::unreachable(status)
        {
            $self.upstream.failed(index);
        }
        answer.map_err(as_etcd_proxy)
    }};
}

#[tonic::async_trait]
impl Lease for LeaseProxy {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        forward!(self, request, lease_grant)
    }

    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        forward!(self, request, lease_revoke)
    }

    type LeaseKeepAliveStream = ReceiverStream<Result<LeaseKeepAliveResponse, Status>>;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let (out, answers) = mpsc::channel(IN_FLIGHT);
        let mut asks = request.into_inner();
        let (renewals, metrics) = (self.renewals.clone(), self.metrics.clone());
        tokio::spawn(async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
            loop {
                let ask = tokio::select! {
                    ask = asks.message() => ask,
                    () = out.closed() => return,
                };
                let Ok(Some(ask)) = ask else { return };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (renewals, metrics, out) = (renewals.clone(), metrics.clone(), out.clone());
                tokio::spawn(async move {
                    if let Some(answer) = renewals.renew(ask.id, &metrics).await {
                        let _ = out.send(Ok(answer)).await;
                    }
                    drop(slot);
                });
            }
        });
        Ok(Response::new(ReceiverStream::new(answers)))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let mut answer = forward!(self, request, lease_time_to_live)?;
        self.namespace.lease_keys(&mut answer.get_mut().keys);
        Ok(answer)
    }

    async fn lease_leases(
        &self,
        request: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        forward!(self, request, lease_leases)
    }
}
