//! Authentication and permissions on the member: who a request comes from (a token, or a client certificate's
//! common name), whether it may do what it asks, and the auth requests applied from the log.
//!
//! Every request is checked twice: when it arrives (so a refused one never enters the log) and, for those that
//! go through raft, again at apply with the identity and auth revision its entry carries. A change of users,
//! roles or permissions between the two moves the revision, and the apply check then refuses the request as
//! etcd does ("auth: revision in header is old"), so no change is ever missed.
//!
//! Passwords are hashed and checked on the blocking pool, a bounded number at a time (half the cores), never on
//! the apply path: a storm of logins slows logins, not the other requests.

use std::time::{Duration, Instant};

use etcd_auth::{
    Access, AuthError, AuthStore, Caller, JwtTokens, SimpleTokens, Write, password_matches,
    simple_token, simple_token_prefix,
};
use etcd_lease::Lessor;
use etcd_proto::authpb::Permission;
use etcd_proto::etcdrs::InternalAuthenticateRequest;
use etcd_proto::etcdrs::internal_raft_request::Request as Kind;
use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::*;

use crate::server::Server;
use crate::v3::{V3Error, V3Response};

/// How `Authenticate` tokens are made and checked (`--auth-token`, `--auth-token-ttl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOptions {
    /// etcd's `simple` tokens, each alive `ttl` after its last use.
    Simple {
        /// `--auth-token-ttl`.
        ttl: Duration,
    },
    /// Signed JWT tokens.
    Jwt(etcd_auth::JwtOptions),
}

/// What the member's auth is started with.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// `--auth-token`.
    pub token: TokenOptions,
    /// `--bcrypt-cost`.
    pub bcrypt_cost: u32,
    /// `--client-cert-auth`: a client certificate's common name names the user when no token is given.
    pub client_cert_auth: bool,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            token: TokenOptions::Simple {
                ttl: Duration::from_secs(etcd_auth::DEFAULT_TOKEN_TTL_SECS),
            },
            bcrypt_cost: etcd_auth::DEFAULT_BCRYPT_COST,
            client_cert_auth: false,
        }
    }
}

/// The member's auth state.
pub(crate) struct Auth {
    pub(crate) store: parking_lot::RwLock<AuthStore>,
    tokens: parking_lot::Mutex<SimpleTokens>,
    /// With `--auth-token jwt`: the keys (simple tokens are then never made).
    jwt: Option<JwtTokens>,
    options: AuthOptions,
    /// Bounds the password hashes computed at once.
    hashing: tokio::sync::Semaphore,
}

impl Auth {
    pub(crate) fn new(store: AuthStore, options: AuthOptions) -> Result<Auth, String> {
        let (ttl, jwt) = match &options.token {
            TokenOptions::Simple { ttl } => (*ttl, None),
            TokenOptions::Jwt(jwt) => (
                Duration::from_secs(etcd_auth::DEFAULT_TOKEN_TTL_SECS),
                Some(JwtTokens::new(jwt).map_err(|e| e.to_string())?),
            ),
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Auth {
            store: parking_lot::RwLock::new(store),
            tokens: parking_lot::Mutex::new(SimpleTokens::new(ttl)),
            jwt,
            options,
            hashing: tokio::sync::Semaphore::new((cores / 2).max(1)),
        })
    }

    /// `--client-cert-auth`.
    pub(crate) fn client_cert_auth(&self) -> bool {
        self.options.client_cert_auth
    }

    /// Runs a password hash or check on the blocking pool, a bounded number at a time.
    async fn hash<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, V3Error> {
        let _permit = self.hashing.acquire().await.map_err(|_| V3Error::Stopped)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| V3Error::Stopped)
    }
}

/// Reads the auth store from the v3 backend (at start, and after a snapshot replaced the backend).
pub(crate) fn load(store: &etcd_mvcc::Store) -> Result<AuthStore, String> {
    let entries = |table| store.aux_entries(table).map_err(|e| e.to_string());
    AuthStore::load(
        &entries(etcd_auth::AUTH_TABLE)?,
        &entries(etcd_auth::USERS_TABLE)?,
        &entries(etcd_auth::ROLES_TABLE)?,
    )
    .map_err(|e| e.to_string())
}

