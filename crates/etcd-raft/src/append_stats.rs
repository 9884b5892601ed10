//! Append-message counts and per-follower replication latency: the figures etcd shows in `/v2/stats/self`
//! (`sendAppendRequestCnt`, `recvAppendRequestCnt`) and `/v2/stats/leader` (per follower: latency and
//! success/fail counts).
//!
//! A follower's latency is the time from the leader sending an append to the follower acknowledging the index
//! it carried: the replication round trip. An append counts as a success when it is acknowledged and as a
//! failure when the transport could not carry it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raft::eraftpb::{Message, MessageType};

/// Appends awaiting acknowledgement, per follower; older ones are forgotten past this.
const IN_FLIGHT_LIMIT: usize = 4096;
/// Appends a rate is computed over (etcd's stats queue capacity).
const RATE_WINDOW: usize = 200;
/// A rate is zero when the latest append is older than this, as in etcd.
const RATE_STALE: Duration = Duration::from_secs(1);

/// Append counts of this member and, while it leads, of each follower.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendStats {
    /// Append messages this member sent (as leader).
    pub sent: u64,
    /// Append messages this member received (as follower).
    pub received: u64,
    /// Over the latest appends sent, if the newest is under a second old.
    pub send_rate: Option<Rate>,
    /// Over the latest appends received, if the newest is under a second old.
    pub receive_rate: Option<Rate>,
    /// Per follower, since this member last became leader; empty when it does not lead.
    pub followers: BTreeMap<u64, FollowerStats>,
}

/// How replication to one follower goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowerStats {
    /// Appends the follower acknowledged.
    pub success: u64,
    /// Appends the transport could not deliver.
    pub fail: u64,
    /// Round trips of acknowledged appends.
    pub latency: Latency,
}

/// Round-trip statistics, in milliseconds as etcd reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    /// The latest round trip.
    pub current: f64,
    /// The shortest.
    pub minimum: f64,
    /// The longest.
    pub maximum: f64,
    sum: f64,
    sum_of_squares: f64,
    count: u64,
}

impl Latency {
    fn observe(&mut self, millis: f64) {
        if self.count == 0 || millis < self.minimum {
            self.minimum = millis;
        }
        if millis > self.maximum {
            self.maximum = millis;
        }
        self.current = millis;
        self.sum += millis;
        self.sum_of_squares += millis * millis;
        self.count += 1;
    }

    /// The mean round trip.
    pub fn average(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The population standard deviation of the round trips.
    pub fn standard_deviation(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let mean = self.average();
        (self.sum_of_squares / self.count as f64 - mean * mean)
            .max(0.0)
            .sqrt()
    }
}

/// Appends per second and bytes per second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    /// Append messages per second.
    pub packets: f64,
    /// Bytes of append messages per second.
    pub bytes: f64,
}

/// The latest appends: (when, encoded size).
#[derive(Debug, Default)]
struct RateWindow(VecDeque<(Instant, usize)>);

impl RateWindow {
    fn record(&mut self, size: usize) {
        if self.0.len() == RATE_WINDOW {
            self.0.pop_front();
        }
        self.0.push_back((Instant::now(), size));
    }

    fn rate(&self) -> Option<Rate> {
        let (first, _) = self.0.front()?;
        let (last, _) = self.0.back()?;
        if last.elapsed() > RATE_STALE {
            return None;
        }
        let seconds = last.duration_since(*first).as_secs_f64();
        if seconds == 0.0 {
            return None;
        }
        let bytes: usize = self.0.iter().map(|(_, size)| size).sum();
        Some(Rate {
            packets: self.0.len() as f64 / seconds,
            bytes: bytes as f64 / seconds,
        })
    }
}

#[derive(Debug, Default)]
struct Shared {
    stats: AppendStats,
    sent: RateWindow,
    received: RateWindow,
}

/// Kept by the raft loop; readers get copies through [`AppendStatsReader`].
#[derive(Debug, Default)]
pub(crate) struct AppendTracker {
    shared: Arc<Mutex<Shared>>,
    /// Per follower: (last index carried, when sent) of unacknowledged appends, oldest first.
    in_flight: HashMap<u64, VecDeque<(u64, Instant)>>,
}

/// Reads the figures the raft loop keeps.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppendStatsReader(Arc<Mutex<Shared>>);

impl AppendStatsReader {
    pub(crate) fn read(&self) -> AppendStats {
        let shared = self.0.lock().unwrap_or_else(|p| p.into_inner());
        AppendStats {
            send_rate: shared.sent.rate(),
            receive_rate: shared.received.rate(),
            ..shared.stats.clone()
        }
    }
}

impl AppendTracker {
    pub(crate) fn reader(&self) -> AppendStatsReader {
        AppendStatsReader(self.shared.clone())
    }

    fn with<T>(&self, f: impl FnOnce(&mut AppendStats) -> T) -> T {
        f(&mut self.shared.lock().unwrap_or_else(|p| p.into_inner()).stats)
    }

