//! A ledger of acknowledged writes: writer threads record every write a member acknowledged, and a check that
//! each one is stored with its value (crash and disk-fault tests).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{Server, http};

/// Writers: each writes `/ledger/w<t>-<i>` = `<i>` in turn through the given client URLs and records the
/// writes that were acknowledged.
pub struct Writers {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<BTreeMap<String, String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    pub fn start(urls: Vec<String>, count: usize, round: usize) -> Writers {
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
    pub fn finish(self) -> BTreeMap<String, String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        std::mem::take(&mut *self.acknowledged.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Every key under `/ledger` and its value, read through `server` with a quorum read.
pub fn stored(server: &Server) -> BTreeMap<String, String> {
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

pub fn check(ledger: &BTreeMap<String, String>, server: &Server, what: &str) {
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
