//! v3 client libraries from another ecosystem than Go, run against etcd-node:
//! - PyPI's `etcd3` 0.12 (Python gRPC): puts, gets, a txn that succeeds and one that fails, a delete, and a
//!   prefix watch (`tests/clients/python_etcd3.py`);
//! - PyPI's `etcd3gw` 2.7 (OpenStack's client of the JSON gateway, no gRPC): KV, create/replace transactions,
//!   watches, leases and locks (`tests/clients/python_etcd3gw.py`), also run against etcd 3.5.1 so that the
//!   script's expectations are etcd's.

use std::path::Path;

use etcd_tests as common;

use common::{Flavor, Server, text};

/// Runs `script` with `packages` on `PYTHONPATH` against `server`; its output.
fn run_python(script: &str, packages: &Path, server: &Server) -> String {
    let port = server
        .client_url
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let script = format!("{}/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("timeout")
        .args(["60", "python3", &script, &port])
        .env("PYTHONPATH", packages)
        // etcd3 0.12's generated code predates protobuf 4's C implementation.
        .env("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{script} against {}: {}{}",
        server.client_url,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn python_etcd3_does_kv_txn_and_watch() {
    let packages = common::python_etcd3_dir();
    let server = Server::start(Flavor::EtcdNode);
    assert_eq!(run_python("python_etcd3.py", &packages, &server), "ok\n");
}

#[test]
fn python_etcd3gw_does_kv_watch_lease_and_lock_through_the_gateway() {
    let packages = common::python_etcd3gw_dir();
    let reference = Server::start(Flavor::Etcd35);
    assert_eq!(
        run_python("python_etcd3gw.py", &packages, &reference),
        "ok\n"
    );
    let server = Server::start(Flavor::EtcdNode);
    assert_eq!(run_python("python_etcd3gw.py", &packages, &server), "ok\n");
}
