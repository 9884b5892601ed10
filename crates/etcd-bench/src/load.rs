//! The workloads: v2 PUT, GET, quorum GET (each from many keep-alive connections, spread over the endpoints)
//! and watch fan-out (many watchers, one writer); the v3 ones are in `lease` and `v3kv`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::http::Connection;
use crate::stats::RoundStats;
use crate::v3kv::Kind;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    /// `PUT /v2/keys/<key>` with a value.
    Put,
    /// `GET /v2/keys/<key>` (local read).
    Get,
    /// `GET /v2/keys/<key>?quorum=true` (linearizable read through raft).
    Qget,
    /// Watchers on one key, one writer: delivered events and write-to-delivery latency.
    Watch,
    /// v3 `LeaseKeepAlive`: one lease and one stream per connection, keepalives one after another.
    LeaseKeepalive,
    /// v3 `Put` (etcd's `benchmark put`).
    V3Put,
    /// v3 linearizable `Range` of one key (etcd's `benchmark range --consistency l`).
    V3Range,
    /// v3 serializable `Range` of one key (etcd's `benchmark range --consistency s`).
    V3RangeSerializable,
    /// v3 `Txn` with one put (etcd's `benchmark txn-put`).
    V3TxnPut,
}

/// The shape of a round.
#[derive(Debug, Clone)]
pub struct Workload {
    pub op: Op,
    pub connections: usize,
    /// Stop after this long, unless `requests` is set.
    pub duration: Duration,
    /// Stop after this many requests in all.
    pub requests: Option<u64>,
    pub key_size: usize,
    pub value_size: usize,
    pub keys: u64,
    pub watchers: usize,
    pub events: u64,
    /// Writes per second during a watch round (so that latency measures delivery, not a backlog).
    pub watch_rate: u64,
    /// HTTP/2 connections the v3 clients share (etcd's `--conns`).
    pub grpc_conns: usize,
    /// TLS for `https://` endpoints.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Workload {
    fn key(&self, i: u64) -> String {
        let mut key = String::new();
        self.write_key(&mut key, i);
        key
    }

    /// Appends key `i` to `out` (no allocation of its own: it runs once per request).
    pub fn write_key(&self, out: &mut String, i: u64) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "bench-{:0width$}",
            i % self.keys.max(1),
            width = self.key_size.saturating_sub(6).max(1)
        );
    }

    fn form(&self) -> String {
        format!("value={}", "v".repeat(self.value_size))
    }
}

/// Writes every key once, so that reads find them.
pub async fn populate(endpoints: &[String], w: &Workload) -> Result<()> {
    let mut c = Connection::open(&endpoints[0], w.tls.as_ref()).await?;
    let form = w.form();
    for i in 0..w.keys {
        let a = c
            .request("PUT", &format!("/v2/keys/{}", w.key(i)), &form)
            .await?;
        if a.status != 200 && a.status != 201 {
            bail!("populating answered {}", a.status);
        }
    }
    Ok(())
}

/// Runs one round of `w` against `endpoints`: every connection is a task on the caller's runtime.
pub async fn round(endpoints: &[String], w: &Workload) -> Result<RoundStats> {
    match w.op {
        Op::Watch => return watch_round(endpoints, w).await,
        Op::LeaseKeepalive => return crate::lease::keepalive_round(endpoints, w).await,
        Op::V3Put => return crate::v3kv::round(endpoints, w, Kind::Put).await,
        Op::V3Range => return crate::v3kv::round(endpoints, w, Kind::Range).await,
        Op::V3RangeSerializable => {
            return crate::v3kv::round(endpoints, w, Kind::RangeSerializable).await;
        }
        Op::V3TxnPut => return crate::v3kv::round(endpoints, w, Kind::TxnPut).await,
        _ => {}
    }
    connections(endpoints, w, |t, endpoint, w, issued, stop| async move {
        client(t as u64, &endpoint, &w, &issued, &stop).await
    })
    .await
}

