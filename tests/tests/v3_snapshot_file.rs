//! `etcdctl snapshot save` from etcd-node members, and `etcd-node snapshot restore|status` (etcdutl's commands):
//! the file has etcd's shape (content, then its SHA-256), both etcdctls save it as they save etcd's, and a
//! three-member cluster restored from it serves every key as of the snapshot's revision, then takes writes.

use std::path::Path;
use std::process::{Command, Output};

use etcd_tests as common;
use sha2::Digest as _;

use common::{Etcdctl, Flavor, Server, etcd_node_binary, peer_urls, text};

fn v3(server: &Server, args: &[&str], stdin: &str) -> String {
    server.etcdctl3_ok(args, stdin)
}

fn etcd_node(args: &[&str]) -> Output {
    Command::new(etcd_node_binary())
        .args(args)
        .output()
        .expect("run etcd-node")
}

fn etcdutl(args: &[&str]) -> Output {
    Command::new(common::etcd35_binary("etcdutl"))
        .args(args)
        .output()
        .expect("run etcdutl")
}

/// The file ends with the SHA-256 of what precedes it, and what precedes it is a multiple of 512 bytes long
/// (how etcdctl 3.5 and etcdutl recognise a file with a hash).
fn assert_etcd_shape(file: &Path) {
    let bytes = std::fs::read(file).expect("read snapshot");
    assert_eq!(bytes.len() % 512, 32, "{} bytes", bytes.len());
    let (content, hash) = bytes.split_at(bytes.len() - 32);
    assert_eq!(sha2::Sha256::digest(content).as_slice(), hash);
}

/// The last line etcdctl prints on success, and its exit status.
fn saved(out: &Output, file: &Path) -> String {
    let stdout = text(&out.stdout).replace(&file.display().to_string(), "FILE");
    format!("{:?} {}", out.status.code(), stdout.trim_end())
}

#[test]
fn etcdctl_saves_a_snapshot_as_from_etcd() {
    let mut transcripts = Vec::new();
    for flavor in [Flavor::EtcdNode, Flavor::Etcd35] {
        let server = Server::start(flavor);
        v3(&server, &["put", "foo", "bar"], "");
        let mut t = Vec::new();
        for client in [Etcdctl::V35, Etcdctl::V34] {
            let file = server.dir.path().join(format!("{client:?}.db"));
            let out = server.etcdctl3(
                client,
                &["snapshot", "save", &file.display().to_string()],
                "",
            );
            t.push(saved(&out, &file));
            assert_etcd_shape(&file);
        }
        transcripts.push(t.join("\n"));
    }
    assert_eq!(transcripts[0], transcripts[1]);
    assert_eq!(
        transcripts[0],
        "Some(0) Snapshot saved at FILE\nSome(0) Snapshot saved at FILE"
    );
}

