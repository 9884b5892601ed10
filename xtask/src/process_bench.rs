//! Process-level write benchmarks driven by `etcd-bench`: `cargo xtask bench-tls` (one member over plaintext
//! HTTP vs HTTPS with auto TLS) and `cargo xtask bench-proxy` (directly to a member vs through an etcd-node
//! proxy in front of it). Each prints both throughputs and their ratio.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Client connections writing at once.
const CONNECTIONS: usize = 32;
/// Seconds per round.
const ROUND_SECONDS: u64 = 5;
const BINARY: &str = "target/release/etcd-node";
const BENCH: &str = "target/release/etcd-bench";

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// An etcd-node process (member or proxy), killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(dir: &std::path::Path, args: &[String]) -> Result<Process> {
    let child = Command::new(BINARY)
        .arg(format!("--data-dir={}", dir.display()))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting etcd-node")?;
    Ok(Process(child))
}

/// Flags for a single member serving clients on `client_url`; returns (flags, peer URL).
fn member_flags(client_url: &str) -> Result<(Vec<String>, String)> {
    let peer_url = format!("http://127.0.0.1:{}", free_port()?);
    let flags = vec![
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=default={peer_url}"),
    ];
    Ok((flags, peer_url))
}

/// Writes per second through `url`, measured by etcd-bench once a write succeeds (up to 30 s of waiting).
fn load(url: &str, extra: &[&str]) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(BENCH)
            .args(["--endpoints", url, "--op", "put"])
            .args(["--connections", &CONNECTIONS.to_string()])
            .args(["--duration", &ROUND_SECONDS.to_string(), "--rounds", "1"])
            .args(extra)
            .output()
            .context("running etcd-bench")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rate = text
            .lines()
            .find(|l| l.starts_with("total"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok());
        match rate {
            Some(rate) if out.status.success() => return Ok(rate),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            _ => bail!(
                "etcd-bench against {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("etcd-node-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Writes per second against a fresh member, plaintext or TLS (auto TLS).
fn tls_round(tls: bool) -> Result<f64> {
    let dir = scratch(if tls { "tls" } else { "plain" });
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://127.0.0.1:{}", free_port()?);
    let (mut flags, _) = member_flags(&url)?;
    if tls {
        flags.push("--auto-tls".to_owned());
    }
    let member = spawn(&dir, &flags)?;
    let rate = load(&url, if tls { &["--insecure"] } else { &[] });
    drop(member);
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Builds the release `etcd-node` and `etcd-bench` the process benchmarks run.
pub(crate) fn build() -> Result<()> {
    crate::cargo(&[
        "build",
        "--release",
        "--locked",
        "-p",
        "etcd-node",
        "-p",
        "etcd-bench",
    ])
}

/// `cargo xtask bench-tls`: plaintext and TLS rounds alternately (twice each), throughputs and ratio.
pub fn run_tls() -> Result<()> {
    build()?;
    let mut plain = Vec::new();
    let mut tls = Vec::new();
    for _ in 0..2 {
        plain.push(tls_round(false)?);
        tls.push(tls_round(true)?);
    }
    let (p, t) = (mean(&plain), mean(&tls));
    println!(
        "one member, {CONNECTIONS} keep-alive connections, {ROUND_SECONDS} s per round, 2 rounds each"
    );
    println!("plaintext HTTP: {p:.0} writes/s  (rounds: {plain:.0?})");
    println!("HTTPS (auto TLS): {t:.0} writes/s  (rounds: {tls:.0?})");
    println!("TLS / plaintext: {:.3}", t / p);
    Ok(())
}

/// `cargo xtask bench-proxy`: one member and a proxy in front of it; writes directly and through the proxy
/// in alternating rounds (twice each), throughputs and ratio.
pub fn run_proxy() -> Result<()> {
    build()?;
    let dir = scratch("proxy");
    let member_url = format!("http://127.0.0.1:{}", free_port()?);
    let (flags, peer_url) = member_flags(&member_url)?;
    let _member = spawn(&dir.join("member"), &flags)?;
    let proxy_url = format!("http://127.0.0.1:{}", free_port()?);
    let _proxy = spawn(
        &dir.join("proxy"),
        &[
            "--proxy=on".to_owned(),
            format!("--listen-client-urls={proxy_url}"),
            format!("--initial-cluster=default={peer_url}"),
        ],
    )?;
    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for _ in 0..2 {
        direct.push(load(&member_url, &[])?);
        proxied.push(load(&proxy_url, &[])?);
    }
    let (d, p) = (mean(&direct), mean(&proxied));
    println!(
        "one member, {CONNECTIONS} keep-alive connections, {ROUND_SECONDS} s per round, 2 rounds each"
    );
    println!("direct to the member: {d:.0} writes/s  (rounds: {direct:.0?})");
    println!("through the proxy:    {p:.0} writes/s  (rounds: {proxied:.0?})");
    println!("proxy / direct: {:.3}", p / d);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
