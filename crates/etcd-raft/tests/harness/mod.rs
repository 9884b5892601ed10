//! A cluster of in-process members over a network the test controls: drop, delay, partition, isolate, heal.
//!
//! Each member runs the real raft node with its real durable log in a temporary directory; messages travel as
//! encoded bytes through [`Network`] into [`RaftHandle::step`], so every test also exercises the decoding and
//! validation of peer messages. The application is a small key-value map that records every entry it applies.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_raft::{
    ApplyEvent, Bootstrap, EntryKind, HttpTransport, InitialMember, MemberChange, OutMessage,
    RaftConfig, RaftHandle, RaftNode, Role, SnapshotSource, Status, Transport, spawn_peer_server,
};

/// How long any wait in these tests may take before it counts as a hang.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Who may talk to whom.
#[derive(Default)]
struct Rules {
    /// Directed links that drop everything.
    cut: HashSet<(u64, u64)>,
    /// Extra latency per message.
    delay: Option<Duration>,
}

/// The test network between members. Messages either go straight into the recipient's handle, or (`http`)
/// through each sender's real HTTP transport to the recipient's peer server on loopback; the rules apply
/// before either.
pub struct Network {
    handles: Mutex<HashMap<u64, RaftHandle>>,
    rules: Mutex<Rules>,
    runtime: tokio::runtime::Handle,
    http: Option<Mutex<HashMap<u64, Arc<HttpTransport>>>>,
}

impl Network {
    fn deliver(&self, m: OutMessage) -> bool {
        let (blocked, delay) = {
            let rules = self.rules.lock().expect("rules");
            (rules.cut.contains(&(m.from, m.to)), rules.delay)
        };
        let handles = self.handles.lock().expect("handles");
        let (Some(to), Some(from)) = (handles.get(&m.to).cloned(), handles.get(&m.from).cloned())
        else {
            return false;
        };
        if blocked {
            // Lost on the wire: the sender learns nothing, as with a real network.
            if m.is_snapshot {
                from.report_snapshot(m.to, false);
            }
            return true;
        }
        let step = move || {
            let delivered = to.step(&m.bytes).is_ok();
            if m.is_snapshot {
                from.report_snapshot(m.to, delivered);
            }
        };
        match delay {
            Some(d) => {
                self.runtime.spawn(async move {
                    tokio::time::sleep(d).await;
                    step();
                });
            }
            None => step(),
        }
        true
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&self, a: &[u64], b: &[u64]) {
        let mut rules = self.rules.lock().expect("rules");
        for x in a {
            for y in b {
                rules.cut.insert((*x, *y));
                rules.cut.insert((*y, *x));
            }
        }
    }

    /// Cuts `id` off from `others`.
    pub fn isolate(&self, id: u64, others: &[u64]) {
        self.partition(&[id], others);
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.rules.lock().expect("rules").cut.clear();
    }

    /// Adds latency to every message.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.rules.lock().expect("rules").delay = delay;
    }
}

struct NetTransport {
    net: Arc<Network>,
}

impl Transport for NetTransport {
    fn send(&self, message: OutMessage) -> bool {
        self.net.deliver(message)
    }
}

/// The application of a member: applied entries in order, a key-value map, and where it is.
#[derive(Default, Debug)]
pub struct App {
    pub applied: u64,
    /// Every normal, non-empty entry applied, in order.
    pub log: Vec<(u64, Vec<u8>)>,
    pub kv: BTreeMap<String, String>,
    pub member_changes: Vec<MemberChange>,
    pub snapshots_installed: usize,
    /// How many snapshots raft took from this member's state.
    pub snapshots_taken: usize,
}

impl App {
    fn apply_data(&mut self, data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        if let Some((k, v)) = text.split_once('=') {
            self.kv.insert(k.to_owned(), v.to_owned());
        }
    }

    fn snapshot_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for (index, data) in &self.log {
            out.push_str(&format!("{index} {}\n", String::from_utf8_lossy(data)));
        }
        out.into_bytes()
    }

    fn restore(&mut self, index: u64, data: &[u8]) {
        self.log.clear();
        self.kv.clear();
        for line in String::from_utf8_lossy(data).lines() {
            if let Some((i, d)) = line.split_once(' ') {
                let i: u64 = i.parse().expect("index");
                self.log.push((i, d.as_bytes().to_vec()));
                self.apply_data(d.as_bytes());
            }
        }
        self.applied = index;
        self.snapshots_installed += 1;
    }
}

