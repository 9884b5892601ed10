//! Linearizability under faults: clients run sets, quorum gets and compare-and-swaps on a few keys against a
//! 3-member cluster while a nemesis kills the leader (SIGKILL, then restart) and cuts members off behind TCP
//! fault proxies on the peer URLs; every key's history must be linearizable (see
//! `tests/src/linearizability.rs`). `ETCD_CHAOS_SECONDS` sets the length (the suite runs a short one;
//! `cargo xtask chaos --duration 10m` a long one).

use etcd_tests as common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::fault_proxy::cluster_behind_proxies;
use common::linearizability::{Op, Operation, describe, is_linearizable, shrink};

/// How a request ended, as far as the client can tell.
enum Outcome {
    Answer(u16, String),
    /// The request never left (connection refused): it cannot have taken effect.
    NotSent,
    /// Sent, but no answer: it may or may not have taken effect.
    Unknown,
}

fn request(base: &str, method: &str, path: &str, form: &str) -> Outcome {
    let addr = base.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return Outcome::NotSent;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let sent = write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    if sent.is_err() {
        return Outcome::Unknown;
    }
    let mut response = String::new();
    if stream.read_to_string(&mut response).is_err() {
        return Outcome::Unknown;
    }
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok());
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    match (status, body) {
        (Some(status), Some(body)) => Outcome::Answer(status, body),
        _ => Outcome::Unknown,
    }
}

fn value_of(body: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    json["node"]["value"].as_str().map(str::to_owned)
}

/// A client's loop: random operations on random keys through random members until `stop`.
fn client(
    id: usize,
    urls: Vec<String>,
    keys: usize,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<(usize, Operation)> {
    let now = || start.elapsed().as_micros() as u64;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (id as u64 + 1);
    let mut random = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut last_seen: BTreeMap<usize, String> = BTreeMap::new();
    let mut history = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = random(keys);
        let url = &urls[random(urls.len())];
        let path = format!("/v2/keys/chaos/k{key}");
        let kind = random(10);
        let call = now();
        let op = if kind < 4 {
            let value = format!("c{id}-{n}");
            match request(url, "PUT", &path, &format!("value={value}")) {
                Outcome::NotSent => None,
                Outcome::Answer(200 | 201, _) => {
                    last_seen.insert(key, value.clone());
                    Some((
                        Op::Write {
                            value: Some(value),
                            known: true,
                        },
                        now(),
                    ))
                }
                Outcome::Answer(..) | Outcome::Unknown => Some((
                    Op::Write {
                        value: Some(value),
                        known: false,
                    },
                    u64::MAX,
                )),
            }
        } else if kind < 8 || !last_seen.contains_key(&key) {
            match request(url, "GET", &format!("{path}?quorum=true"), "") {
                Outcome::Answer(200, body) => {
                    let value = value_of(&body);
                    if let Some(v) = &value {
                        last_seen.insert(key, v.clone());
                    }
                    value.map(|v| (Op::Read { value: Some(v) }, now()))
                }
                Outcome::Answer(404, body) if body.contains("\"errorCode\":100") => {
                    Some((Op::Read { value: None }, now()))
                }
                // A failed read changed nothing: leave it out.
                _ => None,
            }
        } else {
            let expected = last_seen.get(&key).cloned().unwrap_or_default();
            let new = format!("c{id}-{n}");
            let form = format!("value={new}");
            match request(url, "PUT", &format!("{path}?prevValue={expected}"), &form) {
                Outcome::NotSent => None,
                Outcome::Answer(200, _) => {
                    last_seen.insert(key, new.clone());
                    Some((
                        Op::Cas {
                            expected: Some(expected),
                            new: Some(new),
                            swapped: Some(true),
                        },
                        now(),
                    ))
                }
                Outcome::Answer(412 | 404, body)
                    if body.contains("\"errorCode\":101") || body.contains("\"errorCode\":100") =>
                {
                    Some((
                        Op::Cas {
                            expected: Some(expected),
                            new: Some(new),
                            swapped: Some(false),
                        },
                        now(),
                    ))
                }
                Outcome::Answer(..) | Outcome::Unknown => Some((
                    Op::Cas {
                        expected: Some(expected),
                        new: Some(new),
                        swapped: None,
                    },
                    u64::MAX,
                )),
            }
        };
        if let Some((op, ret)) = op {
            history.push((key, Operation { op, call, ret }));
        }
    }
    history
}

