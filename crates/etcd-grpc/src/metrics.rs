//! `grpc_server_started_total` and `grpc_server_handled_total`, with go-grpc-prometheus's labels and its
//! habit of showing every method and code from the start (at 0).

use etcd_api::metrics::{MetricFamily, MetricKind, Sample, SampleValue};
use std::sync::atomic::{AtomicU64, Ordering};

use tonic::Code;

/// The methods served, as (service, method, gRPC type), in the order Prometheus sorts them.
pub(crate) const METHODS: [(&str, &str, &str); 48] = [
    ("etcdserverpb.Maintenance", "Alarm", "unary"),
    ("etcdserverpb.Auth", "AuthDisable", "unary"),
    ("etcdserverpb.Auth", "AuthEnable", "unary"),
    ("etcdserverpb.Auth", "AuthStatus", "unary"),
    ("etcdserverpb.Auth", "Authenticate", "unary"),
    ("v3electionpb.Election", "Campaign", "unary"),
    ("etcdserverpb.KV", "Compact", "unary"),
    ("etcdserverpb.Maintenance", "Defragment", "unary"),
    ("etcdserverpb.KV", "DeleteRange", "unary"),
    ("etcdserverpb.Maintenance", "Downgrade", "unary"),
    ("etcdserverpb.Maintenance", "Hash", "unary"),
    ("etcdserverpb.Maintenance", "HashKV", "unary"),
    ("v3electionpb.Election", "Leader", "unary"),
    ("etcdserverpb.Lease", "LeaseGrant", "unary"),
    ("etcdserverpb.Lease", "LeaseKeepAlive", "bidi_stream"),
    ("etcdserverpb.Lease", "LeaseLeases", "unary"),
    ("etcdserverpb.Lease", "LeaseRevoke", "unary"),
    ("etcdserverpb.Lease", "LeaseTimeToLive", "unary"),
    ("v3lockpb.Lock", "Lock", "unary"),
    ("etcdserverpb.Cluster", "MemberAdd", "unary"),
    ("etcdserverpb.Cluster", "MemberList", "unary"),
    ("etcdserverpb.Cluster", "MemberPromote", "unary"),
    ("etcdserverpb.Cluster", "MemberRemove", "unary"),
    ("etcdserverpb.Cluster", "MemberUpdate", "unary"),
    ("etcdserverpb.Maintenance", "MoveLeader", "unary"),
    ("v3electionpb.Election", "Observe", "server_stream"),
    ("v3electionpb.Election", "Proclaim", "unary"),
    ("etcdserverpb.KV", "Put", "unary"),
    ("etcdserverpb.KV", "Range", "unary"),
    ("v3electionpb.Election", "Resign", "unary"),
    ("etcdserverpb.Auth", "RoleAdd", "unary"),
    ("etcdserverpb.Auth", "RoleDelete", "unary"),
    ("etcdserverpb.Auth", "RoleGet", "unary"),
    ("etcdserverpb.Auth", "RoleGrantPermission", "unary"),
    ("etcdserverpb.Auth", "RoleList", "unary"),
    ("etcdserverpb.Auth", "RoleRevokePermission", "unary"),
    ("etcdserverpb.Maintenance", "Snapshot", "server_stream"),
    ("etcdserverpb.Maintenance", "Status", "unary"),
    ("etcdserverpb.KV", "Txn", "unary"),
    ("v3lockpb.Lock", "Unlock", "unary"),
    ("etcdserverpb.Auth", "UserAdd", "unary"),
    ("etcdserverpb.Auth", "UserChangePassword", "unary"),
    ("etcdserverpb.Auth", "UserDelete", "unary"),
    ("etcdserverpb.Auth", "UserGet", "unary"),
    ("etcdserverpb.Auth", "UserGrantRole", "unary"),
    ("etcdserverpb.Auth", "UserList", "unary"),
    ("etcdserverpb.Auth", "UserRevokeRole", "unary"),
    ("etcdserverpb.Watch", "Watch", "bidi_stream"),
];

/// Index of a method in [`METHODS`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Alarm = 0,
    AuthDisable = 1,
    AuthEnable = 2,
    AuthStatus = 3,
    Authenticate = 4,
    Campaign = 5,
    Compact = 6,
    Defragment = 7,
    DeleteRange = 8,
    Downgrade = 9,
    Hash = 10,
    HashKv = 11,
    Leader = 12,
    LeaseGrant = 13,
    LeaseKeepAlive = 14,
    LeaseLeases = 15,
    LeaseRevoke = 16,
    LeaseTimeToLive = 17,
    Lock = 18,
    MemberAdd = 19,
    MemberList = 20,
    MemberPromote = 21,
    MemberRemove = 22,
    MemberUpdate = 23,
    MoveLeader = 24,
    Observe = 25,
    Proclaim = 26,
    Put = 27,
    Range = 28,
    Resign = 29,
    RoleAdd = 30,
    RoleDelete = 31,
    RoleGet = 32,
    RoleGrantPermission = 33,
    RoleList = 34,
    RoleRevokePermission = 35,
    Snapshot = 36,
    Status = 37,
    Txn = 38,
    Unlock = 39,
    UserAdd = 40,
    UserChangePassword = 41,
    UserDelete = 42,
    UserGet = 43,
    UserGrantRole = 44,
    UserList = 45,
    UserRevokeRole = 46,
    Watch = 47,
}

/// gRPC codes by number, with the names Go prints.
const CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The counters of one member's gRPC server.
pub(crate) struct GrpcMetrics {
    started: [AtomicU64; METHODS.len()],
    handled: [[AtomicU64; CODES.len()]; METHODS.len()],
}

impl Default for GrpcMetrics {
    fn default() -> Self {
        GrpcMetrics {
            started: std::array::from_fn(|_| AtomicU64::new(0)),
            handled: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl GrpcMetrics {
    pub(crate) fn started(&self, method: Method) {
        self.started[method as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handled(&self, method: Method, code: Code) {
        let code = (code as usize).min(CODES.len() - 1);
        self.handled[method as usize][code].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text.
    pub(crate) fn render(&self, out: &mut Vec<MetricFamily>) {
        let labels = |service: &str, method: &str, kind: &str| {
            vec![
                ("grpc_method", method.to_owned()),
                ("grpc_service", service.to_owned()),
                ("grpc_type", kind.to_owned()),
            ]
        };
        let mut by_name: Vec<(&str, usize)> = CODES.iter().copied().zip(0..).collect();
        by_name.sort();
        let mut handled = Vec::with_capacity(by_name.len() * METHODS.len());
        for (name, code) in by_name {
            for (m, (service, method, kind)) in METHODS.iter().enumerate() {
                let mut labels = labels(service, method, kind);
                labels.insert(0, ("grpc_code", name.to_owned()));
                handled.push(Sample {
                    suffix: "",
                    labels,
                    value: SampleValue::Int(self.handled[m][code].load(Ordering::Relaxed)),
                });
            }
        }
        out.push(MetricFamily {
            name: "grpc_server_handled_total".into(),
            help: "Total number of RPCs completed on the server, regardless of success or failure."
                .into(),
            kind: MetricKind::Counter,
            samples: handled,
        });
        let started = METHODS
            .iter()
            .enumerate()
            .map(|(m, (service, method, kind))| Sample {
                suffix: "",
                labels: labels(service, method, kind),
                value: SampleValue::Int(self.started[m].load(Ordering::Relaxed)),
            })
            .collect();
        out.push(MetricFamily {
            name: "grpc_server_started_total".into(),
            help: "Total number of RPCs started on the server.".into(),
            kind: MetricKind::Counter,
            samples: started,
        });
    }
}
