//! gRPC helpers for the v3 process tests: channels to members, and the members' `HashKV` at a shared revision.

use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{HashKvRequest, RangeRequest};
use tonic::transport::Channel;

/// How long a call may wait for its answer before it counts as unanswered.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A channel to a member's client URL that connects when first used and again after the member restarts.
pub fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .expect("a client URL")
        .connect_timeout(Duration::from_secs(1))
        .timeout(CALL_TIMEOUT)
        .connect_lazy()
}

/// The members' `HashKV` at one revision (the first member's current one, read linearizably), once every member
/// has applied it. Waits up to a minute for a cluster that is still recovering.
pub async fn hashes_at_a_shared_revision(urls: &[String]) -> (i64, Vec<u32>) {
    let mut kv = KvClient::new(channel(&urls[0]));
    let deadline = Instant::now() + Duration::from_secs(60);
    let revision = loop {
        let read = kv.range(RangeRequest {
            key: b"\0".to_vec(),
            ..RangeRequest::default()
        });
        match read.await {
            Ok(r) => break r.into_inner().header.expect("a header").revision,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for the cluster: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("the cluster does not answer: {e}"),
        }
    };
    let mut hashes = Vec::new();
    for url in urls {
        let mut maintenance = MaintenanceClient::new(channel(url));
        let hash = loop {
            match maintenance.hash_kv(HashKvRequest { revision }).await {
                Ok(r) => break r.into_inner().hash,
                // Not applied that far yet ("future revision"), or restarting.
                Err(e) if Instant::now() < deadline => {
                    eprintln!("HashKV at {revision} on {url}: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("HashKV at {revision} on {url}: {e}"),
            }
        };
        hashes.push(hash);
    }
    (revision, hashes)
}

/// The runtime the v3 process tests drive their clients on: two workers, like the machines CI runs on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A small xorshift generator: choices that differ between clients and rounds but not between runs.
pub struct Random(pub u64);

impl Random {
    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The store's revision as a linearizable read through `url` answers it, or `None` without an answer.
pub async fn head_revision(url: &str) -> Option<i64> {
    let mut kv = KvClient::new(channel(url));
    let read = kv.range(RangeRequest {
        key: b"\0".to_vec(),
        limit: 1,
        ..RangeRequest::default()
    });
    Some(read.await.ok()?.into_inner().header?.revision)
}
