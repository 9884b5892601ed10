//! The auth store's errors, with both of etcd's texts: the gRPC one clients match on (`etcdserver: …`) and the
//! auth package's own (`auth: …`), which etcd's Maintenance service and a few paths return as they are.

/// Why an auth operation or a permission check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// `AuthEnable` without a `root` user.
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    /// `AuthEnable` while `root` lacks the `root` role.
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    /// `UserAdd` of a name in use.
    #[error("etcdserver: user name already exists")]
    UserAlreadyExist,
    /// An empty user name, or a request without a user while auth is on.
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    /// No user has the name.
    #[error("etcdserver: user name not found")]
    UserNotFound,
    /// `RoleAdd` of a name in use.
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExist,
    /// No role has the name.
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    /// An empty role name.
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    /// `RoleGrantPermission` without a permission.
    #[error("etcdserver: permission not given")]
    PermissionNotGiven,
    /// A wrong user name or password.
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    /// A password given for a user created with `--no-password`.
    #[error("auth: authentication failed, password was given for no password user")]
    NoPasswordUser,
    /// The user may not do this.
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    /// `UserRevokeRole` of a role the user does not have.
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    /// `RoleRevokePermission` of a permission the role does not have.
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    /// `Authenticate` while auth is off.
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    /// A token that is unknown, expired, malformed or of another signer.
    #[error("etcdserver: invalid auth token")]
    InvalidAuthToken,
    /// Deleting `root`, its role, or taking the `root` role from it while auth is on.
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
    /// The auth store changed since the caller's identity was established (a JWT's revision, or a change
    /// between a request's check and its apply). etcd 3.5 answers it with the auth package's own text.
    #[error("auth: revision in header is old")]
    AuthOldRevision,
    /// `Authenticate` on a member that has only the public JWT key.
    #[error("auth: token signing attempted with verify-only key")]
    VerifyOnly,
}

impl AuthError {
    /// The auth package's own text (etcd's Maintenance service answers these, with gRPC code Unknown).
    pub fn package_text(&self) -> &'static str {
        match self {
            AuthError::RootUserNotExist => "auth: root user does not exist",
            AuthError::RootRoleNotExist => "auth: root user does not have root role",
            AuthError::UserAlreadyExist => "auth: user already exists",
            AuthError::UserEmpty => "auth: user name is empty",
            AuthError::UserNotFound => "auth: user not found",
            AuthError::RoleAlreadyExist => "auth: role already exists",
            AuthError::RoleNotFound => "auth: role not found",
            AuthError::RoleEmpty => "auth: role name is empty",
            AuthError::PermissionNotGiven => "auth: permission not given",
            AuthError::AuthFailed => "auth: authentication failed, invalid user ID or password",
            AuthError::NoPasswordUser => {
                "auth: authentication failed, password was given for no password user"
            }
            AuthError::PermissionDenied => "auth: permission denied",
            AuthError::RoleNotGranted => "auth: role is not granted to the user",
            AuthError::PermissionNotGranted => "auth: permission is not granted to the role",
            AuthError::AuthNotEnabled => "auth: authentication is not enabled",
            AuthError::InvalidAuthToken => "auth: invalid auth token",
            AuthError::InvalidAuthMgmt => "auth: invalid auth management",
            AuthError::AuthOldRevision => "auth: revision in header is old",
            AuthError::VerifyOnly => "auth: token signing attempted with verify-only key",
        }
    }
}
