//! Real processes on loopback: etcd-node, and etcd 3.4.23 from Debian's `etcd-server` as the reference.
#![allow(dead_code)] // each test binary uses its own subset

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to become ready.
const STARTUP: Duration = Duration::from_secs(30);

/// A free loopback port (bound and released; good enough on a test machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The path of a Debian etcd binary, or a failure that names the command to install it.
pub fn debian_binary(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{name} is missing: install the reference with `apt-get install -y etcd-server etcd-client` (cargo xtask test does this)"
    );
    path
}

/// Which server a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Ours.
    EtcdNode,
    /// The reference: etcd 3.4.23.
    Etcd,
}

/// A single-member server on loopback, killed when dropped.
pub struct Server {
    pub flavor: Flavor,
    pub client_url: String,
    pub peer_url: String,
    pub child: Child,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start(flavor: Flavor) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let client_url = format!("http://127.0.0.1:{}", free_port());
        let peer_url = format!("http://127.0.0.1:{}", free_port());
        let program = match flavor {
            Flavor::EtcdNode => PathBuf::from(env!("CARGO_BIN_EXE_etcd-node")),
            Flavor::Etcd => debian_binary("etcd"),
        };
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = Command::new(program)
            .args(["--name", "n1", "--enable-v2"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
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
            .args(["--initial-cluster", &format!("n1={peer_url}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start server");
        let server = Server {
            flavor,
            client_url,
            peer_url,
            child,
            dir,
        };
        server.wait_ready();
        server
    }

    /// Waits until the server answers and the cluster version is decided, so both servers start counting
    /// user writes at the same index.
    fn wait_ready(&self) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(body) = http_get(&self.client_url, "/version")
                && body.contains("etcdcluster")
                && !body.contains("not_decided")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{:?} did not become ready; log:\n{}",
                self.flavor,
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `ETCDCTL_API=2 etcdctl` against this server.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        Command::new(debian_binary("etcdctl"))
            .env("ETCDCTL_API", "2")
            .arg("--endpoints")
            .arg(&self.client_url)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP GET over a raw socket; the body, or `None` if the server did not answer.
pub fn http_get(base: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}
