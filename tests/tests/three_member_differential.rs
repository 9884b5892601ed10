//! A 3-member etcd-node cluster against a 3-member etcd 3.4.23 cluster: `etcdctl` (keys, watch --forever,
//! exec-watch, member list, cluster-health) gives the same output once member IDs and URLs are named, and the
//! stats, members, machines, health and version endpoints answer with the same JSON shapes.

use etcd_tests as common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Flavor, Server, cluster, debian_binary, http, text};
use serde_json::Value;

/// Runs etcdctl against every member of `members`, as an operator would.
fn etcdctl_output(members: &[Server], args: &[&str]) -> Output {
    Command::new(debian_binary("etcdctl"))
        .env("ETCDCTL_API", "2")
        .arg("--endpoints")
        .arg(endpoints(members))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl")
}

/// etcdctl's stdout, stderr and exit code.
fn etcdctl(members: &[Server], args: &[&str]) -> (String, String, Option<i32>) {
    let out = etcdctl_output(members, args);
    (text(&out.stdout), text(&out.stderr), out.status.code())
}

fn endpoints(members: &[Server]) -> String {
    members
        .iter()
        .map(|m| m.client_url.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Replaces each member's ID and URLs by its name, so two clusters on different ports read the same.
fn name_members(members: &[Server], output: &str) -> String {
    let (_, body) = http(&members[0].client_url, "GET", "/v2/members", "").expect("members");
    let list: Value = serde_json::from_str(&body).expect("members JSON");
    let mut out = output.to_owned();
    for m in list["members"].as_array().expect("array") {
        let name = m["name"].as_str().expect("name");
        let id = m["id"].as_str().expect("id");
        out = out.replace(id, &format!("<id {name}>"));
    }
    for m in members {
        out = out.replace(&m.client_url, &format!("<client {}>", m.name));
        out = out.replace(&m.peer_url, &format!("<peer {}>", m.name));
    }
    out
}

/// `ETCD_INITIAL_CLUSTER` lists members in ID order, which differs between clusters: sort its entries.
fn normalise_initial_cluster(output: &str) -> String {
    output
        .lines()
        .map(|line| match line.strip_prefix("ETCD_INITIAL_CLUSTER=\"") {
            Some(rest) => {
                let mut entries: Vec<&str> = rest.trim_end_matches('"').split(',').collect();
                entries.sort();
                format!("ETCD_INITIAL_CLUSTER=\"{}\"", entries.join(","))
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut lines: Vec<String> = s.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// The structure of a JSON value: object keys (member IDs as `<id>`), array shapes, and value types.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = if k.len() >= 12 && k.chars().all(|c| c.is_ascii_hexdigit()) {
                        "<id>".to_owned()
                    } else {
                        k.clone()
                    };
                    (key, shape(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::String(_) => Value::String("string".to_owned()),
        Value::Number(_) => Value::String("number".to_owned()),
        Value::Bool(_) => Value::String("bool".to_owned()),
        Value::Null => Value::Null,
    }
}

/// A long-running etcdctl command's output after `write` ran and a short wait.
fn output_of_watcher(members: &[Server], args: &[&str], write: impl FnOnce()) -> String {
    let mut child = Command::new(debian_binary("etcdctl"))
        .env("ETCDCTL_API", "2")
        .arg("--endpoints")
        .arg(endpoints(members))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run etcdctl");
    std::thread::sleep(Duration::from_millis(700));
    write();
    std::thread::sleep(Duration::from_millis(700));
    let _ = child.kill();
    let out = child.wait_with_output().expect("etcdctl output");
    text(&out.stdout)
}

const SCRIPT: &[&[&str]] = &[
    &["set", "/a", "1"],
    &["mk", "--in-order", "/q", "job"],
    &["mkdir", "/d"],
    &["set", "/d/x", "y"],
    &["update", "/a", "2"],
    &["-o", "extended", "get", "/a"],
    &["-o", "json", "get", "--quorum", "/a"],
    &["ls", "-r", "--sort", "-p", "/"],
    &["rm", "/a", "--with-index", "1"],
    &["rm", "-r", "/d"],
    &["watch", "--after-index", "1", "/a"],
    &["get", "/missing"],
];

#[test]
fn three_member_clusters_of_etcd_node_and_etcd_look_the_same() {
    let ours = cluster(Flavor::EtcdNode, 3);
    let reference = cluster(Flavor::Etcd, 3);
    let clusters = [&ours, &reference];

    for args in SCRIPT {
        let [a, b] = clusters.map(|c| etcdctl(c, args));
        assert_eq!(a, b, "etcdctl {}", args.join(" "));
    }

    for args in [&["member", "list"][..], &["cluster-health"]] {
        let [a, b] = clusters.map(|c| {
            let (stdout, stderr, code) = etcdctl(c, args);
            // Which member leads is up to each cluster's election; that exactly one does is checked.
            assert!(stdout.matches("isLeader=true").count() <= 1, "{stdout}");
            let named = name_members(c, &stdout)
                .replace(" isLeader=true", "")
                .replace(" isLeader=false", "");
            (sorted_lines(&named), stderr, code)
        });
        assert_eq!(a, b, "etcdctl {}", args.join(" "));
    }

    // Membership changes through etcdctl: add a member (not started), update it, remove it.
    let [a, b] = clusters.map(|c| {
        let peer = format!("http://127.0.0.1:{}", common::free_port());
        // Refused until every member has been reachable for 5 s (--strict-reconfig-check).
        let out = common::until_success(|| etcdctl_output(c, &["member", "add", "n4", &peer]));
        let (added, err, code) = (text(&out.stdout), text(&out.stderr), out.status.code());
        assert_eq!(
            code,
            Some(0),
            "{err}{}",
            c.iter()
                .map(|m| std::fs::read_to_string(m.log_path()).unwrap_or_default())
                .collect::<String>()
        );
        let id = added
            .split_whitespace()
            .skip_while(|w| *w != "ID")
            .nth(1)
            .expect("new member ID")
            .to_owned();
        // n4's ID first: a member that has not applied the removal yet still lists n4, without a name.
        let named =
            |s: &str| name_members(c, &s.replace(&id, "<id n4>")).replace(&peer, "<peer n4>");
        let mut outputs = vec![normalise_initial_cluster(&named(&added)), named(&err)];
        let moved = format!("http://127.0.0.1:{}", common::free_port());
        let (out, err, code) = etcdctl(c, &["member", "update", &id, &moved]);
        outputs.extend([
            named(&out),
            named(&err).replace(&moved, "<moved>"),
            format!("{code:?}"),
        ]);
        let (out, err, code) = etcdctl(c, &["member", "remove", &id]);
        outputs.extend([named(&out), named(&err), format!("{code:?}")]);
        let (out, err, code) = etcdctl(c, &["member", "remove", &id]);
        outputs.extend([named(&out), named(&err), format!("{code:?}")]);
        let (out, err, code) = etcdctl(c, &["member", "add", "again", "not a url"]);
        outputs.extend([out, err, format!("{code:?}")]);
        outputs
    });
    assert_eq!(a, b, "etcdctl member add / update / remove");

    // Watchers that keep running: each sees the writes made while it runs.
    let [a, b] = clusters.map(|c| {
        output_of_watcher(c, &["watch", "--forever", "/w"], || {
            for v in ["1", "2"] {
                assert!(etcdctl(c, &["set", "/w", v]).2 == Some(0));
            }
        })
    });
    assert_eq!(a, b, "watch --forever");
    assert_eq!(a, "1\n2\n");
    let [a, b] = clusters.map(|c| {
        output_of_watcher(
            c,
            &[
                // etcdctl 3.4 reads its arguments in the wrong order unless a flag precedes the key.
                "exec-watch",
                "--recursive",
                "/e",
                "--",
                "sh",
                "-c",
                "echo $ETCD_WATCH_ACTION $ETCD_WATCH_KEY=$ETCD_WATCH_VALUE",
            ],
            || assert!(etcdctl(c, &["set", "/e", "v"]).2 == Some(0)),
        )
    });
    assert_eq!(a, b, "exec-watch");
    assert_eq!(a, "set /e=v\n");

    // The JSON shapes of every non-keys endpoint, on the leader and on a follower.
    let leaders = clusters.map(|c| common::leader_of(c));
    for (path, on_leader) in [
        ("/v2/stats/self", true),
        ("/v2/stats/self", false),
        ("/v2/stats/leader", true),
        ("/v2/stats/leader", false),
        ("/v2/stats/store", false),
        ("/v2/members", false),
        ("/v2/members/leader", false),
        ("/version", false),
    ] {
        let [a, b] = [0, 1].map(|i| {
            let c = clusters[i];
            let at = if on_leader {
                leaders[i]
            } else {
                (leaders[i] + 1) % 3
            };
            // Append rates show only while appends are under a second old: write first.
            http(&c[0].client_url, "PUT", "/v2/keys/tick", "value=1").expect("write");
            let (status, body) = http(&c[at].client_url, "GET", path, "").expect("answer");
            let json: Value = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
            (status, shape(&json))
        });
        assert_eq!(a, b, "{path} (on the leader: {on_leader})");
    }
    // `/health` is etcd 3.5's (it adds a `reason`; v3 tests compare it with etcd 3.5.1): 3.4's fields and that one.
    for c in clusters {
        let (status, body) = http(&c[1].client_url, "GET", "/health", "").expect("answer");
        let json: Value = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
        assert_eq!(
            (status, json["health"].as_str()),
            (200, Some("true")),
            "{body}"
        );
    }
    // `/v2/machines` lists the client URLs.
    let [a, b] = clusters.map(|c| {
        let (status, body) = http(&c[0].client_url, "GET", "/v2/machines", "").expect("answer");
        let mut urls: Vec<String> = name_members(c, &body)
            .split(", ")
            .map(str::to_owned)
            .collect();
        urls.sort();
        (status, urls)
    });
    assert_eq!(a, b, "/v2/machines");

    // The leader's followers have figures once writes were replicated.
    let ours_leader = &ours[leaders[0]];
    let (_, stats) = http(&ours_leader.client_url, "GET", "/v2/stats/leader", "").expect("stats");
    let stats: Value = serde_json::from_str(&stats).expect("JSON");
    let followers = stats["followers"].as_object().expect("followers");
    assert_eq!(followers.len(), 2, "{stats}");
    for f in followers.values() {
        assert!(f["counts"]["success"].as_u64() > Some(0), "{stats}");
        assert!(f["latency"]["maximum"].as_f64() > Some(0.0), "{stats}");
    }
    let (_, own) = http(&ours_leader.client_url, "GET", "/v2/stats/self", "").expect("stats");
    let own: Value = serde_json::from_str(&own).expect("JSON");
    assert!(own["sendAppendRequestCnt"].as_u64() > Some(0), "{own}");
}
