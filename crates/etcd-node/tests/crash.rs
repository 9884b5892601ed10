//! Crash durability: concurrent writers keep a ledger of acknowledged writes while members are killed with
//! SIGKILL and restarted on their data; after every restart each acknowledged write is there with its value.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Flavor, Server, cluster, http};

/// Writers: each writes `/ledger/w<t>-<i>` = `<i>` in turn through the given client URLs and records the
/// writes that were acknowledged.
struct Writers {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<BTreeMap<String, String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    fn start(urls: Vec<String>, count: usize, round: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(BTreeMap::new()));
        let threads = (0..count)
            .map(|t| {
                let (stop, acknowledged, urls) = (stop.clone(), acknowledged.clone(), urls.clone());
                std::thread::spawn(move || {
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("r{round}-w{t}-{i}");
                        let url = &urls[(t + i) % urls.len()];
                        if let Some((200 | 201, _)) = http(
                            url,
                            "PUT",
                            &format!("/v2/keys/ledger/{key}"),
                            &format!("value={i}"),
                        ) {
                            acknowledged
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(key, i.to_string());
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        Writers {
            stop,
            acknowledged,
            threads,
        }
    }

    /// Stops the writers; the ledger of acknowledged writes.
    fn finish(self) -> BTreeMap<String, String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        std::mem::take(&mut *self.acknowledged.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Every key under `/ledger` and its value, read through `server` with a quorum read.
fn stored(server: &Server) -> BTreeMap<String, String> {
    let (status, body) = http(
        &server.client_url,
        "GET",
        "/v2/keys/ledger?recursive=true&quorum=true",
        "",
    )
    .expect("ledger read");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    json["node"]["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| {
                    let key = n["key"].as_str()?.trim_start_matches("/ledger/").to_owned();
                    Some((key, n["value"].as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check(ledger: &BTreeMap<String, String>, server: &Server, what: &str) {
    let stored = stored(server);
    let lost: Vec<&String> = ledger
        .iter()
        .filter(|(k, v)| stored.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        lost.is_empty(),
        "{what}: {} of {} acknowledged writes missing or changed, e.g. {:?}",
        lost.len(),
        ledger.len(),
        &lost[..lost.len().min(5)]
    );
}

fn leader(members: &[Server]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for (i, m) in members.iter().enumerate() {
            if m.child.is_some()
                && let Some((200, body)) = http(&m.client_url, "GET", "/v2/stats/self", "")
                && body.contains("StateLeader")
            {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_of_a_single_member() {
    let mut server = Server::start(Flavor::EtcdNode);
    let mut ledger = BTreeMap::new();
    for round in 0..6 {
        let writers = Writers::start(vec![server.client_url.clone()], 4, round);
        std::thread::sleep(Duration::from_millis(1500));
        server.kill();
        ledger.extend(writers.finish());
        server.launch();
        server.wait_ready();
        check(&ledger, &server, &format!("after restart {}", round + 1));
    }
    assert!(
        ledger.len() > 100,
        "the writers made progress: {}",
        ledger.len()
    );
}

#[test]
fn acknowledged_writes_survive_sigkill_of_the_leader_and_another_member() {
    let mut members = cluster(Flavor::EtcdNode, 3);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    let mut ledger = BTreeMap::new();
    let mut next_victim = 0usize;
    for round in 0..4 {
        let writers = Writers::start(urls.clone(), 4, round);
        std::thread::sleep(Duration::from_millis(1500));
        let leader = leader(&members);
        next_victim = (next_victim + 1) % members.len();
        members[leader].kill();
        members[next_victim].kill();
        ledger.extend(writers.finish());
        for m in members.iter_mut().filter(|m| m.child.is_none()) {
            m.launch();
        }
        for m in &members {
            m.wait_ready();
        }
        for m in &members {
            check(
                &ledger,
                m,
                &format!("round {} through {}", round + 1, m.name),
            );
        }
    }
    assert!(
        ledger.len() > 100,
        "the writers made progress: {}",
        ledger.len()
    );
}
