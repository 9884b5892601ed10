//! etcd's v3 proxies, ours against etcd 3.5.1's:
//! - `etcd-node grpc-proxy start` in front of etcd-node answers etcdctl as `etcd grpc-proxy start` in front of
//!   etcd 3.5.1 does (KV, cache invalidation, txn, watch history, leases, members, auth);
//! - 100 identical watches through the proxy are one watcher on the member, and 50 keepalive streams one
//!   keepalive stream, while every client gets every answer;
//! - a member killed behind the proxy (and behind the L4 `gateway`): requests go on through the next endpoint,
//!   and a watch opened before resumes without a gap;
//! - TLS from the proxy to the members.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest, WatchCreateRequest, WatchRequest,
};
use etcd_tests as common;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;

use common::{Flavor, Server, free_port, http_get, text};

/// A proxy process on loopback, killed when dropped.
struct Proxy {
    child: Child,
    addr: String,
}

impl Proxy {
    /// `etcd-node grpc-proxy start` (or, for `Flavor::Etcd35`, etcd 3.5.1's) in front of `endpoints`.
    fn grpc(flavor: Flavor, endpoints: &[&str], extra: &[String]) -> Proxy {
        Proxy::start(flavor, "grpc-proxy", endpoints, extra)
    }

    fn start(flavor: Flavor, kind: &str, endpoints: &[&str], extra: &[String]) -> Proxy {
        Proxy::start_at(
            &format!("127.0.0.1:{}", free_port()),
            flavor,
            kind,
            endpoints,
            extra,
        )
    }

