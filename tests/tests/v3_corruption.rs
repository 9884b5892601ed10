//! A member whose v3 data is altered on disk while it is stopped is caught by the corruption checks: with
//! `--experimental-initial-corrupt-check` it refuses to start ("found data inconsistency with peers"); without,
//! the leader's periodic check (`--experimental-corrupt-check-time`) raises the CORRUPT alarm naming it, and the
//! cluster refuses writes until the alarm is disarmed.

use std::time::{Duration, Instant};

use etcd_tests as common;
use redb::{ReadableDatabase, ReadableTable};

use common::{Etcdctl, Flavor, Server, leader_of, text};

fn ok(server: &Server, args: &[&str]) -> String {
    server.etcdctl3_ok(args, "")
}

/// Rewrites, in the stopped member's database, the stored value `from` as `to` (same length): the revision and
/// the key stay, only the bytes differ, as with a flipped bit on disk.
fn alter_value(member: &Server, from: &[u8], to: &[u8]) {
    let db = redb::Database::open(member.data.join("member/snap/db")).expect("open the database");
    let kv = redb::TableDefinition::<&[u8], &[u8]>::new("kv");
    let mut found = None;
    {
        let read = db.begin_read().expect("read");
        let table = read.open_table(kv).expect("kv table");
        for item in table.iter().expect("iterate") {
            let (k, v) = item.expect("record");
            let bytes = v.value().to_vec();
            if let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
                let mut altered = bytes.clone();
                altered[at..at + to.len()].copy_from_slice(to);
                found = Some((k.value().to_vec(), altered));
            }
        }
    }
    let (key, altered) = found.expect("the value is stored");
    let write = db.begin_write().expect("write");
    {
        let mut table = write.open_table(kv).expect("kv table");
        table
            .insert(key.as_slice(), altered.as_slice())
            .expect("insert");
    }
    write.commit().expect("commit");
}

#[test]
fn a_member_altered_on_disk_is_caught_by_the_corruption_checks() {
    let mut members = common::cluster_with(
        Flavor::EtcdNode,
        3,
        &["--experimental-corrupt-check-time", "1s"],
    );
    let leader = leader_of(&members);
    let victim = (leader + 1) % 3;
    ok(&members[leader], &["put", "precious", "original-value"]);
    for i in 0..20 {
        ok(&members[leader], &["put", &format!("other/{i}"), "x"]);
    }
    // Every member has applied everything before the victim stops.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&members[victim], &["endpoint", "status", "-w", "json"]))
            .expect("status");
    let victim_id = status[0]["Status"]["header"]["member_id"]
        .as_u64()
        .expect("member id");
    std::thread::sleep(Duration::from_secs(1));
    // A member whose data is whole passes the initial check and serves.
    let healthy = (leader + 2) % 3;
    assert!(members[healthy].terminate());
    members[healthy]
        .extra
        .push("--experimental-initial-corrupt-check".into());
    members[healthy].launch();
    members[healthy].wait_ready();
    let log = std::fs::read_to_string(members[healthy].log_path()).unwrap_or_default();
    assert!(
        log.contains("initial corruption checking passed; no corruption"),
        "{log}"
    );
    assert!(members[victim].terminate(), "the victim stops cleanly");
    alter_value(&members[victim], b"original-value", b"ORIGINAL-VALUE");

    // With the initial check, the altered member does not start.
    members[victim]
        .extra
        .push("--experimental-initial-corrupt-check".into());
    members[victim].launch();
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = members[victim]
            .child
            .as_mut()
            .and_then(|c| c.try_wait().expect("wait"))
        {
            break status;
        }
        assert!(Instant::now() < deadline, "the altered member kept running");
        std::thread::sleep(Duration::from_millis(50));
    };
    members[victim].child = None;
    let log = std::fs::read_to_string(members[victim].log_path()).unwrap_or_default();
    assert!(!exit.success(), "{log}");
    assert!(log.contains("found data inconsistency with peers"), "{log}");

    // Without it, the member starts, and the leader's periodic check raises CORRUPT for it.
    members[victim].extra.pop();
    members[victim].launch();
    members[victim].wait_ready();
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected = format!("memberID:{victim_id} alarm:CORRUPT");
    loop {
        let alarms = ok(&members[leader], &["alarm", "list"]);
        if alarms.contains(&expected) {
            break;
        }
        assert!(Instant::now() < deadline, "no CORRUPT alarm: {alarms:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let put = members[leader].etcdctl3(Etcdctl::V35, &["put", "after", "x"], "");
    assert!(!put.status.success());
    assert!(
        text(&put.stderr).contains("etcdserver: corrupt cluster"),
        "{}",
        text(&put.stderr)
    );
}