/// What applying an auth request answers.
#[derive(Debug, Clone)]
pub enum AuthAnswer {
    /// Done; nothing to tell.
    Done,
    /// `AuthStatus`.
    Status {
        /// Whether auth is on.
        enabled: bool,
        /// The auth revision.
        revision: u64,
    },
    /// `Authenticate` with a simple token: the token.
    Token(String),
    /// `Authenticate` with no simple token (JWT): the auth revision the login was applied at.
    Authenticated {
        /// The auth revision.
        revision: u64,
    },
    /// User or role names.
    Names(Vec<String>),
    /// A role's permissions.
    Permissions(Vec<Permission>),
}

/// Whether `kind` is one of the auth store's requests.
pub(crate) fn is_auth_request(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::AuthEnable(_)
            | Kind::AuthDisable(_)
            | Kind::AuthStatus(_)
            | Kind::Authenticate(_)
            | Kind::AuthUserAdd(_)
            | Kind::AuthUserDelete(_)
            | Kind::AuthUserGet(_)
            | Kind::AuthUserChangePassword(_)
            | Kind::AuthUserGrantRole(_)
            | Kind::AuthUserRevokeRole(_)
            | Kind::AuthUserList(_)
            | Kind::AuthRoleList(_)
            | Kind::AuthRoleAdd(_)
            | Kind::AuthRoleDelete(_)
            | Kind::AuthRoleGet(_)
            | Kind::AuthRoleGrantPermission(_)
            | Kind::AuthRoleRevokePermission(_)
    )
}

/// Whether `caller` may make the write `request` (and read what it reads). Writes naming a lease need write
/// permission on every key already attached to it (etcd's rule: whoever may not delete them may not tie a key
/// to their lease either, since revoking it deletes them).
pub(crate) fn check_write(
    store: &AuthStore,
    lessor: &Lessor,
    caller: &Caller,
    request: &Kind,
) -> Result<(), AuthError> {
    if !store.is_enabled() {
        return Ok(());
    }
    match request {
        Kind::Put(put) => check_put(store, lessor, caller, put),
        Kind::DeleteRange(del) => check_delete(store, caller, del),
        Kind::Txn(txn) => check_txn(store, lessor, caller, txn),
        Kind::LeaseRevoke(revoke) => check_lease_keys(store, lessor, caller, revoke.id),
        _ => Ok(()),
    }
}

fn check_put(
    store: &AuthStore,
    lessor: &Lessor,
    caller: &Caller,
    put: &PutRequest,
) -> Result<(), AuthError> {
    store.check(caller, Access::Write, &put.key, b"")?;
    if put.lease != 0 {
        check_lease_keys(store, lessor, caller, put.lease)?;
    }
    if put.prev_kv {
        store.check(caller, Access::Read, &put.key, b"")?;
    }
    Ok(())
}

fn check_delete(
    store: &AuthStore,
    caller: &Caller,
    del: &DeleteRangeRequest,
) -> Result<(), AuthError> {
    store.check(caller, Access::Write, &del.key, &del.range_end)?;
    if del.prev_kv {
        store.check(caller, Access::Read, &del.key, &del.range_end)?;
    }
    Ok(())
}

fn check_lease_keys(
    store: &AuthStore,
    lessor: &Lessor,
    caller: &Caller,
    lease: i64,
) -> Result<(), AuthError> {
    for key in lessor.keys(lease) {
        store.check(caller, Access::Write, &key, b"")?;
    }
    Ok(())
}

/// Every compare and every operation of both branches, nested txns included.
fn check_txn(
    store: &AuthStore,
    lessor: &Lessor,
    caller: &Caller,
    txn: &TxnRequest,
) -> Result<(), AuthError> {
    for cmp in &txn.compare {
        store.check(caller, Access::Read, &cmp.key, &cmp.range_end)?;
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match &op.request {
            Some(Op::RequestRange(r)) => store.check(caller, Access::Read, &r.key, &r.range_end)?,
            Some(Op::RequestPut(p)) => check_put(store, lessor, caller, p)?,
            Some(Op::RequestDeleteRange(d)) => check_delete(store, caller, d)?,
            Some(Op::RequestTxn(t)) => check_txn(store, lessor, caller, t)?,
            None => {}
        }
    }
    Ok(())
}

/// Whether `caller` may make the auth request `kind` (etcd: root only, but a user may read itself and the
/// roles it holds; `Authenticate` is anyone's).
fn check_auth_request(store: &AuthStore, caller: &Caller, kind: &Kind) -> Result<(), AuthError> {
    match kind {
        Kind::Authenticate(_) => Ok(()),
        Kind::AuthUserGet(r) => store.check_user_get(caller, &r.name),
        Kind::AuthRoleGet(r) => store.check_role_get(caller, &r.role),
        _ => store.check_admin(caller),
    }
}

