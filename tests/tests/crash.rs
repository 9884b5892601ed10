//! Crash durability: concurrent writers keep a ledger of acknowledged writes while members are killed with
//! SIGKILL and restarted on their data; after every restart each acknowledged write is there with its value.

use etcd_tests as common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::ledger::{Writers, check};
use common::{Flavor, Server, cluster, leader_of};

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
        let leader = leader_of(&members);
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