    /// A proxy listening on `addr`.
    fn start_at(
        addr: &str,
        flavor: Flavor,
        kind: &str,
        endpoints: &[&str],
        extra: &[String],
    ) -> Proxy {
        let addr = addr.to_owned();
        let program = match flavor {
            Flavor::Etcd35 => common::etcd35_binary("etcd"),
            _ => common::etcd_node_binary(),
        };
        let dir = std::env::temp_dir().join(format!("grpc-proxy-{}", free_port()));
        let child = Command::new(program)
            .args([kind, "start", "--listen-addr", &addr])
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .args(extra)
            .current_dir(std::env::temp_dir())
            .env("ETCD_DATA_DIR", &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("proxy");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the {kind} did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Proxy { child, addr }
    }

    fn etcdctl(&self, args: &[&str]) -> Output {
        Command::new(common::etcd35_binary("etcdctl"))
            .args(["--endpoints", &self.addr, "--command-timeout", "10s"])
            .args(args)
            .output()
            .expect("etcdctl")
    }

    /// etcdctl's output, retried while the proxy's member is failing over.
    fn etcdctl_ok(&self, args: &[&str]) -> String {
        let out = common::until_success(|| self.etcdctl(args));
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `metric` (with its labels as written) on the `/metrics` page at `base`.
fn metric(base: &str, metric: &str) -> f64 {
    http_get(base, "/metrics")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(metric)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// etcdctl commands through a proxy: KV, the cache, compaction, leases, roles and users, a watch of history.
const SESSION: &[&[&str]] = &[
    &["put", "a", "1"],
    &["get", "a"],
    &["get", "a", "--consistency=s"],
    &["put", "a", "2"],
    // The cache was emptied by the write through the proxy.
    &["get", "a", "--consistency=s", "-w", "json"],
    &["put", "b", "3", "--prev-kv"],
    &["get", "", "--prefix", "--keys-only"],
    &["del", "b"],
    &["compaction", "2"],
    &["get", "a", "--rev", "1"],
    &["lease", "grant", "60"],
    &["role", "add", "reader"],
    &["role", "list"],
    &["user", "add", "u1:pw"],
    &["user", "list"],
    &["watch", "a", "--rev", "3"],
];

/// With auth on through a proxy: a user with read permission on `a` only, and root.
const AUTH: &[&[&str]] = &[
    &["user", "add", "root:pw"],
    &["user", "add", "bob:pw"],
    &["role", "add", "r"],
    &["role", "grant-permission", "r", "read", "a"],
    &["user", "grant-role", "bob", "r"],
    &["auth", "enable"],
    &["--user", "root:pw", "put", "a", "1"],
    &["--user", "root:pw", "put", "b", "1"],
    &["--user", "bob:pw", "get", "a"],
    &["--user", "bob:pw", "get", "b"],
    &["get", "a"],
    &["--user", "bob:pw", "put", "a", "2"],
    &["--user", "root:pw", "watch", "a", "--rev", "1"],
    &["--user", "bob:pw", "watch", "a", "--rev", "1"],
    &["--user", "bob:pw", "watch", "b", "--rev", "1"],
    &["--user", "root:pw", "role", "get", "r"],
];

/// etcdctl through a proxy to a member, step by step (a watch runs for 1.5 s).
fn session(proxy: &Proxy, steps: &[&[&str]]) -> Vec<String> {
    let mut seen = Vec::new();
    for args in steps {
        let out = if args.contains(&"watch") {
            let mut child = Command::new(common::etcd35_binary("etcdctl"))
                .args(["--endpoints", &proxy.addr])
                .args(*args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("etcdctl watch");
            std::thread::sleep(Duration::from_millis(1500));
            let _ = child.kill();
            child.wait_with_output().expect("watch output")
        } else {
            proxy.etcdctl(args)
        };
        let mut stdout = common::mask_hex_ids(&text(&out.stdout));
        for key in ["cluster_id", "member_id"] {
            stdout = common::mask_number(&stdout, &format!("\"{key}\":"));
        }
        // etcdctl's client logs carry times and addresses: their error is what is compared.
        let stderr: Vec<String> = text(&out.stderr)
            .lines()
            .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                Ok(log) => format!("log: {}", log["error"]),
                Err(_) => l.to_owned(),
            })
            .collect();
        seen.push(format!(
            "{args:?} -> {stdout}{}",
            common::mask_hex_ids(&stderr.join("\n"))
        ));
    }
    seen
}

/// `steps` through etcd-node's grpc-proxy and etcd 3.5.1's, each in front of a member of its own: the steps
/// that differ. `after` then looks at etcd-node's proxy.
fn through_both_proxies(steps: &[&[&str]], after: impl FnOnce(&Proxy)) -> Vec<String> {
    let ours = Server::start(Flavor::EtcdNode);
    let ours_proxy = Proxy::grpc(Flavor::EtcdNode, &[&ours.client_url], &[]);
    let etcd = Server::start(Flavor::Etcd35);
    let etcd_proxy = Proxy::grpc(Flavor::Etcd35, &[&etcd.client_url], &[]);
    let seen = session(&ours_proxy, steps);
    let expected = session(&etcd_proxy, steps);
    after(&ours_proxy);
    common::differences(&seen, &expected, "etcd 3.5.1's proxy")
}

#[test]
fn etcdctl_through_the_grpc_proxy_answers_as_through_etcds_proxy() {
    let diffs = through_both_proxies(SESSION, |proxy| {
        // The serializable reads were served from the cache where they could be.
        let url = format!("http://{}", proxy.addr);
        assert!(metric(&url, "etcd_grpc_proxy_cache_misses_total") >= 1.0);
    });
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
}

#[test]
fn auth_through_the_grpc_proxy_answers_as_through_etcds_proxy() {
    let diffs = through_both_proxies(AUTH, |_| {});
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
}

/// etcdctl through a proxy with `--namespace` and `--resolver-prefix`, and directly on its member.
fn namespaced_session(proxy: &Proxy, member: &Server) -> Vec<String> {
    let direct = Proxy {
        child: Command::new("true").spawn().expect("true"),
        addr: member.client_url.trim_start_matches("http://").to_owned(),
    };
    let steps: &[(&Proxy, &[&str])] = &[
        (proxy, &["put", "k", "v"]),
        (proxy, &["put", "l", "w", "--prev-kv"]),
        (proxy, &["get", "", "--prefix"]),
        (proxy, &["get", "k", "l", "-w", "json"]),
        (&direct, &["get", "ns/", "--prefix", "--keys-only"]),
        (proxy, &["txn"]),
        (proxy, &["del", "l", "--prev-kv"]),
        (proxy, &["member", "list", "-w", "json"]),
        (proxy, &["watch", "k", "--rev", "1"]),
    ];
    let mut seen = Vec::new();
    for (target, args) in steps {
        let out = if args[0] == "watch" {
            let mut child = Command::new(common::etcd35_binary("etcdctl"))
                .args(["--endpoints", &target.addr])
                .args(*args)
                .stdout(Stdio::piped())
                .spawn()
                .expect("etcdctl watch");
            std::thread::sleep(Duration::from_millis(1500));
            let _ = child.kill();
            child.wait_with_output().expect("watch output")
        } else if args[0] == "txn" {
            let mut child = Command::new(common::etcd35_binary("etcdctl"))
                .args(["--endpoints", &target.addr, "txn"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("etcdctl txn");
            use std::io::Write;
            let _ = child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"value(\"k\") = \"v\"\n\nput m x\nget k\n\nput k nope\n\n");
            child.wait_with_output().expect("txn output")
        } else {
            target.etcdctl(args)
        };
        let mut stdout = text(&out.stdout).replace(&proxy.addr, "PROXY");
        for key in ["cluster_id", "member_id", "revision", "raft_term"] {
            stdout = common::mask_number(&stdout, &format!("\"{key}\":"));
        }
        seen.push(format!("{args:?} -> {stdout}{}", text(&out.stderr)));
    }
    seen
}

#[test]
fn namespace_and_resolver_answer_as_etcds_proxy() {
    let flags = |addr: &str| {
        vec![
            "--namespace=ns/".to_owned(),
            "--resolver-prefix=___grpc_proxy_endpoint".to_owned(),
            "--resolver-ttl=60".to_owned(),
            format!("--advertise-client-url={addr}"),
        ]
    };
    let run = |flavor: Flavor| {
        let member = Server::start(flavor);
        // The advertised address is the proxy's own: chosen first, then given to it.
        let addr = format!("127.0.0.1:{}", free_port());
        let proxy = Proxy::start_at(
            &addr,
            flavor,
            "grpc-proxy",
            &[&member.client_url],
            &flags(&addr),
        );
        // The registration is made in the background: wait for it.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !proxy.etcdctl_ok(&["member", "list"]).contains(&proxy.addr) {
            assert!(Instant::now() < deadline, "the proxy did not register");
            std::thread::sleep(Duration::from_millis(200));
        }
        namespaced_session(&proxy, &member)
    };
    let diffs = common::differences(
        &run(Flavor::EtcdNode),
        &run(Flavor::Etcd35),
        "etcd 3.5.1's proxy",
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
}

async fn channel(addr: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

#[test]
fn identical_watches_and_keepalives_through_the_proxy_are_one_on_the_member() {
    let member = Server::start(Flavor::EtcdNode);
    let proxy = Proxy::grpc(Flavor::EtcdNode, &[&member.client_url], &[]);
    let proxy_url = format!("http://{}", proxy.addr);
    let watchers = "etcd_debugging_mvcc_watcher_total";
    let before = metric(&member.client_url, watchers);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let channel = channel(&proxy.addr).await;
        let mut streams = Vec::new();
        for _ in 0..100 {
            let (tx, rx) = mpsc::channel(4);
            tx.send(WatchRequest {
                request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                    key: b"shared".to_vec(),
                    ..WatchCreateRequest::default()
                })),
            })
            .await
            .expect("send");
            let mut answers = WatchClient::new(channel.clone())
                .watch(ReceiverStream::new(rx))
                .await
                .expect("watch")
                .into_inner();
            let created = answers.message().await.expect("created").expect("created");
            assert!(created.created, "{created:?}");
            streams.push((tx, answers));
        }
        assert_eq!(metric(&member.client_url, watchers) - before, 1.0, "one watcher on the member");
        assert_eq!(metric(&proxy_url, "etcd_grpc_proxy_watchers_coalescing_total"), 99.0);
        KvClient::new(channel.clone())
            .put(PutRequest {
                key: b"shared".to_vec(),
                value: b"v".to_vec(),
                ..PutRequest::default()
            })
            .await
            .expect("put");
        for (_, answers) in &mut streams {
            let events = tokio::time::timeout(Duration::from_secs(10), answers.message())
                .await
                .expect("an event in time")
                .expect("stream")
                .expect("message");
            assert_eq!(events.events.len(), 1, "{events:?}");
            assert_eq!(events.events[0].kv.as_ref().map(|kv| kv.value.clone()), Some(b"v".to_vec()));
        }
        drop(streams);

        // 50 clients keep one lease alive at once: one keepalive stream reaches the member.
        let started = "grpc_server_started_total{grpc_method=\"LeaseKeepAlive\",grpc_service=\"etcdserverpb.Lease\",grpc_type=\"bidi_stream\"}";
        let streams_before = metric(&member.client_url, started);
        let lease = LeaseClient::new(channel.clone())
            .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
            .await
            .expect("grant")
            .into_inner()
            .id;
        let mut keepers = Vec::new();
        for _ in 0..50 {
            let channel = channel.clone();
            keepers.push(tokio::spawn(async move {
                let (tx, rx) = mpsc::channel(2);
                tx.send(LeaseKeepAliveRequest { id: lease }).await.expect("send");
                let mut answers = LeaseClient::new(channel)
                    .lease_keep_alive(ReceiverStream::new(rx))
                    .await
                    .expect("keepalive")
                    .into_inner();
                let answer = answers.message().await.expect("answer").expect("answer");
                (answer.id, answer.ttl)
            }));
        }
        for keeper in keepers {
            assert_eq!(keeper.await.expect("keeper"), (lease, 60));
        }
        assert_eq!(metric(&member.client_url, started) - streams_before, 1.0, "one keepalive stream on the member");
    });
    // The last watcher gone, the member's watcher goes too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&member.client_url, watchers) > before {
        assert!(
            Instant::now() < deadline,
            "the upstream watch was not cancelled"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_member_killed_behind_the_proxies_costs_no_request_and_no_event() {
    let mut members = common::cluster(Flavor::EtcdNode, 3);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    let endpoints: Vec<&str> = urls.iter().map(String::as_str).collect();
    let proxy = Proxy::grpc(Flavor::EtcdNode, &endpoints, &[]);
    let gateway = Proxy::start(
        Flavor::EtcdNode,
        "gateway",
        &endpoints,
        &["--retry-delay=10s".to_owned()],
    );
    proxy.etcdctl_ok(&["put", "k", "1"]);
    assert_eq!(
        gateway.etcdctl_ok(&["get", "k", "--print-value-only"]),
        "1\n"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (tx, mut answers) = runtime.block_on(async {
        let (tx, rx) = mpsc::channel(4);
        tx.send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: b"k".to_vec(),
                ..WatchCreateRequest::default()
            })),
        })
        .await
        .expect("send");
        let mut answers = WatchClient::new(channel(&proxy.addr).await)
            .watch(ReceiverStream::new(rx))
            .await
            .expect("watch")
            .into_inner();
        assert!(
            answers
                .message()
                .await
                .expect("created")
                .expect("created")
                .created
        );
        (tx, answers)
    });
    // The first endpoint is the one both proxies use.
    members[0].kill();
    for value in ["2", "3", "4"] {
        proxy.etcdctl_ok(&["put", "k", value]);
    }
    assert_eq!(proxy.etcdctl_ok(&["get", "k", "--print-value-only"]), "4\n");
    assert_eq!(
        gateway.etcdctl_ok(&["get", "k", "--print-value-only"]),
        "4\n"
    );
    let values = runtime.block_on(async {
        let mut values = Vec::new();
        while values.len() < 3 {
            let answer = tokio::time::timeout(Duration::from_secs(20), answers.message())
                .await
                .expect("events in time")
                .expect("stream")
                .expect("message");
            values.extend(
                answer
                    .events
                    .iter()
                    .filter_map(|e| e.kv.as_ref())
                    .map(|kv| text(&kv.value)),
            );
        }
        values
    });
    drop(tx);
    assert_eq!(
        values,
        ["2", "3", "4"],
        "the watch resumed on another member without a gap"
    );
}