/// Applies one auth request: checked with the entry's identity, changed in the store, its records written in
/// the batch. A refusal is the request's answer; only a backend failure is an error.
pub(crate) fn apply(
    server: &Server,
    batch: &mut etcd_mvcc::WriteBatch<'_>,
    caller: &Caller,
    request: Kind,
    index: u64,
    now: Instant,
) -> etcd_mvcc::Result<Result<V3Response, V3Error>> {
    let auth = &server.auth;
    let mut store = auth.store.write();
    if let Err(e) = check_auth_request(&store, caller, &request) {
        return Ok(Err(e.into()));
    }
    let applied = Applied::of(&request);
    let done = |writes: Vec<Write>| (writes, AuthAnswer::Done);
    let result: Result<(Vec<Write>, AuthAnswer), AuthError> = match request {
        Kind::AuthEnable(_) => store.enable().map(done),
        Kind::AuthDisable(_) => {
            auth.tokens.lock().clear();
            Ok(done(store.disable()))
        }
        Kind::AuthStatus(_) => Ok((
            Vec::new(),
            AuthAnswer::Status {
                enabled: store.is_enabled(),
                revision: store.revision(),
            },
        )),
        Kind::Authenticate(r) => store.authenticate(&r.name).map(|()| {
            if r.simple_token.is_empty() {
                let revision = store.revision();
                return (Vec::new(), AuthAnswer::Authenticated { revision });
            }
            let token = simple_token(&r.simple_token, index);
            auth.tokens.lock().assign(token.clone(), &r.name, now);
            (Vec::new(), AuthAnswer::Token(token))
        }),
        Kind::AuthUserAdd(r) => store
            .user_add(&r.name, &r.hashed_password, r.options)
            .map(done),
        Kind::AuthUserDelete(r) => store.user_delete(&r.name).map(|writes| {
            auth.tokens.lock().forget_user(&r.name);
            done(writes)
        }),
        Kind::AuthUserChangePassword(r) => store
            .user_change_password(&r.name, &r.hashed_password)
            .map(|writes| {
                auth.tokens.lock().forget_user(&r.name);
                done(writes)
            }),
        Kind::AuthUserGrantRole(r) => store.user_grant_role(&r.user, &r.role).map(done),
        Kind::AuthUserRevokeRole(r) => store.user_revoke_role(&r.name, &r.role).map(done),
        Kind::AuthUserGet(r) => store
            .user_get(&r.name)
            .map(|roles| (Vec::new(), AuthAnswer::Names(roles))),
        Kind::AuthUserList(_) => Ok((Vec::new(), AuthAnswer::Names(store.user_list()))),
        Kind::AuthRoleAdd(r) => store.role_add(&r.name).map(done),
        Kind::AuthRoleDelete(r) => store.role_delete(&r.role).map(done),
        Kind::AuthRoleGet(r) => store
            .role_get(&r.role)
            .map(|perms| (Vec::new(), AuthAnswer::Permissions(perms))),
        Kind::AuthRoleList(_) => Ok((Vec::new(), AuthAnswer::Names(store.role_list()))),
        Kind::AuthRoleGrantPermission(r) => store.role_grant_permission(&r.name, r.perm).map(done),
        Kind::AuthRoleRevokePermission(r) => store
            .role_revoke_permission(&r.role, &r.key, &r.range_end)
            .map(done),
        // Not an auth request: the apply loop does not send these here.
        _ => Err(AuthError::InvalidAuthMgmt),
    };
    let (writes, answer) = match result {
        Ok(done) => done,
        Err(e) => return Ok(Err(e.into())),
    };
    if !writes.is_empty() {
        applied.log();
    }
    for w in writes {
        match w.value {
            Some(value) => batch.put_aux(w.table, &w.key, &value)?,
            None => batch.delete_aux(w.table, &w.key)?,
        }
    }
    Ok(Ok(V3Response::Auth(answer)))
}

/// An applied change of the auth store, logged as etcd logs it (on every member).
enum Applied {
    Enabled,
    Disabled,
    UserAdded(String),
    UserDeleted(String),
    PasswordChanged(String),
    RoleGranted(String, String),
    RoleRevoked(String, String),
    RoleAdded(String),
    RoleDeleted(String),
    PermissionGranted(String, String),
    PermissionRevoked(String, String, String),
    Other,
}

