//! Users, roles, permissions and `auth enable/disable/status` through `etcdctl` (3.5.1 and 3.4.23) against
//! etcd-node and etcd 3.5.1 side by side: every command prints the same once IDs, terms, lease IDs and client URLs
//! are masked. The script manages users and roles with auth off, turns it on, then runs every kind of request
//! as root, as a user with a few permissions, as a user with none, without a user and with wrong passwords:
//! key-value commands (prefix, from-key, `--prev-kv`, txn compares and both branches), watch, leases with keys,
//! maintenance and member commands.

use std::collections::HashMap;
use std::time::Duration;

use etcd_tests as common;

use common::{Etcdctl, Flavor, Server, cluster_with, mask_cluster_ids, mask_hex_ids, text};

/// One command: its arguments and what it reads on standard input. `{L}` in an argument is the lease the
/// script granted last (in hex); `{DIR}` a directory of the server's own.
type Step = (&'static [&'static str], &'static str);

const R: &str = "--user=root:rootpw";
const A: &str = "--user=alice:newpw";

/// With auth off: users and roles are managed by anyone.
const MANAGE: &[Step] = &[
    (&["auth", "status"], ""),
    (&["auth", "enable"], ""),
    (&["user", "list"], ""),
    (&["role", "list"], ""),
    (&["user", "get", "nobody"], ""),
    (&["role", "get", "nobody"], ""),
    (&["user", "add", "alice:pw"], ""),
    (&["user", "add", "alice:pw2"], ""),
    (&["user", "add", "bob", "--no-password"], ""),
    (&["user", "add", ":pw"], ""),
    (&["user", "add", "carol", "--interactive=false"], "pw\n"),
    (&["user", "add", "dave:"], ""),
    (&["user", "get", "alice"], ""),
    (&["user", "get", "alice", "--detail"], ""),
    (&["role", "add", ""], ""),
    (&["role", "add", "reader"], ""),
    (&["role", "add", "reader"], ""),
    (&["role", "add", "writer"], ""),
    (&["role", "get", "reader"], ""),
    (&["role", "grant-permission", "reader", "read", "foo"], ""),
    (
        &[
            "role",
            "grant-permission",
            "reader",
            "read",
            "--prefix",
            "dir/",
        ],
        "",
    ),
    (
        &[
            "role",
            "grant-permission",
            "reader",
            "read",
            "--from-key",
            "zz",
        ],
        "",
    ),
    (
        &["role", "grant-permission", "reader", "read", "a", "c"],
        "",
    ),
    (
        &["role", "grant-permission", "reader", "readwrite", "a", "c"],
        "",
    ),
    (
        &["role", "grant-permission", "reader", "write", "a", "c"],
        "",
    ),
    (&["role", "grant-permission", "reader", "bad", "foo"], ""),
    (&["role", "grant-permission", "nobody", "read", "foo"], ""),
    (
        &[
            "role",
            "grant-permission",
            "writer",
            "readwrite",
            "--prefix",
            "w/",
        ],
        "",
    ),
    (&["role", "grant-permission", "writer", "write", "foo"], ""),
    (&["role", "get", "reader"], ""),
    (&["role", "get", "reader", "-w", "json"], ""),
    (&["role", "revoke-permission", "reader", "foo"], ""),
    (&["role", "revoke-permission", "reader", "foo"], ""),
    (&["role", "revoke-permission", "reader", "a", "c"], ""),
    (
        &[
            "role",
            "revoke-permission",
            "reader",
            "--prefix",
            "nothere/",
        ],
        "",
    ),
    (&["role", "revoke-permission", "nobody", "foo"], ""),
    (&["user", "grant-role", "alice", "reader"], ""),
    (&["user", "grant-role", "alice", "reader"], ""),
    (&["user", "grant-role", "alice", "writer"], ""),
    (&["user", "grant-role", "alice", "nobody"], ""),
    (&["user", "grant-role", "nobody", "reader"], ""),
    (&["user", "get", "alice", "-w", "json"], ""),
    (&["user", "get", "alice", "--detail"], ""),
    (&["user", "revoke-role", "alice", "writer"], ""),
    (&["user", "revoke-role", "alice", "writer"], ""),
    (&["user", "revoke-role", "nobody", "writer"], ""),
    (&["user", "list", "-w", "json"], ""),
    (&["role", "list", "-w", "json"], ""),
    (
        &["user", "passwd", "alice", "--interactive=false"],
        "newpw\n",
    ),
    (&["user", "passwd", "nobody", "--interactive=false"], "x\n"),
    (&["user", "delete", "carol"], ""),
    (&["user", "delete", "carol"], ""),
    (&["role", "delete", "writer"], ""),
    (&["role", "delete", "writer"], ""),
    (&["auth", "status", "-w", "json"], ""),
    (&["auth", "disable"], ""),
    (&["user", "add", "root:rootpw"], ""),
    (&["user", "grant-role", "root", "root"], ""),
    (&["role", "get", "root"], ""),
    (&["auth", "enable"], ""),
];

