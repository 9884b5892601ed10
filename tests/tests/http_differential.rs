//! Scripted v2 HTTP requests against etcd-node and against real etcd 3.4.23: the same status, the same body
//! (expiration instants normalised) and the same `X-Etcd-Index` and content type, request for request.

use etcd_tests as common;

use std::time::Duration;

use common::{Flavor, Server};

type Reply = common::HttpReply;

fn exchange(base: &str, method: &str, target: &str, form: &str) -> Reply {
    exchange_typed(
        base,
        method,
        target,
        "application/x-www-form-urlencoded",
        form,
    )
}

fn exchange_typed(base: &str, method: &str, target: &str, content_type: &str, form: &str) -> Reply {
    let headers: &[(&str, &str)] = if form.is_empty() {
        &[]
    } else {
        &[("Content-Type", content_type)]
    };
    common::http_exchange(base, method, target, headers, form)
}

/// Expiration instants depend on each server's clock: replace their values.
fn normalise(body: &str) -> String {
    mask(body, "\"expiration\":\"", "<time>", |c| c != '"')
}

/// Replaces what follows each `marker` (the characters `keep_going` takes) by `with`.
fn mask(body: &str, marker: &str, with: &str, keep_going: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        out.push_str(&rest[..start]);
        out.push_str(with);
        rest = rest[start..].trim_start_matches(&keep_going);
    }
    out.push_str(rest);
    out
}

fn compare(ours: &Server, reference: &Server, method: &str, target: &str, form: &str) {
    let a = exchange(&ours.client_url, method, target, form);
    let b = exchange(&reference.client_url, method, target, form);
    let what = format!("{method} {target} {form}");
    assert_eq!(
        a.status, b.status,
        "status of {what}: ours {} / etcd {}",
        a.body, b.body
    );
    assert_eq!(normalise(&a.body), normalise(&b.body), "body of {what}");
    // Header names are written as Go writes them, for clients that compare them exactly.
    for name in &a.names {
        if let Some(theirs) = b.names.iter().find(|n| n.eq_ignore_ascii_case(name)) {
            assert_eq!(name, theirs, "header name case in {what}");
        }
    }
    assert_eq!(
        a.header("x-etcd-index"),
        b.header("x-etcd-index"),
        "X-Etcd-Index of {what}"
    );
    assert_eq!(
        a.header("content-type").map(|c| c.to_ascii_lowercase()),
        b.header("content-type").map(|c| c.to_ascii_lowercase()),
        "Content-Type of {what}"
    );
}

const SCRIPT: &[(&str, &str, &str)] = &[
    // Every action.
    ("PUT", "/v2/keys/message", "value=Hello+world"),
    ("PUT", "/v2/keys/message", "value=Hello+etcd"),
    ("GET", "/v2/keys/message", ""),
    ("HEAD", "/v2/keys/message", ""),
    ("PUT", "/v2/keys/message?noValueOnSuccess=true", "value=x"),
    ("DELETE", "/v2/keys/message", ""),
    ("PUT", "/v2/keys/foo?prevExist=false", "value=bar"),
    ("PUT", "/v2/keys/foo?prevExist=true", "value=baz"),
    ("PUT", "/v2/keys/foo?prevValue=baz", "value=two"),
    ("PUT", "/v2/keys/foo?prevIndex=1", "value=x"),
    ("DELETE", "/v2/keys/foo?prevValue=two", ""),
    ("POST", "/v2/keys/queue", "value=Job1"),
    ("POST", "/v2/keys/queue", "dir=true"),
    ("GET", "/v2/keys/queue?recursive=true&sorted=true", ""),
    ("PUT", "/v2/keys/dir?dir=true", ""),
    ("PUT", "/v2/keys/dir/a/b", "value=x"),
    ("PUT", "/v2/keys/dir/_hidden", "value=h"),
    ("GET", "/v2/keys/dir?recursive=true&sorted=true", ""),
    ("GET", "/v2/keys/dir/_hidden", ""),
    ("DELETE", "/v2/keys/dir?recursive=true", ""),
    // TTLs: set, refresh, drop.
    ("PUT", "/v2/keys/ttl", "value=v&ttl=100"),
    ("PUT", "/v2/keys/ttl?refresh=true&prevExist=true", "ttl=100"),
    ("PUT", "/v2/keys/ttl?prevExist=true", "value=v&ttl="),
    ("PUT", "/v2/keys/big", "value=x&ttl=100000000000"),
    // Every error the HTTP layer and the store raise.
    ("GET", "/v2/keys/nope", ""),
    ("HEAD", "/v2/keys/nope", ""),
    ("PUT", "/v2/keys/big?prevExist=false", "value=x"),
    ("PUT", "/v2/keys/big?prevValue=zz&prevIndex=1", "value=x"),
    ("PUT", "/v2/keys/queue", "value=x"),
    ("GET", "/v2/keys/big/below", ""),
    ("DELETE", "/v2/keys/", ""),
    ("PUT", "/v2/keys/queue?dir=true&prevExist=true", ""),
    ("DELETE", "/v2/keys/queue?dir=true", ""),
    ("PUT", "/v2/keys/k?prevValue=", "value=x"),
    ("PUT", "/v2/keys/k", "value=x&ttl=abc"),
    ("PUT", "/v2/keys/k?prevIndex=abc", "value=x"),
    ("GET", "/v2/keys/k?waitIndex=abc&wait=true", ""),
    ("GET", "/v2/keys/k?recursive=maybe", ""),
    ("PUT", "/v2/keys/k?wait=true", "value=x"),
    ("PUT", "/v2/keys/k?refresh=true", "value=x&ttl=5"),
    ("PUT", "/v2/keys/k?refresh=true", ""),
    ("PUT", "/v2/keys/k?prevExist=maybe", "value=x"),
    ("PUT", "/v2/keys/k", "value=%zz"),
    // Quorum reads and watches answered from the history.
    ("GET", "/v2/keys/big?quorum=true", ""),
    ("GET", "/v2/keys/big?wait=true&quorum=true", ""),
    (
        "GET",
        "/v2/keys/queue?wait=true&waitIndex=5&recursive=true",
        "",
    ),
    ("GET", "/v2/keys/dir/a?wait=true&waitIndex=1", ""),
    // Other endpoints and routing.
    ("GET", "/v2/stats/store", ""),
    ("GET", "/version", ""),
    ("GET", "/v2/keys//big", ""),
    ("PATCH", "/v2/keys/big", ""),
    ("GET", "/v2/nothing", ""),
    ("POST", "/version", ""),
    ("OPTIONS", "/v2/keys/big", ""),
];