#[test]
fn histories_under_leader_kills_and_partitions_are_linearizable() {
    let seconds: u64 = std::env::var("ETCD_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let (proxies, mut members) = cluster_behind_proxies(3);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..5)
        .map(|id| {
            let (urls, stop) = (urls.clone(), stop.clone());
            std::thread::spawn(move || client(id, urls, 3, start, stop))
        })
        .collect();

    // The nemesis: alternately kill the leader (and restart it) and cut a member off (and heal it).
    let mut faults = Vec::new();
    let mut round = 0usize;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(1500));
        round += 1;
        if round % 2 == 1 {
            if let Some(l) = common::current_leader(&members) {
                members[l].kill();
                faults.push(format!("killed leader {}", members[l].name));
                std::thread::sleep(Duration::from_millis(1000));
                members[l].launch();
            }
        } else {
            let victim = round / 2 % proxies.len();
            proxies[victim].cut();
            faults.push(format!("partitioned {}", members[victim].name));
            std::thread::sleep(Duration::from_millis(2000));
            proxies[victim].heal();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut by_key: BTreeMap<usize, Vec<Operation>> = BTreeMap::new();
    for c in clients {
        for (key, op) in c.join().expect("client thread") {
            by_key.entry(key).or_default().push(op);
        }
    }
    let total: usize = by_key.values().map(Vec::len).sum();
    let unknown = by_key
        .values()
        .flatten()
        .filter(|o| o.ret == u64::MAX)
        .count();
    eprintln!(
        "chaos: {seconds} s, {} faults ({}), {total} operations on {} keys ({unknown} with unknown outcome)",
        faults.len(),
        faults.join(", "),
        by_key.len()
    );
    assert!(total > 100, "the clients made progress: {total}");
    assert!(!faults.is_empty());
    for (key, history) in &by_key {
        if !is_linearizable(history) {
            panic!(
                "the history of key k{key} ({} operations) is not linearizable; a smallest failing part:\n{}",
                history.len(),
                describe(&shrink(history, 5_000))
            );
        }
    }
}

fn op(op: Op, call: u64, ret: u64) -> Operation {
    Operation { op, call, ret }
}

fn write(v: &str) -> Op {
    Op::Write {
        value: Some(v.to_owned()),
        known: true,
    }
}

fn read(v: Option<&str>) -> Op {
    Op::Read {
        value: v.map(str::to_owned),
    }
}

#[test]
fn the_checker_accepts_linearizable_histories_and_refuses_others() {
    // Concurrent write and read: the read may see either value.
    let ok = [
        op(write("a"), 0, 10),
        op(read(Some("a")), 5, 15),
        op(read(None), 1, 3),
    ];
    assert!(is_linearizable(&ok));
    // A read that starts after a write finished must not see the old value.
    let stale = [op(write("a"), 0, 10), op(read(None), 11, 12)];
    assert!(!is_linearizable(&stale));
    // Two reads may not see values in an order no single sequence explains.
    let flip = [
        op(write("a"), 0, 10),
        op(write("b"), 0, 10),
        op(read(Some("a")), 11, 12),
        op(read(Some("b")), 13, 14),
        op(read(Some("a")), 15, 16),
    ];
    assert!(!is_linearizable(&flip));
    // A compare-and-swap that failed although the value matched is impossible.
    let cas = [
        op(write("a"), 0, 1),
        op(
            Op::Cas {
                expected: Some("a".to_owned()),
                new: Some("b".to_owned()),
                swapped: Some(false),
            },
            2,
            3,
        ),
    ];
    assert!(!is_linearizable(&cas));
    // A write of unknown outcome may have happened, or not.
    let maybe = [
        op(
            Op::Write {
                value: Some("x".to_owned()),
                known: false,
            },
            0,
            u64::MAX,
        ),
        op(read(None), 1, 2),
        op(read(Some("x")), 3, 4),
    ];
    assert!(is_linearizable(&maybe));
    // A delete is a write of "absent"; a compare-and-swap from "absent" creates.
    let create = [
        op(write("a"), 0, 1),
        op(
            Op::Write {
                value: None,
                known: true,
            },
            2,
            3,
        ),
        op(
            Op::Cas {
                expected: None,
                new: Some("b".to_owned()),
                swapped: Some(true),
            },
            4,
            5,
        ),
        op(read(Some("b")), 6, 7),
    ];
    assert!(is_linearizable(&create));
    // The report shrinks a failing history to the operations that fail together.
    let mut noisy = stale.to_vec();
    noisy.extend((0..20).map(|i| op(read(Some("a")), 20 + i, 21 + i)));
    let core = shrink(&noisy, 1_000);
    assert!(!is_linearizable(&core));
    assert!(core.len() <= 2, "{}", describe(&core));
}