/// Restoring a damaged file, a file without its hash, or into a used data directory: etcd-node refuses each
/// in etcdutl's words (etcdutl reads the hash and the directory before the content, so it is run on the same
/// files).
#[test]
fn restore_refuses_what_etcdutl_refuses_in_its_words() {
    let server = Server::start(Flavor::EtcdNode);
    v3(&server, &["put", "foo", "bar"], "");
    let dir = server.dir.path();
    let good = dir.join("good.db");
    v3(
        &server,
        &["snapshot", "save", &good.display().to_string()],
        "",
    );
    let bytes = std::fs::read(&good).expect("read");
    let damaged = dir.join("damaged.db");
    let mut flipped = bytes.clone();
    flipped[20] ^= 0xff;
    std::fs::write(&damaged, &flipped).expect("write");
    let bare = dir.join("bare.db");
    std::fs::write(&bare, &bytes[..bytes.len() - 32]).expect("write");
    let used = dir.join("used");
    std::fs::create_dir_all(used.join("member")).expect("mkdir");
    let missing = dir.join("missing.db");
    let last_error = |out: &Output| -> String {
        let stderr = text(&out.stderr);
        let line = stderr
            .lines()
            .rfind(|l| l.starts_with("Error: "))
            .unwrap_or_default()
            .to_owned();
        format!("{:?} {line}", out.status.code())
    };
    for (file, data_dir) in [
        (&damaged, dir.join("r1")),
        (&bare, dir.join("r2")),
        (&good, used.clone()),
        (&missing, dir.join("r3")),
    ] {
        let args = [
            "snapshot",
            "restore",
            &file.display().to_string(),
            "--data-dir",
            &data_dir.display().to_string(),
        ]
        .map(|a| a.to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ours = last_error(&etcd_node(&args));
        if data_dir != used {
            assert!(
                !data_dir.join("member").exists(),
                "{data_dir:?} was left behind"
            );
        }
        let theirs = last_error(&etcdutl(&args));
        assert_eq!(ours, theirs, "restore {file:?} into {data_dir:?}");
        assert!(ours.starts_with("Some(1) Error: "), "{ours}");
    }
    // A database without its hash restores with --skip-hash-check, as etcdutl allows.
    let out = etcd_node(&[
        "snapshot",
        "restore",
        &bare.display().to_string(),
        "--skip-hash-check",
        "--data-dir",
        &dir.join("r4").display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_cluster_restored_from_a_snapshot_serves_every_key_as_of_its_revision() {
    let members = common::cluster(Flavor::EtcdNode, 3);
    let at = &members[1];
    // 1,000 keys in eight transactions, a key on a lease, some deletes and overwrites.
    for batch in 0..8 {
        let puts: String = (0..125)
            .map(|i| format!("put key/{:04} value-{batch}-{i}\n", batch * 125 + i))
            .collect();
        v3(at, &["txn"], &format!("\n{puts}\n\n"));
    }
    let lease = v3(at, &["lease", "grant", "3600"], "");
    let lease_id = lease
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    v3(at, &["put", "leased", "x", "--lease", &lease_id], "");
    v3(at, &["del", "key/0", "--prefix"], "");
    v3(at, &["put", "key/0999", "overwritten"], "");
    // Writes go on while the snapshot is taken: it holds one point in time, whichever that is.
    let writer = {
        let client = at.client_url.clone();
        let etcdctl = Etcdctl::V35.binary();
        std::thread::spawn(move || {
            for i in 0..40 {
                let _ = Command::new(&etcdctl)
                    .args(["--endpoints", &client, "put", &format!("during/{i}"), "v"])
                    .output();
            }
        })
    };
    let file = at.dir.path().join("cluster.db");
    let out = members[2].etcdctl3(
        Etcdctl::V35,
        &["snapshot", "save", &file.display().to_string()],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = writer.join();
    assert_etcd_shape(&file);
    let status = etcd_node(&[
        "snapshot",
        "status",
        &file.display().to_string(),
        "-w",
        "json",
    ]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    let revision = status["revision"].as_i64().expect("revision");
    // Eight transactions, the leased put, the delete and the overwrite, from revision 1.
    assert!(revision >= 12, "{status}");
    let expected = v3(
        at,
        &[
            "get",
            "",
            "--prefix",
            "--rev",
            &revision.to_string(),
            "-w",
            "json",
        ],
        "",
    );

    // A new cluster, on new ports, from the file.
    let (peers, initial) = peer_urls("http", 3);
    let mut restored: Vec<Server> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| Server::new(Flavor::EtcdNode, &format!("n{}", i + 1), p, &initial))
        .collect();
    for m in &restored {
        let out = etcd_node(&[
            "snapshot",
            "restore",
            &file.display().to_string(),
            "--name",
            &m.name,
            "--initial-cluster",
            &initial,
            "--initial-cluster-token",
            "restored",
            "--initial-advertise-peer-urls",
            &m.peer_url,
            "--data-dir",
            &m.data.display().to_string(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    for m in &mut restored {
        m.launch();
    }
    for m in &restored {
        m.wait_ready();
    }
    let kvs = |json: &str| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(json).expect("get json");
        v["kvs"].clone()
    };
    for m in &restored {
        let got = v3(m, &["get", "", "--prefix", "-w", "json"], "");
        assert_eq!(kvs(&got), kvs(&expected), "member {}", m.name);
    }
    let list: serde_json::Value =
        serde_json::from_str(&v3(&restored[0], &["member", "list", "-w", "json"], ""))
            .expect("list");
    assert_eq!(list["members"].as_array().map_or(0, Vec::len), 3);
    assert!(
        v3(&restored[0], &["lease", "list"], "").contains(&lease_id),
        "the lease travels in the snapshot"
    );
    v3(&restored[2], &["put", "after", "restore"], "");
    let after: serde_json::Value =
        serde_json::from_str(&v3(&restored[0], &["get", "after", "-w", "json"], "")).expect("get");
    assert_eq!(
        after["kvs"][0]["mod_revision"].as_i64(),
        Some(revision + 1),
        "revisions continue from the snapshot's"
    );
}
