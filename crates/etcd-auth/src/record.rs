//! The auth store as the v3 backend keeps it: etcd's own layout, so a backend moves between etcd and etcd-node
//! with its users.
//!
//! # Format (version 1 = etcd 3.5's)
//! - table `auth`: `authEnabled` → one byte, 1 on and 0 off; `authRevision` → the revision, u64 big-endian.
//! - table `authUsers`: the user name → an `authpb.User` (protobuf): name, bcrypt hash, roles sorted, options.
//! - table `authRoles`: the role name → an `authpb.Role` (protobuf): name, permissions sorted by key.

use etcd_proto::authpb::{Role, User};
use prost::Message;

/// The table holding the enabled flag and the revision (etcd's bucket name).
pub const AUTH_TABLE: &str = "auth";
/// The table of users (etcd's bucket name).
pub const USERS_TABLE: &str = "authUsers";
/// The table of roles (etcd's bucket name).
pub const ROLES_TABLE: &str = "authRoles";

pub(crate) const ENABLED_KEY: &[u8] = b"authEnabled";
pub(crate) const REVISION_KEY: &[u8] = b"authRevision";

/// One change to write to the backend, in the same transaction as the entry that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// One of [`AUTH_TABLE`], [`USERS_TABLE`], [`ROLES_TABLE`].
    pub table: &'static str,
    /// The record's key.
    pub key: Vec<u8>,
    /// The new value; `None` deletes the record.
    pub value: Option<Vec<u8>>,
}

/// A record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("auth record {key:?} in table {table} does not decode: {why}")]
pub struct RecordError {
    table: &'static str,
    key: String,
    why: String,
}

impl RecordError {
    pub(crate) fn new(table: &'static str, key: &[u8], why: impl Into<String>) -> Self {
        RecordError {
            table,
            key: String::from_utf8_lossy(key).into_owned(),
            why: why.into(),
        }
    }
}

pub(crate) fn enabled_write(enabled: bool) -> Write {
    Write {
        table: AUTH_TABLE,
        key: ENABLED_KEY.to_vec(),
        value: Some(vec![u8::from(enabled)]),
    }
}

pub(crate) fn revision_write(revision: u64) -> Write {
    Write {
        table: AUTH_TABLE,
        key: REVISION_KEY.to_vec(),
        value: Some(revision.to_be_bytes().to_vec()),
    }
}

pub(crate) fn user_write(name: &str, user: Option<&User>) -> Write {
    Write {
        table: USERS_TABLE,
        key: name.as_bytes().to_vec(),
        value: user.map(Message::encode_to_vec),
    }
}

pub(crate) fn role_write(name: &str, role: Option<&Role>) -> Write {
    Write {
        table: ROLES_TABLE,
        key: name.as_bytes().to_vec(),
        value: role.map(Message::encode_to_vec),
    }
}

pub(crate) fn decode_enabled(value: &[u8]) -> Result<bool, RecordError> {
    match value {
        [0] => Ok(false),
        [1] => Ok(true),
        _ => Err(RecordError::new(
            AUTH_TABLE,
            ENABLED_KEY,
            "not one byte 0 or 1",
        )),
    }
}

pub(crate) fn decode_revision(value: &[u8]) -> Result<u64, RecordError> {
    let bytes: [u8; 8] = value
        .try_into()
        .map_err(|_| RecordError::new(AUTH_TABLE, REVISION_KEY, "not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

pub(crate) fn decode_user(key: &[u8], value: &[u8]) -> Result<(String, User), RecordError> {
    let user =
        User::decode(value).map_err(|e| RecordError::new(USERS_TABLE, key, e.to_string()))?;
    let name = String::from_utf8(user.name.clone())
        .map_err(|_| RecordError::new(USERS_TABLE, key, "the name is not UTF-8"))?;
    Ok((name, user))
}

pub(crate) fn decode_role(key: &[u8], value: &[u8]) -> Result<(String, Role), RecordError> {
    let role =
        Role::decode(value).map_err(|e| RecordError::new(ROLES_TABLE, key, e.to_string()))?;
    let name = String::from_utf8(role.name.clone())
        .map_err(|_| RecordError::new(ROLES_TABLE, key, "the name is not UTF-8"))?;
    Ok((name, role))
}
