//! etcd 3.4's v2 auth (`/v2/auth/*`, Basic credentials and the guest role on `/v2/keys`, root for member
//! changes) against etcd-node and etcd 3.4.23 side by side: the same status, body, content type, `Allow` and
//! `X-Etcd-Index` for every request of a script that builds users and roles with auth off, turns it on and uses
//! them; then `ETCDCTL_API=2 etcdctl`'s `user`, `role` and `auth` commands, output for output.

use etcd_tests as common;

use common::{Flavor, Server, http_exchange};

/// (method, path, body, `user:password` or empty for none).
const STEPS: &[(&str, &str, &str, &str)] = &[
    ("GET", "/v2/auth/enable", "", ""),
    ("HEAD", "/v2/auth/enable", "", ""),
    ("POST", "/v2/auth/enable", "", ""),
    ("DELETE", "/v2/auth/enable", "", ""),
    ("GET", "/v2/auth/users", "", ""),
    ("GET", "/v2/auth/roles", "", ""),
    ("GET", "/v2/auth/nothing", "", ""),
    ("GET", "/v2/auth", "", ""),
    ("GET", "/v2/auth/users/", "", ""),
    ("GET", "/v2/auth/users/nobody", "", ""),
    ("GET", "/v2/auth/roles/nobody", "", ""),
    ("GET", "/v2/auth/roles/root", "", ""),
    ("GET", "/v2/auth/roles/guest", "", ""),
    ("PUT", "/v2/auth/enable", "", ""),
    ("PUT", "/v2/auth/users/root", "not json", ""),
    (
        "PUT",
        "/v2/auth/users/root",
        "{\"user\":\"other\",\"password\":\"x\"}",
        "",
    ),
    ("PUT", "/v2/auth/users/root", "{\"user\":\"root\"}", ""),
    (
        "PUT",
        "/v2/auth/users/root",
        "{\"user\":\"root\",\"password\":\"rootpw\"}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/root",
        "{\"user\":\"root\",\"password\":\"rootpw\"}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/alice",
        "{\"user\":\"alice\",\"password\":\"pw\",\"roles\":[\"reader\"]}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/bob",
        "{\"user\":\"bob\",\"password\":\"pw\"}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/bob",
        "{\"user\":\"bob\",\"grant\":[\"reader\"]}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/bob",
        "{\"user\":\"bob\",\"grant\":[\"reader\"]}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/bob",
        "{\"user\":\"bob\",\"revoke\":[\"writer\"]}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/bob",
        "{\"user\":\"bob\",\"revoke\":[\"reader\"]}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/bob",
        "{\"user\":\"bob\",\"password\":\"pw2\"}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/bob",
        "{\"user\":\"bob\",\"roles\":[\"x\"]}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/users/carol",
        "{\"user\":\"carol\",\"grant\":[\"reader\"]}",
        "",
    ),
    ("PUT", "/v2/auth/roles/reader", "bad", ""),
    ("PUT", "/v2/auth/roles/reader", "{\"role\":\"x\"}", ""),
    (
        "PUT",
        "/v2/auth/roles/reader",
        "{\"role\":\"reader\",\"permissions\":{\"kv\":{\"read\":[\"/foo/*\"],\"write\":[]}}}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/roles/reader",
        "{\"role\":\"reader\",\"permissions\":{\"kv\":{\"read\":[\"/foo/*\"]}}}",
        "",
    ),
    ("PUT", "/v2/auth/roles/writer", "{\"role\":\"writer\"}", ""),
    ("PUT", "/v2/auth/roles/root", "{\"role\":\"root\"}", ""),
    (
        "PUT",
        "/v2/auth/roles/root",
        "{\"role\":\"root\",\"grant\":{\"kv\":{\"read\":[\"/x\"]}}}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/roles/reader",
        "{\"role\":\"reader\",\"grant\":{\"kv\":{\"read\":[\"/bar\"],\"write\":[\"/foo/x\"]}}}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/roles/reader",
        "{\"role\":\"reader\",\"grant\":{\"kv\":{\"read\":[\"/bar\"]}}}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/roles/reader",
        "{\"role\":\"reader\",\"revoke\":{\"kv\":{\"read\":[\"/bar\"]}}}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/roles/reader",
        "{\"role\":\"reader\",\"revoke\":{\"kv\":{\"read\":[\"/never\"]}}}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/roles/reader",
        "{\"role\":\"reader\",\"permissions\":{\"kv\":{\"read\":[\"/a\"]}},\"grant\":{\"kv\":{\"read\":[\"/b\"]}}}",
        "",
    ),
    (
        "PUT",
        "/v2/auth/roles/nobody",
        "{\"role\":\"nobody\",\"grant\":{\"kv\":{\"read\":[\"/b\"]}}}",
        "",
    ),
    ("GET", "/v2/auth/roles/reader", "", ""),
    ("GET", "/v2/auth/roles/writer", "", ""),
    ("GET", "/v2/auth/roles", "", ""),
    ("GET", "/v2/auth/users", "", ""),
    ("GET", "/v2/auth/users/alice", "", ""),
    (
        "PUT",
        "/v2/auth/users/bob",
        "{\"user\":\"bob\",\"grant\":[\"reader\",\"writer\"]}",
        "",
    ),
    ("GET", "/v2/auth/users/bob", "", ""),
    ("DELETE", "/v2/auth/roles/writer", "", ""),
    ("GET", "/v2/auth/users/bob", "", ""),
    ("DELETE", "/v2/auth/roles/writer", "", ""),
    ("DELETE", "/v2/auth/roles/root", "", ""),
    ("DELETE", "/v2/auth/users/carol", "", ""),
    (
        "PUT",
        "/v2/auth/users/carol",
        "{\"user\":\"carol\",\"password\":\"pw\"}",
        "",
    ),
    ("DELETE", "/v2/auth/users/carol", "", ""),
    ("HEAD", "/v2/auth/users", "", ""),
    ("POST", "/v2/auth/users/x", "", ""),
    ("PUT", "/v2/auth/enable", "", ""),
    ("GET", "/v2/auth/enable", "", ""),
    ("PUT", "/v2/auth/enable", "", ""),
    ("PUT", "/v2/auth/enable", "", "root:rootpw"),
    ("GET", "/v2/auth/roles", "", ""),
    ("GET", "/v2/auth/roles", "", "root:rootpw"),
    ("GET", "/v2/auth/roles", "", "root:wrong"),
    ("GET", "/v2/auth/roles", "", "alice:pw"),
    ("GET", "/v2/auth/users/alice", "", "alice:pw"),
    ("GET", "/v2/auth/roles/guest", "", "root:rootpw"),
    ("PUT", "/v2/keys/foo/x", "value=1", "alice:pw"),
    ("PUT", "/v2/keys/foo/x", "value=1", "root:rootpw"),
    ("GET", "/v2/keys/foo/x", "", "alice:pw"),
    ("GET", "/v2/keys/foo/x", "", "alice:bad"),
    ("GET", "/v2/keys/foo?recursive=true", "", "alice:pw"),
    ("GET", "/v2/keys/foo/?recursive=true", "", "alice:pw"),
    ("GET", "/v2/keys/other", "", "alice:pw"),
    ("GET", "/v2/keys/foo/x", "", ""),
    ("PUT", "/v2/keys/guest", "value=1", ""),
    (
        "PUT",
        "/v2/auth/roles/guest",
        "{\"role\":\"guest\",\"revoke\":{\"kv\":{\"write\":[\"/*\"]}}}",
        "root:rootpw",
    ),
    ("PUT", "/v2/keys/guest", "value=2", ""),
    ("GET", "/v2/keys/guest", "", ""),
    ("DELETE", "/v2/auth/roles/guest", "", "root:rootpw"),
    ("GET", "/v2/keys/guest", "", ""),
    ("GET", "/v2/keys/foo/x", "", "nobody:x"),
    ("GET", "/v2/members", "", ""),
    (
        "POST",
        "/v2/members",
        "{\"peerURLs\":[\"http://127.0.0.1:1\"]}",
        "",
    ),
    ("DELETE", "/v2/auth/users/root", "", "root:rootpw"),
    ("DELETE", "/v2/auth/enable", "", "alice:pw"),
    ("DELETE", "/v2/auth/enable", "", "root:rootpw"),
    ("DELETE", "/v2/auth/enable", "", "root:rootpw"),
    ("GET", "/v2/keys/foo/x", "", ""),
    ("GET", "/v2/auth/roles", "", ""),
    ("GET", "/v2/stats/store", "", ""),
];