struct AppSnapshots(Arc<Mutex<App>>);

impl SnapshotSource for AppSnapshots {
    fn snapshot(&mut self) -> Option<(u64, Vec<u8>)> {
        let mut app = self.0.lock().expect("app");
        app.snapshots_taken += 1;
        Some((app.applied, app.snapshot_bytes()))
    }
}

/// One member under test.
pub struct Member {
    pub id: u64,
    pub handle: RaftHandle,
    pub app: Arc<Mutex<App>>,
    pub dir: PathBuf,
    /// The peer server, over HTTP.
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Settings for the members a test starts.
#[derive(Clone)]
pub struct Settings {
    pub snapshot_count: u64,
    pub catchup_entries: u64,
    pub request_timeout: Duration,
    /// Carry messages over real HTTP on loopback.
    pub http: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            snapshot_count: 100_000,
            catchup_entries: 5000,
            request_timeout: Duration::from_secs(3),
            http: false,
        }
    }
}

/// A cluster under test.
pub struct Cluster {
    pub net: Arc<Network>,
    pub members: BTreeMap<u64, Member>,
    pub tmp: tempfile::TempDir,
    pub settings: Settings,
    initial: Vec<u64>,
    /// Peer URLs over HTTP, kept across restarts.
    urls: BTreeMap<u64, String>,
}

impl Cluster {
    /// Starts a new cluster of members 1..=n.
    pub async fn start(n: u64, settings: Settings) -> Cluster {
        let net = Arc::new(Network {
            handles: Mutex::new(HashMap::new()),
            rules: Mutex::new(Rules::default()),
            runtime: tokio::runtime::Handle::current(),
            http: settings.http.then(|| Mutex::new(HashMap::new())),
        });
        let mut cluster = Cluster {
            net,
            members: BTreeMap::new(),
            tmp: tempfile::tempdir().expect("tempdir"),
            settings,
            initial: (1..=n).collect(),
            urls: BTreeMap::new(),
        };
        for id in 1..=n {
            cluster.start_member(id, false);
        }
        cluster
    }

    /// The peer listener of member `id`: a free loopback port the first time, the same one after.
    fn listener(&mut self, id: u64) -> tokio::net::TcpListener {
        let addr = match self.urls.get(&id) {
            Some(url) => url.trim_start_matches("http://").to_owned(),
            None => "127.0.0.1:0".to_owned(),
        };
        let std_listener = std::net::TcpListener::bind(&addr).expect("bind peer port");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let local = std_listener.local_addr().expect("local addr");
        self.urls.insert(id, format!("http://{local}"));
        tokio::net::TcpListener::from_std(std_listener).expect("tokio listener")
    }

    fn config(&self, id: u64) -> RaftConfig {
        let mut config = RaftConfig::new(id, 0xC1)
            .with_timing(Duration::from_millis(20), Duration::from_millis(200));
        config.snapshot_count = self.settings.snapshot_count;
        config.snapshot_catchup_entries = self.settings.catchup_entries;
        config.request_timeout = self.settings.request_timeout;
        config.wal_segment_size = 256 * 1024;
        config
    }

