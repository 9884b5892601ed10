//! The lessor: every lease, its deadline on this member, and the keys attached to it.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::record::Record;

/// etcd's largest TTL a lease may be granted with, in seconds.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// Why a lease operation was refused; each displays as etcd's exact text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// No lease has this ID.
    #[error("etcdserver: requested lease not found")]
    NotFound,
    /// A grant named an ID in use.
    #[error("etcdserver: lease already exists")]
    Exists,
    /// A grant asked for more than [`MAX_LEASE_TTL`].
    #[error("etcdserver: too large lease TTL")]
    TtlTooLarge,
}

#[derive(Debug, Clone)]
struct Lease {
    ttl: i64,
    /// The remaining time the log last set (grant, renewal, checkpoint): persisted, the same on every member.
    remaining_ms: i64,
    renewals: u64,
    /// When the lease runs out by this member's clock.
    deadline: Instant,
    keys: BTreeSet<Vec<u8>>,
}

/// A lease's remaining time, as `LeaseTimeToLive` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeToLive {
    /// The TTL it was granted with, seconds.
    pub granted: i64,
    /// Whole seconds left (0 once run out and not yet revoked).
    pub remaining: i64,
    /// The attached keys, sorted.
    pub keys: Vec<Vec<u8>>,
}

/// A lease that has run out, as the leader proposes its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The lease.
    pub id: i64,
    /// Its renewal count when found due: the expiry is void if a renewal is applied first.
    pub renewals: u64,
}

/// A lease's remaining time as the leader checkpoints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The lease.
    pub id: i64,
    /// Milliseconds left.
    pub remaining_ms: i64,
    /// Its renewal count: the checkpoint is void if a renewal is applied first.
    pub renewals: u64,
}

/// Every lease of one member; see the crate documentation.
#[derive(Debug, Clone, Default)]
pub struct Lessor {
    leases: HashMap<i64, Lease>,
    /// Each attached key's lease.
    owners: HashMap<Vec<u8>, i64>,
    min_ttl: i64,
}

/// `now + ms`, saturating far in the future (a TTL of 9e9 s fits, but stay safe on odd clocks).
fn after(now: Instant, ms: i64) -> Instant {
    let d = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(1 << 33)))
        .unwrap_or(now)
}

fn millis_until(deadline: Instant, now: Instant) -> i64 {
    i64::try_from(deadline.saturating_duration_since(now).as_millis()).unwrap_or(i64::MAX)
}

impl Lessor {
    /// An empty lessor granting at least `min_ttl` seconds (etcd derives it from the election timeout).
    pub fn new(min_ttl: i64) -> Self {
        Self {
            min_ttl: min_ttl.max(1),
            ..Self::default()
        }
    }

    /// Rebuilds the lessor from persisted records and the keys that name a lease (a restart or a snapshot);
    /// deadlines start at `now`. Keys naming a lease that does not exist are not attached.
    pub fn restore(
        min_ttl: i64,
        records: impl IntoIterator<Item = Record>,
        keys: impl IntoIterator<Item = (Vec<u8>, i64)>,
        now: Instant,
    ) -> Self {
        let mut lessor = Self::new(min_ttl);
        for r in records {
            lessor.leases.insert(
                r.id,
                Lease {
                    ttl: r.ttl,
                    remaining_ms: r.remaining_ms,
                    renewals: r.renewals,
                    deadline: after(now, r.remaining_ms),
                    keys: BTreeSet::new(),
                },
            );
        }
        for (key, id) in keys {
            lessor.attach(&key, id);
        }
        lessor
    }

    /// The smallest TTL granted.
    pub fn min_ttl(&self) -> i64 {
        self.min_ttl
    }