/// With auth on.
const ENFORCE: &[Step] = &[
    (&["auth", "enable"], ""),
    (&[R, "auth", "enable"], ""),
    (&[R, "auth", "status"], ""),
    (&["put", "foo", "bar"], ""),
    (&["get", "foo"], ""),
    (&["--user=root:wrong", "get", "foo"], ""),
    (&["--user=nobody:x", "get", "foo"], ""),
    (&["--user=bob:x", "get", "foo"], ""),
    (
        &[
            R,
            "role",
            "grant-permission",
            "reader",
            "readwrite",
            "--prefix",
            "rw/",
        ],
        "",
    ),
    (
        &[R, "role", "grant-permission", "reader", "write", "wo"],
        "",
    ),
    (&[R, "put", "dir/a", "1"], ""),
    (&[R, "put", "rw/a", "1"], ""),
    (&[R, "put", "other", "1"], ""),
    (&[A, "get", "dir/a"], ""),
    (&[A, "get", "dir/", "--prefix"], ""),
    (&[A, "get", "dir", "--prefix"], ""),
    (&[A, "get", "other"], ""),
    (&[A, "get", "", "--from-key"], ""),
    (&[A, "get", "zz", "--from-key"], ""),
    (&[A, "get", "zzz"], ""),
    (&[A, "put", "dir/a", "2"], ""),
    (&[A, "put", "rw/b", "2"], ""),
    (&[A, "put", "rw/b", "3", "--prev-kv"], ""),
    (&[A, "put", "wo", "1"], ""),
    (&[A, "put", "wo", "2", "--prev-kv"], ""),
    (&[A, "del", "wo"], ""),
    (&[A, "del", "wo", "--prev-kv"], ""),
    (&[A, "del", "rw/", "--prefix"], ""),
    (&[A, "del", "other"], ""),
    (
        &[A, "txn"],
        "value(\"dir/a\") = \"1\"\n\nput rw/c 1\n\nput rw/d 2\n\n",
    ),
    (&[A, "txn"], "value(\"other\") = \"1\"\n\nput rw/c 1\n\n\n"),
    (&[A, "txn"], "\nput rw/c 1\n\nput other 2\n\n"),
    (&[A, "watch", "other"], ""),
    (&[A, "watch", "dir", "--prefix"], ""),
    (&[A, "watch", "rw/", "--prefix", "--rev", "1"], ""),
    (&["watch", "rw/", "--prefix"], ""),
    (&[A, "compact", "3"], ""),
    (&[A, "endpoint", "hashkv"], ""),
    (&[A, "defrag"], ""),
    (&[A, "snapshot", "save", "{DIR}/snap.db"], ""),
    (&["defrag"], ""),
    (&["endpoint", "hashkv"], ""),
    (
        &["member", "add", "x", "--peer-urls", "http://127.0.0.1:1"],
        "",
    ),
    (
        &[A, "member", "add", "x", "--peer-urls", "http://127.0.0.1:1"],
        "",
    ),
    (
        &[
            A,
            "member",
            "update",
            "1",
            "--peer-urls",
            "http://127.0.0.1:1",
        ],
        "",
    ),
    (&[A, "alarm", "list"], ""),
    (&[A, "alarm", "disarm"], ""),
    (&[A, "user", "list"], ""),
    (&[A, "role", "list"], ""),
    (&[A, "user", "get", "alice"], ""),
    (&[A, "user", "get", "root"], ""),
    (&[A, "role", "get", "reader"], ""),
    (&[A, "role", "get", "root"], ""),
    (&[A, "auth", "status"], ""),
    (&[A, "auth", "disable"], ""),
    (
        &[A, "user", "passwd", "alice", "--interactive=false"],
        "x\n",
    ),
    (&[R, "user", "delete", "root"], ""),
    (&[R, "role", "delete", "root"], ""),
    (&[R, "user", "revoke-role", "root", "root"], ""),
    (&[A, "lease", "grant", "100"], ""),
    (&[R, "lease", "grant", "100"], ""),
    (&[R, "put", "other2", "x", "--lease", "{L}"], ""),
    (&[A, "lease", "timetolive", "{L}", "--keys"], ""),
    (&[A, "lease", "revoke", "{L}"], ""),
    (&[A, "put", "rw/x", "1", "--lease", "{L}"], ""),
    (&[A, "lease", "keep-alive", "--once", "{L}"], ""),
    (&[R, "lease", "revoke", "{L}"], ""),
    (&[R, "user", "add", "eve:evepw"], ""),
    (&["--user=eve:evepw", "get", "dir/a"], ""),
    (&["--user=eve:evepw", "put", "eve", "1"], ""),
    (&[R, "user", "get", "root", "--detail"], ""),
    (&[R, "auth", "status"], ""),
    (&[R, "auth", "disable"], ""),
    (&["get", "other"], ""),
    (&["auth", "status"], ""),
];

