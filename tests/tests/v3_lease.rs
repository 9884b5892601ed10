//! Leases, `lock` and `elect` through `etcdctl` against etcd-node and etcd 3.5.1 side by side, on one member and on
//! three: every command prints the same, once what differs between any two clusters (member and cluster IDs,
//! terms, and the lease IDs each server picks) is masked. Bad input (TTL 0, negative, too large, not a number;
//! keepalive for an unknown lease; revoke twice) is refused with etcd's words.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use etcd_tests as common;

use common::{Etcdctl, Flavor, Server, cluster, mask_cluster_ids, mask_number, text};

/// One step of the lease script. `{L1}`-style words in arguments are the hex ID of the lease granted under that
/// name on the server the step runs against.
enum Step {
    /// Runs etcdctl; the output is compared.
    Run(&'static [&'static str]),
    /// Runs a `lease grant`, compared too, and remembers the granted ID under a name.
    Grant(&'static str, &'static [&'static str]),
    /// Runs a command that does not end by itself for a while, then compares what it printed.
    Stream(&'static [&'static str]),
    /// Lets time pass (leases run out).
    Sleep(Duration),
}

use Step::{Grant, Run, Sleep, Stream};

const SCRIPT: &[Step] = &[
    Grant("L1", &["lease", "grant", "60"]),
    // Raised to the minimum TTL (1.5 election timeouts).
    Grant("L2", &["lease", "grant", "0"]),
    Grant("L3", &["lease", "grant", "9000000000"]),
    Grant("L4", &["lease", "grant", "--", "-5"]),
    Run(&["lease", "grant", "9000000001"]),
    Run(&["lease", "grant", "abc"]),
    Run(&["lease", "grant"]),
    Run(&["lease", "list"]),
    Run(&["lease", "list", "-w", "json"]),
    Run(&["put", "k1", "v1", "--lease", "{L1}"]),
    Run(&["put", "k2", "v2", "--lease", "{L1}"]),
    Run(&["put", "k3", "v3", "--lease", "{L3}"]),
    // A key moves to another lease.
    Run(&["put", "k3", "v3b", "--lease", "{L1}"]),
    Run(&["put", "k4", "v4", "--lease", "1234"]),
    Run(&["lease", "timetolive", "{L1}"]),
    Run(&["lease", "timetolive", "--keys", "{L1}"]),
    Run(&["lease", "timetolive", "--keys", "{L1}", "-w", "json"]),
    Run(&["lease", "timetolive", "--keys", "{L3}"]),
    Run(&["lease", "timetolive", "1234"]),
    Run(&["lease", "timetolive", "1234", "-w", "json"]),
    Run(&["lease", "keep-alive", "--once", "{L1}"]),
    Run(&["lease", "keep-alive", "--once", "{L1}", "-w", "json"]),
    Run(&["lease", "keep-alive", "--once", "1234"]),
    Run(&["get", "k1", "-w", "json"]),
    Run(&["put", "k1", "x", "--ignore-lease"]),
    Run(&["get", "k1", "-w", "json"]),
    Run(&["put", "k5", "--ignore-lease"]),
    Run(&["lease", "revoke", "{L1}"]),
    Run(&["get", "--prefix", "k"]),
    Run(&["lease", "revoke", "{L1}"]),
    Run(&["lease", "timetolive", "{L1}"]),
    Run(&["lease", "keep-alive", "--once", "{L1}"]),
    // Every put, then the revoke's deletes of k1, k2 and k3 at one revision.
    Stream(&["watch", "--prefix", "k", "--rev", "1"]),
    Sleep(Duration::from_millis(3500)),
    Run(&["lease", "timetolive", "{L2}"]),
    Run(&["lease", "revoke", "{L4}"]),
    Run(&["lease", "list"]),
    Run(&["lease", "revoke", "{L3}", "-w", "json"]),
    Run(&["lease", "list"]),
];

