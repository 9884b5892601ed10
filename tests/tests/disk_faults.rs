//! Disk faults: a WAL write or fsync that fails makes the member stop acknowledging writes (each gets an
//! error), nothing acknowledged before is lost, and the member recovers when restarted. The failure is injected
//! with `ETCD_WAL_FAILPOINT` (etcd-wal's `failpoints` feature, compiled into test builds of the binary).

use etcd_tests as common;

use std::time::{Duration, Instant};

use common::ledger::{Writers, check};
use common::{Flavor, Server, free_port, http};

fn run(failpoint: &str) {
    let peer_url = format!("http://127.0.0.1:{}", free_port());
    let mut server = Server::new(Flavor::EtcdNode, "n1", &peer_url, &format!("n1={peer_url}"));
    server.env = vec![("ETCD_WAL_FAILPOINT".to_owned(), failpoint.to_owned())];
    server.launch();
    server.wait_ready();
    let writers = Writers::start(vec![server.client_url.clone()], 4, 0);
    // Wait for the failure: writes then answer with an error.
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        match http(&server.client_url, "PUT", "/v2/keys/probe", "value=x") {
            Some((200 | 201, _)) => {}
            Some((status, body)) => break (status, body),
            None => {}
        }
        assert!(
            Instant::now() < deadline,
            "{failpoint}: the disk fault never surfaced"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(refused.0, 500, "{failpoint}: {}", refused.1);
    assert!(refused.1.contains("\"errorCode\":300"), "{}", refused.1);
    // From now on nothing is acknowledged.
    let ledger = writers.finish();
    for i in 0..20 {
        let answer = http(
            &server.client_url,
            "PUT",
            &format!("/v2/keys/after/{i}"),
            "value=x",
        );
        assert!(
            !matches!(answer, Some((200 | 201, _))),
            "{failpoint}: a write was acknowledged after the disk failed"
        );
    }
    assert!(
        !ledger.is_empty(),
        "{failpoint}: writes were acknowledged before the fault"
    );

    // Restarted without the fault, the member has every acknowledged write and takes new ones.
    server.kill();
    server.env.clear();
    server.launch();
    server.wait_ready();
    check(&ledger, &server, failpoint);
    assert!(matches!(
        http(&server.client_url, "PUT", "/v2/keys/recovered", "value=yes"),
        Some((201, _))
    ));
}

#[test]
fn a_failed_fsync_stops_acknowledgements_and_loses_nothing() {
    run("sync:300");
}

#[test]
fn a_failed_write_stops_acknowledgements_and_loses_nothing() {
    run("write:300");
}

/// The slow-disk failpoint the chaos tests use: while its flag file exists every WAL sync takes longer, so a
/// write (one fsync at least) cannot be acknowledged sooner; without it writes go at the disk's pace. Only the
/// lower bound is asserted, which no machine's speed can break.
#[test]
fn the_slow_disk_failpoint_delays_every_sync_while_its_flag_exists() {
    let peer_url = format!("http://127.0.0.1:{}", free_port());
    let mut server = Server::new(Flavor::EtcdNode, "n1", &peer_url, &format!("n1={peer_url}"));
    let flag = server.dir.path().join("slow-disk");
    server.env = vec![(
        "ETCD_WAL_FAILPOINT".to_owned(),
        format!("delay-sync:400:{}", flag.display()),
    )];
    server.launch();
    server.wait_ready();
    std::fs::write(&flag, b"").expect("the flag file");
    for i in 0..3 {
        let started = Instant::now();
        let answer = http(
            &server.client_url,
            "PUT",
            &format!("/v2/keys/slow/{i}"),
            "value=x",
        );
        assert!(matches!(answer, Some((201, _))), "{answer:?}");
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "a write was acknowledged in {:?} while every sync takes 400 ms longer",
            started.elapsed()
        );
    }
    std::fs::remove_file(&flag).expect("the flag file");
    let answer = http(&server.client_url, "PUT", "/v2/keys/fast", "value=x");
    assert!(matches!(answer, Some((201, _))), "{answer:?}");
}
