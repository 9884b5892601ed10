//! `--op lease-keepalive`, as etcd's `benchmark lease-keepalive` measures it: each connection grants one lease,
//! then keeps it alive on its own gRPC stream, one keepalive after another; every answered keepalive counts,
//! its latency from send to answer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::{LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest};
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::load::Workload;
use crate::stats::RoundStats;

/// One round of keepalives against `endpoints` (plain `http://` gRPC).
pub async fn keepalive_round(endpoints: &[String], w: &Workload) -> Result<RoundStats> {
    if endpoints.iter().any(|e| e.starts_with("https://")) {
        bail!("--op lease-keepalive speaks gRPC in the clear only");
    }
    crate::load::connections(endpoints, w, |_, endpoint, w, issued, stop| async move {
        client(&endpoint, w.requests, &issued, &stop).await
    })
    .await
}

async fn client(
    endpoint: &str,
    requests: Option<u64>,
    issued: &AtomicU64,
    stop: &AtomicBool,
) -> Result<RoundStats> {
    let channel = Channel::from_shared(endpoint.to_owned())?
        .connect()
        .await
        .with_context(|| format!("connecting to {endpoint}"))?;
    let mut lease = LeaseClient::new(channel);
    let id = lease
        .lease_grant(LeaseGrantRequest { ttl: 100, id: 0 })
        .await?
        .into_inner()
        .id;
    // The first keepalive goes before the call: etcd sends the response headers with its first answer.
    let (tx, rx) = mpsc::channel(1);
    tx.send(LeaseKeepAliveRequest { id }).await?;
    let mut sent = Instant::now();
    let mut answers = lease
        .lease_keep_alive(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut stats = RoundStats::default();
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            if stop.load(Ordering::Relaxed)
                || requests.is_some_and(|r| issued.fetch_add(1, Ordering::Relaxed) >= r)
            {
                break;
            }
            sent = Instant::now();
            if tx.send(LeaseKeepAliveRequest { id }).await.is_err() {
                bail!("the keepalive stream closed");
            }
        }
        match answers.message().await {
            Ok(Some(a)) if a.ttl > 0 => {
                stats.ok += 1;
                stats
                    .latencies_us
                    .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            Ok(Some(_)) => stats.errors += 1,
            Ok(None) | Err(_) => bail!("the keepalive stream ended"),
        }
    }
    drop(tx);
    let _ = lease.lease_revoke(LeaseRevokeRequest { id }).await;
    Ok(stats)
}
