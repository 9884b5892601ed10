//! The named options of the store's calls, so a call site says what it asks for
//! (`store.delete(path, Removal::Recursive, now)`) instead of a row of booleans.

/// How deep a read or a watch reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// A read lists a directory's children; a watch sees the node itself.
    Shallow,
    /// A read lists the whole subtree; a watch sees every node under the path.
    Recursive,
}

impl Depth {
    /// [`Depth::Recursive`] when `recursive` (etcd's `recursive=true`), else [`Depth::Shallow`].
    pub fn recursive_if(recursive: bool) -> Depth {
        if recursive {
            Depth::Recursive
        } else {
            Depth::Shallow
        }
    }

    pub(crate) fn is_recursive(self) -> bool {
        self == Depth::Recursive
    }
}

/// What a write puts at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeValue<'a> {
    /// A file with this value.
    File(&'a str),
    /// A directory (etcd's `dir=true`).
    Dir,
}

impl<'a> NodeValue<'a> {
    /// [`NodeValue::Dir`] when `dir`, else a file holding `value`.
    pub fn of(dir: bool, value: &'a str) -> NodeValue<'a> {
        if dir {
            NodeValue::Dir
        } else {
            NodeValue::File(value)
        }
    }

    pub(crate) fn parts(self) -> (bool, &'a str) {
        match self {
            NodeValue::File(value) => (false, value),
            NodeValue::Dir => (true, ""),
        }
    }
}

/// Where a create puts its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// At the path given (PUT `prevExist=false`).
    AtPath,
    /// Under the path, named by the new index in 20 digits (POST: etcd's in-order keys).
    InOrder,
}

/// A written node's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// When it expires, in Unix nanoseconds; 0 for never.
    pub at: i64,
    /// Only the TTL changes (etcd's `refresh=true`): the node must exist, its value is kept, and watchers are
    /// not told.
    pub refresh: bool,
}

impl Expiry {
    /// A permanent node.
    pub const NEVER: Expiry = Expiry {
        at: 0,
        refresh: false,
    };

    /// A node that expires at `at` (Unix ns; 0 for never).
    pub fn at(at: i64) -> Expiry {
        Expiry { at, refresh: false }
    }

    /// A refresh of the existing node's TTL to `at`.
    pub fn refresh(at: i64) -> Expiry {
        Expiry { at, refresh: true }
    }
}

/// What a delete may remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// A file; a directory is refused (etcd's error 102).
    File,
    /// A file or an empty directory (`dir=true`).
    FileOrEmptyDir,
    /// Anything, a directory with all it holds (`recursive=true`).
    Recursive,
}

impl Removal {
    /// The removal etcd's `dir` and `recursive` flags ask for.
    pub fn from_flags(dir: bool, recursive: bool) -> Removal {
        match (dir, recursive) {
            (_, true) => Removal::Recursive,
            (true, false) => Removal::FileOrEmptyDir,
            (false, false) => Removal::File,
        }
    }

    /// (may remove a directory, may remove a non-empty one).
    pub(crate) fn flags(self) -> (bool, bool) {
        match self {
            Removal::File => (false, false),
            Removal::FileOrEmptyDir => (true, false),
            Removal::Recursive => (true, true),
        }
    }
}

/// How long a watch lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watching {
    /// Until its first event (a v2 `wait=true`).
    Once,
    /// Until it is dropped (`stream=true`).
    Stream,
}

impl Watching {
    /// [`Watching::Stream`] when `stream`, else [`Watching::Once`].
    pub fn stream_if(stream: bool) -> Watching {
        if stream {
            Watching::Stream
        } else {
            Watching::Once
        }
    }
}