impl Applied {
    fn of(request: &Kind) -> Applied {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match request {
            Kind::AuthEnable(_) => Applied::Enabled,
            Kind::AuthDisable(_) => Applied::Disabled,
            Kind::AuthUserAdd(r) => Applied::UserAdded(r.name.clone()),
            Kind::AuthUserDelete(r) => Applied::UserDeleted(r.name.clone()),
            Kind::AuthUserChangePassword(r) => Applied::PasswordChanged(r.name.clone()),
            Kind::AuthUserGrantRole(r) => Applied::RoleGranted(r.user.clone(), r.role.clone()),
            Kind::AuthUserRevokeRole(r) => Applied::RoleRevoked(r.name.clone(), r.role.clone()),
            Kind::AuthRoleAdd(r) => Applied::RoleAdded(r.name.clone()),
            Kind::AuthRoleDelete(r) => Applied::RoleDeleted(r.role.clone()),
            Kind::AuthRoleGrantPermission(r) => {
                let kind = r
                    .perm
                    .as_ref()
                    .and_then(|p| etcd_proto::authpb::permission::Type::try_from(p.perm_type).ok())
                    .map_or("UNKNOWN", |t| t.as_str_name());
                Applied::PermissionGranted(r.name.clone(), kind.to_owned())
            }
            Kind::AuthRoleRevokePermission(r) => {
                Applied::PermissionRevoked(r.role.clone(), text(&r.key), text(&r.range_end))
            }
            _ => Applied::Other,
        }
    }

    fn log(&self) {
        match self {
            Applied::Enabled => tracing::info!("enabled authentication"),
            Applied::Disabled => tracing::info!("disabled authentication"),
            Applied::UserAdded(user) => tracing::info!(user_name = %user, "added a user"),
            Applied::UserDeleted(user) => tracing::info!(user_name = %user, "deleted a user"),
            Applied::PasswordChanged(user) => {
                tracing::info!(user_name = %user, "changed a password of a user")
            }
            Applied::RoleGranted(user, role) => {
                tracing::info!(user_name = %user, added_role_name = %role, "granted a role to a user")
            }
            Applied::RoleRevoked(user, role) => {
                tracing::info!(user_name = %user, revoked_role_name = %role, "revoked a role from a user")
            }
            Applied::RoleAdded(role) => tracing::info!(role_name = %role, "created a role"),
            Applied::RoleDeleted(role) => tracing::info!(role_name = %role, "deleted a role"),
            Applied::PermissionGranted(role, kind) => tracing::info!(
                role_name = %role,
                permission_name = %kind,
                "granted/updated a permission to a role"
            ),
            Applied::PermissionRevoked(role, key, end) => tracing::info!(
                role_name = %role,
                key = %key,
                range_end = %end,
                "revoked a permission on range"
            ),
            Applied::Other => {}
        }
    }
}

impl Server {
    /// Who a request comes from: the user its token names, else (with `--client-cert-auth`) its client
    /// certificate's common name, else nobody. A token is checked even while auth is off, as etcd does (an
    /// unknown one is refused); nothing else is then checked.
    pub fn caller(
        &self,
        token: Option<&str>,
        common_name: Option<&str>,
    ) -> Result<Caller, V3Error> {
        let store = self.auth.store.read();
        let revision = store.revision();
        if let (Some(token), Some(jwt)) = (token, &self.auth.jwt) {
            let (user, revision) = jwt.check(token, unix_seconds())?;
            return Ok(Caller { user, revision });
        }
        if let Some(token) = token {
            let user = self
                .auth
                .tokens
                .lock()
                .user_of(token, Instant::now())
                .ok_or(AuthError::InvalidAuthToken)?;
            return Ok(Caller { user, revision });
        }
        match common_name {
            Some(cn)
                if self.auth.options.client_cert_auth && !cn.is_empty() && store.is_enabled() =>
            {
                Ok(Caller {
                    user: cn.to_owned(),
                    revision,
                })
            }
            _ => Ok(Caller::anonymous()),
        }
    }

    /// Whether `caller` may read `(key, range_end)` (a watch, a range).
    pub fn check_read(&self, caller: &Caller, key: &[u8], range_end: &[u8]) -> Result<(), V3Error> {
        Ok(self
            .auth
            .store
            .read()
            .check(caller, Access::Read, key, range_end)?)
    }

