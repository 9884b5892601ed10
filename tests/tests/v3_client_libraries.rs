//! A v3 client library from another ecosystem than Go: PyPI's `etcd3` 0.12 (Python gRPC) runs puts, gets, a
//! txn that succeeds and one that fails, a delete, and a prefix watch against etcd-node
//! (`tests/clients/python_etcd3.py`).

use etcd_tests as common;

use common::{Flavor, Server, text};

#[test]
fn python_etcd3_does_kv_txn_and_watch() {
    let packages = common::python_etcd3_dir();
    let server = Server::start(Flavor::EtcdNode);
    let port = server
        .client_url
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/python_etcd3.py");
    let out = std::process::Command::new("timeout")
        .args(["60", "python3", script, &port])
        .env("PYTHONPATH", packages)
        // etcd3 0.12's generated code predates protobuf 4's C implementation.
        .env("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "ok\n");
}