/// Runs `steps` against both servers, asserting each prints the same.
fn compare(client: Etcdctl, servers: [&Server; 2], steps: &[Step]) {
    let mut leases: [HashMap<&str, String>; 2] = Default::default();
    for (args, stdin) in steps {
        let mut outputs = Vec::new();
        for (server, lease) in servers.into_iter().zip(&mut leases) {
            let dir = server.dir.path().display().to_string();
            let words: Vec<String> = args
                .iter()
                .map(|a| {
                    a.replace("{L}", lease.get("L").map_or("", String::as_str))
                        .replace("{DIR}", &dir)
                })
                .collect();
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            // A watch that is allowed never ends: what it printed in a while is compared.
            let out = if words.contains(&"watch") {
                server.etcdctl3_for(client, &words, stdin, Duration::from_millis(1500))
            } else {
                server.etcdctl3(client, &words, stdin)
            };
            let stdout = text(&out.stdout);
            let granted = words.contains(&"grant") && words.contains(&"lease");
            if let Some(id) = stdout.split_whitespace().nth(1).filter(|_| granted) {
                lease.insert("L", id.to_owned());
            }
            let mask = |s: &str| {
                let url = server.client_url.trim_start_matches("http://");
                mask_cluster_ids(&s.replace(url, "ENDPOINT"))
                    .lines()
                    .map(mask_hex_ids)
                    .map(|l| common::mask_number(&l, "\"ID\":"))
                    .map(|l| l.replace(&dir, "DIR"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            outputs.push((mask(&stdout), mask(&text(&out.stderr)), out.status.code()));
        }
        let context = format!("{client:?} etcdctl {}", args.join(" "));
        assert_eq!(outputs[0].0, outputs[1].0, "stdout of {context}");
        assert_eq!(outputs[0].1, outputs[1].1, "stderr of {context}");
        assert_eq!(outputs[0].2, outputs[1].2, "exit code of {context}");
    }
}

/// A low bcrypt cost on both sides: the script logs in a hundred times.
const FLAGS: &[&str] = &["--bcrypt-cost", "4"];

#[test]
fn auth_commands_answer_as_etcd() {
    for client in [Etcdctl::V35, Etcdctl::V34] {
        let ours = cluster_with(Flavor::EtcdNode, 1, FLAGS);
        let reference = cluster_with(Flavor::Etcd35, 1, FLAGS);
        compare(client, [&ours[0], &reference[0]], MANAGE);
        compare(client, [&ours[0], &reference[0]], ENFORCE);
    }
}

#[test]
fn auth_commands_answer_as_etcd_through_a_follower() {
    let ours = cluster_with(Flavor::EtcdNode, 3, FLAGS);
    let reference = cluster_with(Flavor::Etcd35, 3, FLAGS);
    let leader = common::leader_of(&ours);
    let follower = (leader + 1) % 3;
    let reference_follower = (common::leader_of(&reference) + 1) % 3;
    let servers = [&ours[follower], &reference[reference_follower]];
    compare(Etcdctl::V35, servers, MANAGE);
    compare(Etcdctl::V35, servers, ENFORCE);
}
