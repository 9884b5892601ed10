//! `/metrics` in Prometheus's text format (version 0.0.4): each family's `# HELP` and `# TYPE`, then its
//! samples, label values escaped as the format asks.

use std::fmt::Write as _;

use etcd_api::metrics::{MetricFamily, SampleValue};

/// The content type of [`write`]'s text.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `families` as Prometheus text.
pub(crate) fn write(families: &[MetricFamily]) -> String {
    let mut out = String::with_capacity(families.len() * 160);
    for family in families {
        let name = &family.name;
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
        let _ = writeln!(out, "# TYPE {name} {}", family.kind.name());
        for sample in &family.samples {
            out.push_str(name);
            out.push_str(sample.suffix);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (label, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{label}=\"{}\"", escape_label(value));
                }
                out.push('}');
            }
            let _ = match sample.value {
                SampleValue::Int(v) => writeln!(out, " {v}"),
                SampleValue::Float(v) => writeln!(out, " {v}"),
            };
        }
    }
    out
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_api::metrics::{MetricKind, Sample};

    #[test]
    fn families_are_written_as_prometheus_text() {
        let families = [
            MetricFamily::single("up", "Whether it is up.", MetricKind::Gauge, 1),
            MetricFamily {
                name: "calls_total".into(),
                help: "Calls.".into(),
                kind: MetricKind::Counter,
                samples: vec![Sample {
                    suffix: "",
                    labels: vec![("method", "Put".into()), ("why", "a \"quote\"".into())],
                    value: SampleValue::Int(3),
                }],
            },
            MetricFamily::histogram(
                "wait_seconds",
                "Waits.",
                [("0.001".to_owned(), 1), ("0.002".to_owned(), 2)],
                SampleValue::Float(0.0025),
                3,
            ),
        ];
        assert_eq!(
            write(&families),
            "# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n\
             # HELP calls_total Calls.\n# TYPE calls_total counter\n\
             calls_total{method=\"Put\",why=\"a \\\"quote\\\"\"} 3\n\
             # HELP wait_seconds Waits.\n# TYPE wait_seconds histogram\n\
             wait_seconds_bucket{le=\"0.001\"} 1\nwait_seconds_bucket{le=\"0.002\"} 2\n\
             wait_seconds_bucket{le=\"+Inf\"} 3\nwait_seconds_sum 0.0025\nwait_seconds_count 3\n"
        );
    }
}
