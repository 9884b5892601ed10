//! etcd 3.4's v2 auth: users and roles kept in the v2 store's internal `/2` namespace, and who may do what
//! on `/v2/keys`, `/v2/members` and `/v2/auth`.
//!
//! # Records (etcd's own, so a v2 store moves between etcd and etcd-node with its users)
//! - `/2/enabled`: `true` or `false`;
//! - `/2/users/<name>`: `{"user":…,"password":<bcrypt hash>,"roles":[…]}` (roles sorted, omitted when none);
//! - `/2/roles/<name>`: `{"role":…,"permissions":{"kv":{"read":[…],"write":[…]}}}`.
//!
//! The `root` role is built in (everything, never stored); the `guest` role (everything, until changed) is
//! made when auth is turned on and is what requests without credentials get. A permission is a key, or a
//! prefix when it ends in `*`; a recursive request needs a prefix that covers the whole directory.
//!
//! Changes go through raft as v2 writes to these keys. A password is checked with bcrypt on every request
//! that names a user, as etcd does, but a password once found right for a stored hash is remembered (as a
//! SHA-256 digest) so a client sending the same credentials does not pay bcrypt's cost again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use etcd_api::v2::{Backend, Error, ErrorCode, Method, Request};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The built-in role that may do everything.
pub(crate) const ROOT: &str = "root";
/// The role of requests without credentials.
pub(crate) const GUEST: &str = "guest";

const ENABLED: &str = "/2/enabled";

/// Whether this process made sure the auth records exist (etcd's per-store flag; one member per process).
static ENSURED: AtomicBool = AtomicBool::new(false);
const USERS: &str = "/2/users";
const ROLES: &str = "/2/roles";

/// A user as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct User {
    pub(crate) user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) password: String,
    /// `null` for a user created without roles, `[]` once its last role is revoked (etcd answers both).
    #[serde(default)]
    pub(crate) roles: Option<Vec<String>>,
}

/// The read and write patterns of a role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RwPermission {
    #[serde(default)]
    pub(crate) read: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) write: Option<Vec<String>>,
}

/// A role's permissions (etcd's `{"kv":{…}}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Permissions {
    #[serde(default)]
    pub(crate) kv: RwPermission,
}

/// A role as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Role {
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) permissions: Permissions,
}

impl Role {
    pub(crate) fn root() -> Role {
        Role::everything(ROOT)
    }

    pub(crate) fn everything(name: &str) -> Role {
        Role {
            role: name.to_owned(),
            permissions: Permissions {
                kv: RwPermission {
                    read: Some(vec!["/*".to_owned()]),
                    write: Some(vec!["/*".to_owned()]),
                },
            },
        }
    }

    fn patterns(&self, write: bool) -> &[String] {
        let list = if write {
            &self.permissions.kv.write
        } else {
            &self.permissions.kv.read
        };
        list.as_deref().unwrap_or_default()
    }

    /// Whether the role may read (or write) `key`: a pattern equal to it, or a `prefix*` it starts with.
    pub(crate) fn has_key_access(&self, key: &str, write: bool) -> bool {
        self.role == ROOT
            || self
                .patterns(write)
                .iter()
                .any(|p| match p.strip_suffix('*') {
                    Some(prefix) => key.starts_with(prefix),
                    None => key == p,
                })
    }

    /// Whether the role may read (or write) everything under `key`: only a `prefix*` pattern covers a tree.
    pub(crate) fn has_recursive_access(&self, key: &str, write: bool) -> bool {
        self.role == ROOT
            || self.patterns(write).iter().any(|p| {
                p.strip_suffix('*')
                    .is_some_and(|prefix| key.starts_with(prefix))
            })
    }
}

/// What a v2 auth operation can fail with: an HTTP status and etcd's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthFailure {
    pub(crate) status: u16,
    pub(crate) message: String,
}

pub(crate) fn failure(status: u16, message: impl Into<String>) -> AuthFailure {
    AuthFailure {
        status,
        message: message.into(),
    }
}

fn store_failure(e: &Error) -> AuthFailure {
    failure(500, format!("auth: {}", e.code.message()))
}

/// The v2 auth state, read from (and written through) the member's v2 store.
pub(crate) struct V2Auth<'a> {
    pub(crate) backend: &'a dyn Backend,
}

