//! The auth store's state and its operations, applied in log order on every member.

use std::collections::{BTreeMap, HashMap};

use etcd_proto::authpb::{Permission, Role, User, UserAddOptions};

use crate::error::AuthError;
use crate::perms::{Access, UserPerms};
use crate::record::{self, RecordError, Write};

/// The name of the user and of the role that may do everything.
pub const ROOT: &str = "root";

/// Who a request comes from, as its token or certificate said when it arrived (etcd's `AuthInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The user name; empty when the request named none.
    pub user: String,
    /// The auth revision the caller's identity was established at.
    pub revision: u64,
}

impl Caller {
    /// A caller with no identity (auth off, or no token given).
    pub fn anonymous() -> Caller {
        Caller::default()
    }
}

/// What a password check needs from the store (the check itself runs off the apply path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPassword {
    /// The bcrypt hash.
    pub hash: String,
}

/// Users, roles and their permissions; whether auth is on; the auth revision (counts every change).
#[derive(Debug, Clone)]
pub struct AuthStore {
    enabled: bool,
    revision: u64,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
    /// Merged permissions of each user without the root role, rebuilt after every change.
    perms: HashMap<String, UserPerms>,
}

impl Default for AuthStore {
    fn default() -> Self {
        AuthStore::new()
    }
}

impl AuthStore {
    /// An empty store: auth off, revision 1 (as a new etcd reports it).
    pub fn new() -> AuthStore {
        AuthStore {
            enabled: false,
            revision: 1,
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
            perms: HashMap::new(),
        }
    }