    /// Starts (or restarts, from its directory) member `id`; `join` starts it empty to join a running cluster.
    pub fn start_member(&mut self, id: u64, join: bool) {
        let dir = self.tmp.path().join(format!("member-{id}"));
        let bootstrap = if join {
            Bootstrap::Join
        } else {
            Bootstrap::NewCluster(
                self.initial
                    .iter()
                    .map(|&id| InitialMember {
                        id,
                        context: format!("member {id}").into_bytes(),
                    })
                    .collect(),
            )
        };
        let app = Arc::new(Mutex::new(App::default()));
        let listener = self.settings.http.then(|| self.listener(id));
        let (handle, mut events) = RaftNode::start(
            self.config(id),
            &dir,
            bootstrap,
            Box::new(NetTransport {
                net: self.net.clone(),
            }),
            Box::new(AppSnapshots(app.clone())),
        )
        .expect("start member");
        self.net
            .handles
            .lock()
            .expect("handles")
            .insert(id, handle.clone());
        let server = listener.map(|listener| {
            let transport = HttpTransport::new(id, 0xC1, tokio::runtime::Handle::current());
            transport.attach(handle.clone());
            let transports = self.net.http.as_ref().expect("http network");
            let mut transports = transports.lock().expect("transports");
            for (peer, url) in &self.urls {
                if *peer != id {
                    transport.add_peer(*peer, url);
                }
            }
            // The others learn this member's address (it may have just been added).
            for (peer, other) in transports.iter() {
                if *peer != id {
                    other.add_peer(id, &self.urls[&id]);
                }
            }
            transports.insert(id, transport);
            spawn_peer_server(listener, handle.clone(), 0xC1)
        });
        let applier_app = app.clone();
        let applier = handle.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let applied = {
                    let mut app = applier_app.lock().expect("app");
                    match event {
                        ApplyEvent::Snapshot { index, data, .. } => app.restore(index, &data),
                        ApplyEvent::Entries(entries) => {
                            for e in entries {
                                match e.kind {
                                    EntryKind::Normal(data) if !data.is_empty() => {
                                        app.apply_data(&data);
                                        app.log.push((e.index, data));
                                    }
                                    EntryKind::Normal(_) => {}
                                    EntryKind::MemberChange { change, .. } => {
                                        app.member_changes.push(change)
                                    }
                                }
                                app.applied = e.index;
                            }
                        }
                    }
                    app.applied
                };
                applier.report_applied(applied);
            }
        });
        self.members.insert(
            id,
            Member {
                id,
                handle,
                app,
                dir,
                server,
            },
        );
    }

    /// Stops member `id` as a crash would leave it: gone from the network, its log on disk.
    pub async fn stop_member(&mut self, id: u64) {
        self.net.handles.lock().expect("handles").remove(&id);
        if let Some(http) = &self.net.http {
            http.lock().expect("transports").remove(&id);
        }
        if let Some(m) = self.members.remove(&id) {
            if let Some(server) = m.server {
                server.abort();
                let _ = server.await;
            }
            m.handle.shutdown().await;
        }
    }

    pub fn handle(&self, id: u64) -> RaftHandle {
        self.members[&id].handle.clone()
    }

    pub fn ids(&self) -> Vec<u64> {
        self.members.keys().copied().collect()
    }

    pub async fn statuses(&self) -> Vec<Status> {
        let mut out = Vec::new();
        for m in self.members.values() {
            if let Ok(s) = m.handle.status().await {
                out.push(s);
            }
        }
        out
    }

    /// Waits until the members in `among` agree on one leader in one term, and returns it.
    pub async fn leader_among(&self, among: &[u64]) -> u64 {
        wait_for("a leader", || async {
            let mut leaders = HashSet::new();
            let mut terms = HashSet::new();
            let mut leader_role = None;
            for id in among {
                let s = self.members[id].handle.status().await.ok()?;
                leaders.insert(s.leader);
                terms.insert(s.term);
                if s.role == Role::Leader {
                    leader_role = Some(s.id);
                }
            }
            let leader = leader_role?;
            (leaders.len() == 1 && leaders.contains(&leader) && terms.len() == 1).then_some(leader)
        })
        .await
    }

    pub async fn leader(&self) -> u64 {
        self.leader_among(&self.ids()).await
    }

    /// Proposes `k=v` through `via`, retrying on a leader change until it commits.
    pub async fn write(&self, via: u64, key: &str, value: &str) -> u64 {
        let data = format!("{key}={value}").into_bytes();
        let handle = self.handle(via);
        tokio::time::timeout(PATIENCE, handle.propose(data))
            .await
            .expect("a proposal never hangs")
            .expect("proposal committed")
            .index
    }

    /// Waits until every member in `among` has applied at least `index`.
    pub async fn wait_applied(&self, among: &[u64], index: u64) {
        wait_for("members to apply", || async {
            among
                .iter()
                .all(|id| self.members[id].app.lock().expect("app").applied >= index)
                .then_some(())
        })
        .await
    }

    /// The applied log of a member.
    pub fn log(&self, id: u64) -> Vec<(u64, Vec<u8>)> {
        self.members[&id].app.lock().expect("app").log.clone()
    }

    pub fn kv(&self, id: u64, key: &str) -> Option<String> {
        self.members[&id]
            .app
            .lock()
            .expect("app")
            .kv
            .get(key)
            .cloned()
    }

    pub async fn shutdown(mut self) {
        for id in self.ids() {
            self.stop_member(id).await;
        }
    }
}

/// Polls `probe` until it yields, failing the test after [`PATIENCE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
