//! Key paths, cleaned as Go's `path.Clean(path.Join("/", p))`: rooted, no empty, `.` or `..` components, no
//! trailing slash.

/// How deep a key may nest. etcd has no limit; we keep one so that walks of the tree stay far from the stack's
/// end whatever a client sends.
pub(crate) const MAX_DEPTH: usize = 512;

/// The cleaned form of `p` (Go's `path.Clean(path.Join("/", p))`).
pub(crate) fn clean(p: &str) -> String {
    etcd_api::v2::clean_path(p)
}

/// The components of a cleaned path, each with the byte offset where the path up to and including it ends.
pub(crate) fn components(clean: &str) -> impl Iterator<Item = (&str, usize)> {
    let mut offset = 0;
    clean
        .split('/')
        .skip(1)
        .filter(|c| !c.is_empty())
        .map(move |c| {
            offset += 1 + c.len();
            (c, offset)
        })
}

/// How many components a cleaned path has.
pub(crate) fn depth(clean: &str) -> usize {
    if clean == "/" {
        0
    } else {
        clean.bytes().filter(|&b| b == b'/').count()
    }
}

/// Splits a cleaned path other than `/` into its parent and last component.
pub(crate) fn split(clean: &str) -> (&str, &str) {
    match clean.rfind('/') {
        Some(0) => ("/", &clean[1..]),
        Some(i) => (&clean[..i], &clean[i + 1..]),
        None => ("/", clean),
    }
}

/// `parent` joined with a child's `name`.
pub(crate) fn join(parent: &str, name: &str) -> String {
    let mut out = String::with_capacity(parent.len() + 1 + name.len());
    out.push_str(parent);
    if !parent.ends_with('/') {
        out.push('/');
    }
    out.push_str(name);
    out
}

/// Whether a node name is hidden from listings.
pub(crate) fn is_hidden_name(name: &str) -> bool {
    name.starts_with('_')
}

/// Whether the part of `key` below `watch_path` passes through a hidden component (etcd's watcher rule). A
/// watch path deeper than the key (a watcher on a child of a deleted directory) is never hidden.
pub(crate) fn hidden_below(watch_path: &str, key: &str) -> bool {
    if watch_path.len() > key.len() {
        return false;
    }
    clean(&key[watch_path.len()..]).contains("/_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go_path_clean() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("foo", "/foo"),
            ("/foo/", "/foo"),
            ("//foo//bar//", "/foo/bar"),
            ("/foo/./bar", "/foo/bar"),
            ("/foo/../bar", "/bar"),
            ("/../../foo", "/foo"),
            ("/1/k5/", "/1/k5"),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn components_split_and_join() {
        let parts: Vec<(&str, usize)> = components("/1/foo/bar").collect();
        assert_eq!(parts, vec![("1", 2), ("foo", 6), ("bar", 10)]);
        assert_eq!(components("/").count(), 0);
        assert_eq!(split("/1/foo"), ("/1", "foo"));
        assert_eq!(split("/1"), ("/", "1"));
        assert_eq!(join("/", "1"), "/1");
        assert_eq!(join("/1", "a"), "/1/a");
        assert_eq!(depth("/"), 0);
        assert_eq!(depth("/1/a/b"), 3);
    }

    #[test]
    fn hidden_components_below_a_watch_path() {
        assert!(hidden_below("/1", "/1/_hidden"));
        assert!(hidden_below("/1", "/1/dir/_h/x"));
        assert!(!hidden_below("/1/_hidden", "/1/_hidden"));
        assert!(!hidden_below("/1/dir", "/1/dir/a_b"));
        assert!(!hidden_below("/1/dir/child", "/1/dir"));
    }
}