    /// Rebuilds the store from its three tables' records (see [`crate::record`]).
    pub fn load(
        auth: &[(Vec<u8>, Vec<u8>)],
        users: &[(Vec<u8>, Vec<u8>)],
        roles: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<AuthStore, RecordError> {
        let mut store = AuthStore::new();
        for (key, value) in auth {
            match key.as_slice() {
                record::ENABLED_KEY => store.enabled = record::decode_enabled(value)?,
                record::REVISION_KEY => store.revision = record::decode_revision(value)?,
                // etcd keeps other keys here in later versions; they do not change who may do what.
                _ => {}
            }
        }
        for (key, value) in users {
            let (name, user) = record::decode_user(key, value)?;
            store.users.insert(name, user);
        }
        for (key, value) in roles {
            let (name, role) = record::decode_role(key, value)?;
            store.roles.insert(name, role);
        }
        store.rebuild_perms();
        Ok(store)
    }

    /// Whether auth is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The auth revision: one more after every change of users, roles or permissions.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Turns auth on; needs a `root` user holding the `root` role. On already: nothing changes.
    pub fn enable(&mut self) -> Result<Vec<Write>, AuthError> {
        if self.enabled {
            return Ok(Vec::new());
        }
        let root = self.users.get(ROOT).ok_or(AuthError::RootUserNotExist)?;
        if !has_root_role(root) {
            return Err(AuthError::RootRoleNotExist);
        }
        self.enabled = true;
        Ok(vec![record::enabled_write(true)])
    }

    /// Turns auth off, which counts as a change (as in etcd, where turning it on does not). Off already:
    /// nothing changes.
    pub fn disable(&mut self) -> Vec<Write> {
        if !self.enabled {
            return Vec::new();
        }
        self.enabled = false;
        self.revision += 1;
        vec![
            record::enabled_write(false),
            record::revision_write(self.revision),
        ]
    }

    /// The stored password of `name`, for a password check before `Authenticate` is proposed.
    pub fn stored_password(&self, name: &str) -> Result<StoredPassword, AuthError> {
        if !self.enabled {
            return Err(AuthError::AuthNotEnabled);
        }
        let user = self.users.get(name).ok_or(AuthError::AuthFailed)?;
        if no_password(user) {
            return Err(AuthError::NoPasswordUser);
        }
        Ok(StoredPassword {
            hash: String::from_utf8_lossy(&user.password).into_owned(),
        })
    }

    /// `Authenticate` as applied: the user must still exist and have a password.
    pub fn authenticate(&self, name: &str) -> Result<(), AuthError> {
        if !self.enabled {
            return Err(AuthError::AuthNotEnabled);
        }
        match self.users.get(name) {
            Some(user) if !no_password(user) => Ok(()),
            _ => Err(AuthError::AuthFailed),
        }
    }

    /// Adds a user with a bcrypt hash (already computed), or with no password.
    pub fn user_add(
        &mut self,
        name: &str,
        password_hash: &str,
        options: Option<UserAddOptions>,
    ) -> Result<Vec<Write>, AuthError> {
        if name.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        if self.users.contains_key(name) {
            return Err(AuthError::UserAlreadyExist);
        }
        let no_password = options.as_ref().is_some_and(|o| o.no_password);
        let user = User {
            name: name.as_bytes().to_vec(),
            password: if no_password {
                Vec::new()
            } else {
                password_hash.as_bytes().to_vec()
            },
            roles: Vec::new(),
            options,
        };
        self.users.insert(name.to_owned(), user);
        Ok(self.changed(&[name], &[]))
    }

    /// Deletes a user (never `root` while auth is on).
    pub fn user_delete(&mut self, name: &str) -> Result<Vec<Write>, AuthError> {
        if self.enabled && name == ROOT {
            return Err(AuthError::InvalidAuthMgmt);
        }
        self.users.remove(name).ok_or(AuthError::UserNotFound)?;
        Ok(self.changed(&[name], &[]))
    }

    /// Replaces a user's password hash.
    pub fn user_change_password(
        &mut self,
        name: &str,
        password_hash: &str,
    ) -> Result<Vec<Write>, AuthError> {
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        user.password = password_hash.as_bytes().to_vec();
        Ok(self.changed(&[name], &[]))
    }

    /// Gives a user a role (`root` need not exist as a role). Held already: nothing changes.
    pub fn user_grant_role(&mut self, name: &str, role: &str) -> Result<Vec<Write>, AuthError> {
        if !self.users.contains_key(name) {
            return Err(AuthError::UserNotFound);
        }
        if role != ROOT && !self.roles.contains_key(role) {
            return Err(AuthError::RoleNotFound);
        }
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        match user.roles.binary_search_by(|r| r.as_str().cmp(role)) {
            Ok(_) => Ok(Vec::new()),
            Err(at) => {
                user.roles.insert(at, role.to_owned());
                Ok(self.changed(&[name], &[]))
            }
        }
    }

    /// Takes a role from a user (not `root`'s root role while auth is on).
    pub fn user_revoke_role(&mut self, name: &str, role: &str) -> Result<Vec<Write>, AuthError> {
        if self.enabled && name == ROOT && role == ROOT {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        let at = user
            .roles
            .iter()
            .position(|r| r == role)
            .ok_or(AuthError::RoleNotGranted)?;
        user.roles.remove(at);
        Ok(self.changed(&[name], &[]))
    }

    /// A user's roles, sorted.
    pub fn user_get(&self, name: &str) -> Result<Vec<String>, AuthError> {
        self.users
            .get(name)
            .map(|u| u.roles.clone())
            .ok_or(AuthError::UserNotFound)
    }

    /// Every user name, sorted.
    pub fn user_list(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// Adds a role with no permissions.
    pub fn role_add(&mut self, name: &str) -> Result<Vec<Write>, AuthError> {
        if name.is_empty() {
            return Err(AuthError::RoleEmpty);
        }
        if self.roles.contains_key(name) {
            return Err(AuthError::RoleAlreadyExist);
        }
        let role = Role {
            name: name.as_bytes().to_vec(),
            key_permission: Vec::new(),
        };
        self.roles.insert(name.to_owned(), role);
        Ok(self.changed(&[], &[name]))
    }

    /// Deletes a role (never `root` while auth is on) and takes it from every user holding it.
    pub fn role_delete(&mut self, name: &str) -> Result<Vec<Write>, AuthError> {
        if self.enabled && name == ROOT {
            return Err(AuthError::InvalidAuthMgmt);
        }
        self.roles.remove(name).ok_or(AuthError::RoleNotFound)?;
        let mut holders = Vec::new();
        for (user_name, user) in &mut self.users {
            if let Some(at) = user.roles.iter().position(|r| r == name) {
                user.roles.remove(at);
                holders.push(user_name.clone());
            }
        }
        let holders: Vec<&str> = holders.iter().map(String::as_str).collect();
        Ok(self.changed(&holders, &[name]))
    }

    /// A role's permissions, sorted by key.
    pub fn role_get(&self, name: &str) -> Result<Vec<Permission>, AuthError> {
        self.roles
            .get(name)
            .map(|r| r.key_permission.clone())
            .ok_or(AuthError::RoleNotFound)
    }

    /// Every role name, sorted.
    pub fn role_list(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    /// Grants a permission; one on the same key and range end changes its type.
    pub fn role_grant_permission(
        &mut self,
        name: &str,
        permission: Option<Permission>,
    ) -> Result<Vec<Write>, AuthError> {
        let permission = permission.ok_or(AuthError::PermissionNotGiven)?;
        let role = self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)?;
        let perms = &mut role.key_permission;
        let at = perms.partition_point(|p| p.key < permission.key);
        match perms[at..]
            .iter_mut()
            .take_while(|p| p.key == permission.key)
            .find(|p| p.range_end == permission.range_end)
        {
            Some(same) => same.perm_type = permission.perm_type,
            None => perms.insert(at, permission),
        }
        Ok(self.changed(&[], &[name]))
    }

    /// Revokes the permission on exactly `key` and `range_end`.
    pub fn role_revoke_permission(
        &mut self,
        name: &str,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<Vec<Write>, AuthError> {
        let role = self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)?;
        let at = role
            .key_permission
            .iter()
            .position(|p| p.key == key && p.range_end == range_end)
            .ok_or(AuthError::PermissionNotGranted)?;
        role.key_permission.remove(at);
        Ok(self.changed(&[], &[name]))
    }

    /// Whether `caller` may `access` the keys `(key, range_end)` (etcd's meaning of a range end).
    pub fn check(
        &self,
        caller: &Caller,
        access: Access,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        self.check_caller(caller)?;
        let Some(user) = self.users.get(&caller.user) else {
            return Err(AuthError::PermissionDenied);
        };
        if has_root_role(user) {
            return Ok(());
        }
        match self.perms.get(&caller.user) {
            Some(perms) if perms.allows(access, key, range_end) => Ok(()),
            _ => Err(AuthError::PermissionDenied),
        }
    }

    /// Whether `caller` may do what only `root` may (user and role management, defragment, member changes).
    pub fn check_admin(&self, caller: &Caller) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        if caller.user.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        let user = self
            .users
            .get(&caller.user)
            .ok_or(AuthError::UserNotFound)?;
        if !has_root_role(user) {
            return Err(AuthError::PermissionDenied);
        }
        Ok(())
    }

    /// `UserGet`: root, or the user asking about itself.
    pub fn check_user_get(&self, caller: &Caller, name: &str) -> Result<(), AuthError> {
        if self.enabled && !caller.user.is_empty() && caller.user == name {
            return Ok(());
        }
        self.check_admin(caller)
    }

    /// `RoleGet`: root, or a user holding the role.
    pub fn check_role_get(&self, caller: &Caller, role: &str) -> Result<(), AuthError> {
        let holds = self
            .users
            .get(&caller.user)
            .is_some_and(|u| u.roles.iter().any(|r| r == role));
        if self.enabled && holds {
            return Ok(());
        }
        self.check_admin(caller)
    }

    /// Whether `name` is a user (a certificate's common name names one).
    pub fn has_user(&self, name: &str) -> bool {
        self.users.contains_key(name)
    }

    fn check_caller(&self, caller: &Caller) -> Result<(), AuthError> {
        // Revision 0 is a caller without an identity (etcd's empty AuthInfo).
        if caller.user.is_empty() || caller.revision == 0 {
            return Err(AuthError::UserEmpty);
        }
        if caller.revision < self.revision {
            return Err(AuthError::AuthOldRevision);
        }
        Ok(())
    }

    /// After a change: the revision moves on, permissions are rebuilt, and the changed records are written.
    fn changed(&mut self, users: &[&str], roles: &[&str]) -> Vec<Write> {
        self.revision += 1;
        self.rebuild_perms();
        let mut writes = vec![record::revision_write(self.revision)];
        for name in users {
            writes.push(record::user_write(name, self.users.get(*name)));
        }
        for name in roles {
            writes.push(record::role_write(name, self.roles.get(*name)));
        }
        writes
    }

    fn rebuild_perms(&mut self) {
        let roles = &self.roles;
        self.perms = self
            .users
            .iter()
            .filter(|(_, user)| !has_root_role(user))
            .map(|(name, user)| {
                let granted = user
                    .roles
                    .iter()
                    .filter_map(|r| roles.get(r))
                    .flat_map(|r| r.key_permission.iter());
                (name.clone(), UserPerms::of(granted))
            })
            .collect();
    }
}

fn has_root_role(user: &User) -> bool {
    user.roles.iter().any(|r| r == ROOT)
}

fn no_password(user: &User) -> bool {
    user.options.as_ref().is_some_and(|o| o.no_password)
}