impl V2Auth<'_> {
    /// Whether v2 auth is on (a local read of `/2/enabled`, as etcd makes on every keys request).
    pub(crate) fn enabled(&self) -> bool {
        self.value(ENABLED).is_some_and(|v| v == "true")
    }

    fn value(&self, path: &str) -> Option<String> {
        self.backend.get(path, false).ok()?.node.value
    }

    fn names(&self, dir: &str) -> Vec<String> {
        let Ok(event) = self.backend.get(dir, false) else {
            return Vec::new();
        };
        let mut names: Vec<String> = event
            .node
            .nodes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| n.key.rsplit('/').next().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// A stored user, if there is one.
    pub(crate) fn user(&self, name: &str) -> Option<User> {
        let value = self.value(&format!("{USERS}/{name}"))?;
        serde_json::from_str(&value).ok()
    }

    /// A role: `root` is built in.
    pub(crate) fn role(&self, name: &str) -> Option<Role> {
        if name == ROOT {
            return Some(Role::root());
        }
        let value = self.value(&format!("{ROLES}/{name}"))?;
        serde_json::from_str(&value).ok()
    }

    /// Every user name, sorted.
    pub(crate) fn user_names(&self) -> Vec<String> {
        self.names(USERS)
    }

    /// Every role name, `root` included, sorted.
    pub(crate) fn role_names(&self) -> Vec<String> {
        let mut names = self.names(ROLES);
        names.push(ROOT.to_owned());
        names.sort();
        names.dedup();
        names
    }

    /// etcd makes `/2`, `/2/users/`, `/2/roles/` and `/2/enabled` (`false`) before its first change of the
    /// auth records in a process, each a create that may find the node there already. The same writes keep
    /// the store's index in step with etcd's.
    async fn ensure_records(&self) -> Result<(), AuthFailure> {
        if ENSURED.load(Ordering::Acquire) {
            return Ok(());
        }
        let made = [
            ("/2", true, ""),
            ("/2/users/", true, ""),
            ("/2/roles/", true, ""),
            (ENABLED, false, "false"),
        ];
        for (path, dir, value) in made {
            let request = Request {
                method: Method::Put,
                path: path.to_owned(),
                val: value.to_owned(),
                dir,
                prev_exist: Some(false),
                ..Request::default()
            };
            match self.backend.propose(request).await {
                Ok(_) => {}
                Err(e) if e.code == ErrorCode::NodeExist => {}
                Err(e) => return Err(store_failure(&e)),
            }
        }
        ENSURED.store(true, Ordering::Release);
        Ok(())
    }

    /// Creates (`exists` false) or replaces (`exists` true) a record; `taken` answers a create that finds the
    /// record there, as etcd does (it never looks first).
    async fn write(
        &self,
        path: String,
        value: String,
        exists: bool,
        taken: impl FnOnce() -> AuthFailure,
    ) -> Result<(), AuthFailure> {
        self.ensure_records().await?;
        let request = Request {
            method: Method::Put,
            path,
            val: value,
            prev_exist: Some(exists),
            ..Request::default()
        };
        match self.backend.propose(request).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::NodeExist => Err(taken()),
            Err(e) => Err(store_failure(&e)),
        }
    }

    /// Deletes a record; `missing` answers one that is not there (etcd deletes without looking first).
    async fn remove(
        &self,
        path: String,
        missing: impl FnOnce() -> AuthFailure,
    ) -> Result<(), AuthFailure> {
        self.ensure_records().await?;
        let request = Request {
            method: Method::Delete,
            path,
            ..Request::default()
        };
        match self.backend.propose(request).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::KeyNotFound => Err(missing()),
            Err(e) => Err(store_failure(&e)),
        }
    }

    pub(crate) async fn put_user(&self, user: &User, exists: bool) -> Result<(), AuthFailure> {
        let json = serde_json::to_string(user).map_err(|e| failure(500, e.to_string()))?;
        let taken = || failure(409, format!("auth: User {} already exists.", user.user));
        self.write(format!("{USERS}/{}", user.user), json, exists, taken)
            .await
    }

    pub(crate) async fn delete_user(&self, name: &str) -> Result<(), AuthFailure> {
        let missing = || failure(404, format!("auth: User {name} does not exist"));
        self.remove(format!("{USERS}/{name}"), missing).await
    }

    pub(crate) async fn put_role(&self, role: &Role, exists: bool) -> Result<(), AuthFailure> {
        let json = serde_json::to_string(role).map_err(|e| failure(500, e.to_string()))?;
        let taken = || failure(409, format!("auth: Role {} already exists.", role.role));
        self.write(format!("{ROLES}/{}", role.role), json, exists, taken)
            .await
    }

    pub(crate) async fn delete_role(&self, name: &str) -> Result<(), AuthFailure> {
        let missing = || failure(404, format!("auth: Role {name} doesn't exist."));
        self.remove(format!("{ROLES}/{name}"), missing).await
    }

    pub(crate) async fn set_enabled(&self, on: bool) -> Result<(), AuthFailure> {
        let taken = || failure(500, "auth: cannot record whether auth is on");
        self.write(ENABLED.to_owned(), on.to_string(), true, taken)
            .await
    }

    /// The user the credentials name, if they are right.
    pub(crate) async fn authenticated(&self, credentials: &Credentials) -> Option<User> {
        match credentials {
            Credentials::None => None,
            Credentials::Certificate(name) => self.user(name),
            Credentials::Basic { user, password } => {
                let stored = self.user(user)?;
                password_matches(password, &stored.password)
                    .await
                    .then_some(stored)
            }
        }
    }

    /// etcd's `hasRootAccess`: auth off, or a user with the root role.
    pub(crate) async fn has_root_access(&self, credentials: &Credentials) -> bool {
        if !self.enabled() {
            return true;
        }
        self.authenticated(credentials)
            .await
            .is_some_and(|u| u.roles().iter().any(|r| r == ROOT))
    }

    /// etcd's `hasKeyPrefixAccess`: auth off, or one of the user's roles grants the access. Without credentials
    /// (or with a certificate naming no user) the guest role decides; wrong credentials are refused.
    pub(crate) async fn has_key_access(
        &self,
        credentials: &Credentials,
        key: &str,
        recursive: bool,
        write: bool,
    ) -> bool {
        if !self.enabled() {
            return true;
        }
        let user = self.authenticated(credentials).await;
        let Some(user) = user else {
            if matches!(credentials, Credentials::Basic { .. }) {
                return false;
            }
            return self
                .role(GUEST)
                .is_some_and(|r| r.has_key_access(key, write));
        };
        user.roles()
            .iter()
            .filter_map(|r| self.role(r))
            .any(|role| {
                if recursive {
                    role.has_recursive_access(key, write)
                } else {
                    role.has_key_access(key, write)
                }
            })
    }
}

