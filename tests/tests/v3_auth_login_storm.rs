//! A storm of logins (`Authenticate`, bcrypt at etcd's default cost 10) while a client writes: every login
//! succeeds and the writes go on. The write latencies before and during the storm are printed for etcd-node and
//! for etcd 3.5.1 under the same load (figures, not pass/fail: timing belongs to benchmarks). etcd-node checks
//! passwords on the blocking pool, at most half the cores at a time, never on the apply path.
//!
//! `ETCD_LOGIN_STORM` sets how many logins (default 300; the figures in docs/performance.md used 2000).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::*;
use etcd_tests as common;
use tonic::transport::Channel;

use common::{Flavor, Server};

const CONCURRENT_LOGINS: usize = 64;

async fn channel(server: &Server) -> Channel {
    Channel::from_shared(server.client_url.clone())
        .expect("url")
        .connect()
        .await
        .expect("connect")
}

async fn set_up(auth: &mut AuthClient<Channel>) {
    for name in ["root", "app"] {
        let add = AuthUserAddRequest {
            name: name.into(),
            password: format!("{name}pw"),
            ..AuthUserAddRequest::default()
        };
        auth.user_add(add).await.expect("user");
    }
    let grant = AuthUserGrantRoleRequest {
        user: "root".into(),
        role: "root".into(),
    };
    auth.user_grant_role(grant).await.expect("grant");
    auth.auth_enable(AuthEnableRequest {})
        .await
        .expect("enable");
}

async fn login(auth: &mut AuthClient<Channel>, name: &str) -> Result<String, tonic::Status> {
    let request = AuthenticateRequest {
        name: name.into(),
        password: format!("{name}pw"),
    };
    Ok(auth.authenticate(request).await?.into_inner().token)
}

/// Writes as root until `stop`, answering each write's latency.
async fn write_until(
    mut kv: KvClient<Channel>,
    token: String,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut request = tonic::Request::new(PutRequest {
            key: format!("w/{}", i % 100).into_bytes(),
            value: vec![b'x'; 256],
            ..PutRequest::default()
        });
        if let Ok(value) = token.parse() {
            request.metadata_mut().insert("token", value);
        }
        let started = Instant::now();
        kv.put(request).await.expect("a write during the storm");
        latencies.push(started.elapsed());
        i += 1;
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn summary(mut latencies: Vec<Duration>) -> String {
    latencies.sort_unstable();
    format!(
        "{} writes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    )
}

/// Runs the storm against one server; answers the report line.
async fn storm(flavor: Flavor, logins: usize) -> String {
    let server = common::cluster(flavor, 1).remove(0);
    let channel = channel(&server).await;
    let mut auth = AuthClient::new(channel.clone());
    set_up(&mut auth).await;
    let token = login(&mut auth, "root").await.expect("root login");

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_until(
        KvClient::new(channel.clone()),
        token.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let before = writer.await.expect("writer");

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_until(
        KvClient::new(channel.clone()),
        token,
        stop.clone(),
    ));
    let started = Instant::now();
    let per_client = logins.div_ceil(CONCURRENT_LOGINS);
    let clients: Vec<_> = (0..CONCURRENT_LOGINS)
        .map(|_| {
            let mut auth = AuthClient::new(channel.clone());
            tokio::spawn(async move {
                let mut ok = 0usize;
                for _ in 0..per_client {
                    login(&mut auth, "app").await.expect("a login in the storm");
                    ok += 1;
                }
                ok
            })
        })
        .collect();
    let mut done = 0;
    for client in clients {
        done += client.await.expect("login client");
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let during = writer.await.expect("writer");
    assert_eq!(
        done,
        per_client * CONCURRENT_LOGINS,
        "every login succeeded"
    );
    assert!(
        !during.is_empty(),
        "{flavor:?}: writes went on during the storm"
    );
    format!(
        "{flavor:?}: {done} logins in {:.1} s ({:.0}/s); before: {}; during: {}",
        took.as_secs_f64(),
        done as f64 / took.as_secs_f64(),
        summary(before),
        summary(during)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_storm_leaves_writes_going() {
    let logins: usize = std::env::var("ETCD_LOGIN_STORM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    for flavor in [Flavor::EtcdNode, Flavor::Etcd35] {
        let report = storm(flavor, logins).await;
        println!("{report}");
    }
}
