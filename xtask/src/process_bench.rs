//! Process-level write benchmarks with keep-alive client connections: `cargo xtask bench-tls` (one member over
//! plaintext HTTP vs HTTPS with auto TLS) and `cargo xtask bench-proxy` (directly to a member vs through an
//! etcd-node proxy in front of it). Each prints both throughputs and their ratio.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Client connections writing at once.
const CONNECTIONS: usize = 32;
/// How long each round runs.
const ROUND: Duration = Duration::from_secs(5);

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn connect(port: u16, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Box<dyn Stream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(match tls {
        None => Box::new(tcp),
        Some(config) => {
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1")?;
            let conn = rustls::ClientConnection::new(config.clone(), name)?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
    })
}

/// One keep-alive PUT and its answer's status.
fn put(stream: &mut BufReader<Box<dyn Stream>>, key: &str) -> Result<u16> {
    let body = "value=benchmark-value-of-some-length";
    write!(
        stream.get_mut(),
        "PUT /v2/keys/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    stream.get_mut().flush()?;
    let mut status = 0;
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line)? == 0 {
            bail!("connection closed");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if status == 0 {
            status = l
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        } else if let Some((name, value)) = l.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    Ok(status)
}

struct Member(Child);

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A started etcd-node process (member or proxy) and the directory it keeps its data in.
fn spawn(binary: &str, dir: &std::path::Path, args: &[String]) -> Result<Member> {
    let child = Command::new(binary)
        .arg(format!("--data-dir={}", dir.display()))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting etcd-node")?;
    Ok(Member(child))
}

/// Member flags for a single member with its client URL on `client_url`; returns (flags, peer URL).
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

/// Waits until a write through `port` succeeds.
fn wait_writable(port: u16, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = connect(port, tls)
            && put(&mut BufReader::new(s), "ready").is_ok_and(|s| s == 201 || s == 200)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("etcd-node on port {port} did not accept a write");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes per second through `port` with `CONNECTIONS` keep-alive connections for `ROUND`.
fn load(port: u16, tls: Option<Arc<rustls::ClientConfig>>) -> Result<f64> {
    wait_writable(port, tls.as_ref())?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|t| {
            let (done, stop, tls) = (done.clone(), stop.clone(), tls.clone());
            std::thread::spawn(move || -> Result<()> {
                let mut stream = BufReader::new(connect(port, tls.as_ref())?);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let status = put(&mut stream, &format!("bench/{t}/{}", i % 1000))?;
                    if status != 200 && status != 201 {
                        bail!("write answered {status}");
                    }
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(ROUND);
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed)
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("etcd-node-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Writes per second against a fresh member, plaintext or TLS (auto TLS).
fn tls_round(binary: &str, tls: bool) -> Result<f64> {
    let dir = scratch(if tls { "tls" } else { "plain" });
    let port = free_port()?;
    let scheme = if tls { "https" } else { "http" };
    let (mut flags, _) = member_flags(&format!("{scheme}://127.0.0.1:{port}"))?;
    if tls {
        flags.push("--auto-tls".to_owned());
    }
    let member = spawn(binary, &dir, &flags)?;
    let config = if tls {
        let info = etcd_tls::TlsInfo {
            self_signed: true,
            ..etcd_tls::TlsInfo::default()
        };
        Some(info.client_config()?)
    } else {
        None
    };
    let rate = load(port, config);
    drop(member);
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// `cargo xtask bench-tls`: plaintext and TLS rounds alternately (twice each), throughputs and ratio.
pub fn run_tls() -> Result<()> {
    crate::cargo(&["build", "--release", "--locked", "-p", "etcd-node"])?;
    let binary = "target/release/etcd-node";
    let mut plain = Vec::new();
    let mut tls = Vec::new();
    for _ in 0..2 {
        plain.push(tls_round(binary, false)?);
        tls.push(tls_round(binary, true)?);
    }
    let (p, t) = (mean(&plain), mean(&tls));
    println!(
        "one member, {CONNECTIONS} keep-alive connections, {ROUND:?} per round, 2 rounds each"
    );
    println!("plaintext HTTP: {p:.0} writes/s  (rounds: {plain:.0?})");
    println!("HTTPS (auto TLS): {t:.0} writes/s  (rounds: {tls:.0?})");
    println!("TLS / plaintext: {:.3}", t / p);
    Ok(())
}

/// `cargo xtask bench-proxy`: one member and a proxy in front of it; writes directly and through the proxy
/// in alternating rounds (twice each), throughputs and ratio.
pub fn run_proxy() -> Result<()> {
    crate::cargo(&["build", "--release", "--locked", "-p", "etcd-node"])?;
    let binary = "target/release/etcd-node";
    let dir = scratch("proxy");
    let member_port = free_port()?;
    let (flags, peer_url) = member_flags(&format!("http://127.0.0.1:{member_port}"))?;
    let _member = spawn(binary, &dir.join("member"), &flags)?;
    let proxy_port = free_port()?;
    let _proxy = spawn(
        binary,
        &dir.join("proxy"),
        &[
            "--proxy=on".to_owned(),
            format!("--listen-client-urls=http://127.0.0.1:{proxy_port}"),
            format!("--initial-cluster=default={peer_url}"),
        ],
    )?;
    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for _ in 0..2 {
        direct.push(load(member_port, None)?);
        proxied.push(load(proxy_port, None)?);
    }
    let (d, p) = (mean(&direct), mean(&proxied));
    println!(
        "one member, {CONNECTIONS} keep-alive connections, {ROUND:?} per round, 2 rounds each"
    );
    println!("direct to the member: {d:.0} writes/s  (rounds: {direct:.0?})");
    println!("through the proxy:    {p:.0} writes/s  (rounds: {proxied:.0?})");
    println!("proxy / direct: {:.3}", p / d);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
