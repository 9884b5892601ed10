//! etcd 3.4's flags, with their `ETCD_*` environment variables and etcd's defaults. A flag given on the
//! command line beats its environment variable. etcd flags not implemented yet are refused by name.

use clap::Parser;

/// etcd-node: an etcd v2 server and cluster member.
#[derive(Debug, Clone, Parser)]
#[command(name = "etcd-node", version, about)]
pub struct Flags {
    /// Human-readable name for this member.
    #[arg(long, env = "ETCD_NAME", default_value = "default")]
    pub name: String,
    /// Path to the data directory (default: `<name>.etcd`).
    #[arg(long, env = "ETCD_DATA_DIR")]
    pub data_dir: Option<String>,
    /// Path to the dedicated WAL directory.
    #[arg(long, env = "ETCD_WAL_DIR", default_value = "")]
    pub wal_dir: String,
    /// URLs to listen on for client traffic.
    #[arg(
        long,
        env = "ETCD_LISTEN_CLIENT_URLS",
        default_value = "http://localhost:2379"
    )]
    pub listen_client_urls: String,
    /// This member's client URLs to advertise to the rest of the cluster.
    #[arg(
        long,
        env = "ETCD_ADVERTISE_CLIENT_URLS",
        default_value = "http://localhost:2379"
    )]
    pub advertise_client_urls: String,
    /// URLs to listen on for peer traffic.
    #[arg(
        long,
        env = "ETCD_LISTEN_PEER_URLS",
        default_value = "http://localhost:2380"
    )]
    pub listen_peer_urls: String,
    /// This member's peer URLs to advertise to the rest of the cluster.
    #[arg(
        long,
        env = "ETCD_INITIAL_ADVERTISE_PEER_URLS",
        default_value = "http://localhost:2380"
    )]
    pub initial_advertise_peer_urls: String,
    /// Initial cluster configuration for bootstrapping: `name=url,name=url,...`.
    #[arg(
        long,
        env = "ETCD_INITIAL_CLUSTER",
        default_value = "default=http://localhost:2380"
    )]
    pub initial_cluster: String,
    /// Initial cluster state (`new` or `existing`).
    #[arg(long, env = "ETCD_INITIAL_CLUSTER_STATE", default_value = "new")]
    pub initial_cluster_state: String,
    /// Initial cluster token for the etcd cluster during bootstrap.
    #[arg(
        long,
        env = "ETCD_INITIAL_CLUSTER_TOKEN",
        default_value = "etcd-cluster"
    )]
    pub initial_cluster_token: String,
    /// Number of committed transactions to trigger a snapshot to disk.
    #[arg(long, env = "ETCD_SNAPSHOT_COUNT", default_value_t = 100_000)]
    pub snapshot_count: u64,
    /// Time (in milliseconds) of a heartbeat interval.
    #[arg(long, env = "ETCD_HEARTBEAT_INTERVAL", default_value_t = 100)]
    pub heartbeat_interval: u64,
    /// Time (in milliseconds) for an election to timeout.
    #[arg(long, env = "ETCD_ELECTION_TIMEOUT", default_value_t = 1000)]
    pub election_timeout: u64,
    /// Maximum client request size in bytes the server will accept.
    #[arg(long, env = "ETCD_MAX_REQUEST_BYTES", default_value_t = 1_572_864)]
    pub max_request_bytes: u64,
    /// Maximum number of operations permitted in a transaction.
    #[arg(long, env = "ETCD_MAX_TXN_OPS", default_value_t = 128)]
    pub max_txn_ops: u32,
    /// Number of entries for a slow follower to catch up after compacting the raft storage entries.
    #[arg(
        long,
        env = "ETCD_EXPERIMENTAL_SNAPSHOT_CATCHUP_ENTRIES",
        default_value_t = 5000
    )]
    pub experimental_snapshot_catchup_entries: u64,
    /// The etcd version this member reports (`/version`, Maintenance Status) and, as major.minor.0, the cluster
    /// version it sets: for clients that enable features by etcd version, as Kubernetes does.
    #[arg(long, env = "ETCD_SERVER_VERSION", default_value = "3.4.23", value_parser = parse_version)]
    pub server_version: String,
    /// Enable to check data corruption before serving any client/peer traffic.
    #[arg(long, env = "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub experimental_initial_corrupt_check: bool,
    /// Duration of time between cluster corruption check passes.
    #[arg(long, env = "ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME", default_value = "0s", value_parser = crate::go_duration::parse)]
    pub experimental_corrupt_check_time: std::time::Duration,
    /// Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).
    #[arg(
        long,
        env = "ETCD_QUOTA_BACKEND_BYTES",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub quota_backend_bytes: i64,
    /// Specify a v3 authentication token type and its options ('simple' or 'jwt').
    #[arg(long, env = "ETCD_AUTH_TOKEN", default_value = "simple")]
    pub auth_token: String,
    /// Specify the cost / strength of the bcrypt algorithm for hashing auth passwords. Valid values are between 4
    /// and 31.
    #[arg(long, env = "ETCD_BCRYPT_COST", default_value_t = 10)]
    pub bcrypt_cost: u32,
    /// Time (in seconds) of the auth-token-ttl.
    #[arg(long, env = "ETCD_AUTH_TOKEN_TTL", default_value_t = 300)]
    pub auth_token_ttl: u64,
    /// Sets the maximum number of learners that can be available in the cluster membership.
    #[arg(long, env = "ETCD_MAX_LEARNERS", default_value_t = 1)]
    pub max_learners: u32,
    /// Maximum concurrent streams that each client can open at a time.
    #[arg(long, env = "ETCD_MAX_CONCURRENT_STREAMS", default_value_t = u32::MAX)]
    pub max_concurrent_streams: u32,
    /// Minimum interval duration that a client should wait before pinging server (accepted for
    /// compatibility: the HTTP/2 library does not police client pings).
    #[arg(long, env = "ETCD_GRPC_KEEPALIVE_MIN_TIME", default_value = "5s", value_parser = crate::go_duration::parse)]
    pub grpc_keepalive_min_time: std::time::Duration,
    /// Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).
    #[arg(long, env = "ETCD_GRPC_KEEPALIVE_INTERVAL", default_value = "2h0m0s", value_parser = crate::go_duration::parse)]
    pub grpc_keepalive_interval: std::time::Duration,
    /// Additional duration of wait before closing a non-responsive connection (0 to disable).
    #[arg(long, env = "ETCD_GRPC_KEEPALIVE_TIMEOUT", default_value = "20s", value_parser = crate::go_duration::parse)]
    pub grpc_keepalive_timeout: std::time::Duration,
    /// Duration of periodic checkpoints of remaining lease TTLs through raft (what a restarted cluster resumes
    /// from; etcd-node always checkpoints, where etcd needs --experimental-enable-lease-checkpoint).
    #[arg(long, env = "ETCD_EXPERIMENTAL_LEASE_CHECKPOINT_INTERVAL", default_value = "5s", value_parser = crate::go_duration::parse)]
    pub experimental_lease_checkpoint_interval: std::time::Duration,
    /// Enable leader to send regular checkpoints to other members to prevent reset of remaining TTL on leader
    /// change (always on in etcd-node; accepted for etcd's command lines).
    #[arg(long, env = "ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub experimental_enable_lease_checkpoint: bool,
    /// Accept etcd V2 client requests (always on in etcd-node).
    #[arg(long, env = "ETCD_ENABLE_V2", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enable_v2: bool,
    /// Reject reconfiguration requests that would cause quorum loss.
    #[arg(long, env = "ETCD_STRICT_RECONFIG_CHECK", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub strict_reconfig_check: bool,
    /// Comma-separated whitelist of origins for CORS.
    #[arg(long, env = "ETCD_CORS", default_value = "*")]
    pub cors: String,
    /// Log level: debug, info, warn, error, panic, fatal.
    #[arg(long, env = "ETCD_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Enable debug-level logging (etcd's deprecated spelling of `--log-level debug`).
    #[arg(long, env = "ETCD_DEBUG", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub debug: bool,
    /// Logger: `capnslog` or `zap` (accepted for etcd's sake; etcd-node's log lines are its own either way).
    #[arg(long, env = "ETCD_LOGGER", default_value = "capnslog")]
    pub logger: String,
    /// Where logs go: `default` or `stderr` (standard error), or `stdout`.
    #[arg(long, env = "ETCD_LOG_OUTPUTS", default_value = "default")]
    pub log_outputs: String,
    /// Force to create a new one member cluster, keeping the data.
    #[arg(long, env = "ETCD_FORCE_NEW_CLUSTER", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub force_new_cluster: bool,
    /// Path to the server configuration file (etcd's YAML; flags and environment are then ignored).
    #[arg(long, env = "ETCD_CONFIG_FILE")]
    pub config_file: Option<String>,
    /// Path to the client server TLS certificate file.
    #[arg(long, env = "ETCD_CERT_FILE", default_value = "")]
    pub cert_file: String,
    /// Path to the client server TLS key file.
    #[arg(long, env = "ETCD_KEY_FILE", default_value = "")]
    pub key_file: String,
    /// Path to the client server TLS trusted CA file (turns client certificate authentication on).
    #[arg(long, env = "ETCD_TRUSTED_CA_FILE", default_value = "")]
    pub trusted_ca_file: String,
    /// Enable client certificate authentication.
    #[arg(long, env = "ETCD_CLIENT_CERT_AUTH", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub client_cert_auth: bool,
    /// Path to the client certificate revocation list file.
    #[arg(long, env = "ETCD_CLIENT_CRL_FILE", default_value = "")]
    pub client_crl_file: String,
    /// Client TLS using generated certificates (ignored when certificate files are given).
    #[arg(long, env = "ETCD_AUTO_TLS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub auto_tls: bool,
    /// Path to the peer server TLS certificate file.
    #[arg(long, env = "ETCD_PEER_CERT_FILE", default_value = "")]
    pub peer_cert_file: String,
    /// Path to the peer server TLS key file.
    #[arg(long, env = "ETCD_PEER_KEY_FILE", default_value = "")]
    pub peer_key_file: String,
    /// Path to the peer server TLS trusted CA file (turns peer certificate authentication on).
    #[arg(long, env = "ETCD_PEER_TRUSTED_CA_FILE", default_value = "")]
    pub peer_trusted_ca_file: String,
    /// Enable peer client certificate authentication.
    #[arg(long, env = "ETCD_PEER_CLIENT_CERT_AUTH", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub peer_client_cert_auth: bool,
    /// Path to the peer certificate revocation list file.
    #[arg(long, env = "ETCD_PEER_CRL_FILE", default_value = "")]
    pub peer_crl_file: String,
    /// Allowed CN for inter-peer authentication.
    #[arg(long, env = "ETCD_PEER_CERT_ALLOWED_CN", default_value = "")]
    pub peer_cert_allowed_cn: String,
    /// Allowed TLS hostname for inter peer authentication.
    #[arg(long, env = "ETCD_PEER_CERT_ALLOWED_HOSTNAME", default_value = "")]
    pub peer_cert_allowed_hostname: String,
    /// Peer TLS using generated certificates (ignored when certificate files are given).
    #[arg(long, env = "ETCD_PEER_AUTO_TLS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub peer_auto_tls: bool,
    /// Comma-separated list of supported TLS cipher suites between client/server and peers (empty: the TLS
    /// library's defaults).
    #[arg(long, env = "ETCD_CIPHER_SUITES", default_value = "")]
    pub cipher_suites: String,
    /// Proxy mode: `off`, `readonly` or `on`.
    #[arg(long, env = "ETCD_PROXY", default_value = "off")]
    pub proxy: String,
    /// `--proxy`, parsed by [`Flags::validate`].
    #[arg(skip)]
    pub proxy_mode: ProxyMode,
    /// `--initial-cluster-state`, parsed by [`Flags::validate`].
    #[arg(skip)]
    pub cluster_state: ClusterState,
    /// `--log-level` (and `--debug`), parsed by [`Flags::validate`].
    #[arg(skip)]
    pub level: LogLevel,
    /// Time (in milliseconds) an endpoint will be held in a failed state.
    #[arg(long, env = "ETCD_PROXY_FAILURE_WAIT", default_value_t = 5000)]
    pub proxy_failure_wait: u64,
    /// Time (in milliseconds) of the endpoints refresh interval.
    #[arg(long, env = "ETCD_PROXY_REFRESH_INTERVAL", default_value_t = 30000)]
    pub proxy_refresh_interval: u64,
    /// Time (in milliseconds) for a dial to timeout.
    #[arg(long, env = "ETCD_PROXY_DIAL_TIMEOUT", default_value_t = 1000)]
    pub proxy_dial_timeout: u64,
    /// Time (in milliseconds) for a write to timeout.
    #[arg(long, env = "ETCD_PROXY_WRITE_TIMEOUT", default_value_t = 5000)]
    pub proxy_write_timeout: u64,
    /// Time (in milliseconds) for a read to timeout (0: never, as watches need).
    #[arg(long, env = "ETCD_PROXY_READ_TIMEOUT", default_value_t = 0)]
    pub proxy_read_timeout: u64,
}