    /// Grants lease `id` (non-zero: the server picks IDs) for `ttl` seconds, raised to the minimum TTL;
    /// answers its record.
    pub fn grant(&mut self, id: i64, ttl: i64, now: Instant) -> Result<Record, LeaseError> {
        if ttl > MAX_LEASE_TTL {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::Exists);
        }
        let ttl = ttl.max(self.min_ttl);
        let remaining_ms = ttl.saturating_mul(1000);
        self.leases.insert(
            id,
            Lease {
                ttl,
                remaining_ms,
                renewals: 0,
                deadline: after(now, remaining_ms),
                keys: BTreeSet::new(),
            },
        );
        Ok(self.record(id).unwrap_or(Record {
            id,
            ttl,
            remaining_ms,
            renewals: 0,
        }))
    }

    /// Removes lease `id`; answers its keys, sorted (the caller deletes them in one revision).
    pub fn revoke(&mut self, id: i64) -> Result<Vec<Vec<u8>>, LeaseError> {
        let lease = self.leases.remove(&id).ok_or(LeaseError::NotFound)?;
        for key in &lease.keys {
            self.owners.remove(key);
        }
        Ok(lease.keys.into_iter().collect())
    }

    /// Applies a leader's expiry: revokes the lease unless a renewal was applied since it was found due.
    pub fn expire(&mut self, due: Due) -> Option<Vec<Vec<u8>>> {
        match self.leases.get(&due.id) {
            Some(lease) if lease.renewals == due.renewals => self.revoke(due.id).ok(),
            _ => None,
        }
    }

    /// Applies a keepalive: the lease has its whole TTL again from `now`; answers the granted TTL.
    pub fn renew(&mut self, id: i64, now: Instant) -> Result<i64, LeaseError> {
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::NotFound)?;
        lease.renewals += 1;
        lease.remaining_ms = lease.ttl.saturating_mul(1000);
        lease.deadline = after(now, lease.remaining_ms);
        Ok(lease.ttl)
    }

    /// Applies a leader's checkpoint; answers whether it changed the lease (void after a renewal). The
    /// deadline only ever moves earlier here: this member's own view may already be the tighter one.
    pub fn checkpoint(&mut self, cp: Checkpoint, now: Instant) -> bool {
        match self.leases.get_mut(&cp.id) {
            Some(lease) if lease.renewals == cp.renewals => {
                lease.remaining_ms = cp.remaining_ms.max(0);
                lease.deadline = lease.deadline.min(after(now, lease.remaining_ms));
                true
            }
            _ => false,
        }
    }

    /// Attaches `key` to lease `id` (`0`: to none), leaving the lease it had. A lease that does not exist
    /// leaves the key unattached (the stores check leases before they write).
    pub fn attach(&mut self, key: &[u8], id: i64) {
        if let Some(old) = self.owners.remove(key)
            && let Some(lease) = self.leases.get_mut(&old)
        {
            lease.keys.remove(key);
        }
        if id != 0
            && let Some(lease) = self.leases.get_mut(&id)
        {
            lease.keys.insert(key.to_vec());
            self.owners.insert(key.to_vec(), id);
        }
    }

    /// Whether lease `id` exists.
    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// Whether lease `id` has run out by this member's clock (or does not exist).
    pub fn has_run_out(&self, id: i64, now: Instant) -> bool {
        self.leases.get(&id).is_none_or(|l| l.deadline <= now)
    }

    /// Lease `id`'s persisted state.
    pub fn record(&self, id: i64) -> Option<Record> {
        self.leases.get(&id).map(|l| Record {
            id,
            ttl: l.ttl,
            remaining_ms: l.remaining_ms,
            renewals: l.renewals,
        })
    }

    /// The keys attached to lease `id` (none when it does not exist).
    pub fn keys(&self, id: i64) -> Vec<Vec<u8>> {
        self.leases
            .get(&id)
            .map(|l| l.keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Lease `id`'s remaining time by this member's clock.
    pub fn time_to_live(&self, id: i64, now: Instant) -> Option<TimeToLive> {
        self.leases.get(&id).map(|l| TimeToLive {
            granted: l.ttl,
            remaining: millis_until(l.deadline, now) / 1000,
            keys: l.keys.iter().cloned().collect(),
        })
    }

    /// Every lease ID, the soonest to run out first (ties by ID): the order etcd 3.5 lists leases in.
    pub fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<(Instant, i64)> = self
            .leases
            .iter()
            .map(|(&id, l)| (l.deadline, id))
            .collect();
        ids.sort_unstable();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// How many leases exist.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// Whether no lease exists.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Called when this member becomes leader: a lease that would run out within `grace` (capped at its TTL)
    /// gets that long, so its clients can find the new leader before it expires.
    pub fn promote(&mut self, now: Instant, grace: Duration) {
        for lease in self.leases.values_mut() {
            let ttl = Duration::from_secs(u64::try_from(lease.ttl).unwrap_or(0));
            let floor = now.checked_add(grace.min(ttl)).unwrap_or(now);
            lease.deadline = lease.deadline.max(floor);
        }
    }

    /// Leases run out by `now`, earliest first, at most `max`.
    pub fn expired(&self, now: Instant, max: usize) -> Vec<Due> {
        let mut due: Vec<(Instant, Due)> = self
            .leases
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(&id, l)| {
                (
                    l.deadline,
                    Due {
                        id,
                        renewals: l.renewals,
                    },
                )
            })
            .collect();
        due.sort_by_key(|(deadline, d)| (*deadline, d.id));
        due.into_iter().take(max).map(|(_, d)| d).collect()
    }

    /// The remaining time of every lease not run out, for the leader to checkpoint.
    pub fn checkpoints(&self, now: Instant) -> Vec<Checkpoint> {
        let mut out: Vec<Checkpoint> = self
            .leases
            .iter()
            .filter(|(_, l)| l.deadline > now)
            .map(|(&id, l)| Checkpoint {
                id,
                // Rounded up: a checkpoint never shortens a lease.
                remaining_ms: millis_until(l.deadline, now) + 1,
                renewals: l.renewals,
            })
            .collect();
        out.sort_by_key(|c| c.id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn grants_follow_etcds_rules() {
        let t = Instant::now();
        let mut l = Lessor::new(2);
        assert_eq!(
            l.grant(1, 1, t).map(|r| r.ttl),
            Ok(2),
            "raised to the minimum"
        );
        assert_eq!(l.grant(2, -5, t).map(|r| r.ttl), Ok(2));
        assert_eq!(l.grant(1, 10, t), Err(LeaseError::Exists));
        assert_eq!(
            l.grant(3, MAX_LEASE_TTL + 1, t),
            Err(LeaseError::TtlTooLarge)
        );
        assert_eq!(
            l.grant(4, MAX_LEASE_TTL, t).map(|r| r.ttl),
            Ok(MAX_LEASE_TTL)
        );
        assert_eq!(l.ids(), vec![1, 2, 4], "soonest to run out first");
        l.renew(1, t + secs(1)).expect("renew");
        assert_eq!(l.ids(), vec![2, 1, 4]);
    }

    #[test]
    fn keys_move_between_leases_and_go_with_a_revoke() {
        let t = Instant::now();
        let mut l = Lessor::new(1);
        l.grant(1, 10, t).expect("grant");
        l.grant(2, 10, t).expect("grant");
        l.attach(b"b", 1);
        l.attach(b"a", 1);
        l.attach(b"c", 1);
        l.attach(b"c", 2);
        l.attach(b"a", 0);
        assert_eq!(
            l.time_to_live(1, t).map(|x| x.keys),
            Some(vec![b"b".to_vec()])
        );
        assert_eq!(l.revoke(2), Ok(vec![b"c".to_vec()]));
        assert_eq!(l.revoke(2), Err(LeaseError::NotFound));
        l.attach(b"z", 99);
        assert_eq!(l.revoke(1), Ok(vec![b"b".to_vec()]));
    }

    #[test]
    fn an_expiry_applied_after_a_renewal_is_void() {
        let t = Instant::now();
        let mut l = Lessor::new(1);
        l.grant(1, 5, t).expect("grant");
        let due = l.expired(t + secs(6), 10);
        assert_eq!(due, vec![Due { id: 1, renewals: 0 }]);
        assert_eq!(l.renew(1, t + secs(6)), Ok(5));
        assert_eq!(l.expire(due[0]), None, "the renewal saved it");
        assert!(l.contains(1));
        let due = l.expired(t + secs(12), 10);
        assert_eq!(l.expire(due[0]), Some(vec![]));
        assert!(!l.contains(1));
    }

    #[test]
    fn checkpoints_carry_remaining_time_across_a_restart() {
        let t = Instant::now();
        let mut leader = Lessor::new(1);
        leader.grant(1, 100, t).expect("grant");
        let cps = leader.checkpoints(t + secs(60));
        assert_eq!(cps.len(), 1);
        assert!(leader.checkpoint(cps[0], t + secs(60)));
        let rec = leader.record(1).expect("record");
        assert!((40_000..=40_001).contains(&rec.remaining_ms), "{rec:?}");
        let t2 = t + secs(1000);
        let restarted = Lessor::restore(1, [rec], [(b"k".to_vec(), 1)], t2);
        let ttl = restarted.time_to_live(1, t2).expect("lease");
        assert_eq!((ttl.granted, ttl.remaining), (100, 40));
        assert_eq!(ttl.keys, vec![b"k".to_vec()]);
    }

    #[test]
    fn a_checkpoint_older_than_a_renewal_is_void() {
        let t = Instant::now();
        let mut l = Lessor::new(1);
        l.grant(1, 100, t).expect("grant");
        let stale = l.checkpoints(t + secs(90))[0];
        l.renew(1, t + secs(91)).expect("renew");
        assert!(!l.checkpoint(stale, t + secs(91)));
        assert_eq!(
            l.time_to_live(1, t + secs(91)).map(|x| x.remaining),
            Some(100)
        );
    }

    #[test]
    fn a_new_leader_keeps_remaining_time_with_at_most_a_grace() {
        let t = Instant::now();
        let mut l = Lessor::new(1);
        l.grant(1, 30, t).expect("grant");
        l.grant(2, 30, t).expect("grant");
        l.renew(2, t + secs(27)).expect("renew");
        l.promote(t + secs(28), secs(1));
        // Lease 1 had 2 s left and keeps them; lease 2 keeps its 29 s.
        assert_eq!(
            l.time_to_live(1, t + secs(28)).map(|x| x.remaining),
            Some(2)
        );
        assert_eq!(
            l.time_to_live(2, t + secs(28)).map(|x| x.remaining),
            Some(29)
        );
        // A lease already run out gets the grace.
        l.promote(t + secs(40), secs(1));
        assert!(l.expired(t + secs(40), 10).is_empty());
        assert_eq!(l.expired(t + secs(41), 10).len(), 1);
    }
}
