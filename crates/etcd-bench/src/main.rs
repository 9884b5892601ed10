//! `etcd-bench`: load for etcd's v2 API and v3 KV (put, range, txn) and lease keepalives against any endpoints —
//! etcd-node or etcd itself.
//!
//! ```text
//! etcd-bench --endpoints http://127.0.0.1:2379 --op put --connections 64 --duration 10
//! etcd-bench --endpoints http://127.0.0.1:2379 --compare http://127.0.0.1:12379 --op qget --rounds 3
//! etcd-bench --endpoints http://127.0.0.1:2379 --compare http://127.0.0.1:12379 --op lease-keepalive
//! etcd-bench --endpoints http://127.0.0.1:2379 --compare http://127.0.0.1:12379 --op v3-put --clients 64 --conns 4
//! ```
//!
//! Each round reports throughput, latency p50/p90/p99/max and errors. With `--compare`, rounds alternate
//! between the two targets (A, B, A, B, ...) so that both see the same machine conditions, and the ratio B/A of
//! the summed throughputs is printed. `--markdown` prints one table row per target instead.

mod http;
mod lease;
mod load;
mod stats;
mod v3kv;

use std::time::Duration;

use anyhow::Result;
use clap::Parser;

use crate::load::{Op, Workload};
use crate::stats::RoundStats;

#[derive(Debug, Parser)]
#[command(
    name = "etcd-bench",
    about = "Load generator for etcd's v2 API, v3 KV and v3 lease keepalives"
)]
struct Args {
    /// Target A: comma-separated client URLs (connections are spread over them).
    #[arg(long)]
    endpoints: String,
    /// Target B, compared with A in alternating rounds.
    #[arg(long)]
    compare: Option<String>,
    /// The workload.
    #[arg(long, value_enum, default_value = "put")]
    op: Op,
    /// Clients: keep-alive connections for v2, concurrent callers for v3 (tasks on one thread).
    #[arg(long, alias = "clients", default_value_t = 64)]
    connections: usize,
    /// HTTP/2 connections the v3 clients share (etcd's `--conns`).
    #[arg(long, alias = "conns", default_value_t = 1)]
    grpc_conns: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Requests per round (instead of a duration).
    #[arg(long)]
    requests: Option<u64>,
    /// Key length in bytes.
    #[arg(long, default_value_t = 16)]
    key_size: usize,
    /// Value length in bytes.
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Distinct keys written and read.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Watchers, for `--op watch`.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Writes seen by every watcher, for `--op watch`.
    #[arg(long, default_value_t = 200)]
    events: u64,
    /// Writes per second, for `--op watch`.
    #[arg(long, default_value_t = 100)]
    watch_rate: u64,
    /// Rounds per target.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Names of targets A and B in the report.
    #[arg(long, default_value = "A")]
    label_a: String,
    #[arg(long, default_value = "B")]
    label_b: String,
    /// CA certificate (PEM) to verify `https://` endpoints with.
    #[arg(long)]
    cacert: Option<std::path::PathBuf>,
    /// Accept any certificate from `https://` endpoints (self-signed, e.g. auto TLS).
    #[arg(long)]
    insecure: bool,
    /// Print Markdown table rows: | workload | target | req/s | p50 | p90 | p99 | max | errors |.
    #[arg(long)]
    markdown: bool,
}

fn urls(list: &str) -> Vec<String> {
    list.split(',')
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    // One thread drives every connection (see `http`): the load generator takes as little of the machine from
    // the server it measures as it can.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let workload = Workload {
        op: args.op,
        connections: args.connections.max(1),
        duration: Duration::from_secs(args.duration),
        requests: args.requests,
        key_size: args.key_size,
        value_size: args.value_size,
        keys: args.keys.max(1),
        watchers: args.watchers.max(1),
        events: args.events.max(1),
        watch_rate: args.watch_rate.max(1),
        grpc_conns: args.grpc_conns.max(1),
        tls: if args.insecure || args.cacert.is_some() {
            let info = etcd_tls::TlsInfo {
                trusted_ca_file: args.cacert.clone(),
                self_signed: args.insecure,
                ..etcd_tls::TlsInfo::default()
            };
            Some(info.client_config()?)
        } else {
            None
        },
    };
    let mut targets = vec![(
        args.label_a.clone(),
        urls(&args.endpoints),
        RoundStats::default(),
    )];
    if let Some(b) = &args.compare {
        targets.push((args.label_b.clone(), urls(b), RoundStats::default()));
    }
    if matches!(args.op, Op::Get | Op::Qget) {
        for (_, endpoints, _) in &targets {
            load::populate(endpoints, &workload).await?;
        }
    }
    if matches!(args.op, Op::V3Range | Op::V3RangeSerializable) {
        for (_, endpoints, _) in &targets {
            v3kv::populate(endpoints, &workload).await?;
        }
    }
    for round in 0..args.rounds.max(1) {
        for (label, endpoints, total) in &mut targets {
            let mut stats = load::round(endpoints, &workload).await?;
            stats.sort();
            if !args.markdown {
                println!("round {} {label:>10}: {}", round + 1, stats.summary());
            }
            let elapsed = total.elapsed + stats.elapsed;
            total.merge(stats);
            total.elapsed = elapsed;
        }
    }
    let workload_name = if args.op == Op::Watch {
        format!(
            "watch {} watchers, {} writes/s",
            workload.watchers, workload.watch_rate
        )
    } else {
        format!(
            "{:?} c={} k={}B v={}B",
            args.op, workload.connections, args.key_size, args.value_size
        )
        .to_lowercase()
    };
    for (label, _, total) in &mut targets {
        total.sort();
        if args.markdown {
            println!(
                "| {workload_name} | {label} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                total.throughput(),
                total.percentile_ms(50.0),
                total.percentile_ms(90.0),
                total.percentile_ms(99.0),
                total.percentile_ms(100.0),
                total.errors
            );
            println!("<!-- ok {label} {} -->", total.ok);
        } else {
            println!("total   {label:>10}: {}", total.summary());
        }
    }
    if let [(a, _, sa), (b, _, sb)] = targets.as_slice() {
        let ratio = if sa.throughput() > 0.0 {
            sb.throughput() / sa.throughput()
        } else {
            0.0
        };
        let line = format!("ratio {b}/{a}: {ratio:.2}x throughput");
        if args.markdown {
            println!("<!-- {line} -->");
        } else {
            println!("{line}");
        }
    }
    Ok(())
}
