//! `HEAD` on every v2 endpoint, side by side with etcd 3.4.23: the same status, the same headers (names, and the
//! values that do not depend on the cluster: `Content-Length`, `Content-Type`, `Allow`), and no body.

use etcd_tests as common;

use common::{Flavor, Server, http};

/// The raw answer to `HEAD path`: status line and headers, and whatever followed them.
fn head(server: &Server, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let addr = server.client_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "HEAD {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let (headers, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let mut lines: Vec<&str> = headers.lines().collect();
    let status = lines.remove(0).to_owned();
    let mut kept: Vec<String> = lines
        .iter()
        .filter_map(|l| l.split_once(": "))
        .filter(|(name, _)| !["Date", "Connection"].contains(name))
        .map(|(name, value)| {
            if ["Content-Length", "Content-Type", "Allow"].contains(&name) {
                format!("{name}: {value}")
            } else {
                name.to_owned()
            }
        })
        .collect();
    kept.sort();
    (format!("{status} {}", kept.join(", ")), body.to_owned())
}

#[test]
fn head_answers_as_etcds() {
    let paths = [
        "/v2/keys/missing",
        "/v2/keys/dir/a",
        "/v2/keys/dir",
        "/v2/keys/dir?recursive=true",
        "/v2/keys",
        "/v2/keys/x?wait=bad",
        "/v2/keys/dir/a?wait=true&waitIndex=1",
        "/v2/members",
        "/v2/members/leader",
        "/v2/stats/self",
        "/v2/stats/store",
        "/v2/stats/leader",
        "/v2/machines",
        "/version",
        "/health",
    ];
    let mut answers = Vec::new();
    for flavor in [Flavor::EtcdNode, Flavor::Etcd] {
        let server = Server::start(flavor);
        let put = http(&server.client_url, "PUT", "/v2/keys/dir/a", "value=1");
        assert!(matches!(put, Some((201, _))), "{put:?}");
        let mut lines = Vec::new();
        for path in paths {
            let (answer, body) = head(&server, path);
            assert!(
                body.is_empty(),
                "{flavor:?} HEAD {path} sent a body: {body:?}"
            );
            lines.push(format!("HEAD {path}: {answer}"));
        }
        answers.push(lines.join("\n"));
    }
    assert_eq!(answers[0], answers[1]);
}
