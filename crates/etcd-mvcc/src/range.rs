//! `RangeRequest` evaluated as etcd evaluates it, over any view of the store (a read snapshot, or a write batch
//! that sees its own changes).
//!
//! etcd's rules, kept exactly: `revision <= 0` reads the current revision, a revision above it is
//! [`Error::FutureRevision`], one below the compaction point [`Error::Compacted`]; `count` is every key in the
//! range at that revision, before the min/max revision filters and the limit; `more` says the filtered, sorted
//! list was cut by `limit`; a sort target other than KEY with order NONE sorts ascending; `keys_only` drops
//! values, `count_only` returns no key-values. Unlike etcd, only what is returned is read from the backend: a
//! limited range keeps at most `limit + 1` candidates in memory, whatever its size.

use std::cmp::Ordering;

use etcd_proto::etcdserverpb::RangeRequest;
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::mvccpb::KeyValue;

use crate::error::{Error, Result};
use crate::key_index::{KeyMeta, RangeEnd};
use crate::revision::Revision;

/// A consistent view of the store that ranges read.
pub(crate) trait View {
    /// Every key in the range that exists at main revision `at`, in key order or reversed, until `f` says stop.
    fn walk(
        &self,
        key: &[u8],
        end: RangeEnd<'_>,
        at: i64,
        reverse: bool,
        f: &mut dyn FnMut(&[u8], KeyMeta) -> bool,
    ) -> Result<()>;

    /// The key-value written at `rev`.
    fn load(&self, rev: Revision) -> Result<KeyValue>;
}

/// What a range found: etcd's `RangeResponse` without its header.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RangeResult {
    /// The key-values, in the order asked for.
    pub kvs: Vec<KeyValue>,
    /// Whether `limit` cut the list.
    pub more: bool,
    /// Keys in the range at the revision read, before filters and limit.
    pub count: i64,
}

struct Candidate {
    key: Vec<u8>,
    meta: KeyMeta,
    value: Option<KeyValue>,
}

/// Checks the revision a range asks for; answers the main revision to read at.
pub(crate) fn read_revision(requested: i64, current: i64, compacted: i64) -> Result<i64> {
    if requested > current {
        return Err(Error::FutureRevision);
    }
    let rev = if requested <= 0 { current } else { requested };
    if rev < compacted {
        return Err(Error::Compacted);
    }
    Ok(rev)
}

/// Evaluates `req` on `view` whose current revision is `current` and compaction point `compacted`.
pub(crate) fn range(
    view: &dyn View,
    req: &RangeRequest,
    current: i64,
    compacted: i64,
) -> Result<RangeResult> {
    let at = read_revision(req.revision, current, compacted)?;
    let end = RangeEnd::from_request(&req.range_end);
    let mut count = 0i64;
    if req.count_only {
        view.walk(&req.key, end, at, false, &mut |_, _| {
            count += 1;
            true
        })?;
        return Ok(RangeResult {
            kvs: Vec::new(),
            more: false,
            count,
        });
    }

    let target = SortTarget::try_from(req.sort_target).unwrap_or(SortTarget::Key);
    let mut order = SortOrder::try_from(req.sort_order).unwrap_or(SortOrder::None);
    if target != SortTarget::Key && order == SortOrder::None {
        order = SortOrder::Ascend;
    }
    let limit = usize::try_from(req.limit).ok().filter(|&l| l > 0);
    let keep = limit.map(|l| l + 1);
    let pass = |m: &KeyMeta| {
        (req.min_mod_revision == 0 || m.modified.main >= req.min_mod_revision)
            && (req.max_mod_revision == 0 || m.modified.main <= req.max_mod_revision)
            && (req.min_create_revision == 0 || m.created >= req.min_create_revision)
            && (req.max_create_revision == 0 || m.created <= req.max_create_revision)
    };

    let mut candidates: Vec<Candidate> = Vec::new();
    let mut failure = None;
    if target == SortTarget::Key {
        // Key order is the index's order: stop collecting at limit + 1, keep counting.
        let reverse = order == SortOrder::Descend;
        view.walk(&req.key, end, at, reverse, &mut |k, meta| {
            count += 1;
            if pass(&meta) && keep.is_none_or(|n| candidates.len() < n) {
                candidates.push(Candidate {
                    key: k.to_vec(),
                    meta,
                    value: None,
                });
            }
            true
        })?;
    } else {
        let cmp = |a: &Candidate, b: &Candidate| {
            let by_target = match target {
                SortTarget::Version => a.meta.version.cmp(&b.meta.version),
                SortTarget::Create => a.meta.created.cmp(&b.meta.created),
                SortTarget::Mod => a.meta.modified.cmp(&b.meta.modified),
                SortTarget::Value => value_of(a).cmp(value_of(b)),
                SortTarget::Key => Ordering::Equal,
            };
            let by_target = if order == SortOrder::Descend {
                by_target.reverse()
            } else {
                by_target
            };
            by_target.then_with(|| a.key.cmp(&b.key))
        };
        view.walk(&req.key, end, at, false, &mut |k, meta| {
            count += 1;
            if !pass(&meta) {
                return true;
            }
            let value = if target == SortTarget::Value {
                match view.load(meta.modified) {
                    Ok(kv) => Some(kv),
                    Err(e) => {
                        failure = Some(e);
                        return false;
                    }
                }
            } else {
                None
            };
            candidates.push(Candidate {
                key: k.to_vec(),
                meta,
                value,
            });
            // Bounded memory: trim to the best limit + 1 whenever twice that many are held.
            if let Some(n) = keep
                && candidates.len() >= 2 * n
            {
                candidates.sort_by(cmp);
                candidates.truncate(n);
            }
            true
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        candidates.sort_by(cmp);
    }

    let mut more = false;
    if let Some(l) = limit
        && candidates.len() > l
    {
        candidates.truncate(l);
        more = true;
    }
    let mut kvs = Vec::with_capacity(candidates.len());
    for c in candidates {
        let mut kv = match c.value {
            Some(kv) => kv,
            None => view.load(c.meta.modified)?,
        };
        if req.keys_only {
            kv.value = Vec::new();
        }
        kvs.push(kv);
    }
    Ok(RangeResult { kvs, more, count })
}

fn value_of(c: &Candidate) -> &[u8] {
    c.value.as_ref().map_or(&[], |kv| kv.value.as_slice())
}