    /// Whether `caller` may make the write `request`, as the apply loop will check it.
    pub(crate) fn check_write(&self, caller: &Caller, request: &Kind) -> Result<(), V3Error> {
        if !self.auth.store.read().is_enabled() {
            return Ok(());
        }
        // The apply loop's order: the lessor, then the auth store. Taking them the other way round here
        // deadlocked a write against an applied login (the login waits for the store's write lock while
        // holding the lessor; this read waited for the lessor while holding the store).
        let lessor = self.leases.lessor.lock();
        let store = self.auth.store.read();
        Ok(check_write(&store, &lessor, caller, request)?)
    }

    /// Whether `caller` is root (member changes), refused with etcd's gRPC texts.
    pub(crate) fn check_admin(&self, caller: &Caller) -> Result<(), V3Error> {
        Ok(self.auth.store.read().check_admin(caller)?)
    }

    /// Whether `caller` is root, refused as etcd's Maintenance service refuses it: the auth package's own
    /// text, gRPC code Unknown.
    pub(crate) fn check_admin_maintenance(&self, caller: &Caller) -> Result<(), V3Error> {
        self.auth
            .store
            .read()
            .check_admin(caller)
            .map_err(V3Error::AuthUnknown)
    }

    /// `AuthEnable`.
    pub async fn auth_enable(&self, caller: &Caller) -> Result<AuthEnableResponse, V3Error> {
        self.propose_auth(caller, Kind::AuthEnable(AuthEnableRequest {}))
            .await?;
        Ok(AuthEnableResponse {
            header: Some(self.auth_header()),
        })
    }

    /// `AuthDisable`.
    pub async fn auth_disable(&self, caller: &Caller) -> Result<AuthDisableResponse, V3Error> {
        self.propose_auth(caller, Kind::AuthDisable(AuthDisableRequest {}))
            .await?;
        Ok(AuthDisableResponse {
            header: Some(self.auth_header()),
        })
    }

    /// `AuthStatus`.
    pub async fn auth_status(&self, caller: &Caller) -> Result<AuthStatusResponse, V3Error> {
        match self
            .propose_auth(caller, Kind::AuthStatus(AuthStatusRequest {}))
            .await?
        {
            AuthAnswer::Status { enabled, revision } => Ok(AuthStatusResponse {
                header: Some(self.auth_header()),
                enabled,
                auth_revision: revision,
            }),
            _ => Err(V3Error::Canceled),
        }
    }

    /// `Authenticate`: the password is checked here (off the apply path), then the login goes through raft so
    /// every member knows the token.
    pub async fn authenticate(
        &self,
        req: AuthenticateRequest,
    ) -> Result<AuthenticateResponse, V3Error> {
        let stored = self.auth.store.read().stored_password(&req.name)?;
        let password = req.password;
        let matches = self
            .auth
            .hash(move || password_matches(&password, &stored.hash))
            .await?;
        if !matches {
            tracing::warn!(user = %req.name, "invalid password");
            return Err(AuthError::AuthFailed.into());
        }
        if self.auth.jwt.as_ref().is_some_and(|jwt| !jwt.can_sign()) {
            return Err(V3Error::Auth(AuthError::VerifyOnly));
        }
        let login = InternalAuthenticateRequest {
            name: req.name.clone(),
            password: String::new(),
            simple_token: if self.auth.jwt.is_some() {
                String::new()
            } else {
                simple_token_prefix()
            },
        };
        let token = match self
            .propose_auth(&Caller::anonymous(), Kind::Authenticate(login))
            .await?
        {
            AuthAnswer::Token(token) => token,
            AuthAnswer::Authenticated { revision } => match &self.auth.jwt {
                Some(jwt) => jwt.sign(&req.name, revision, unix_seconds())?,
                None => return Err(V3Error::Canceled),
            },
            _ => return Err(V3Error::Canceled),
        };
        tracing::debug!(user = %req.name, "authenticated a user");
        Ok(AuthenticateResponse {
            header: Some(self.auth_header()),
            token,
        })
    }

