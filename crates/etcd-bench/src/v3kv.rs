//! The v3 KV workloads, as etcd's `benchmark put|range|txn-put` measure them: every client sends one request
//! after another over gRPC; clients share `--grpc-conns` HTTP/2 connections (etcd's `--conns`). Keys are picked
//! at random among `--keys` (etcd's `--key-space-size`); ranges read keys written before the round.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::{PutRequest, RangeRequest, RequestOp, TxnRequest};
use tonic::transport::Channel;

use crate::load::Workload;
use crate::stats::RoundStats;

/// Which v3 request a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Put,
    /// A linearizable range of one key.
    Range,
    /// A serializable range of one key (answered by the member itself).
    RangeSerializable,
    /// A transaction of one put.
    TxnPut,
}

async fn channels(endpoints: &[String], n: usize) -> Result<Vec<Channel>> {
    if endpoints.iter().any(|e| e.starts_with("https://")) {
        bail!("the v3 workloads speak gRPC in the clear only");
    }
    let mut out = Vec::new();
    for i in 0..n.max(1) {
        let endpoint = &endpoints[i % endpoints.len()];
        out.push(
            Channel::from_shared(endpoint.clone())?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("connecting to {endpoint}"))?,
        );
    }
    Ok(out)
}

/// Writes every key once, so that ranges find them.
pub async fn populate(endpoints: &[String], w: &Workload) -> Result<()> {
    let channel = channels(endpoints, 1).await?.remove(0);
    let mut kv = KvClient::new(channel);
    for i in 0..w.keys {
        kv.put(put(w, i)).await?;
    }
    Ok(())
}

fn put(w: &Workload, i: u64) -> PutRequest {
    let mut key = String::new();
    w.write_key(&mut key, i);
    PutRequest {
        key: key.into_bytes(),
        value: vec![b'v'; w.value_size],
        ..PutRequest::default()
    }
}

/// One round of `kind` against `endpoints`.
pub async fn round(endpoints: &[String], w: &Workload, kind: Kind) -> Result<RoundStats> {
    let channels = channels(endpoints, w.grpc_conns).await?;
    crate::load::connections(endpoints, w, move |t, _, w, issued, stop| {
        let channel = channels[t % channels.len()].clone();
        async move { client(t as u64, channel, &w, kind, &issued, &stop).await }
    })
    .await
}

async fn client(
    seed: u64,
    channel: Channel,
    w: &Workload,
    kind: Kind,
    issued: &AtomicU64,
    stop: &AtomicBool,
) -> Result<RoundStats> {
    let mut kv = KvClient::new(channel);
    let mut stats = RoundStats::default();
    let mut n = seed;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if w.requests
            .is_some_and(|r| issued.fetch_add(1, Ordering::Relaxed) >= r)
        {
            break;
        }
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let request = put(w, n >> 33);
        let sent = Instant::now();
        let answered = match kind {
            Kind::Put => kv.put(request).await.is_ok(),
            Kind::Range | Kind::RangeSerializable => kv
                .range(RangeRequest {
                    key: request.key,
                    serializable: kind == Kind::RangeSerializable,
                    ..RangeRequest::default()
                })
                .await
                .is_ok(),
            Kind::TxnPut => kv
                .txn(TxnRequest {
                    success: vec![RequestOp {
                        request: Some(Op::RequestPut(request)),
                    }],
                    ..TxnRequest::default()
                })
                .await
                .is_ok(),
        };
        if answered {
            stats.ok += 1;
            stats
                .latencies_us
                .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
        } else {
            stats.errors += 1;
        }
    }
    Ok(stats)
}
