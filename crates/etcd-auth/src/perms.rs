//! What one user may read and write: the union of its roles' key permissions, merged into disjoint spans so a
//! check is one binary search.
//!
//! etcd's meaning of a permission's `(key, range_end)`: an empty `range_end` is the one key, `"\0"` is every key
//! from `key` on, anything else is `[key, range_end)`. A request's `(key, range_end)` means the same, and it is
//! allowed when the spans of the permission type cover all of it (a range need not fit one permission: adjacent
//! and overlapping permissions add up).

use std::cmp::Ordering;

use etcd_proto::authpb::{Permission, permission::Type};

/// Where a span ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Before this key.
    Before(Vec<u8>),
    /// Past every key.
    Unbounded,
}

impl End {
    fn cmp_end(&self, other: &End) -> Ordering {
        match (self, other) {
            (End::Unbounded, End::Unbounded) => Ordering::Equal,
            (End::Unbounded, _) => Ordering::Greater,
            (_, End::Unbounded) => Ordering::Less,
            (End::Before(a), End::Before(b)) => a.cmp(b),
        }
    }

    /// Whether a span ending here reaches `start` (touches or overlaps a span starting there).
    fn reaches(&self, start: &[u8]) -> bool {
        match self {
            End::Unbounded => true,
            End::Before(end) => end.as_slice() >= start,
        }
    }
}

/// `[start, end)`: keys at or after `start`, before `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    start: Vec<u8>,
    end: End,
}

impl Span {
    /// The keys `(key, range_end)` names, as etcd reads a permission or a request; `None` when it names none.
    fn of(key: &[u8], range_end: &[u8]) -> Option<Span> {
        let end = match range_end {
            [] => {
                let mut next = key.to_vec();
                next.push(0);
                End::Before(next)
            }
            [0] => End::Unbounded,
            end if end <= key => return None,
            end => End::Before(end.to_vec()),
        };
        Some(Span {
            start: key.to_vec(),
            end,
        })
    }
}

/// Disjoint, sorted spans of keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Spans(Vec<Span>);

impl Spans {
    fn merged(mut spans: Vec<Span>) -> Spans {
        spans.sort_by(|a, b| a.start.cmp(&b.start));
        let mut out: Vec<Span> = Vec::with_capacity(spans.len());
        for span in spans {
            match out.last_mut() {
                Some(last) if last.end.reaches(&span.start) => {
                    if span.end.cmp_end(&last.end) == Ordering::Greater {
                        last.end = span.end;
                    }
                }
                _ => out.push(span),
            }
        }
        Spans(out)
    }

    fn covers(&self, wanted: &Span) -> bool {
        // The one span that could hold `wanted` is the last starting at or before it (spans are disjoint and
        // do not touch, so a covered range lies within one).
        let after = self.0.partition_point(|s| s.start <= wanted.start);
        after > 0 && self.0[after - 1].end.cmp_end(&wanted.end) != Ordering::Less
    }
}

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Range, watch, a txn's compares, a write's `prev_kv`.
    Read,
    /// Put, delete, a txn's writes, revoking a lease with keys.
    Write,
}

/// One user's merged permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserPerms {
    read: Spans,
    write: Spans,
}

impl UserPerms {
    /// The union of `permissions` (of all the user's roles).
    pub(crate) fn of<'a>(permissions: impl IntoIterator<Item = &'a Permission>) -> UserPerms {
        let (mut read, mut write) = (Vec::new(), Vec::new());
        for p in permissions {
            let Some(span) = Span::of(&p.key, &p.range_end) else {
                continue;
            };
            match Type::try_from(p.perm_type) {
                Ok(Type::Read) => read.push(span),
                Ok(Type::Write) => write.push(span),
                Ok(Type::Readwrite) => {
                    read.push(span.clone());
                    write.push(span);
                }
                // A type this version does not know grants nothing.
                Err(_) => {}
            }
        }
        UserPerms {
            read: Spans::merged(read),
            write: Spans::merged(write),
        }
    }

    /// Whether `access` to `(key, range_end)` is granted. A range that names no key (its end at or before its
    /// start) is checked as its first key.
    pub(crate) fn allows(&self, access: Access, key: &[u8], range_end: &[u8]) -> bool {
        let wanted = Span::of(key, range_end).or_else(|| Span::of(key, b""));
        let spans = match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
        };
        wanted.is_some_and(|w| spans.covers(&w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(t: Type, key: &str, end: &str) -> Permission {
        Permission {
            perm_type: t as i32,
            key: key.as_bytes().to_vec(),
            range_end: end.as_bytes().to_vec(),
        }
    }

    #[test]
    fn keys_prefixes_and_open_ends_are_read_as_etcd_reads_them() {
        let perms = UserPerms::of(&[
            perm(Type::Read, "foo", ""),
            perm(Type::Read, "dir/", "dir0"),
            perm(Type::Read, "zz", "\0"),
            perm(Type::Write, "a", "c"),
        ]);
        let read = |k: &str, e: &str| perms.allows(Access::Read, k.as_bytes(), e.as_bytes());
        assert!(read("foo", ""));
        assert!(
            !read("foo", "fop"),
            "the key alone does not grant keys after it"
        );
        assert!(!read("fo", ""));
        assert!(read("dir/", "dir0"));
        assert!(read("dir/a", "dir/b"));
        assert!(!read("dir", "dis"));
        assert!(read("zz", "\0"));
        assert!(read("zzz", ""));
        assert!(!read("", "\0"));
        assert!(!read("a", ""), "write does not grant read");
        assert!(perms.allows(Access::Write, b"b", b"c"));
        assert!(!perms.allows(Access::Write, b"b", b"d"));
    }

    #[test]
    fn adjacent_and_overlapping_permissions_add_up() {
        let perms = UserPerms::of(&[
            perm(Type::Readwrite, "a", "c"),
            perm(Type::Read, "c", "e"),
            perm(Type::Read, "d", "g"),
            perm(Type::Read, "x", ""),
        ]);
        assert!(perms.allows(Access::Read, b"a", b"g"));
        assert!(!perms.allows(Access::Read, b"a", b"h"));
        assert!(!perms.allows(Access::Write, b"a", b"d"));
        assert!(perms.allows(Access::Read, b"x", b"x\0"));
        assert!(!perms.allows(Access::Read, b"x", b"y"));
    }

    #[test]
    fn an_inverted_range_is_checked_as_its_first_key() {
        let perms = UserPerms::of(&[perm(Type::Read, "m", "")]);
        assert!(perms.allows(Access::Read, b"m", b"a"));
        assert!(!perms.allows(Access::Read, b"n", b"a"));
        let none = UserPerms::default();
        assert!(!none.allows(Access::Read, b"m", b""));
    }
}