    /// `UserAdd`: the password is hashed here, so only its hash enters the log.
    pub async fn user_add(
        &self,
        caller: &Caller,
        mut req: AuthUserAddRequest,
    ) -> Result<AuthUserAddResponse, V3Error> {
        // Refused before the (slow) hash is made; apply checks again.
        self.check_admin(caller)?;
        let no_password = req.options.as_ref().is_some_and(|o| o.no_password);
        if !no_password && req.hashed_password.is_empty() {
            req.hashed_password = self
                .hash_password(std::mem::take(&mut req.password))
                .await?;
        }
        req.password.clear();
        self.propose_auth(caller, Kind::AuthUserAdd(req)).await?;
        Ok(AuthUserAddResponse {
            header: Some(self.auth_header()),
        })
    }

    /// `UserChangePassword`: hashed here, as `UserAdd`.
    pub async fn user_change_password(
        &self,
        caller: &Caller,
        mut req: AuthUserChangePasswordRequest,
    ) -> Result<AuthUserChangePasswordResponse, V3Error> {
        self.check_admin(caller)?;
        if req.hashed_password.is_empty() {
            req.hashed_password = self
                .hash_password(std::mem::take(&mut req.password))
                .await?;
        }
        req.password.clear();
        self.propose_auth(caller, Kind::AuthUserChangePassword(req))
            .await?;
        Ok(AuthUserChangePasswordResponse {
            header: Some(self.auth_header()),
        })
    }

    /// `UserGet`.
    pub async fn user_get(
        &self,
        caller: &Caller,
        req: AuthUserGetRequest,
    ) -> Result<AuthUserGetResponse, V3Error> {
        let roles = self.names(caller, Kind::AuthUserGet(req)).await?;
        Ok(AuthUserGetResponse {
            header: Some(self.auth_header()),
            roles,
        })
    }

    /// `UserList`.
    pub async fn user_list(&self, caller: &Caller) -> Result<AuthUserListResponse, V3Error> {
        let users = self
            .names(caller, Kind::AuthUserList(AuthUserListRequest {}))
            .await?;
        Ok(AuthUserListResponse {
            header: Some(self.auth_header()),
            users,
        })
    }

    /// `RoleList`.
    pub async fn role_list(&self, caller: &Caller) -> Result<AuthRoleListResponse, V3Error> {
        let roles = self
            .names(caller, Kind::AuthRoleList(AuthRoleListRequest {}))
            .await?;
        Ok(AuthRoleListResponse {
            header: Some(self.auth_header()),
            roles,
        })
    }

    /// `RoleGet`.
    pub async fn role_get(
        &self,
        caller: &Caller,
        req: AuthRoleGetRequest,
    ) -> Result<AuthRoleGetResponse, V3Error> {
        match self.propose_auth(caller, Kind::AuthRoleGet(req)).await? {
            AuthAnswer::Permissions(perm) => Ok(AuthRoleGetResponse {
                header: Some(self.auth_header()),
                perm,
            }),
            _ => Err(V3Error::Canceled),
        }
    }

    /// The auth requests answered with a header alone: user delete, grant and revoke of roles; role add,
    /// delete, grant and revoke of permissions. `kind` must be one of them.
    pub async fn auth_change(
        &self,
        caller: &Caller,
        kind: Kind,
    ) -> Result<ResponseHeader, V3Error> {
        self.propose_auth(caller, kind).await?;
        Ok(self.auth_header())
    }

    async fn names(&self, caller: &Caller, kind: Kind) -> Result<Vec<String>, V3Error> {
        match self.propose_auth(caller, kind).await? {
            AuthAnswer::Names(names) => Ok(names),
            _ => Err(V3Error::Canceled),
        }
    }

    async fn hash_password(&self, password: String) -> Result<String, V3Error> {
        let cost = self.auth.options.bcrypt_cost;
        self.auth
            .hash(move || etcd_auth::hash_password(&password, cost))
            .await?
            .map_err(|e| V3Error::Internal(e.to_string()))
    }

    /// Proposes an auth request under `caller`, checked first as apply will check it.
    async fn propose_auth(&self, caller: &Caller, kind: Kind) -> Result<AuthAnswer, V3Error> {
        check_auth_request(&self.auth.store.read(), caller, &kind)?;
        match self.propose_v3_as(caller, kind).await? {
            V3Response::Auth(answer) => Ok(answer),
            _ => Err(V3Error::Canceled),
        }
    }

    /// Auth responses carry the key-value store's revision, as etcd's do.
    fn auth_header(&self) -> ResponseHeader {
        self.header(self.mvcc().current_revision())
    }
}

/// Now, in whole seconds of Unix time (JWT expiry).
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
