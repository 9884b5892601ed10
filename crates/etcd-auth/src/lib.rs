//! etcd's auth store (its `auth` package): users with bcrypt password hashes, roles with key-range permissions,
//! the `root` user and role, the auth revision, and the checks every request goes through once auth is on.
//!
//! [`AuthStore`] is a deterministic state machine like the key-value store: no clock, no I/O. Its changes are
//! applied from the raft log in order on every member; each one answers the backend records to write in the
//! same transaction ([`Write`], format in [`record`](crate#record-format)). Checking a password
//! ([`password_matches`]) is deliberately slow and runs before a request is proposed, never while applying.
//! [`SimpleTokens`] remembers etcd's simple tokens and [`JwtTokens`] signs and checks JWT ones, with time
//! entering as arguments.
//!
//! # Record format
//! Version 1 is etcd 3.5's layout: table `auth` (`authEnabled`: one byte; `authRevision`: u64 big-endian),
//! table `authUsers` (name → `authpb.User`), table `authRoles` (name → `authpb.Role`).
//!
//! ```
//! use etcd_auth::{Access, AuthError, AuthStore, Caller, ROOT};
//! use etcd_proto::authpb::{Permission, permission::Type};
//!
//! let mut auth = AuthStore::new();
//! auth.user_add(ROOT, "$2a$04$hash", None).unwrap();
//! auth.user_grant_role(ROOT, ROOT).unwrap();
//! auth.user_add("alice", "$2a$04$hash", None).unwrap();
//! auth.role_add("reader").unwrap();
//! let perm = Permission { perm_type: Type::Read as i32, key: b"app/".to_vec(), range_end: b"app0".to_vec() };
//! auth.role_grant_permission("reader", Some(perm)).unwrap();
//! auth.user_grant_role("alice", "reader").unwrap();
//! auth.enable().unwrap();
//!
//! let alice = Caller { user: "alice".into(), revision: auth.revision() };
//! assert_eq!(auth.check(&alice, Access::Read, b"app/config", b""), Ok(()));
//! assert_eq!(auth.check(&alice, Access::Write, b"app/config", b""), Err(AuthError::PermissionDenied));
//! assert_eq!(auth.check(&Caller::anonymous(), Access::Read, b"app/x", b""), Err(AuthError::UserEmpty));
//! ```

mod error;
mod jwt;
mod password;
mod perms;
mod record;
mod store;
mod token;

pub use crate::{
    error::AuthError,
    jwt::{
        DEFAULT_JWT_TTL, JwtOptions, JwtTokens, TokenKind, TokenOptionError, parse_token_option,
    },
    password::{
        BadCost, DEFAULT_BCRYPT_COST, MAX_BCRYPT_COST, MIN_BCRYPT_COST, hash_password,
        password_matches,
    },
    perms::Access,
    record::{AUTH_TABLE, ROLES_TABLE, RecordError, USERS_TABLE, Write},
    store::{AuthStore, Caller, ROOT, StoredPassword},
    token::{DEFAULT_TOKEN_TTL_SECS, SimpleTokens, simple_token, simple_token_prefix},
};