/// The leases one server granted, by script name.
#[derive(Default)]
struct Leases(HashMap<&'static str, i64>);

impl Leases {
    fn args(&self, args: &[&str]) -> Vec<String> {
        args.iter()
            .map(
                |a| match a.strip_prefix('{').and_then(|a| a.strip_suffix('}')) {
                    Some(name) => format!("{:x}", self.0[name]),
                    None => (*a).to_owned(),
                },
            )
            .collect()
    }

    /// `output` with IDs, terms, lease IDs and remaining TTLs (which depend on when the command ran) masked.
    fn mask(&self, output: &str) -> String {
        let mut out = mask_cluster_ids(output);
        for (name, id) in &self.0 {
            for form in [format!("{id:016x}"), format!("{id:x}"), id.to_string()] {
                out = out.replace(&form, name);
            }
        }
        let lines: Vec<String> = out
            .lines()
            .map(|l| mask_number(&mask_number(l, "remaining("), "\"ttl\":"))
            .map(|l| {
                sort_list(
                    &sort_list(&l, "attached keys([", ' ', ']'),
                    "\"keys\":[",
                    ',',
                    ']',
                )
            })
            .collect();
        lines.join("\n")
    }
}

/// `line` with the list after `open` (items split by `by`, ending at `close`) sorted: etcd lists a lease's keys
/// in Go's map order, which changes from run to run.
fn sort_list(line: &str, open: &str, by: char, close: char) -> String {
    let Some(at) = line.find(open) else {
        return line.to_owned();
    };
    let start = at + open.len();
    let Some(len) = line[start..].find(close) else {
        return line.to_owned();
    };
    let mut items: Vec<&str> = line[start..start + len].split(by).collect();
    items.sort_unstable();
    format!(
        "{}{}{}",
        &line[..start],
        items.join(&by.to_string()),
        &line[start + len..]
    )
}

/// Runs the script against `ours` and `reference`, asserting each step prints the same. `listed_by_expiry`: the
/// servers are leaders, which list leases soonest to expire first; a follower of etcd lists them in its map's
/// order, which changes from run to run, so lists through one are compared sorted.
fn compare(client: Etcdctl, ours: &Server, reference: &Server, listed_by_expiry: bool) {
    let mut leases = [Leases::default(), Leases::default()];
    for step in SCRIPT {
        let args = match step {
            Run(a) | Grant(_, a) | Stream(a) => *a,
            Sleep(d) => {
                std::thread::sleep(*d);
                continue;
            }
        };
        let mut outputs = Vec::new();
        for (server, leases) in [ours, reference].into_iter().zip(&mut leases) {
            let words = leases.args(args);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let out = match step {
                Stream(_) => server.etcdctl3_for(client, &words, "", Duration::from_millis(1500)),
                _ => server.etcdctl3(client, &words, ""),
            };
            if let Grant(name, _) = step {
                let printed = text(&out.stdout);
                let hex = printed.split_whitespace().nth(1).unwrap_or_default();
                let id = i64::from_str_radix(hex, 16)
                    .unwrap_or_else(|_| panic!("{:?}: no lease ID in {printed:?}", server.flavor));
                leases.0.insert(name, id);
            }
            let mut stdout = leases.mask(&text(&out.stdout));
            if !listed_by_expiry && args.starts_with(&["lease", "list"]) {
                let mut lines: Vec<&str> = stdout.lines().collect();
                lines[1..].sort_unstable();
                stdout = sort_list(&lines.join("\n"), "\"leases\":[", ',', ']');
            }
            outputs.push((stdout, leases.mask(&text(&out.stderr)), out.status.code()));
        }
        let context = format!("{client:?} etcdctl {}", args.join(" "));
        assert_eq!(outputs[0].0, outputs[1].0, "stdout of {context}");
        assert_eq!(outputs[0].1, outputs[1].1, "stderr of {context}");
        if !matches!(step, Stream(_)) {
            assert_eq!(outputs[0].2, outputs[1].2, "exit code of {context}");
        }
    }
}

#[test]
fn lease_commands_answer_as_etcd_on_one_member() {
    for client in [Etcdctl::V35, Etcdctl::V34] {
        let ours = Server::start(Flavor::EtcdNode);
        let reference = Server::start(Flavor::Etcd35);
        compare(client, &ours, &reference, true);
        remaining_ttl_counts_down(&ours);
    }
}

#[test]
fn lease_commands_answer_as_etcd_on_three_members() {
    let ours = cluster(Flavor::EtcdNode, 3);
    let reference = cluster(Flavor::Etcd35, 3);
    // Through a member that may well be a follower: grants, keepalives and revokes go through the leader.
    compare(Etcdctl::V35, &ours[1], &reference[1], false);
    remaining_ttl_counts_down(&ours[2]);
}

/// What the script masked: the remaining TTL right after a grant is the TTL, and it counts down by the clock.
fn remaining_ttl_counts_down(server: &Server) {
    let granted = server.etcdctl3(Etcdctl::V35, &["lease", "grant", "30"], "");
    let hex = text(&granted.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let remaining = || {
        let out = server.etcdctl3(
            Etcdctl::V35,
            &["lease", "timetolive", &hex, "-w", "json"],
            "",
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        json["ttl"].as_i64().expect("ttl")
    };
    let first = remaining();
    assert!((28..=30).contains(&first), "{first}");
    std::thread::sleep(Duration::from_secs(2));
    let later = remaining();
    assert!(
        (first - 3..=first - 1).contains(&later),
        "{first} then {later}"
    );
}

/// A command's output lines as they come, so a test can wait for one.
struct Lines {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Lines {
    fn spawn(server: &Server, args: &[&str]) -> Lines {
        let mut child = server
            .etcdctl3_command(Etcdctl::V35, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run etcdctl");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { child, lines }
    }

    /// The next `n` lines, failing after `within`.
    fn next(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        (0..n)
            .map(|_| {
                let left = deadline.saturating_duration_since(Instant::now());
                self.lines
                    .recv_timeout(left)
                    .unwrap_or_else(|_| panic!("no line within {within:?}"))
            })
            .collect()
    }

    fn nothing_yet(&self) -> bool {
        self.lines.try_recv().is_err()
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name/<lease hex>` as `name/<lease>`: the lease IDs differ between servers.
fn mask_lease_key(line: &str) -> String {
    match line.split_once('/') {
        Some((name, hex)) if hex.chars().all(|c| c.is_ascii_hexdigit()) && !hex.is_empty() => {
            format!("{name}/<lease>")
        }
        _ => line.to_owned(),
    }
}

/// Two contenders for one lock on `members` (the holder on the first, the waiter on the last): the waiter
/// waits while the holder lives and gets the lock once the holder's lease (TTL 3 s) runs out after it is killed.
/// Answers what the waiter printed.
fn lock_handover(members: &[Server]) -> Vec<String> {
    let (first, last) = (&members[0], &members[members.len() - 1]);
    let mut holder = Lines::spawn(first, &["lock", "--ttl", "3", "door"]);
    let held = holder.next(1, Duration::from_secs(15));
    assert!(held[0].starts_with("door/"), "{held:?}");
    let mut waiter = Lines::spawn(last, &["lock", "door", "--", "echo", "second"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        waiter.nothing_yet(),
        "the waiter got the lock while it was held"
    );
    assert!(waiter.child.try_wait().expect("wait").is_none());
    let _ = holder.child.kill();
    let killed = Instant::now();
    let got = waiter.next(1, Duration::from_secs(20));
    let waited = killed.elapsed();
    // The holder kept its lease alive every TTL/3: at least two seconds of it were left when it died, and it
    // is revoked within the TTL plus the leader's expiry check.
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(8),
        "the lock passed {waited:?} after the holder died"
    );
    let status = waiter.child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    got
}

/// An election on `members`: a leader, an observer, a second candidate taking over when the first dies (killed,
/// its lease ended). Answers what the observer and the second candidate printed, lease IDs masked.
fn election_handover(members: &[Server]) -> (Vec<String>, Vec<String>) {
    let (first, last) = (&members[0], &members[members.len() - 1]);
    let mut leader = Lines::spawn(first, &["elect", "vote", "p1"]);
    let key = leader.next(2, Duration::from_secs(15));
    assert_eq!(key[1], "p1");
    let observer = Lines::spawn(&members[members.len() / 2], &["elect", "-l", "vote"]);
    let seen = observer.next(2, Duration::from_secs(15));
    assert_eq!(seen, key, "the observer sees the leader");
    let second = Lines::spawn(last, &["elect", "vote", "p2"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        second.nothing_yet(),
        "a second leader while the first lives"
    );
    // The first dies: killed, and its session's lease ends (revoked as its expiry would).
    let _ = leader.child.kill();
    let lease = key[0].split_once('/').map(|(_, hex)| hex).expect("key");
    let revoked = first.etcdctl3(Etcdctl::V35, &["lease", "revoke", lease], "");
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let took_over = second.next(2, Duration::from_secs(15));
    let observed = observer.next(2, Duration::from_secs(15));
    assert_eq!(observed, took_over, "the observer sees the new leader");
    let mut all = seen;
    all.extend(observed);
    (
        all.iter().map(|l| mask_lease_key(l)).collect(),
        took_over.iter().map(|l| mask_lease_key(l)).collect(),
    )
}

fn lock_and_elect_answer_as_etcd(n: usize) {
    let mut results = Vec::new();
    for flavor in [Flavor::EtcdNode, Flavor::Etcd35] {
        let members = cluster(flavor, n);
        results.push((lock_handover(&members), election_handover(&members)));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0].0, vec!["second".to_owned()]);
    assert_eq!(
        results[0].1.0,
        ["vote/<lease>", "p1", "vote/<lease>", "p2"].map(String::from)
    );
}

#[test]
fn lock_and_elect_answer_as_etcd_on_one_member() {
    lock_and_elect_answer_as_etcd(1);
}

#[test]
fn lock_and_elect_answer_as_etcd_on_three_members() {
    lock_and_elect_answer_as_etcd(3);
}

/// The Lease RPCs with what etcdctl cannot send (a client-chosen ID, negative IDs and TTLs, several leases on one
/// keepalive stream), against etcd 3.5.1: the same answers and the same status codes and texts.
#[test]
fn lease_rpcs_answer_as_etcds() {
    use etcd_proto::etcdserverpb::lease_client::LeaseClient;
    use etcd_proto::etcdserverpb::{
        LeaseGrantRequest, LeaseKeepAliveRequest, LeaseLeasesRequest, LeaseRevokeRequest,
        LeaseTimeToLiveRequest,
    };
    use tonic::codegen::tokio_stream::wrappers::ReceiverStream;

    async fn script(url: String) -> Vec<String> {
        let mut lease = LeaseClient::connect(url).await.expect("connect");
        let mut out = Vec::new();
        let status = |e: tonic::Status| format!("{:?} {}", e.code(), e.message());
        for (id, ttl) in [
            (42, 60),
            (42, 60),
            (43, -7),
            (-5, 60),
            (44, 9_000_000_001),
            (45, 9_000_000_000),
        ] {
            let r = lease.lease_grant(LeaseGrantRequest { id, ttl }).await;
            out.push(format!(
                "grant {id} {ttl}: {}",
                r.map_or_else(status, |r| {
                    let r = r.into_inner();
                    format!("id {} ttl {} error {:?}", r.id, r.ttl, r.error)
                })
            ));
        }
        let listed = lease
            .lease_leases(LeaseLeasesRequest {})
            .await
            .expect("leases")
            .into_inner();
        let mut ids: Vec<i64> = listed.leases.iter().map(|l| l.id).collect();
        ids.sort_unstable();
        out.push(format!("leases {ids:?}"));
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        for id in [42, 7, 45, 42] {
            tx.send(LeaseKeepAliveRequest { id }).await.expect("send");
        }
        let mut answers = lease
            .lease_keep_alive(ReceiverStream::new(rx))
            .await
            .expect("keepalive")
            .into_inner();
        let mut kept = Vec::new();
        for _ in 0..4 {
            let a = answers.message().await.expect("answer").expect("more");
            kept.push((a.id, a.ttl));
        }
        kept.sort_unstable();
        out.push(format!("keepalives {kept:?}"));
        drop(tx);
        for id in [42, 42, 0, 9] {
            let r = lease.lease_revoke(LeaseRevokeRequest { id }).await;
            out.push(format!(
                "revoke {id}: {}",
                r.map_or_else(status, |r| format!(
                    "rev {}",
                    r.into_inner().header.unwrap_or_default().revision
                ))
            ));
        }
        for id in [42, 43, 45] {
            let r = lease
                .lease_time_to_live(LeaseTimeToLiveRequest { id, keys: true })
                .await
                .expect("time to live")
                .into_inner();
            out.push(format!(
                "ttl {id}: id {} granted {} keys {:?} remaining {}",
                r.id,
                r.granted_ttl,
                r.keys,
                // The remaining time depends on when this ran; whether the lease exists does not.
                r.ttl.signum()
            ));
        }
        out
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut transcripts = Vec::new();
    for flavor in [Flavor::EtcdNode, Flavor::Etcd35] {
        let server = Server::start(flavor);
        transcripts.push(runtime.block_on(script(server.client_url.clone())));
    }
    assert_eq!(transcripts[0].join("\n"), transcripts[1].join("\n"));
}
