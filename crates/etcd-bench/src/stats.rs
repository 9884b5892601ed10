//! What a round measured: requests, errors, and the latency distribution.

use std::time::Duration;

/// One round against one target.
#[derive(Debug, Default, Clone)]
pub struct RoundStats {
    /// Successful requests (or delivered events, for watches).
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// Wall time of the round.
    pub elapsed: Duration,
    /// Latency of each successful request, in microseconds.
    pub latencies_us: Vec<u32>,
}

impl RoundStats {
    /// Adds another round (or another thread's share of this one).
    pub fn merge(&mut self, other: RoundStats) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed = self.elapsed.max(other.elapsed);
        self.latencies_us.extend(other.latencies_us);
    }

    /// Requests per second.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs == 0.0 {
            0.0
        } else {
            self.ok as f64 / secs
        }
    }

    /// The `p`th percentile latency in milliseconds (nearest rank); needs `sort` first.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.latencies_us.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.latencies_us.len()) - 1;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    /// Sorts the latencies for [`RoundStats::percentile_ms`].
    pub fn sort(&mut self) {
        self.latencies_us.sort_unstable();
    }

    /// One line: throughput, p50/p90/p99/max, errors.
    pub fn summary(&self) -> String {
        format!(
            "{:>9.0} req/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  errors {}",
            self.throughput(),
            self.percentile_ms(50.0),
            self.percentile_ms(90.0),
            self.percentile_ms(99.0),
            self.percentile_ms(100.0),
            self.errors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut s = RoundStats {
            ok: 100,
            elapsed: Duration::from_secs(2),
            latencies_us: (1..=100).rev().map(|x| x * 1000).collect(),
            ..RoundStats::default()
        };
        s.sort();
        assert_eq!(s.percentile_ms(50.0), 50.0);
        assert_eq!(s.percentile_ms(99.0), 99.0);
        assert_eq!(s.percentile_ms(100.0), 100.0);
        assert_eq!(s.throughput(), 50.0);
    }
}