/// What a request says about who sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// Nothing.
    None,
    /// An `Authorization: Basic` header.
    Basic { user: String, password: String },
    /// With `--client-cert-auth` and no `Authorization` header: the client certificate's common name.
    Certificate(String),
}

impl Credentials {
    /// Reads the `Authorization` header; a malformed one names nobody (and so is refused where a user is
    /// needed), as Go's `BasicAuth` does.
    pub(crate) fn of(authorization: Option<&str>, common_name: Option<&str>) -> Credentials {
        match authorization {
            Some(header) => basic(header).unwrap_or(Credentials::Basic {
                user: String::new(),
                password: String::new(),
            }),
            None => match common_name {
                Some(cn) if !cn.is_empty() => Credentials::Certificate(cn.to_owned()),
                _ => Credentials::None,
            },
        }
    }
}

fn basic(header: &str) -> Option<Credentials> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(Credentials::Basic {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// A password found right for a stored hash: (the hash, SHA-256 of the password).
type Verified = HashSet<(String, [u8; 32])>;

/// The passwords found right so far. Bounded: cleared when full.
fn verified() -> &'static Mutex<Verified> {
    static VERIFIED: OnceLock<Mutex<Verified>> = OnceLock::new();
    VERIFIED.get_or_init(|| Mutex::new(HashSet::new()))
}

const MAX_VERIFIED: usize = 4096;

/// bcrypt's check, off the async threads, skipped for a password already found right for this very hash.
async fn password_matches(password: &str, hash: &str) -> bool {
    let key = (hash.to_owned(), Sha256::digest(password.as_bytes()).into());
    if verified().lock().map(|m| m.contains(&key)).unwrap_or(false) {
        return true;
    }
    let (password, stored) = (password.to_owned(), hash.to_owned());
    let matches =
        tokio::task::spawn_blocking(move || etcd_auth::password_matches(&password, &stored))
            .await
            .unwrap_or(false);
    if matches && let Ok(mut m) = verified().lock() {
        if m.len() >= MAX_VERIFIED {
            m.clear();
        }
        m.insert(key);
    }
    matches
}

/// A bcrypt hash of `password` at etcd v2's cost (Go's default), off the async threads.
pub(crate) async fn hash_password(password: String) -> Result<String, AuthFailure> {
    tokio::task::spawn_blocking(move || {
        etcd_auth::hash_password(&password, etcd_auth::DEFAULT_BCRYPT_COST)
    })
    .await
    .map_err(|e| failure(500, e.to_string()))?
    .map_err(|e| failure(500, e.to_string()))
}

/// The keys answer for a refused request: etcd's error 110.
pub(crate) fn keys_refusal() -> Error {
    Error::new(ErrorCode::Unauthorized, "Insufficient credentials", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_keys_or_prefixes() {
        let role = Role {
            role: "r".into(),
            permissions: Permissions {
                kv: RwPermission {
                    read: Some(vec!["/foo/*".into(), "/bar".into()]),
                    write: None,
                },
            },
        };
        assert!(role.has_key_access("/foo/x", false));
        assert!(role.has_key_access("/foo/", false));
        assert!(!role.has_key_access("/foo", false));
        assert!(role.has_key_access("/bar", false));
        assert!(!role.has_key_access("/bar/x", false));
        assert!(!role.has_key_access("/foo/x", true));
        assert!(role.has_recursive_access("/foo/", false));
        assert!(!role.has_recursive_access("/foo", false));
        assert!(!role.has_recursive_access("/bar", false));
        assert!(Role::root().has_recursive_access("/", true));
    }

    #[test]
    fn basic_credentials_are_read_as_go_reads_them() {
        assert_eq!(
            Credentials::of(Some("Basic YWxpY2U6cHc6eA=="), None),
            Credentials::Basic {
                user: "alice".into(),
                password: "pw:x".into()
            }
        );
        assert_eq!(
            Credentials::of(None, Some("alice")),
            Credentials::Certificate("alice".into())
        );
        assert_eq!(Credentials::of(None, None), Credentials::None);
        assert_eq!(
            Credentials::of(Some("Bearer x"), Some("alice")),
            Credentials::Basic {
                user: String::new(),
                password: String::new()
            }
        );
    }
}
