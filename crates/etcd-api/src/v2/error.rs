//! The v2 error: code, fixed message, cause, index and the HTTP status it maps to.

/// Every v2 error code etcd defines (3.4), with its exact message and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 100 Key not found.
    KeyNotFound,
    /// 101 Compare failed.
    TestFailed,
    /// 102 Not a file.
    NotFile,
    /// 103 Reached the max number of peers in the cluster (unused).
    NoMorePeer,
    /// 104 Not a directory.
    NotDir,
    /// 105 Key already exists.
    NodeExist,
    /// 106 The prefix of given key is a keyword in etcd (unused).
    KeyIsPreserved,
    /// 107 Root is read only.
    RootReadOnly,
    /// 108 Directory not empty.
    DirNotEmpty,
    /// 109 Peer address has existed (unused).
    ExistingPeerAddr,
    /// 110 The request requires user authentication.
    Unauthorized,
    /// 200 Value is Required in POST form (unused).
    ValueRequired,
    /// 201 PrevValue is Required in POST form.
    PrevValueRequired,
    /// 202 The given TTL in POST form is not a number.
    TtlNaN,
    /// 203 The given index in POST form is not a number.
    IndexNaN,
    /// 204 Value or TTL is required in POST form (unused).
    ValueOrTtlRequired,
    /// 205 The given timeout in POST form is not a number (unused).
    TimeoutNaN,
    /// 206 Name is required in POST form (unused).
    NameRequired,
    /// 207 Index or value is required (unused).
    IndexOrValueRequired,
    /// 208 Index and value cannot both be specified (unused).
    IndexValueMutex,
    /// 209 Invalid field.
    InvalidField,
    /// 210 Invalid POST form.
    InvalidForm,
    /// 211 Value provided on refresh.
    RefreshValue,
    /// 212 A TTL must be provided on refresh.
    RefreshTtlRequired,
    /// 300 Raft Internal Error.
    RaftInternal,
    /// 301 During Leader Election (unused in 3.4).
    LeaderElect,
    /// 400 watcher is cleared due to etcd recovery (unused in 3.4).
    WatcherCleared,
    /// 401 The event in requested index is outdated and cleared.
    EventIndexCleared,
    /// 402 Standby Internal Error (unused).
    StandbyInternal,
    /// 403 Invalid active size (unused).
    InvalidActiveSize,
    /// 404 Standby remove delay (unused).
    InvalidRemoveDelay,
    /// 500 Client Internal Error (unused).
    ClientInternal,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 32] = [
        ErrorCode::KeyNotFound,
        ErrorCode::TestFailed,
        ErrorCode::NotFile,
        ErrorCode::NoMorePeer,
        ErrorCode::NotDir,
        ErrorCode::NodeExist,
        ErrorCode::KeyIsPreserved,
        ErrorCode::RootReadOnly,
        ErrorCode::DirNotEmpty,
        ErrorCode::ExistingPeerAddr,
        ErrorCode::Unauthorized,
        ErrorCode::ValueRequired,
        ErrorCode::PrevValueRequired,
        ErrorCode::TtlNaN,
        ErrorCode::IndexNaN,
        ErrorCode::ValueOrTtlRequired,
        ErrorCode::TimeoutNaN,
        ErrorCode::NameRequired,
        ErrorCode::IndexOrValueRequired,
        ErrorCode::IndexValueMutex,
        ErrorCode::InvalidField,
        ErrorCode::InvalidForm,
        ErrorCode::RefreshValue,
        ErrorCode::RefreshTtlRequired,
        ErrorCode::RaftInternal,
        ErrorCode::LeaderElect,
        ErrorCode::WatcherCleared,
        ErrorCode::EventIndexCleared,
        ErrorCode::StandbyInternal,
        ErrorCode::InvalidActiveSize,
        ErrorCode::InvalidRemoveDelay,
        ErrorCode::ClientInternal,
    ];

    /// The number in the `errorCode` field.
    pub fn number(self) -> u16 {
        self.info().0
    }

    /// The fixed `message` text.
    pub fn message(self) -> &'static str {
        self.info().1
    }

    /// The HTTP status etcd answers with: a few codes have their own, everything else is 400.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::KeyNotFound => 404,
            ErrorCode::NotFile | ErrorCode::DirNotEmpty => 403,
            ErrorCode::TestFailed | ErrorCode::NodeExist => 412,
            ErrorCode::Unauthorized => 401,
            ErrorCode::RaftInternal | ErrorCode::LeaderElect => 500,
            _ => 400,
        }
    }

    /// The code with this number, if etcd defines one.
    pub fn from_number(number: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.number() == number)
    }

    fn info(self) -> (u16, &'static str) {
        match self {
            ErrorCode::KeyNotFound => (100, "Key not found"),
            ErrorCode::TestFailed => (101, "Compare failed"),
            ErrorCode::NotFile => (102, "Not a file"),
            ErrorCode::NoMorePeer => (103, "Reached the max number of peers in the cluster"),
            ErrorCode::NotDir => (104, "Not a directory"),
            ErrorCode::NodeExist => (105, "Key already exists"),
            ErrorCode::KeyIsPreserved => (106, "The prefix of given key is a keyword in etcd"),
            ErrorCode::RootReadOnly => (107, "Root is read only"),
            ErrorCode::DirNotEmpty => (108, "Directory not empty"),
            ErrorCode::ExistingPeerAddr => (109, "Peer address has existed"),
            ErrorCode::Unauthorized => (110, "The request requires user authentication"),
            ErrorCode::ValueRequired => (200, "Value is Required in POST form"),
            ErrorCode::PrevValueRequired => (201, "PrevValue is Required in POST form"),
            ErrorCode::TtlNaN => (202, "The given TTL in POST form is not a number"),
            ErrorCode::IndexNaN => (203, "The given index in POST form is not a number"),
            ErrorCode::ValueOrTtlRequired => (204, "Value or TTL is required in POST form"),
            ErrorCode::TimeoutNaN => (205, "The given timeout in POST form is not a number"),
            ErrorCode::NameRequired => (206, "Name is required in POST form"),
            ErrorCode::IndexOrValueRequired => (207, "Index or value is required"),
            ErrorCode::IndexValueMutex => (208, "Index and value cannot both be specified"),
            ErrorCode::InvalidField => (209, "Invalid field"),
            ErrorCode::InvalidForm => (210, "Invalid POST form"),
            ErrorCode::RefreshValue => (211, "Value provided on refresh"),
            ErrorCode::RefreshTtlRequired => (212, "A TTL must be provided on refresh"),
            ErrorCode::RaftInternal => (300, "Raft Internal Error"),
            ErrorCode::LeaderElect => (301, "During Leader Election"),
            ErrorCode::WatcherCleared => (400, "watcher is cleared due to etcd recovery"),
            ErrorCode::EventIndexCleared => {
                (401, "The event in requested index is outdated and cleared")
            }
            ErrorCode::StandbyInternal => (402, "Standby Internal Error"),
            ErrorCode::InvalidActiveSize => (403, "Invalid active size"),
            ErrorCode::InvalidRemoveDelay => (404, "Standby remove delay"),
            ErrorCode::ClientInternal => (500, "Client Internal Error"),
        }
    }
}

