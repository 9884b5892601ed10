//! `cargo xtask bench-tls`: write throughput of one etcd-node member over plaintext HTTP and over HTTPS (auto
//! TLS), with the same number of keep-alive client connections, and the ratio.

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

/// Writes per second against a fresh member, plaintext or TLS.
fn round(binary: &str, tls: bool) -> Result<f64> {
    let dir =
        std::env::temp_dir().join(format!("etcd-node-bench-tls-{}-{tls}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (client, peer) = (free_port()?, free_port()?);
    let scheme = if tls { "https" } else { "http" };
    let client_url = format!("{scheme}://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut command = Command::new(binary);
    command
        .arg(format!("--data-dir={}", dir.display()))
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .arg(format!("--initial-cluster=default={peer_url}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if tls {
        command.arg("--auto-tls");
    }
    let _member = Member(command.spawn().context("starting etcd-node")?);
    let config = if tls {
        let info = etcd_tls::TlsInfo {
            self_signed: true,
            ..etcd_tls::TlsInfo::default()
        };
        Some(info.client_config()?)
    } else {
        None
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = connect(client, config.as_ref())
            && put(&mut BufReader::new(s), "ready").is_ok_and(|s| s == 201 || s == 200)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("etcd-node did not become ready");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|t| {
            let (done, stop, config) = (done.clone(), stop.clone(), config.clone());
            std::thread::spawn(move || -> Result<()> {
                let mut stream = BufReader::new(connect(client, config.as_ref())?);
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
    let _ = std::fs::remove_dir_all(&dir);
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed)
}

/// Runs plaintext and TLS rounds alternately (twice each) and prints the throughputs and their ratio.
pub fn run() -> Result<()> {
    crate::cargo(&["build", "--release", "--locked", "-p", "etcd-node"])?;
    let binary = "target/release/etcd-node";
    let mut plain = Vec::new();
    let mut tls = Vec::new();
    for _ in 0..2 {
        plain.push(round(binary, false)?);
        tls.push(round(binary, true)?);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (p, t) = (mean(&plain), mean(&tls));
    println!(
        "one member, {CONNECTIONS} keep-alive connections, {ROUND:?} per round, 2 rounds each"
    );
    println!("plaintext HTTP: {p:.0} writes/s  (rounds: {plain:.0?})");
    println!("HTTPS (auto TLS): {t:.0} writes/s  (rounds: {tls:.0?})");
    println!("TLS / plaintext: {:.3}", t / p);
    Ok(())
}
