//! `etcd-node --proxy on|readonly` in front of a 3-member etcd-node cluster: etcdctl through the proxy, a live
//! watch through it, failing over when the member it uses is killed, readonly mode, and a restarted proxy that
//! finds the cluster from its saved file.

use etcd_tests as common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Flavor, Server, cluster, free_port, http, text};

/// An etcd-node proxy process, killed when dropped.
struct Proxy {
    url: String,
    child: Child,
}

impl Proxy {
    fn start(mode: &str, data: &Path, initial_cluster: &str) -> Proxy {
        let url = format!("http://127.0.0.1:{}", free_port());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.with_extension("log"))
            .expect("log");
        let child = Command::new(common::etcd_node_binary())
            .args(["--proxy", mode])
            .arg(format!("--data-dir={}", data.display()))
            .args(["--listen-client-urls", &url])
            .args(["--initial-cluster", initial_cluster])
            .args(["--proxy-failure-wait", "2000"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start proxy");
        let proxy = Proxy { url, child };
        // Ready once it knows the members and forwards a read.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(http(&proxy.url, "GET", "/v2/keys/", ""), Some((200, _))) {
            assert!(
                Instant::now() < deadline,
                "the proxy never forwarded a request"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        proxy
    }

    fn etcdctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(common::debian_binary("etcdctl"))
            .env("ETCDCTL_API", "2")
            .args(["--no-sync", "--endpoints", &self.url])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    fn endpoints(&self) -> Vec<String> {
        let (_, body) = http(&self.url, "GET", "/v2/config/local/proxy", "").expect("config");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        json["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn initial_cluster(members: &[Server]) -> String {
    members[0].initial_cluster.clone()
}

#[test]
fn a_proxy_forwards_etcdctl_and_watches_and_survives_its_member() {
    let mut members = cluster(Flavor::EtcdNode, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = dir.path().join("proxy");
    let proxy = Proxy::start("on", &data, &initial_cluster(&members));

    // etcdctl through the proxy, as against a member.
    for (args, want) in [
        (&["set", "/p/a", "1"][..], "1\n"),
        (&["mk", "/p/b", "2"], "2\n"),
        (&["get", "/p/a"], "1\n"),
        (&["ls", "--sort", "/p"], "/p/a\n/p/b\n"),
        (&["rm", "/p/b"], "PrevNode.Value: 2\n"),
    ] {
        let out = proxy.etcdctl(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), want, "{args:?}");
    }
    let missing = proxy.etcdctl(&["get", "/p/b"]);
    assert_eq!(missing.status.code(), Some(4));
    assert!(text(&missing.stderr).contains("Key not found"));

    // A live watch through the proxy gets the next write.
    let url = proxy.url.clone();
    let watch = std::thread::spawn(move || http(&url, "GET", "/v2/keys/p/w?wait=true", ""));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        http(&proxy.url, "PUT", "/v2/keys/p/w", "value=seen").map(|r| r.0),
        Some(201)
    );
    let (status, body) = watch.join().expect("watch thread").expect("watch answer");
    assert_eq!(status, 200);
    assert!(
        body.contains(r#""action":"set""#) && body.contains(r#""value":"seen""#),
        "{body}"
    );

    // The peer URLs are saved for a restart.
    let saved = std::fs::read_to_string(data.join("proxy/cluster")).expect("cluster file");
    for m in &members {
        assert!(saved.contains(&m.peer_url), "{saved}");
    }

    // Kill the member the proxy tries first: requests keep succeeding through the others.
    let first = proxy.endpoints().first().cloned().expect("an endpoint");
    let victim = members
        .iter()
        .position(|m| m.client_url == first)
        .expect("the endpoint is a member");
    members[victim].kill();
    for i in 0..10 {
        let put = http(&proxy.url, "PUT", "/v2/keys/p/after", &format!("value={i}"));
        assert!(
            matches!(put, Some((200 | 201, _))),
            "write {i} through the proxy after its member died: {put:?}"
        );
    }
    let (status, body) = http(&proxy.url, "GET", "/v2/keys/p/after", "").expect("read");
    assert_eq!(status, 200);
    assert!(body.contains(r#""value":"9""#), "{body}");
}

#[test]
fn a_readonly_proxy_serves_get_and_refuses_the_rest_and_a_restarted_proxy_uses_its_saved_cluster() {
    let members = cluster(Flavor::EtcdNode, 3);
    assert_eq!(
        http(&members[0].client_url, "PUT", "/v2/keys/ro", "value=v").map(|r| r.0),
        Some(201)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("proxy");
    let proxy = Proxy::start("readonly", &data, &initial_cluster(&members));
    let (status, body) = http(&proxy.url, "GET", "/v2/keys/ro", "").expect("get");
    assert_eq!(status, 200);
    assert!(body.contains(r#""value":"v""#));
    for method in ["PUT", "POST", "DELETE", "HEAD"] {
        let answer = http(&proxy.url, method, "/v2/keys/ro", "value=x").expect("answer");
        assert_eq!(answer.0, 501, "{method}");
    }
    drop(proxy);

    // Restarted with an initial cluster that leads nowhere, it finds the members in its saved file.
    let nowhere = format!("default=http://127.0.0.1:{}", free_port());
    let proxy = Proxy::start("readonly", &data, &nowhere);
    let (status, body) = http(&proxy.url, "GET", "/v2/keys/ro", "").expect("get");
    assert_eq!(status, 200, "{body}");
    assert_eq!(proxy.endpoints().len(), 3);
}

#[test]
fn a_proxy_with_no_reachable_member_answers_as_etcds_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{}", free_port());
    let nowhere = format!("default=http://127.0.0.1:{}", free_port());
    let mut child = Command::new(common::etcd_node_binary())
        .args(["--proxy", "on"])
        .arg(format!("--data-dir={}", dir.path().join("p").display()))
        .args(["--listen-client-urls", &url, "--initial-cluster", &nowhere])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start proxy");
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        if let Some(a) = http(&url, "GET", "/v2/keys/x", "") {
            break a;
        }
        assert!(Instant::now() < deadline, "the proxy never answered");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer.0, 503);
    assert_eq!(
        answer.1,
        "{\"message\":\"httpproxy: zero endpoints currently available\"}\n"
    );
}

#[test]
fn etcd_node_and_etcd_proxies_answer_alike() {
    let members = cluster(Flavor::EtcdNode, 3);
    assert_eq!(
        http(&members[0].client_url, "PUT", "/v2/keys/same", "value=v").map(|r| r.0),
        Some(201)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = Proxy::start(
        "readonly",
        &dir.path().join("ours"),
        &initial_cluster(&members),
    );
    // etcd 3.4.23 as a proxy in front of the same etcd-node cluster.
    let etcd_url = format!("http://127.0.0.1:{}", free_port());
    let mut etcd = Command::new(common::debian_binary("etcd"))
        .args(["--proxy", "readonly"])
        .arg(format!("--data-dir={}", dir.path().join("etcd").display()))
        .args(["--listen-client-urls", &etcd_url])
        .args(["--initial-cluster", &initial_cluster(&members)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd proxy");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http(&etcd_url, "GET", "/v2/keys/", ""), Some((200, _))) {
        assert!(
            Instant::now() < deadline,
            "etcd's proxy never forwarded a request"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (method, path) in [
        ("GET", "/v2/keys/same"),
        ("GET", "/v2/keys/missing"),
        ("GET", "/v2/keys/same?wait=true&waitIndex=1"),
        ("PUT", "/v2/keys/same"),
        ("DELETE", "/v2/keys/same"),
        ("OPTIONS", "/v2/keys/same"),
        ("GET", "/v2/stats/store"),
    ] {
        let a = http(&ours.url, method, path, "");
        let b = http(&etcd_url, method, path, "");
        let status = |r: &Option<(u16, String)>| r.as_ref().map(|r| r.0);
        assert_eq!(status(&a), status(&b), "{method} {path}");
        // Framing may differ (etcd's proxy buffers a short streamed answer); the payload may not.
        let payload = |r: Option<(u16, String)>| {
            r.map(|(s, body)| {
                let body =
                    if body.starts_with(|c: char| c.is_ascii_hexdigit()) && body.contains("\r\n") {
                        common::dechunk(&body)
                    } else {
                        body
                    };
                (s, body)
            })
        };
        if path != "/v2/stats/store" {
            assert_eq!(payload(a), payload(b), "{method} {path}");
        }
    }
    let shape = |url: &str| {
        let (_, body) = http(url, "GET", "/v2/config/local/proxy", "").expect("config");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let mut endpoints: Vec<String> = json["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect();
        endpoints.sort();
        endpoints
    };
    assert_eq!(shape(&ours.url), shape(&etcd_url));
    let _ = etcd.kill();
    let _ = etcd.wait();
}

#[test]
fn a_proxy_serves_https_and_reaches_https_members_with_the_client_certificate() {
    use etcd_tls::testing::TestCa;
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path();
    let ca = TestCa::new("ca").expect("CA");
    let ca_file = ca.write_cert(&pki.join("ca.pem")).expect("CA file");
    let hosts = ["127.0.0.1", "localhost"];
    let member_cert = ca.issue(pki, "member", "member", &hosts).expect("cert");
    let proxy_cert = ca.issue(pki, "proxy", "proxy", &hosts).expect("cert");
    let user = ca.issue(pki, "user", "user", &hosts).expect("cert");
    let flag = |name: &str, path: &Path| format!("--{name}={}", path.display());

    // A member that requires client certificates from the CA.
    let peer_url = format!("http://127.0.0.1:{}", free_port());
    let mut member = Server::new(Flavor::EtcdNode, "n1", &peer_url, &format!("n1={peer_url}"));
    member.client_url = member.client_url.replace("http://", "https://");
    member.extra = vec![
        flag("cert-file", &member_cert.cert),
        flag("key-file", &member_cert.key),
        flag("trusted-ca-file", &ca_file),
    ];
    member.client_tls = Some(common::ClientTls {
        ca: ca_file.clone(),
        cert: Some(user.cert.clone()),
        key: Some(user.key.clone()),
    });
    member.launch();
    member.wait_ready();
    let set = member.etcdctl(&["set", "/tls-proxy", "through"]);
    assert!(set.status.success(), "{}", text(&set.stderr));

    // The proxy serves HTTPS with its certificate and presents it to the member.
    let url = format!("https://127.0.0.1:{}", free_port());
    let mut child = Command::new(common::etcd_node_binary())
        .args(["--proxy", "on"])
        .arg(format!("--data-dir={}", pki.join("proxy").display()))
        .args(["--listen-client-urls", &url])
        .args(["--initial-cluster", &format!("n1={peer_url}")])
        .args([
            flag("cert-file", &proxy_cert.cert),
            flag("key-file", &proxy_cert.key),
            flag("trusted-ca-file", &ca_file),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start proxy");
    let client = common::ClientTls {
        ca: ca_file.clone(),
        cert: Some(user.cert.clone()),
        key: Some(user.key.clone()),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Some(body) = common::https_get(&url, "/v2/keys/tls-proxy", &client)
            && body.contains("through")
        {
            break body;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no answer through the HTTPS proxy");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(body.contains(r#""value":"through""#), "{body}");
}
