//! The README's quick-start blocks (fenced as `sh quickstart`) run as written, so the docs cannot rot: each
//! block runs in a fresh directory, with every loopback port moved to a free one and the flags that pin a
//! server's default ports (2379, 2380) made explicit. Lines ending in `&` are servers (or clients left running,
//! such as a watch); every other line must succeed (retried while the servers start).

use etcd_tests as common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, text};

/// The quick-start blocks of the README, line by line.
fn blocks() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh quickstart") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(lines), l) if !l.is_empty() => lines.push(l.to_owned()),
            _ => {}
        }
    }
    blocks
}

/// Moves every `127.0.0.1:<port>` / `localhost:<port>` to a free port, the same one for the same port.
fn move_ports(line: &str, ports: &mut HashMap<u16, u16>) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = ["127.0.0.1:", "localhost:"]
        .iter()
        .filter_map(|h| rest.find(h).map(|i| (i, h.len())))
        .min()
    {
        let (i, len) = at;
        out.push_str(&rest[..i]);
        out.push_str("127.0.0.1:");
        rest = &rest[i + len..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(port) = digits.parse::<u16>() {
            let moved = *ports.entry(port).or_insert_with(free_port);
            out.push_str(&moved.to_string());
            rest = &rest[digits.len()..];
        }
    }
    out.push_str(rest);
    out
}

fn flag_value<'a>(line: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == flag {
            return words.next();
        }
        if let Some(v) = w.strip_prefix(&format!("{flag}=")) {
            return Some(v);
        }
    }
    None
}

/// A server line as it runs here: our binary, explicit client and peer URLs where a member's defaults would
/// apply.
fn server_command(line: &str, ports: &mut HashMap<u16, u16>) -> String {
    let line = line.trim_end_matches('&').trim();
    let Some(rest) = line.strip_prefix("etcd-node") else {
        // A client left running in the background (`etcdctl watch ... &`).
        return move_ports(&format!("exec {line}"), ports);
    };
    let mut command = format!("exec {}{rest}", common::etcd_node_binary().display());
    // The v3 proxies name their one listen address themselves.
    if rest.starts_with(" grpc-proxy") || rest.starts_with(" gateway") {
        return move_ports(&command, ports);
    }
    if !command.contains("--listen-client-urls") {
        command.push_str(" --listen-client-urls http://localhost:2379 --advertise-client-urls http://localhost:2379");
    }
    if !command.contains("--listen-peer-urls") && !command.contains("--proxy") {
        let name = flag_value(&command, "--name")
            .unwrap_or("default")
            .to_owned();
        command.push_str(&format!(
            " --listen-peer-urls http://localhost:2380 --initial-advertise-peer-urls http://localhost:2380 --initial-cluster {name}=http://localhost:2380"
        ));
    }
    move_ports(&command, ports)
}

struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_readme_quick_start_runs_as_written() {
    let blocks = blocks();
    assert!(blocks.len() >= 4, "the README has its quick-start blocks");
    for block in blocks {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ports = HashMap::new();
        let mut servers = Servers(Vec::new());
        for line in &block {
            if line.ends_with('&') {
                let command = server_command(line, &mut ports);
                let child = Command::new("bash")
                    .args(["-c", &command])
                    .current_dir(dir.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start a server");
                servers.0.push(child);
                continue;
            }
            let command = move_ports(line, &mut ports);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let out = Command::new("bash")
                    .args(["-c", &command])
                    .current_dir(dir.path())
                    .stdin(Stdio::null())
                    .output()
                    .expect("run a client command");
                if out.status.success() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "README quick start: `{line}` (run as `{command}`) keeps failing: {}{}",
                    text(&out.stdout),
                    text(&out.stderr)
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        drop(servers);
    }
}
