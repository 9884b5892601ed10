//! The JSON gateway's streams (Watch, LeaseKeepAlive, Snapshot, Observe) and its answers to bad input, side by
//! side with etcd 3.5.1 and etcd 3.4.23: the same status, content type and JSON lines (member and cluster IDs
//! masked); for JSON that does not parse, the same status and code (the texts are Go's JSON decoder's).

use std::time::Duration;

use etcd_tests as common;

use common::{Flavor, HttpStream, Server, http_exchange};

const WAIT: Duration = Duration::from_secs(10);

/// Member and cluster IDs masked; grpc-gateway's two orders of an error's fields made one.
fn masked(text: &str) -> String {
    let mut text = text.to_owned();
    for key in ["cluster_id", "member_id"] {
        text = common::mask_number(&text, &format!("\"{key}\":\""));
    }
    // etcd 3.4's gateway writes `{"error","message","code"}`, 3.5's `{"error","code","message"}`.
    if let Some((head, code)) = text.rsplit_once(",\"code\":")
        && let Some((error, message)) = head.split_once(",\"message\":")
        && code.ends_with('}')
    {
        text = format!(
            "{error},\"code\":{},\"message\":{message}}}",
            code.trim_end_matches('}')
        );
    }
    text
}

fn post(server: &Server, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let reply = http_exchange(&server.client_url, "POST", path, headers, body);
    format!("{} {}", reply.status, masked(&reply.body))
}

/// A stream opened with `body`, `lines` of its answer read (all of it when `lines` is `None`).
fn stream(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    lines: Option<usize>,
    between: impl FnOnce(),
) -> String {
    let mut answer = HttpStream::post(&server.client_url, path, headers, body);
    let mut seen = vec![format!(
        "{path} {body} -> {} {:?} {:?}",
        answer.status,
        answer.header("content-type"),
        answer.header("grpc-metadata-content-type")
    )];
    match lines {
        Some(n) => {
            if let Some(line) = answer.line(WAIT) {
                seen.push(masked(&line));
            }
            between();
            for _ in 1..n {
                seen.push(masked(&answer.line(WAIT).unwrap_or_default()));
            }
        }
        None => {
            between();
            seen.push(masked(&answer.rest(WAIT)));
            seen.push(format!("ended: {}", answer.ended(WAIT)));
        }
    }
    seen.join("\n  ")
}