/// Answers the script's replies as comparable lines.
fn run(server: &Server) -> Vec<String> {
    STEPS
        .iter()
        .map(|(method, path, body, user)| {
            let mut headers = Vec::new();
            let basic;
            if !user.is_empty() {
                basic = format!("Basic {}", base64(user.as_bytes()));
                headers.push(("Authorization", basic.as_str()));
            }
            if !body.is_empty() {
                let kind = if path.starts_with("/v2/keys") {
                    "application/x-www-form-urlencoded"
                } else {
                    "application/json"
                };
                headers.push(("Content-Type", kind));
            }
            let reply = http_exchange(&server.client_url, method, path, &headers, body);
            let mut body = reply.body.clone();
            // Member IDs and URLs differ between any two clusters.
            if path.starts_with("/v2/members") {
                body = format!("<{} bytes>", body.lines().count());
            }
            format!(
                "{method} {path} {user} -> {} type={:?} allow={:?} index={:?} {body}",
                reply.status,
                reply.header("content-type"),
                reply.header("allow"),
                reply.header("x-etcd-index"),
            )
        })
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn v2_auth_api_answers_as_etcd() {
    let ours = Server::start(Flavor::EtcdNode);
    let reference = Server::start(Flavor::Etcd);
    let seen = run(&ours);
    let expected = run(&reference);
    for (a, b) in seen.iter().zip(&expected) {
        assert_eq!(a, b, "etcd-node (left) vs etcd 3.4.23 (right)");
    }
    assert_eq!(seen.len(), expected.len());
}

/// `ETCDCTL_API=2 etcdctl` commands, with their input (passwords are read from it).
const ETCDCTL: &[(&[&str], &str)] = &[
    (&["auth", "enable"], ""),
    (&["user", "add", "root"], "rootpw\n"),
    (&["user", "add", "alice"], "alicepw\n"),
    (&["user", "add", "alice"], "alicepw\n"),
    (&["user", "list"], ""),
    (&["user", "get", "root"], ""),
    (&["user", "get", "nobody"], ""),
    (&["role", "add", "app"], ""),
    (&["role", "add", "app"], ""),
    (&["role", "list"], ""),
    (&["role", "grant", "app", "--path", "/app/*", "--rw"], ""),
    (&["role", "grant", "app", "--path", "/config", "--read"], ""),
    (&["role", "grant", "app", "--path", "/config", "--read"], ""),
    (&["role", "get", "app"], ""),
    (
        &["role", "revoke", "app", "--path", "/config", "--read"],
        "",
    ),
    (&["role", "get", "app"], ""),
    (&["role", "get", "nobody"], ""),
    (&["user", "grant", "alice", "--roles", "app"], ""),
    (&["user", "grant", "alice", "--roles", "app"], ""),
    (&["user", "get", "alice"], ""),
    (&["user", "revoke", "alice", "--roles", "nope"], ""),
    (&["auth", "enable"], ""),
    (&["set", "/app/x", "1"], ""),
    (&["--username", "alice:alicepw", "set", "/app/x", "1"], ""),
    (&["--username", "alice:alicepw", "get", "/app/x"], ""),
    (&["--username", "alice:alicepw", "set", "/other", "1"], ""),
    (&["--username", "alice:wrong", "get", "/app/x"], ""),
    (
        &[
            "--username",
            "root:rootpw",
            "role",
            "revoke",
            "guest",
            "--path",
            "/*",
            "--rw",
        ],
        "",
    ),
    (&["get", "/app/x"], ""),
    (&["--username", "alice:alicepw", "user", "list"], ""),
    (
        &["--username", "root:rootpw", "user", "passwd", "alice"],
        "newpw\n",
    ),
    (&["--username", "alice:alicepw", "get", "/app/x"], ""),
    (&["--username", "alice:newpw", "get", "/app/x"], ""),
    (
        &["--username", "root:rootpw", "user", "remove", "alice"],
        "",
    ),
    (
        &["--username", "root:rootpw", "user", "remove", "alice"],
        "",
    ),
    (&["--username", "root:rootpw", "role", "remove", "app"], ""),
    (&["--username", "root:rootpw", "user", "remove", "root"], ""),
    (&["auth", "disable"], ""),
    (&["--username", "root:rootpw", "auth", "disable"], ""),
    (&["auth", "disable"], ""),
    (&["get", "/app/x"], ""),
];

fn etcdctl_v2(server: &Server, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(common::debian_binary("etcdctl"))
        .env("ETCDCTL_API", "2")
        .arg("--endpoints")
        .arg(&server.client_url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("etcdctl");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("etcdctl output");
    format!(
        "{args:?}: {} | {} | {:?}",
        common::text(&out.stdout),
        common::text(&out.stderr),
        out.status.code()
    )
}

#[test]
fn etcdctl_v2_user_role_and_auth_commands_answer_as_etcd() {
    let ours = Server::start(Flavor::EtcdNode);
    let reference = Server::start(Flavor::Etcd);
    for (args, stdin) in ETCDCTL {
        assert_eq!(
            etcdctl_v2(&ours, args, stdin),
            etcdctl_v2(&reference, args, stdin),
            "etcd-node (left) vs etcd 3.4.23 (right)"
        );
    }
}