/// A v2 error as etcd reports it: `{"errorCode":..,"message":..,"cause":..,"index":..}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong; gives the number, message and HTTP status.
    pub code: ErrorCode,
    /// The detail (usually a key); empty when there is none.
    pub cause: String,
    /// The store's index when the error happened (0 for request-parse errors).
    pub index: u64,
}

impl Error {
    /// An error with a cause and index.
    pub fn new(code: ErrorCode, cause: impl Into<String>, index: u64) -> Error {
        Error {
            code,
            cause: cause.into(),
            index,
        }
    }

    /// The same error with `prefix` cut from the front of its cause (the store's `/1` user-key prefix).
    pub fn without_prefix(&self, prefix: &str) -> Error {
        Error {
            code: self.code,
            cause: strip_key_prefix(&self.cause, prefix).to_owned(),
            index: self.index,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.number(), self.code.message())?;
        if !self.cause.is_empty() {
            write!(f, " ({})", self.cause)?;
        }
        write!(f, " [{}]", self.index)
    }
}

impl std::error::Error for Error {}

/// `key` without `prefix`, when `key` is `prefix` itself or lies below it; otherwise `key` unchanged.
pub(crate) fn strip_key_prefix<'a>(key: &'a str, prefix: &str) -> &'a str {
    match key.strip_prefix(prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_numbers_messages_and_statuses_match_etcd() {
        let expected: [(u16, u16); 32] = [
            (100, 404),
            (101, 412),
            (102, 403),
            (103, 400),
            (104, 400),
            (105, 412),
            (106, 400),
            (107, 400),
            (108, 403),
            (109, 400),
            (110, 401),
            (200, 400),
            (201, 400),
            (202, 400),
            (203, 400),
            (204, 400),
            (205, 400),
            (206, 400),
            (207, 400),
            (208, 400),
            (209, 400),
            (210, 400),
            (211, 400),
            (212, 400),
            (300, 500),
            (301, 500),
            (400, 400),
            (401, 400),
            (402, 400),
            (403, 400),
            (404, 400),
            (500, 400),
        ];
        for (code, (number, status)) in ErrorCode::ALL.iter().zip(expected) {
            assert_eq!(code.number(), number);
            assert_eq!(code.http_status(), status, "{number}");
            assert_eq!(ErrorCode::from_number(number), Some(*code));
        }
        assert_eq!(
            ErrorCode::EventIndexCleared.message(),
            "The event in requested index is outdated and cleared"
        );
        assert_eq!(ErrorCode::from_number(999), None);
    }

    #[test]
    fn prefix_is_cut_on_component_boundaries_only() {
        assert_eq!(strip_key_prefix("/1/foo", "/1"), "/foo");
        assert_eq!(strip_key_prefix("/1", "/1"), "");
        assert_eq!(strip_key_prefix("/10/foo", "/1"), "/10/foo");
        assert_eq!(strip_key_prefix("[a != b]", "/1"), "[a != b]");
    }
}