fn streams(server: &Server) -> Vec<String> {
    let mut seen = Vec::new();
    let put = |value: &str| {
        post(
            server,
            "/v3/kv/put",
            &[],
            &format!(r#"{{"key":"Zm9v","value":"{value}"}}"#),
        )
    };
    seen.push(put("YmFy"));
    seen.push(stream(
        server,
        "/v3/watch",
        &[],
        r#"{"create_request":{"key":"Zm9v"}}"#,
        Some(2),
        || {
            put("YmF6");
        },
    ));
    seen.push(stream(
        server,
        "/v3/watch",
        &[],
        r#"{"create_request":{"key":"Zm9v","start_revision":"1","prev_kv":true}}"#,
        Some(2),
        || {},
    ));
    seen.push(stream(
        server,
        "/v3/watch",
        &[],
        r#"{"create_request":{"key":"bm8=","watch_id":5}} {"create_request":{"key":"bm8=","range_end":"bm8="}} {"create_request":{"key":"bm8=","watch_id":5}} {"cancel_request":{"watch_id":"5"}}"#,
        Some(4),
        || {},
    ));
    seen.push(post(
        server,
        "/v3/lease/grant",
        &[],
        r#"{"TTL":"60","ID":"77"}"#,
    ));
    seen.push(stream(
        server,
        "/v3/lease/keepalive",
        &[],
        r#"{"ID":"77"}"#,
        None,
        || {},
    ));
    seen.push(stream(
        server,
        "/v3/kv/lease/keepalive",
        &[],
        r#"{"ID":"77"}"#,
        None,
        || {},
    ));
    seen.push(stream(
        server,
        "/v3/lease/keepalive",
        &[],
        r#"{"ID":78}"#,
        None,
        || {},
    ));
    seen.push(stream(server, "/v3/lease/keepalive", &[], "", None, || {}));
    seen.push(stream(
        server,
        "/v3/lease/keepalive",
        &[],
        "null",
        None,
        || {},
    ));
    seen.push(post(
        server,
        "/v3/lease/grant",
        &[],
        r#"{"TTL":"60","ID":"88"}"#,
    ));
    seen.push(post(
        server,
        "/v3/election/campaign",
        &[],
        r#"{"name":"ZWw=","lease":"88","value":"djE="}"#,
    ));
    seen.push(stream(
        server,
        "/v3/election/observe",
        &[],
        r#"{"name":"ZWw="}"#,
        Some(2),
        || {
            post(
                server,
                "/v3/election/proclaim",
                &[],
                r#"{"leader":{"name":"ZWw=","key":"ZWwvNTg=","rev":"4","lease":"88"},"value":"djI="}"#,
            );
        },
    ));
    // A snapshot's bytes are each implementation's own: its shape is compared.
    let mut snapshot = HttpStream::post(&server.client_url, "/v3/maintenance/snapshot", &[], "{}");
    let mut shape = Vec::new();
    while let Some(line) = snapshot.line(WAIT) {
        let kind = match (
            line.starts_with(r#"{"result":{"#),
            line.contains(r#""blob":""#),
            line.contains(r#""remaining_bytes":""#),
        ) {
            (true, true, true) => "piece",
            (true, true, false) => "last piece",
            _ => "other",
        };
        if shape.last() != Some(&kind) {
            shape.push(kind);
        }
    }
    seen.push(format!(
        "snapshot {} {:?}: {shape:?}",
        snapshot.status,
        snapshot.header("content-type")
    ));

    // With auth on: a token that is not valid.
    for (path, body) in [
        ("/v3/auth/role/add", r#"{"name":"root"}"#),
        ("/v3/auth/user/add", r#"{"name":"root","password":"pw"}"#),
        ("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#),
        ("/v3/auth/enable", "{}"),
    ] {
        seen.push(post(server, path, &[], body));
    }
    let bad = [("Authorization", "bad")];
    seen.push(stream(
        server,
        "/v3/maintenance/snapshot",
        &bad,
        "{}",
        None,
        || {},
    ));
    seen.push(stream(
        server,
        "/v3/watch",
        &bad,
        r#"{"create_request":{"key":"Zm9v","watch_id":3}}"#,
        Some(1),
        || {},
    ));
    for path in [
        "/v3/maintenance/status",
        "/v3/maintenance/hash",
        "/v3/kv/range",
    ] {
        let reply = post(server, path, &bad, r#"{"key":"Zm9v"}"#);
        // Status says which version answers and how large its files are.
        seen.push(format!(
            "{path} {}",
            reply.split(",\"version\"").next().unwrap_or_default()
        ));
    }

    // A token from Authenticate, in the Authorization header, for unary calls and streams.
    let reply = http_exchange(
        &server.client_url,
        "POST",
        "/v3/auth/authenticate",
        &[],
        r#"{"name":"root","password":"pw"}"#,
    );
    let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
    let token = json["token"].as_str().unwrap_or_default().to_owned();
    seen.push(format!(
        "authenticate {} {}",
        reply.status,
        masked(&reply.body.replace(&token, "TOKEN"))
    ));
    let auth = [("Authorization", token.as_str())];
    seen.push(post(server, "/v3/kv/range", &auth, r#"{"key":"Zm9v"}"#));
    seen.push(post(
        server,
        "/v3/kv/put",
        &auth,
        r#"{"key":"Zm9v","value":"dg=="}"#,
    ));
    seen.push(stream(
        server,
        "/v3/watch",
        &auth,
        r#"{"create_request":{"key":"Zm9v","start_revision":"2"}}"#,
        Some(2),
        || {},
    ));
    seen.push(stream(
        server,
        "/v3/lease/keepalive",
        &auth,
        r#"{"ID":"88"}"#,
        None,
        || {},
    ));
    seen
}

/// Request bodies that are not a range request (or too large), and what etcd says about each: whether its
/// text comes from etcd (compared) or from the JSON decoder (not compared).
const BAD: &[(&str, bool)] = &[
    ("xx", false),
    (r#"{"key":"Zm9v""#, false),
    (r#"{"key":5}"#, false),
    (r#"{"key":"Zm9v","limit":"abc"}"#, false),
    (r#"{"key":"Zm9v","limit":1.5}"#, false),
    (r#"{"key":"!!"}"#, false),
    ("[1]", false),
    (r#"{"key":"Zm9v","sort_order":"NOPE"}"#, false),
    ("null", true),
    (r#"{"key":null}"#, true),
    (r#"{"key":"Zm9v","limit":null,"unknown":{"a":[1]}}"#, true),
];

fn bad_input(server: &Server) -> Vec<String> {
    let mut seen = Vec::new();
    let parsed = |path: &str, body: &str, keep_text: bool| -> String {
        let reply = http_exchange(&server.client_url, "POST", path, &[], body);
        let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
        let text = if keep_text {
            json["message"].to_string()
        } else {
            "…".to_owned()
        };
        format!("{} code {} {text}", reply.status, json["code"])
    };
    for (body, keep_text) in BAD {
        seen.push(format!(
            "{body} -> {}",
            parsed("/v3/kv/range", body, *keep_text)
        ));
    }
    // Above the request limit (1.5 MiB, 2 MiB with gRPC's allowance): etcd's gRPC limit answers.
    let value = "eHh4".repeat(2 << 18);
    let big = format!(r#"{{"key":"Zm9v","value":"{value}"}}"#);
    let reply = http_exchange(&server.client_url, "POST", "/v3/kv/put", &[], &big);
    seen.push(format!(
        "2 MiB put -> {} {}",
        reply.status,
        masked(&reply.body)
    ));
    let huge = format!(r#"{{"key":"Zm9v","value":"{}"}}"#, value.repeat(10));
    seen.push(format!(
        "20 MiB put -> {}",
        parsed("/v3/kv/put", &huge, false)
    ));
    seen
}

/// etcd 3.4.23's answers, except where 3.5.1 answers differently (the one followed then): a watch refused for
/// a token that is not valid says so in 3.4 and says "permission denied" in 3.5.
fn as_35(etcd34: Vec<String>, etcd35: &[String]) -> Vec<String> {
    etcd34
        .into_iter()
        .zip(etcd35)
        .map(|(old, new)| {
            if old.contains("Unauthenticated desc") && new.contains("PermissionDenied desc") {
                new.clone()
            } else {
                old
            }
        })
        .collect()
}

/// `run` against etcd-node, etcd 3.5.1 and etcd 3.4.23 (as 3.5 answers where they differ): the differences.
fn against_etcds(run: fn(&Server) -> Vec<String>) -> Vec<String> {
    let ours = Server::start(Flavor::EtcdNode);
    let etcd35 = Server::start(Flavor::Etcd35);
    let etcd34 = Server::start(Flavor::Etcd);
    let seen = run(&ours);
    let (expected, also) = (run(&etcd35), run(&etcd34));
    let mut diffs = common::differences(&seen, &expected, "etcd 3.5.1");
    diffs.extend(common::differences(
        &seen,
        &as_35(also, &expected),
        "etcd 3.4.23",
    ));
    diffs
}

#[test]
fn gateway_streams_answer_as_etcd() {
    let diffs = against_etcds(streams);
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
}

#[test]
fn gateway_refuses_bad_input_as_etcd() {
    let diffs = against_etcds(bad_input);
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
}
