//! Starting a member from its configuration: the stores, raft, the apply loop, and the background duties
//! (publishing this member's attributes, the cluster version, TTL expiry ticks, the cached raft status).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use etcd_api::v2::{Backend, Method, Request};
use etcd_raft::{Bootstrap, HttpTransport, RaftConfig, RaftError, RaftNode, Role};
use etcd_store::Store;

use crate::members;

/// A background duty of a member.
type Duty = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
use crate::server::{Limits, MembershipPolicy, Server, State, unix_nanos};
use crate::waiters::Waiters;

/// What a member is started with: its identity, its place in the cluster, its directories and limits. The
/// binary builds it from etcd's flags.
#[derive(Debug)]
pub struct ServerConfig {
    /// `--name`.
    pub name: String,
    /// This member's ID.
    pub id: u64,
    /// The cluster's ID.
    pub cluster_id: u64,
    /// `--initial-cluster-token` (new members' IDs are derived from it).
    pub initial_cluster_token: String,
    /// How raft starts: a new cluster's members, or joining (a restart, or a member added to a running
    /// cluster).
    pub bootstrap: Bootstrap,
    /// The other members known now and their peer URLs.
    pub peers: Vec<(u64, Vec<String>)>,
    /// `--advertise-client-urls`.
    pub client_urls: Vec<String>,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--wal-dir`, when the WAL lives elsewhere.
    pub wal_dir: Option<PathBuf>,
    /// `--heartbeat-interval`.
    pub heartbeat_interval: Duration,
    /// `--election-timeout`.
    pub election_timeout: Duration,
    /// `--snapshot-count`.
    pub snapshot_count: u64,
    /// `--experimental-snapshot-catchup-entries`: entries kept behind a snapshot for slow followers.
    pub snapshot_catchup_entries: u64,
    /// `--force-new-cluster`.
    pub force_new_cluster: bool,
    /// `--cors` origins.
    pub cors: Vec<String>,
    /// `--strict-reconfig-check`.
    pub strict_reconfig_check: bool,
    /// `--max-txn-ops`.
    pub max_txn_ops: usize,
    /// `--max-request-bytes`.
    pub max_request_bytes: usize,
    /// `--max-learners`.
    pub max_learners: usize,
    /// `--quota-backend-bytes`: 0 for etcd's default (2 GiB), negative for none.
    pub quota_backend_bytes: i64,
    /// `--server-version`: the etcd version this member reports; the cluster version is its major.minor.0.
    pub server_version: String,
    /// `--experimental-corrupt-check-time`: how often the leader compares the members' hashes (zero: never).
    pub corrupt_check_time: Duration,
    /// `--experimental-lease-checkpoint-interval`: how often the leader checkpoints remaining lease TTLs.
    pub lease_checkpoint_interval: Duration,
    /// `--auth-token`, `--bcrypt-cost`, `--client-cert-auth`.
    pub auth: crate::auth::AuthOptions,
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The raft log could not be opened or created.
    #[error("starting raft in {}: {source}", dir.display())]
    Raft {
        /// The member directory.
        dir: PathBuf,
        /// What failed.
        source: RaftError,
    },
    /// The v3 store could not be opened.
    #[error("opening the v3 store: {0}")]
    Mvcc(#[from] etcd_mvcc::Error),
    /// The alarms in the v3 store could not be read.
    #[error("reading the alarms of the v3 store: {0}")]
    Alarms(String),
    /// The leases in the v3 store could not be read.
    #[error("reading the leases of the v3 store: {0}")]
    Leases(String),
    /// The users and roles in the v3 store could not be read.
    #[error("reading the users and roles of the v3 store: {0}")]
    Auth(String),
    /// The auth token keys could not be used.
    #[error("setting up auth tokens: {0}")]
    AuthTokens(String),
    /// The member directory could not be created.
    #[error("creating {}: {source}", dir.display())]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// How long the proposals in flight may take to finish at shutdown.
const PROPOSAL_DRAIN: Duration = Duration::from_secs(5);
/// How long the background duties may take to stop once told.
const DUTIES_DRAIN: Duration = Duration::from_secs(2);

/// A running member.
pub struct Running {
    /// The member.
    pub server: Arc<Server>,
    /// Cancelled at shutdown; every background duty watches it.
    shutdown: CancellationToken,
    duties: TaskTracker,
}

impl Running {
    /// Lets the proposals in flight finish (a few seconds at most), stops the background duties (each ends at
    /// its next await), then stops raft, which syncs and closes the log, and makes the v3 store durable.
    pub async fn shutdown(self) {
        self.server.begin_shutdown();
        let drained = tokio::time::timeout(
            PROPOSAL_DRAIN,
            self.server.metrics.v2.no_proposals_pending(),
        )
        .await;
        if drained.is_err() {
            tracing::warn!(
                "proposals were still pending after {PROPOSAL_DRAIN:?}; stopping anyway"
            );
        }
        self.shutdown.cancel();
        self.duties.close();
        if tokio::time::timeout(DUTIES_DRAIN, self.duties.wait())
            .await
            .is_err()
        {
            tracing::warn!("background duties did not stop within {DUTIES_DRAIN:?}");
        }
        self.server.raft.shutdown().await;
        if let Err(e) = self.server.mvcc().sync() {
            tracing::warn!("could not make the v3 store durable: {e}");
        }
        tracing::info!("stopped");
    }
}

/// Starts the member `config` describes, reaching peers through `transport`.
pub fn start(config: ServerConfig, transport: Arc<HttpTransport>) -> Result<Running, StartError> {
    let member_dir = config.data_dir.join("member");
    let snap_dir = member_dir.join("snap");
    std::fs::create_dir_all(&snap_dir).map_err(|source| StartError::Directory {
        dir: snap_dir.clone(),
        source,
    })?;
    let mvcc_path = snap_dir.join("db");
    let store = etcd_mvcc::Store::open(&mvcc_path)?;
    let min_ttl = crate::lease::min_ttl(config.heartbeat_interval, config.election_timeout);
    let lessor = crate::lease::load(&store, min_ttl).map_err(StartError::Leases)?;
    let alarms = crate::alarms::Alarms::load(&store).map_err(StartError::Alarms)?;
    let auth = crate::auth::load(&store).map_err(StartError::Auth)?;
    let mvcc = Arc::new(parking_lot::RwLock::new(Arc::new(store)));
    let mut raft_config = RaftConfig::new(config.id, config.cluster_id)
        .with_timing(config.heartbeat_interval, config.election_timeout);
    raft_config.snapshot_count = config.snapshot_count.max(1);
    raft_config.snapshot_catchup_entries = config.snapshot_catchup_entries;
    raft_config.wal_dir = config.wal_dir.clone();
    raft_config.force_new_cluster = config.force_new_cluster;
    let request_timeout = raft_config.request_timeout;
    let state = Arc::new(RwLock::new(State {
        store: Store::new(),
        applied: 0,
    }));
    for (peer, urls) in &config.peers {
        if let Some(url) = urls.first() {
            transport.add_peer(*peer, url);
        }
    }
    let (raft, applies) = RaftNode::start(
        raft_config,
        &member_dir,
        config.bootstrap,
        Box::new(transport.clone()),
        Box::new(crate::snapshot::Snapshots {
            state: state.clone(),
            mvcc: mvcc.clone(),
        }),
    )
    .map_err(|source| StartError::Raft {
        dir: member_dir.clone(),
        source,
    })?;
    transport.attach(raft.clone());
    let server = Arc::new(Server {
        id: config.id,
        name: config.name.clone(),
        cluster_id: config.cluster_id,
        token: config.initial_cluster_token,
        client_urls: config.client_urls,
        raft,
        transport,
        state,
        mvcc,
        mvcc_path,
        backend_file: Default::default(),
        waiters: Waiters::new(config.id, unix_nanos()),
        limits: Limits {
            max_txn_ops: config.max_txn_ops,
            max_request_bytes: config.max_request_bytes,
            request_timeout,
        },
        policy: MembershipPolicy {
            strict_reconfig: config.strict_reconfig_check,
            max_learners: config.max_learners,
        },
        raft_view: crate::raft_view::RaftView::new(),
        metrics: Default::default(),
        cors: config.cors,
        quota: crate::quota::BackendQuota::new(config.quota_backend_bytes),
        server_version: config.server_version.clone(),
        lifecycle: crate::lifecycle::Lifecycle::new(),
        leases: crate::lease::Leases::new(
            lessor,
            config.election_timeout,
            config
                .lease_checkpoint_interval
                .max(Duration::from_millis(100)),
        ),
        alarms: parking_lot::Mutex::new(alarms),
        auth: crate::auth::Auth::new(auth, config.auth).map_err(StartError::AuthTokens)?,
    });
    // etcd reads /2/enabled once at start (its v2 auth check), which shows as one getsFail in the store stats.
    server.check_access();
    tracing::info!(
        name = %config.name,
        member = %format!("{:x}", config.id),
        cluster = %format!("{:x}", config.cluster_id),
        data_dir = %config.data_dir.display(),
        "starting etcd-node"
    );
    let shutdown = CancellationToken::new();
    let duties = TaskTracker::new();
    // Each duty ends at its next await once the member shuts down: between two batches of the apply loop,
    // between two ticks of the others. None holds a client's request.
    let duty = |task: Duty| {
        let shutdown = shutdown.clone();
        duties.spawn(async move {
            shutdown.run_until_cancelled(task).await;
        });
    };
    duty(Box::pin(crate::apply::run(server.clone(), applies)));
    duty(Box::pin(watch_status(server.clone())));
    duty(Box::pin(publish(server.clone())));
    duty(Box::pin(expire_ttls(server.clone())));
    duty(Box::pin(sync_watchers(server.clone())));
    duty(Box::pin(crate::lease::duties(server.clone())));
    duty(Box::pin(crate::lease::renewer(server.clone())));
    if !config.corrupt_check_time.is_zero() {
        duty(Box::pin(crate::corrupt::duty(
            server.clone(),
            config.corrupt_check_time,
        )));
    }
    Ok(Running {
        server,
        shutdown,
        duties,
    })
}

/// Counts leader changes and notes when the current leader was elected, the moment raft's view changes (the
/// leadership watch channel); and keeps the raft status (WAL figures, progress) cached for `/metrics` and the
/// stats, refreshed every 100 ms.
async fn watch_status(server: Arc<Server>) {
    let mut leadership = server.raft.leadership_changes();
    let mut last_leader = 0;
    let mut refresh = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            changed = leadership.changed() => {
                if changed.is_err() {
                    return;
                }
                let leader = leadership.borrow_and_update().leader;
                if leader != last_leader && leader != 0 {
                    server.metrics.v2.leader_changes.fetch_add(1, Ordering::Relaxed);
                    server.raft_view.leader_elected_now();
                }
                last_leader = leader;
            }
            _ = refresh.tick() => {
                if let Ok(status) = server.raft.status().await {
                    server.raft_view.set_status(status);
                }
            }
        }
    }
}

/// Publishes this member's name and client URLs, then (on the leader) the cluster version, as etcd does.
async fn publish(server: Arc<Server>) {
    let attributes = Request {
        method: Method::Put,
        path: format!("/0/members/{:x}/attributes", server.id),
        val: members::attributes(&server.name, &server.client_urls),
        ..Request::default()
    };
    while server.propose_request(attributes.clone()).await.is_err() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::info!("published local member to cluster through raft");
    tracing::info!("ready to serve client requests");
    server.lifecycle.set_ready();
    loop {
        let is_leader = server.raft.leadership().role == Role::Leader;
        let cluster_version = server.versions().cluster;
        if cluster_version != "not_decided" {
            // etcd's words, which tools wait for; the capabilities are those of the major.minor version.
            let major_minor: String = cluster_version
                .split('.')
                .take(2)
                .collect::<Vec<_>>()
                .join(".");
            tracing::info!(cluster_version = %major_minor, "enabled capabilities for version {major_minor}");
            return;
        }
        if is_leader {
            let version = Request {
                method: Method::Put,
                path: "/0/version".to_owned(),
                val: cluster_version_of(&server.server_version),
                ..Request::default()
            };
            if server.propose_request(version).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// On the leader, proposes a SYNC with its clock every 500 ms while keys with a TTL exist.
async fn expire_ttls(server: Arc<Server>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let is_leader = server.raft.leadership().role == Role::Leader;
        let has_ttls = server
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .store
            .has_ttl_keys();
        if is_leader && has_ttls {
            let sync = Request {
                method: Method::Sync,
                time: unix_nanos(),
                ..Request::default()
            };
            // Fire and forget: nobody waits for a SYNC's result.
            let raft = server.raft.clone();
            let bytes = crate::entry::encode_v2(&sync, unix_nanos());
            tokio::spawn(async move {
                let _ = raft.propose(bytes).await;
            });
        }
    }
}

/// Lets unsynced v3 watchers (started in the past, or fallen behind) catch up from the backend, a bounded
/// step at a time: every 100 ms as etcd does, sooner while some are still behind.
async fn sync_watchers(server: Arc<Server>) {
    loop {
        let mvcc = server.mvcc();
        let behind = tokio::task::spawn_blocking(move || mvcc.sync_watchers())
            .await
            .unwrap_or(Ok(false));
        let pause = match behind {
            Ok(true) => Duration::from_millis(10),
            Ok(false) => Duration::from_millis(100),
            Err(e) => {
                tracing::warn!("v3 watchers could not catch up: {e}");
                Duration::from_millis(100)
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// The cluster version a member of `server_version` sets: its major.minor.0, as etcd decides it.
fn cluster_version_of(server_version: &str) -> String {
    let mut parts = server_version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}.0"),
        _ => "3.4.0".to_owned(),
    }
}