/// `--proxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyMode {
    /// A member, not a proxy.
    #[default]
    Off,
    /// A proxy that forwards only GETs.
    Readonly,
    /// A proxy.
    On,
}

/// `--initial-cluster-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterState {
    /// Founding a new cluster.
    #[default]
    New,
    /// Joining a running one.
    Existing,
}

/// `--log-level`, as the levels the logger has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// `debug` (or `--debug`).
    Debug,
    /// `info`.
    #[default]
    Info,
    /// `warn`.
    Warn,
    /// `error`, `panic`, `fatal`.
    Error,
}

impl LogLevel {
    /// The level's name for the log filter.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl Flags {
    /// Checks the values clap cannot, the enumerated ones, and parses them once into `proxy_mode`,
    /// `cluster_state` and `level`. (etcd flags this build does not implement are refused by name before
    /// parsing, in `etcd_args`.)
    pub fn validate(&mut self) -> Result<(), String> {
        self.proxy_mode = match self.proxy.as_str() {
            "off" => ProxyMode::Off,
            "readonly" => ProxyMode::Readonly,
            "on" => ProxyMode::On,
            _ => {
                return Err(format!(
                    "invalid value {:?} for flag -proxy: valid values are [\"off\",\"readonly\",\"on\"]",
                    self.proxy
                ));
            }
        };
        self.level = match self.log_level.as_str() {
            _ if self.debug => LogLevel::Debug,
            "debug" => LogLevel::Debug,
            "warn" => LogLevel::Warn,
            "error" | "panic" | "fatal" => LogLevel::Error,
            _ => LogLevel::Info,
        };
        if !matches!(self.logger.as_str(), "capnslog" | "zap") {
            return Err(format!(
                "invalid value {:?} for --logger (want \"capnslog\" or \"zap\")",
                self.logger
            ));
        }
        if self.logs_to_stdout().is_none() {
            return Err(format!(
                "--log-outputs {:?}: etcd-node writes logs to stderr (default) or stdout; files are not implemented yet",
                self.log_outputs
            ));
        }
        self.cluster_state = match self.initial_cluster_state.as_str() {
            "new" => ClusterState::New,
            "existing" => ClusterState::Existing,
            _ => {
                return Err(format!(
                    "invalid value {:?} for --initial-cluster-state (want \"new\" or \"existing\")",
                    self.initial_cluster_state
                ));
            }
        };
        Ok(())
    }

    /// Whether logs go to standard output (`Some(false)`: standard error); `None` for outputs not implemented.
    pub fn logs_to_stdout(&self) -> Option<bool> {
        let outputs: Vec<&str> = self.log_outputs.split(',').map(str::trim).collect();
        match outputs.as_slice() {
            ["default" | "stderr"] => Some(false),
            ["stdout"] => Some(true),
            _ => None,
        }
    }

    /// The data directory: the flag, or `<name>.etcd`.
    pub fn data_dir(&self) -> String {
        self.data_dir
            .clone()
            .unwrap_or_else(|| format!("{}.etcd", self.name))
    }
}

/// An etcd version as `--server-version` takes it: `major.minor.patch`, numbers only.
fn parse_version(text: &str) -> Result<String, String> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not a version like 3.5.13"))
    }
}
