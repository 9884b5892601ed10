//! etcd's lessor (its `lease` package): leases with a granted TTL, the keys attached to them, and the
//! remaining time of each, kept so that a leader change or a restart neither expires a lease early nor gives it
//! back its whole TTL.
//!
//! The lessor is a deterministic state machine like the stores: no clock, no thread, no I/O. Time enters as
//! arguments (`now`, a monotonic instant of the calling member). Everything that changes the persisted state
//! ([`Lessor::grant`], [`Lessor::revoke`], [`Lessor::renew`], [`Lessor::checkpoint`], [`Lessor::expire`],
//! [`Lessor::attach`]) is called only from the raft apply loop, in log order, on every member; the leader alone
//! asks which leases are due ([`Lessor::expired`]) and proposes their expiry through raft.
//!
//! # How remaining time is kept
//! Each lease holds its remaining time as of an *anchor*: the local instant its last grant, renewal or checkpoint
//! was applied on this member. Because a keepalive is a raft entry (a renewal) applied on every member, any
//! member's view of the deadline (`anchor + remaining`) is at or after the leader's: the entry is applied after
//! the leader decided it. The leader checkpoints every lease's remaining time through raft now and then
//! ([`Lessor::checkpoints`]), which is what a restarted member starts from.
//!
//! The guarantees (see also `ARCHITECTURE.md`):
//! - a lease never expires before `TTL` has passed since its last acknowledged keepalive (or its grant), as
//!   measured by any member's clock: acknowledged keepalives are committed on a quorum, and a new leader's
//!   deadline is its own view, at or after the old leader's;
//! - an expiry is a raft entry that names the lease's renewal count: applied after a renewal it is ignored, so a
//!   stale or partitioned leader can never revoke a lease that a keepalive saved;
//! - after a leader change a lease keeps its remaining time (plus, at most, one election timeout of grace so
//!   clients can reach the new leader); after a restart of the whole cluster, it resumes from its last
//!   checkpoint (time with no member running is not counted).
//!
//! # Record format (version 1), table `lease` of the v3 backend
//! key: the lease ID as 8 big-endian bytes (etcd's bucket key); value: `1` (format) | granted TTL seconds: i64 BE
//! | remaining milliseconds at the last change: i64 BE | renewal count: u64 BE (25 bytes).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use etcd_lease::Lessor;
//!
//! let t0 = Instant::now();
//! let mut lessor = Lessor::new(2);
//! lessor.grant(7, 10, t0).unwrap();
//! lessor.attach(b"svc/a", 7);
//! assert_eq!(lessor.time_to_live(7, t0 + Duration::from_secs(4)).unwrap().remaining, 6);
//! lessor.promote(t0, Duration::ZERO);
//! assert!(lessor.expired(t0 + Duration::from_secs(11), 100).iter().any(|due| due.id == 7));
//! assert_eq!(lessor.revoke(7).unwrap(), vec![b"svc/a".to_vec()]);
//! ```

mod lessor;
mod record;

pub use crate::{
    lessor::{Checkpoint, Due, LeaseError, Lessor, MAX_LEASE_TTL, TimeToLive},
    record::{LEASE_TABLE, RECORD_FORMAT, Record, RecordError},
};