#[test]
fn v2_http_answers_match_etcd() {
    let ours = Server::start(Flavor::EtcdNode);
    let reference = Server::start(Flavor::Etcd);
    for (method, target, form) in SCRIPT {
        compare(&ours, &reference, method, target, form);
    }
}

#[test]
fn live_and_stale_watches_match_etcd() {
    let ours = Server::start(Flavor::EtcdNode);
    let reference = Server::start(Flavor::Etcd);
    for server in [&ours, &reference] {
        exchange(&server.client_url, "PUT", "/v2/keys/w/x", "value=0");
    }
    // A live recursive watch gets the next write under it.
    let watches: Vec<_> = [&ours, &reference]
        .into_iter()
        .map(|s| {
            let url = s.client_url.clone();
            std::thread::spawn(move || {
                exchange(&url, "GET", "/v2/keys/w?wait=true&recursive=true", "")
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for server in [&ours, &reference] {
        exchange(&server.client_url, "PUT", "/v2/keys/w/y", "value=1");
    }
    let replies: Vec<Reply> = watches
        .into_iter()
        .map(|w| w.join().expect("watch"))
        .collect();
    assert_eq!(replies[0].status, replies[1].status);
    assert_eq!(replies[0].body, replies[1].body, "live watch event");
    assert_eq!(
        replies[0].header("x-etcd-index"),
        replies[1].header("x-etcd-index")
    );
    // Overflow the 1000-event history: a watch from index 1 is 401 with HTTP 400.
    for server in [&ours, &reference] {
        for i in 0..1005 {
            exchange(
                &server.client_url,
                "PUT",
                "/v2/keys/h",
                &format!("value={i}"),
            );
        }
    }
    compare(
        &ours,
        &reference,
        "GET",
        "/v2/keys/h?wait=true&waitIndex=1",
        "",
    );
    compare(&ours, &reference, "GET", "/v2/stats/store", "");
}

#[test]
fn every_metric_we_export_exists_in_etcd_under_the_same_name_and_type() {
    let ours = Server::start(Flavor::EtcdNode);
    let references = [Server::start(Flavor::Etcd), Server::start(Flavor::Etcd35)];
    for server in std::iter::once(&ours).chain(&references) {
        exchange(&server.client_url, "PUT", "/v2/keys/m", "value=1");
        let put = server.etcdctl3(common::Etcdctl::V35, &["put", "m", "1"], "");
        assert!(
            put.status.success(),
            "{:?}: {}",
            server.flavor,
            common::text(&put.stderr)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let our_metrics = exchange(&ours.client_url, "GET", "/metrics", "").body;
    // etcd 3.4.23 or 3.5.1: 3.5 renamed some v3 metrics.
    let etcd_metrics: Vec<String> = references
        .iter()
        .map(|r| exchange(&r.client_url, "GET", "/metrics", "").body)
        .collect();
    let types: Vec<&str> = our_metrics
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .collect();
    assert!(types.len() >= 10, "{our_metrics}");
    for line in types {
        assert!(
            etcd_metrics.iter().any(|m| m.contains(line)),
            "neither etcd 3.4.23 nor 3.5.1 has `{line}`"
        );
    }
    assert!(our_metrics.contains("etcd_server_has_leader 1"));
    assert!(our_metrics.contains("etcd_disk_wal_fsync_duration_seconds_count"));
    assert!(
        our_metrics.contains("etcd_mvcc_put_total 1"),
        "{our_metrics}"
    );
    let started_put = "grpc_server_started_total{grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 1";
    assert!(our_metrics.contains(started_put), "{our_metrics}");
    assert!(etcd_metrics[1].contains(started_put));
    let handled_put = "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 1";
    assert!(our_metrics.contains(handled_put), "{our_metrics}");
    assert!(etcd_metrics[1].contains(handled_put));
}

#[test]
fn ttl_expiry_matches_etcd() {
    let ours = Server::start(Flavor::EtcdNode);
    let reference = Server::start(Flavor::Etcd);
    let both = [&ours, &reference];
    for server in both {
        exchange(&server.client_url, "PUT", "/v2/keys/t", "value=v&ttl=1");
        exchange(&server.client_url, "PUT", "/v2/keys/td?dir=true", "ttl=1");
        exchange(&server.client_url, "PUT", "/v2/keys/td/child", "value=c");
        exchange(&server.client_url, "PUT", "/v2/keys/kept", "value=k&ttl=1");
        // A refresh before the deadline keeps the key alive, without a watch event.
        exchange(
            &server.client_url,
            "PUT",
            "/v2/keys/kept?refresh=true&prevExist=true",
            "ttl=100",
        );
    }
    // The leader expires keys on its SYNC ticks (every 500 ms in both).
    std::thread::sleep(Duration::from_millis(2500));
    for (method, target) in [
        ("GET", "/v2/keys/t"),
        ("GET", "/v2/keys/td/child"),
        // The expirations from the event history: the key, then the directory (with its child).
        ("GET", "/v2/keys/t?wait=true&waitIndex=2"),
        ("GET", "/v2/keys/td?wait=true&waitIndex=2&recursive=true"),
        ("GET", "/v2/keys/td/child?wait=true&waitIndex=2"),
        ("GET", "/v2/stats/store"),
    ] {
        compare(&ours, &reference, method, target, "");
    }
    // What is left: only the refreshed key, whose remaining seconds depend on each server's clock.
    for target in ["/v2/keys/kept", "/v2/keys/?recursive=true&sorted=true"] {
        let [a, b] = both.map(|s| {
            let reply = exchange(&s.client_url, "GET", target, "");
            (reply.status, without_ttl(&normalise(&reply.body)))
        });
        assert_eq!(a, b, "GET {target}");
        assert!(a.1.contains("\"key\":\"/kept\""), "{}", a.1);
    }
}

/// Replaces the seconds left in every `"ttl":N`.
fn without_ttl(body: &str) -> String {
    mask(body, "\"ttl\":", "<ttl>", |c| {
        c.is_ascii_digit() || c == '-'
    })
}

#[test]
fn member_requests_with_bad_peer_urls_are_refused_as_etcd_refuses_them() {
    let ours = Server::start(Flavor::EtcdNode);
    let reference = Server::start(Flavor::Etcd);
    for (method, target, body) in [
        ("POST", "/v2/members", "{}"),
        ("POST", "/v2/members", r#"{"peerURLs":[]}"#),
        ("POST", "/v2/members", r#"{"peerURLs":["http://1.2.3.4"]}"#),
        (
            "POST",
            "/v2/members",
            r#"{"peerURLs":["http://1.2.3.4:5/path"]}"#,
        ),
        ("POST", "/v2/members", r#"{"peerURLs":["ftp://1.2.3.4:5"]}"#),
        ("PUT", "/v2/members/1234", r#"{"peerURLs":[]}"#),
    ] {
        let [a, b] = [&ours, &reference]
            .map(|s| exchange_typed(&s.client_url, method, target, "application/json", body));
        assert_eq!(
            (a.status, &a.body),
            (b.status, &b.body),
            "{method} {target} {body}"
        );
    }
    // Nothing was added: each is still a cluster of one that takes writes.
    for s in [&ours, &reference] {
        assert_eq!(
            exchange(&s.client_url, "PUT", "/v2/keys/k", "value=v").status,
            201
        );
    }
}