    /// A message of `size` encoded bytes leaves for a peer; `delivered` says whether the transport took it.
    pub(crate) fn on_send(&mut self, m: &Message, size: usize, delivered: bool) {
        if m.msg_type != MessageType::MsgAppend {
            return;
        }
        let last = m.entries.last().map_or(m.index, |e| e.index);
        if delivered {
            let queue = self.in_flight.entry(m.to).or_default();
            if queue.len() == IN_FLIGHT_LIMIT {
                queue.pop_front();
            }
            queue.push_back((last, Instant::now()));
        }
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.stats.sent += 1;
        shared.sent.record(size);
        if !delivered {
            shared.stats.followers.entry(m.to).or_default().fail += 1;
        }
    }

    /// A message of `size` encoded bytes arrives from a peer.
    pub(crate) fn on_receive(&mut self, m: &Message, size: usize) {
        match m.msg_type {
            MessageType::MsgAppend => {
                let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
                shared.stats.received += 1;
                shared.received.record(size);
            }
            MessageType::MsgAppendResponse if !m.reject => {
                let Some(queue) = self.in_flight.get_mut(&m.from) else {
                    return;
                };
                let now = Instant::now();
                let mut acknowledged = Vec::new();
                while queue.front().is_some_and(|(index, _)| *index <= m.index) {
                    if let Some((_, sent)) = queue.pop_front() {
                        acknowledged.push(now.duration_since(sent).as_secs_f64() * 1000.0);
                    }
                }
                if acknowledged.is_empty() {
                    return;
                }
                self.with(|s| {
                    let follower = s.followers.entry(m.from).or_default();
                    for millis in acknowledged {
                        follower.success += 1;
                        follower.latency.observe(millis);
                    }
                });
            }
            _ => {}
        }
    }

    /// The transport reported `peer` unreachable after taking a message for it.
    pub(crate) fn on_unreachable(&mut self, peer: u64) {
        if self.in_flight.contains_key(&peer) {
            self.with(|s| s.followers.entry(peer).or_default().fail += 1);
        }
    }

    /// Leadership changed: follower figures describe one leadership only.
    pub(crate) fn on_leadership_change(&mut self) {
        self.in_flight.clear();
        self.with(|s| s.followers.clear());
    }

    /// `peer` left the cluster.
    pub(crate) fn forget(&mut self, peer: u64) {
        self.in_flight.remove(&peer);
        self.with(|s| s.followers.remove(&peer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::Entry;

    fn append(to: u64, last: u64) -> Message {
        let mut m = Message::default();
        m.msg_type = MessageType::MsgAppend;
        m.to = to;
        m.index = last.saturating_sub(1);
        let mut e = Entry::default();
        e.index = last;
        m.entries = vec![e].into();
        m
    }

    fn response(from: u64, index: u64, reject: bool) -> Message {
        let mut m = Message::default();
        m.msg_type = MessageType::MsgAppendResponse;
        m.from = from;
        m.index = index;
        m.reject = reject;
        m
    }

    #[test]
    fn acknowledged_appends_count_and_time_refused_ones_fail() {
        let mut tracker = AppendTracker::default();
        let reader = tracker.reader();
        tracker.on_send(&append(2, 5), 10, true);
        tracker.on_send(&append(2, 6), 10, true);
        tracker.on_send(&append(3, 6), 10, false);
        tracker.on_receive(&response(2, 5, true), 10);
        assert_eq!(reader.read().followers.get(&2), None);
        tracker.on_receive(&response(2, 6, false), 10);
        let stats = reader.read();
        assert_eq!(stats.sent, 3);
        let two = &stats.followers[&2];
        assert_eq!((two.success, two.fail, two.latency.count), (2, 0, 2));
        assert!(two.latency.minimum <= two.latency.maximum);
        assert!(two.latency.standard_deviation() >= 0.0);
        assert_eq!(stats.followers[&3].fail, 1);
        // A duplicate acknowledgement counts nothing more.
        tracker.on_receive(&response(2, 6, false), 10);
        assert_eq!(reader.read().followers[&2].success, 2);
        tracker.on_leadership_change();
        assert!(reader.read().followers.is_empty());
        assert_eq!(reader.read().sent, 3);
    }

    #[test]
    fn received_appends_are_counted() {
        let mut tracker = AppendTracker::default();
        tracker.on_receive(&append(1, 3), 100);
        std::thread::sleep(Duration::from_millis(2));
        tracker.on_receive(&append(1, 4), 100);
        let stats = tracker.reader().read();
        assert_eq!(stats.received, 2);
        let rate = stats.receive_rate.expect("recent appends have a rate");
        assert!(rate.packets > 0.0, "{rate:?}");
        // Two appends of 100 bytes each: bytes per second are 100 × appends per second (up to rounding).
        assert!(
            (rate.bytes - rate.packets * 100.0).abs() <= rate.bytes * 1e-9,
            "{rate:?}"
        );
        assert_eq!(stats.send_rate, None);
    }

    #[test]
    fn latency_statistics_follow_the_definitions() {
        let mut l = Latency::default();
        for x in [1.0, 3.0] {
            l.observe(x);
        }
        assert_eq!((l.current, l.minimum, l.maximum), (3.0, 1.0, 3.0));
        assert_eq!(l.average(), 2.0);
        assert_eq!(l.standard_deviation(), 1.0);
    }
}
