//! Auth identities over gRPC against etcd-node and etcd 3.5.1 side by side: simple and JWT tokens (wrong
//! passwords, no token, a malformed or unknown token, a token of another cluster, an expired one, a user's
//! permission revoked or the user deleted while its token is in use, a password changed), and the client
//! certificate's common name as the user with `--client-cert-auth`. Each step's answer (gRPC code and message)
//! must be the same on both.

use std::path::Path;
use std::time::Duration;

use etcd_proto::authpb::{Permission, permission::Type};
use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::*;
use etcd_tests as common;
use etcd_tls::testing::TestCa;
use tonic::transport::Channel;

use common::{ClientTls, Etcdctl, Flavor, Server, cluster_with, free_port, text};

/// What a call answered: `ok`, or its gRPC code and message.
fn outcome<T>(result: Result<tonic::Response<T>, tonic::Status>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = token.parse() {
        request.metadata_mut().insert("token", value);
    }
    request
}

fn range(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.as_bytes().to_vec(),
        ..RangeRequest::default()
    }
}

fn put(key: &str) -> PutRequest {
    PutRequest {
        key: key.as_bytes().to_vec(),
        value: b"v".to_vec(),
        ..PutRequest::default()
    }
}

fn login(name: &str, password: &str) -> AuthenticateRequest {
    AuthenticateRequest {
        name: name.into(),
        password: password.into(),
    }
}

struct Clients {
    auth: AuthClient<Channel>,
    kv: KvClient<Channel>,
}

