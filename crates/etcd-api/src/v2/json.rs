//! etcd's JSON for v2 bodies, byte for byte: Go's `encoding/json` field order, `omitempty` rules and string
//! escaping (`<`, `>`, `&` as `\u003c` …, control characters as `\u00XX` except `\n`, `\r`, `\t`, and U+2028 /
//! U+2029 escaped), and times in Go's RFC 3339 with nanoseconds, trailing zeros dropped.
//!
//! These functions produce the body without the trailing newline that etcd's `json.Encoder` adds.

use std::fmt::Write;

use super::{Error, Event, NodeView};

impl Event {
    /// The event as etcd sends it: `{"action":..,"node":{..},"prevNode":{..}}`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push_str("{\"action\":");
        write_string(&mut out, self.action.as_str());
        out.push_str(",\"node\":");
        self.node.write_json(&mut out);
        if let Some(prev) = &self.prev_node {
            out.push_str(",\"prevNode\":");
            prev.write_json(&mut out);
        }
        out.push('}');
        out
    }
}

impl NodeView {
    /// Appends the node's JSON to `out`.
    pub fn write_json(&self, out: &mut String) {
        out.push('{');
        let mut first = true;
        let mut field = |out: &mut String, name: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
        };
        if !self.key.is_empty() {
            field(out, "key");
            write_string(out, &self.key);
        }
        if let Some(value) = &self.value {
            field(out, "value");
            write_string(out, value);
        }
        if self.dir {
            field(out, "dir");
            out.push_str("true");
        }
        if let Some(expiration) = self.expiration {
            field(out, "expiration");
            out.push('"');
            out.push_str(&format_time(expiration));
            out.push('"');
        }
        if self.ttl != 0 {
            field(out, "ttl");
            let _ = write!(out, "{}", self.ttl);
        }
        if let Some(nodes) = self.nodes.as_ref().filter(|n| !n.is_empty()) {
            field(out, "nodes");
            out.push('[');
            for (i, node) in nodes.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                node.write_json(out);
            }
            out.push(']');
        }
        if self.modified_index != 0 {
            field(out, "modifiedIndex");
            let _ = write!(out, "{}", self.modified_index);
        }
        if self.created_index != 0 {
            field(out, "createdIndex");
            let _ = write!(out, "{}", self.created_index);
        }
        out.push('}');
    }
}

impl Error {
    /// The error as etcd sends it: `{"errorCode":..,"message":..,"cause":..,"index":..}`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(96);
        let _ = write!(out, "{{\"errorCode\":{},\"message\":", self.code.number());
        write_string(&mut out, self.code.message());
        if !self.cause.is_empty() {
            out.push_str(",\"cause\":");
            write_string(&mut out, &self.cause);
        }
        let _ = write!(out, ",\"index\":{}}}", self.index);
        out
    }
}

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` escapes it.
pub fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of characters that need no escape are copied whole (values are mostly such runs).
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape_len = match b {
            b'"' | b'\\' | b'<' | b'>' | b'&' => 1,
            0..=0x1f => 1,
            // U+2028 and U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                3
            }
            _ => 0,
        };
        if escape_len == 0 {
            i += 1;
            continue;
        }
        out.push_str(&s[run..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0xe2 => {
                let c = if bytes.get(i + 2) == Some(&0xa8) {
                    0x2028
                } else {
                    0x2029
                };
                let _ = write!(out, "\\u{c:04x}");
            }
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        i += escape_len;
        run = i;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Appends `x` as Go's `encoding/json` writes a float64: the shortest decimal that reads back as `x`, in
/// exponent form (`1e-07`, `1e+21`) below 1e-6 and from 1e21 on. Not-a-number and infinities, which Go refuses,
/// are written as 0.
pub fn write_float(out: &mut String, x: f64) {
    if !x.is_finite() {
        out.push('0');
        return;
    }
    let abs = x.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{x:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
    } else {
        let _ = write!(out, "{x}");
    }
}

/// A Unix time in nanoseconds as Go's `time.RFC3339Nano` in UTC: `2026-11-23T19:52:23.8316862Z`.
pub fn format_time(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let nanos = unix_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// (year, month, day) of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::{Action, ErrorCode};

    #[test]
    fn floats_match_go() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (0.000801, "0.000801"),
            (0.005345999999999999, "0.005345999999999999"),
            (1e-7, "1e-07"),
            (-2.5e-9, "-2.5e-09"),
            (1e21, "1e+21"),
            (123456.5, "123456.5"),
            (f64::NAN, "0"),
        ];
        for (x, go) in cases {
            let mut out = String::new();
            write_float(&mut out, x);
            assert_eq!(out, go, "{x}");
        }
    }

    #[test]
    fn times_match_go_rfc3339nano() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_time(1_795_463_543_831_686_200),
            "2026-11-23T19:52:23.8316862Z"
        );
        assert_eq!(format_time(946_684_800_000_000_000), "2000-01-01T00:00:00Z");
        assert_eq!(
            format_time(951_782_400_500_000_000),
            "2000-02-29T00:00:00.5Z"
        );
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn strings_are_escaped_as_go_does() {
        let mut out = String::new();
        write_string(&mut out, "a\u{8}b\u{c}c\u{1}d<>&\"\\\u{2028}é\u{7f}\t\n\r");
        assert_eq!(
            out,
            "\"a\\u0008b\\u000cc\\u0001d\\u003c\\u003e\\u0026\\\"\\\\\\u2028é\u{7f}\\t\\n\\r\""
        );
    }

    #[test]
    fn events_and_errors_render_like_etcd() {
        let event = Event {
            action: Action::Set,
            node: NodeView {
                key: "/message".into(),
                value: Some("Hello etcd".into()),
                modified_index: 5,
                created_index: 5,
                ..NodeView::default()
            },
            prev_node: Some(NodeView {
                key: "/message".into(),
                value: Some("Hello world".into()),
                modified_index: 4,
                created_index: 4,
                ..NodeView::default()
            }),
            etcd_index: 5,
            refresh: false,
        };
        assert_eq!(
            event.to_json(),
            r#"{"action":"set","node":{"key":"/message","value":"Hello etcd","modifiedIndex":5,"createdIndex":5},"prevNode":{"key":"/message","value":"Hello world","modifiedIndex":4,"createdIndex":4}}"#
        );
        let root = Event {
            action: Action::Get,
            node: NodeView {
                dir: true,
                nodes: Some(Vec::new()),
                ..NodeView::default()
            },
            prev_node: None,
            etcd_index: 3,
            refresh: false,
        };
        assert_eq!(root.to_json(), r#"{"action":"get","node":{"dir":true}}"#);
        let err = Error::new(ErrorCode::KeyNotFound, "/message", 7);
        assert_eq!(
            err.to_json(),
            r#"{"errorCode":100,"message":"Key not found","cause":"/message","index":7}"#
        );
        assert_eq!(
            Error::new(ErrorCode::RaftInternal, "", 0).to_json(),
            r#"{"errorCode":300,"message":"Raft Internal Error","index":0}"#
        );
    }
}