#[test]
fn the_grpc_proxy_speaks_tls_to_the_members() {
    let pki = tempfile::tempdir().expect("tempdir");
    // The member's certificates: `server.pem` and `client.pem` under `pki`, from one CA.
    let member = common::tls_cluster(Flavor::EtcdNode, 1, pki.path()).remove(0);
    let tls = member.client_tls.clone().expect("client TLS");
    let (ca_file, cert, key) = (tls.ca, tls.cert.expect("cert"), tls.key.expect("key"));
    let flag = |name: &str, path: &Path| format!("--{name}={}", path.display());
    let proxy = Proxy::grpc(
        Flavor::EtcdNode,
        &[&member.client_url],
        &[
            flag("cacert", &ca_file),
            flag("cert", &cert),
            flag("key", &key),
        ],
    );
    proxy.etcdctl_ok(&["put", "secure", "yes"]);
    assert_eq!(
        proxy.etcdctl_ok(&["get", "secure", "--print-value-only"]),
        "yes\n"
    );
    let out = proxy.etcdctl_ok(&["member", "list"]);
    assert!(out.contains("https://127.0.0.1"), "{out}");
    // Without the client certificate the member refuses the proxy's connection.
    let without = Proxy::grpc(
        Flavor::EtcdNode,
        &[&member.client_url],
        &[flag("cacert", &ca_file)],
    );
    let refused = without.etcdctl(&["get", "secure", "--command-timeout", "3s"]);
    assert!(!refused.status.success(), "{}", text(&refused.stdout));

    // TLS to the proxy's own clients too, client certificates required (the member's certificate serves).
    let server_cert = pki.path().join("server.pem");
    let server_key = pki.path().join("server-key.pem");
    let secure = Proxy::grpc(
        Flavor::EtcdNode,
        &[&member.client_url],
        &[
            flag("cacert", &ca_file),
            flag("cert", &cert),
            flag("key", &key),
            flag("cert-file", &server_cert),
            flag("key-file", &server_key),
            flag("trusted-ca-file", &ca_file),
        ],
    );
    let etcdctl = |client_cert: bool, args: &[&str]| {
        let mut command = Command::new(common::etcd35_binary("etcdctl"));
        command
            .args(["--endpoints", &format!("https://{}", secure.addr)])
            .args(["--command-timeout", "5s"])
            .arg(flag("cacert", &ca_file));
        if client_cert {
            command.arg(flag("cert", &cert)).arg(flag("key", &key));
        }
        command.args(args).output().expect("etcdctl")
    };
    let out = common::until_success(|| etcdctl(true, &["get", "secure", "--print-value-only"]));
    assert_eq!(text(&out.stdout), "yes\n", "{}", text(&out.stderr));
    let refused = etcdctl(false, &["get", "secure"]);
    assert!(!refused.status.success(), "{}", text(&refused.stdout));
}