/// Runs one task per connection (`run` with its number, its endpoint, the workload, the shared count of issued
/// requests and the stop flag) until `w.requests` are issued or `w.duration` has passed; their stats summed.
pub async fn connections<F>(
    endpoints: &[String],
    w: &Workload,
    run: impl Fn(usize, String, Workload, Arc<AtomicU64>, Arc<AtomicBool>) -> F,
) -> Result<RoundStats>
where
    F: std::future::Future<Output = Result<RoundStats>> + Send + 'static,
{
    let issued = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..w.connections)
        .map(|t| {
            let endpoint = endpoints[t % endpoints.len()].clone();
            tokio::spawn(run(t, endpoint, w.clone(), issued.clone(), stop.clone()))
        })
        .collect();
    if w.requests.is_none() {
        tokio::time::sleep(w.duration).await;
        stop.store(true, Ordering::Relaxed);
    }
    let mut total = RoundStats::default();
    for t in tasks {
        match t.await {
            Ok(stats) => total.merge(stats?),
            Err(_) => bail!("a load task panicked"),
        }
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// One connection's requests until the round stops; `seed` spreads the keys it picks.
async fn client(
    seed: u64,
    endpoint: &str,
    w: &Workload,
    issued: &AtomicU64,
    stop: &AtomicBool,
) -> Result<RoundStats> {
    let mut c = Connection::open(endpoint, w.tls.as_ref()).await?;
    let mut stats = RoundStats::default();
    let form = w.form();
    let mut target = String::new();
    let mut n = seed;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let count = issued.fetch_add(1, Ordering::Relaxed);
        if w.requests.is_some_and(|r| count >= r) {
            break;
        }
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        target.clear();
        target.push_str("/v2/keys/");
        w.write_key(&mut target, n >> 33);
        let (method, form) = match w.op {
            Op::Put => ("PUT", form.as_str()),
            Op::Get => ("GET", ""),
            _ => {
                target.push_str("?quorum=true");
                ("GET", "")
            }
        };
        let sent = Instant::now();
        match c.request(method, &target, form).await {
            Ok(a) if a.status == 200 || a.status == 201 => {
                stats.ok += 1;
                stats
                    .latencies_us
                    .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            Ok(_) => stats.errors += 1,
            Err(_) => {
                stats.errors += 1;
                c = Connection::open(endpoint, w.tls.as_ref()).await?;
            }
        }
    }
    Ok(stats)
}

fn modified_index(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find("\"modifiedIndex\":")? + "\"modifiedIndex\":".len();
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// `watchers` long-polling watchers on one key, one writer making `events` writes at `watch_rate` per second;
/// every delivered event counts, its latency measured from the start of the write that made it.
async fn watch_round(endpoints: &[String], w: &Workload) -> Result<RoundStats> {
    let key = "bench-watched";
    let mut writer = Connection::open(&endpoints[0], w.tls.as_ref()).await?;
    let start_index = writer
        .request("PUT", &format!("/v2/keys/{key}"), "value=start")
        .await?
        .etcd_index;
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..w.events).map(|_| AtomicU64::new(0)).collect());
    let epoch = Instant::now();
    let watchers: Vec<_> = (0..w.watchers)
        .map(|t| {
            let endpoint = endpoints[t % endpoints.len()].clone();
            let (sent_at, events, tls) = (sent_at.clone(), w.events, w.tls.clone());
            tokio::spawn(async move {
                let mut c = Connection::open(&endpoint, tls.as_ref()).await?;
                let mut stats = RoundStats::default();
                let mut next = start_index + 1;
                while stats.ok + stats.errors < events {
                    let a = c
                        .request(
                            "GET",
                            &format!("/v2/keys/{key}?wait=true&waitIndex={next}"),
                            "",
                        )
                        .await?;
                    let Some(index) = modified_index(a.body).filter(|_| a.status == 200) else {
                        stats.errors += 1;
                        continue;
                    };
                    let received = epoch.elapsed().as_micros() as u64;
                    let slot = index.saturating_sub(start_index + 1);
                    if let Some(sent) = sent_at.get(slot as usize) {
                        let sent = sent.load(Ordering::Acquire);
                        stats.ok += 1;
                        stats
                            .latencies_us
                            .push(u32::try_from(received.saturating_sub(sent)).unwrap_or(u32::MAX));
                    }
                    next = index + 1;
                }
                anyhow::Ok(stats)
            })
        })
        .collect();
    // Let every watcher register before the first write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let interval = Duration::from_secs(1) / u32::try_from(w.watch_rate.max(1)).unwrap_or(u32::MAX);
    for i in 0..w.events {
        let due = started + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due.into()).await;
        sent_at[i as usize].store(epoch.elapsed().as_micros() as u64, Ordering::Release);
        let a = writer
            .request("PUT", &format!("/v2/keys/{key}"), &format!("value={i}"))
            .await?;
        if a.status != 200 {
            bail!("a watched write answered {}", a.status);
        }
    }
    let mut total = RoundStats::default();
    for t in watchers {
        match t.await {
            Ok(stats) => total.merge(stats?),
            Err(_) => bail!("a watcher panicked"),
        }
    }
    total.elapsed = started.elapsed();
    Ok(total)
}
