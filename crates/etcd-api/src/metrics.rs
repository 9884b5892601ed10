//! Metrics as data: the member and the layers above it report [`MetricFamily`]s, and the HTTP layer writes them
//! in Prometheus's text format for `/metrics` (version 0.0.4, as etcd serves them).

/// What kind of metric a family is (its `# TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in cumulative buckets, with their sum and count.
    Histogram,
}

impl MetricKind {
    /// The name in `# TYPE`.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleValue {
    /// A count.
    Int(u64),
    /// A measure (seconds, a sum of them).
    Float(f64),
}

/// One line of a family: the family's name with `suffix` (`_bucket`, `_sum`, `_count`, or nothing), its labels
/// in order, its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Appended to the family's name.
    pub suffix: &'static str,
    /// (name, value), in the order written.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: SampleValue,
}

/// One metric with its help text and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The metric's name (`etcd_server_has_leader`).
    pub name: String,
    /// Its `# HELP` text.
    pub help: String,
    /// Its `# TYPE`.
    pub kind: MetricKind,
    /// Its samples.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// A family of one sample without labels.
    pub fn single(name: &str, help: &str, kind: MetricKind, value: u64) -> MetricFamily {
        MetricFamily {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            samples: vec![Sample {
                suffix: "",
                labels: Vec::new(),
                value: SampleValue::Int(value),
            }],
        }
    }

    /// A histogram: `buckets` as (upper bound as written, observations at or below it, cumulative), then the
    /// `+Inf` bucket and the count (`count`), and the sum.
    pub fn histogram(
        name: &str,
        help: &str,
        buckets: impl IntoIterator<Item = (String, u64)>,
        sum: SampleValue,
        count: u64,
    ) -> MetricFamily {
        let bucket = |le: String, n: u64| Sample {
            suffix: "_bucket",
            labels: vec![("le", le)],
            value: SampleValue::Int(n),
        };
        let mut samples: Vec<Sample> = buckets.into_iter().map(|(le, n)| bucket(le, n)).collect();
        samples.push(bucket("+Inf".to_owned(), count));
        samples.push(Sample {
            suffix: "_sum",
            labels: Vec::new(),
            value: sum,
        });
        samples.push(Sample {
            suffix: "_count",
            labels: Vec::new(),
            value: SampleValue::Int(count),
        });
        MetricFamily {
            name: name.to_owned(),
            help: help.to_owned(),
            kind: MetricKind::Histogram,
            samples,
        }
    }
}
