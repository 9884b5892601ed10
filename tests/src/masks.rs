//! Comparing etcd-node's answers with a reference's: what is masked because it differs between any two
//! clusters (IDs, terms), what is read as etcd 3.5 writes it, and the list of steps that still differ.

/// Masks what differs between any two clusters in etcdctl v3 output: member and cluster IDs, raft terms (and
/// etcdctl 3.4's JSON retry log lines).
pub fn mask_cluster_ids(output: &str) -> String {
    let mut out = String::with_capacity(output.len());
    for line in output.lines() {
        // etcdctl 3.4 logs its retries as JSON with a timestamp; what it then prints as `Error:` is compared.
        if line.starts_with("{\"level\":") {
            continue;
        }
        let mut line = line.to_owned();
        for key in ["cluster_id", "member_id", "raft_term"] {
            line = mask_number(&line, &format!("\"{key}\":"));
        }
        for key in ["ClusterID", "MemberID", "RaftTerm"] {
            line = mask_number(&line, &format!("\"{key}\" : "));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `line` with each word that is a hex ID of 10 digits or more (as etcdctl prints member and cluster IDs) replaced
/// by `ID`, and runs of spaces made one (etcdctl pads IDs with `%16x`).
pub fn mask_hex_ids(line: &str) -> String {
    line.split_whitespace()
        .map(|w| {
            let bare = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            if bare.len() >= 10 && bare.chars().all(|c| c.is_ascii_hexdigit()) {
                w.replace(bare, "ID")
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `line` with the digits after each `prefix` replaced by `N`.
pub fn mask_number(line: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(prefix) {
        let after = at + prefix.len();
        out.push_str(&rest[..after]);
        out.push('N');
        rest = rest[after..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// A JSON gateway answer of etcd 3.4.23 as etcd 3.5.1 writes it: grpc-gateway 1.9 orders an error's fields
/// `{"error","message","code"}` (1.16: `{"error","code","message"}`) and gives FailedPrecondition (code 9) HTTP
/// status 412 (1.16: 400). Everything else is compared as it is.
pub fn gateway_as_35(text: &str) -> String {
    let mut text = text.to_owned();
    if let Some((head, code)) = text.rsplit_once(",\"code\":")
        && let Some((error, message)) = head.split_once(",\"message\":")
        && code.ends_with('}')
    {
        let code = code.trim_end_matches('}');
        text = format!("{error},\"code\":{code},\"message\":{message}}}");
    }
    if text.contains("\"code\":9,") {
        text = text.replacen(" 412 ", " 400 ", 1);
    }
    text
}

/// Every step where `seen` (etcd-node's) and `expected` (`reference`'s) differ, each as both lines.
pub fn differences(seen: &[String], expected: &[String], reference: &str) -> Vec<String> {
    let mut out = Vec::new();
    if seen.len() != expected.len() {
        out.push(format!(
            "{} steps vs {} for {reference}",
            seen.len(),
            expected.len()
        ));
    }
    for (a, b) in seen.iter().zip(expected) {
        if a != b {
            out.push(format!("etcd-node:\n  {a}\n{reference}:\n  {b}"));
        }
    }
    out
}