impl Clients {
    async fn connect(server: &Server) -> Clients {
        let channel = Channel::from_shared(server.client_url.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        Clients {
            auth: AuthClient::new(channel.clone()),
            kv: KvClient::new(channel),
        }
    }

    async fn token(&mut self, name: &str, password: &str) -> String {
        self.auth
            .authenticate(login(name, password))
            .await
            .expect("authenticate")
            .into_inner()
            .token
    }

    /// root and alice (who may read and write `a/`), auth on.
    async fn set_up(&mut self) {
        let add = |name: &str| AuthUserAddRequest {
            name: name.into(),
            password: format!("{name}pw"),
            ..AuthUserAddRequest::default()
        };
        self.auth.user_add(add("root")).await.expect("root");
        self.auth.user_add(add("alice")).await.expect("alice");
        let grant = |user: &str, role: &str| AuthUserGrantRoleRequest {
            user: user.into(),
            role: role.into(),
        };
        self.auth
            .user_grant_role(grant("root", "root"))
            .await
            .expect("grant");
        let role = AuthRoleAddRequest { name: "rw".into() };
        self.auth.role_add(role).await.expect("role");
        self.auth
            .role_grant_permission(permission())
            .await
            .expect("perm");
        self.auth
            .user_grant_role(grant("alice", "rw"))
            .await
            .expect("grant");
        self.auth
            .auth_enable(AuthEnableRequest {})
            .await
            .expect("enable");
    }
}

fn permission() -> AuthRoleGrantPermissionRequest {
    AuthRoleGrantPermissionRequest {
        name: "rw".into(),
        perm: Some(Permission {
            perm_type: Type::Readwrite as i32,
            key: b"a/".to_vec(),
            range_end: b"a0".to_vec(),
        }),
    }
}

/// The steps, on one server; `foreign` is a token the other cluster handed out. Answers each step's outcome.
async fn token_steps(server: &Server, foreign: &str, jwt: bool) -> Vec<String> {
    let mut c = Clients::connect(server).await;
    c.set_up().await;
    let mut seen = Vec::new();
    let mut step = |what: &str, outcome: String| seen.push(format!("{what}: {outcome}"));
    step(
        "wrong password",
        outcome(c.auth.authenticate(login("root", "x")).await),
    );
    step(
        "unknown user",
        outcome(c.auth.authenticate(login("ghost", "x")).await),
    );
    step(
        "empty user",
        outcome(c.auth.authenticate(login("", "x")).await),
    );
    let alice = c.token("alice", "alicepw").await;
    let well_formed = if jwt {
        alice.split('.').count() == 3
    } else {
        alice.split_once('.').is_some_and(|(letters, index)| {
            letters.len() == 16
                && letters.chars().all(|ch| ch.is_ascii_alphabetic())
                && index.parse::<u64>().is_ok()
        })
    };
    step("token form", well_formed.to_string());
    step("no token", outcome(c.kv.range(range("a/x")).await));
    step(
        "malformed token",
        outcome(c.kv.range(with_token(range("a/x"), "a.b.c")).await),
    );
    step(
        "unknown token",
        outcome(c.kv.range(with_token(range("a/x"), "nope")).await),
    );
    step(
        "another cluster's token",
        outcome(c.kv.range(with_token(range("a/x"), foreign)).await),
    );
    step(
        "allowed read",
        outcome(c.kv.range(with_token(range("a/x"), &alice)).await),
    );
    step(
        "allowed write",
        outcome(c.kv.put(with_token(put("a/x"), &alice)).await),
    );
    step(
        "denied write",
        outcome(c.kv.put(with_token(put("b"), &alice)).await),
    );
    step(
        "denied admin",
        outcome(
            c.auth
                .user_list(with_token(AuthUserListRequest {}, &alice))
                .await,
        ),
    );
    // The permission is revoked while alice's token is in use.
    let root = c.token("root", "rootpw").await;
    let revoke = AuthRoleRevokePermissionRequest {
        role: "rw".into(),
        key: b"a/".to_vec(),
        range_end: b"a0".to_vec(),
    };
    step(
        "revoke",
        outcome(
            c.auth
                .role_revoke_permission(with_token(revoke, &root))
                .await,
        ),
    );
    step(
        "read after revoke",
        outcome(c.kv.range(with_token(range("a/x"), &alice)).await),
    );
    let root = c.token("root", "rootpw").await;
    step(
        "regrant",
        outcome(
            c.auth
                .role_grant_permission(with_token(permission(), &root))
                .await,
        ),
    );
    let alice = c.token("alice", "alicepw").await;
    step(
        "read after new login",
        outcome(c.kv.range(with_token(range("a/x"), &alice)).await),
    );
    // alice is deleted while her token is in use.
    let root = c.token("root", "rootpw").await;
    let delete = AuthUserDeleteRequest {
        name: "alice".into(),
    };
    step(
        "delete alice",
        outcome(c.auth.user_delete(with_token(delete, &root)).await),
    );
    step(
        "read after delete",
        outcome(c.kv.range(with_token(range("a/x"), &alice)).await),
    );
    // root's password changes: its old token goes (simple) or is too old (JWT).
    let root = c.token("root", "rootpw").await;
    let passwd = AuthUserChangePasswordRequest {
        name: "root".into(),
        password: "newpw".into(),
        ..AuthUserChangePasswordRequest::default()
    };
    step(
        "change password",
        outcome(c.auth.user_change_password(with_token(passwd, &root)).await),
    );
    step(
        "old token after password change",
        outcome(c.kv.range(with_token(range("a/x"), &root)).await),
    );
    step(
        "old password",
        outcome(c.auth.authenticate(login("root", "rootpw")).await),
    );
    let root = c.token("root", "newpw").await;
    step(
        "root reads anything",
        outcome(c.kv.range(with_token(range("zzz"), &root)).await),
    );
    if jwt {
        // The test's JWT lifetime is 6 s.
        tokio::time::sleep(Duration::from_secs(7)).await;
        step(
            "expired token",
            outcome(c.kv.range(with_token(range("a/x"), &root)).await),
        );
    }
    let root = c.token("root", "newpw").await;
    step(
        "disable",
        outcome(
            c.auth
                .auth_disable(with_token(AuthDisableRequest {}, &root))
                .await,
        ),
    );
    step(
        "any token once auth is off",
        outcome(c.kv.range(with_token(range("a/x"), "nope")).await),
    );
    step(
        "authenticate once auth is off",
        outcome(c.auth.authenticate(login("root", "newpw")).await),
    );
    seen
}

/// A token from a throwaway cluster of `flavor` started with `flags`.
async fn foreign_token(flavor: Flavor, flags: &[&str]) -> String {
    let other = cluster_with(flavor, 1, flags);
    let mut c = Clients::connect(&other[0]).await;
    c.set_up().await;
    c.token("alice", "alicepw").await
}

/// `foreign_flags`: the other clusters' (a JWT cluster signs with other keys).
async fn compare(flags: &[&str], foreign_flags: &[&str], jwt: bool) {
    let ours = cluster_with(Flavor::EtcdNode, 1, flags);
    let reference = cluster_with(Flavor::Etcd35, 1, flags);
    let foreign_ours = foreign_token(Flavor::EtcdNode, foreign_flags).await;
    let foreign_reference = foreign_token(Flavor::Etcd35, foreign_flags).await;
    let seen = token_steps(&ours[0], &foreign_reference, jwt).await;
    let expected = token_steps(&reference[0], &foreign_ours, jwt).await;
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_tokens_answer_as_etcd() {
    let flags = ["--bcrypt-cost", "4", "--auth-token-ttl", "60"];
    compare(&flags, &flags, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tokens_answer_as_etcd() {
    let keys = tempfile::tempdir().expect("tempdir");
    let option = |name: &str| {
        let (private, public) = TestCa::write_key_pair(keys.path(), name).expect("keys");
        format!(
            "jwt,pub-key={},priv-key={},sign-method=ES256,ttl=6s",
            public.display(),
            private.display()
        )
    };
    let (ours, other) = (option("jwt"), option("other"));
    compare(
        &["--bcrypt-cost", "4", "--auth-token", &ours],
        &["--bcrypt-cost", "4", "--auth-token", &other],
        true,
    )
    .await;
}

/// `--client-cert-auth`: the certificate's common name is the user when no token is given.
#[test]
fn a_client_certificate_names_the_user() {
    let pki = tempfile::tempdir().expect("tempdir");
    let dir = pki.path();
    let ca = TestCa::new("ca").expect("CA");
    let ca_file = ca.write_cert(&dir.join("ca.pem")).expect("CA file");
    let issue = |file: &str, cn: &str| {
        ca.issue(dir, file, cn, &["127.0.0.1", "localhost"])
            .expect("certificate")
    };
    let server_cert = issue("server", "server");
    let certs: Vec<_> = ["root", "alice", "nobody"]
        .iter()
        .map(|cn| (*cn, issue(cn, cn)))
        .collect();
    let mut outcomes = Vec::new();
    for flavor in [Flavor::EtcdNode, Flavor::Etcd35] {
        let (_, root_cert) = &certs[0];
        let server = tls_server(flavor, &server_cert, &ca_file, root_cert);
        let as_user = |cn: &str| -> Server {
            let mut client = tls_client_view(&server);
            let (_, issued) = certs.iter().find(|(n, _)| *n == cn).expect("cert");
            client.client_tls = Some(ClientTls {
                ca: ca_file.clone(),
                cert: Some(issued.cert.clone()),
                key: Some(issued.key.clone()),
            });
            client
        };
        let root = as_user("root");
        for args in [
            &["user", "add", "root:rootpw"][..],
            &["user", "grant-role", "root", "root"],
            &["user", "add", "alice:alicepw"],
            &["role", "add", "rw"],
            &[
                "role",
                "grant-permission",
                "rw",
                "readwrite",
                "--prefix",
                "a/",
            ],
            &["user", "grant-role", "alice", "rw"],
            &["auth", "enable"],
        ] {
            root.etcdctl3_ok(args, "");
        }
        let mut seen = Vec::new();
        for (cn, args) in [
            ("root", &["put", "b", "1"][..]),
            ("root", &["user", "list"]),
            ("alice", &["put", "a/1", "x"]),
            ("alice", &["get", "a/1"]),
            ("alice", &["get", "b"]),
            ("alice", &["user", "list"]),
            ("nobody", &["get", "a/1"]),
            // A token wins over the certificate.
            ("root", &["--user", "alice:alicepw", "get", "b"]),
        ] {
            let out = as_user(cn).etcdctl3(Etcdctl::V35, args, "");
            seen.push(format!(
                "{cn} {args:?}: {} {} {:?}",
                text(&out.stdout),
                common::mask_cluster_ids(&text(&out.stderr)),
                out.status.code()
            ));
        }
        // v2 auth takes the common name as the user too (its users are its own).
        let v2 = |cn: &str, args: &[&str]| {
            let out = as_user(cn).etcdctl(args);
            format!(
                "v2 {cn} {args:?}: {} {:?}",
                text(&out.stdout),
                out.status.code()
            )
        };
        for (cn, args) in [
            ("root", &["user", "add", "root:rootpw"][..]),
            ("root", &["auth", "enable"]),
            ("root", &["set", "/v2key", "1"]),
            ("alice", &["get", "/v2key"]),
            ("root", &["role", "revoke", "guest", "--path", "/*", "--rw"]),
            ("alice", &["get", "/v2key"]),
            ("root", &["get", "/v2key"]),
        ] {
            seen.push(v2(cn, args));
        }
        outcomes.push(seen);
    }
    assert_eq!(outcomes[0], outcomes[1], "etcd-node vs etcd 3.5.1");
}

/// A member serving HTTPS that requires client certificates; `client` is the one it is checked for readiness with.
fn tls_server(
    flavor: Flavor,
    cert: &etcd_tls::testing::Issued,
    ca: &Path,
    client: &etcd_tls::testing::Issued,
) -> Server {
    let peer_url = format!("http://127.0.0.1:{}", free_port());
    let mut server = Server::new(flavor, "n1", &peer_url, &format!("n1={peer_url}"));
    server.client_url = server.client_url.replace("http://", "https://");
    server.extra = vec![
        format!("--cert-file={}", cert.cert.display()),
        format!("--key-file={}", cert.key.display()),
        format!("--trusted-ca-file={}", ca.display()),
        "--client-cert-auth".to_owned(),
    ];
    server.client_tls = Some(ClientTls {
        ca: ca.to_path_buf(),
        cert: Some(client.cert.clone()),
        key: Some(client.key.clone()),
    });
    server.launch();
    server.wait_ready();
    server
}

/// A handle to run etcdctl against `server` with other client certificates (never launched).
fn tls_client_view(server: &Server) -> Server {
    let mut view = Server::new(server.flavor, "view", &server.peer_url, "");
    view.client_url = server.client_url.clone();
    view
}
