//! `/v2/auth/enable`, `/v2/auth/users[/<name>]` and `/v2/auth/roles[/<name>]` as etcd 3.4 answers them:
//! statuses, messages (word for word, periods and all) and JSON shapes, `null` and `[]` kept apart.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::respond::{self, ResponseBody};
use crate::router::not_allowed;
use crate::v2auth::{
    AuthFailure, Credentials, GUEST, Permissions, ROOT, Role, User, V2Auth, failure, hash_password,
};
use etcd_api::v2::Backend;

/// The largest JSON body read (users and roles are small).
const MAX_BODY: usize = 1 << 20;

/// Answers a request under `/v2/auth`; `rest` is the path after it.
pub(crate) async fn handle(
    backend: &dyn Backend,
    method: &Method,
    rest: &str,
    credentials: &Credentials,
    body: Incoming,
) -> Response<ResponseBody> {
    let auth = V2Auth { backend };
    let answer = match rest {
        "/enable" => match *method {
            Method::GET => Ok(enabled_json(auth.enabled())),
            Method::PUT => enable(&auth, credentials).await,
            Method::DELETE => disable(&auth, credentials).await,
            _ => return not_allowed("GET,PUT,DELETE"),
        },
        "/users" | "/users/" => match *method {
            Method::GET => list_users(&auth, credentials).await,
            _ => return not_allowed("GET"),
        },
        "/roles" | "/roles/" => match *method {
            Method::GET => list_roles(&auth, credentials).await,
            _ => return not_allowed("GET"),
        },
        _ => {
            if let Some(name) = rest.strip_prefix("/users/") {
                match *method {
                    Method::GET => get_user(&auth, credentials, name).await,
                    Method::PUT => put_user(&auth, credentials, name, body).await,
                    Method::DELETE => delete_user(&auth, credentials, name).await,
                    _ => return not_allowed("GET,PUT,DELETE"),
                }
            } else if let Some(name) = rest.strip_prefix("/roles/") {
                match *method {
                    Method::GET => get_role(&auth, credentials, name).await,
                    Method::PUT => put_role(&auth, credentials, name, body).await,
                    Method::DELETE => delete_role(&auth, credentials, name).await,
                    _ => return not_allowed("GET,PUT,DELETE"),
                }
            } else {
                return respond::text(StatusCode::NOT_FOUND, "404 page not found");
            }
        }
    };
    answer.unwrap_or_else(|f| {
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        respond::json_message(status, &f.message)
    })
}

type Answer = Result<Response<ResponseBody>, AuthFailure>;

fn insufficient() -> AuthFailure {
    failure(401, "Insufficient credentials")
}

async fn require_root(auth: &V2Auth<'_>, credentials: &Credentials) -> Result<(), AuthFailure> {
    if auth.has_root_access(credentials).await {
        Ok(())
    } else {
        Err(insufficient())
    }
}

fn enabled_json(on: bool) -> Response<ResponseBody> {
    respond::json(StatusCode::OK, format!("{{\"enabled\":{on}}}\n"))
}

fn done() -> Response<ResponseBody> {
    respond::json(StatusCode::OK, String::new())
}

fn to_json(status: StatusCode, value: &impl Serialize) -> Answer {
    let text = serde_json::to_string(value).map_err(|e| failure(500, e.to_string()))?;
    Ok(respond::json(status, format!("{text}\n")))
}

/// etcd's enable/disable handlers read `/2/enabled` once more than the decision needs; the read is kept, since
/// it shows in the store's stats.
fn read_enabled_as_etcd(auth: &V2Auth<'_>) {
    let _ = auth.enabled();
}

async fn enable(auth: &V2Auth<'_>, credentials: &Credentials) -> Answer {
    require_root(auth, credentials).await?;
    read_enabled_as_etcd(auth);
    if auth.enabled() {
        return Err(failure(409, "auth: already enabled"));
    }
    if auth.user(ROOT).is_none() {
        return Err(failure(
            409,
            "auth: No root user available, please create one",
        ));
    }
    if auth.role(GUEST).is_none() {
        auth.put_role(&Role::everything(GUEST), false).await?;
    }
    auth.set_enabled(true).await?;
    tracing::info!("enabled v2 authentication");
    Ok(done())
}

async fn disable(auth: &V2Auth<'_>, credentials: &Credentials) -> Answer {
    require_root(auth, credentials).await?;
    read_enabled_as_etcd(auth);
    if !auth.enabled() {
        return Err(failure(409, "auth: already disabled"));
    }
    auth.set_enabled(false).await?;
    tracing::info!("disabled v2 authentication");
    Ok(done())
}

/// A user with its roles spelled out (roles left out when it has none that exist).
#[derive(Serialize)]
struct UserWithRoles {
    user: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    roles: Vec<Role>,
}

async fn list_users(auth: &V2Auth<'_>, credentials: &Credentials) -> Answer {
    require_root(auth, credentials).await?;
    #[derive(Serialize)]
    struct Users {
        users: Option<Vec<UserWithRoles>>,
    }
    let users: Vec<UserWithRoles> = auth
        .user_names()
        .into_iter()
        .filter_map(|name| auth.user(&name))
        .map(|u| UserWithRoles {
            roles: u.roles().iter().filter_map(|r| auth.role(r)).collect(),
            user: u.user,
        })
        .collect();
    to_json(
        StatusCode::OK,
        &Users {
            users: (!users.is_empty()).then_some(users),
        },
    )
}

async fn get_user(auth: &V2Auth<'_>, credentials: &Credentials, name: &str) -> Answer {
    require_root(auth, credentials).await?;
    let user = auth
        .user(name)
        .ok_or_else(|| failure(404, format!("auth: User {name} does not exist.")))?;
    let mut roles = Vec::new();
    for r in user.roles() {
        roles.push(
            auth.role(r)
                .ok_or_else(|| failure(404, format!("auth: Role {r} does not exist.")))?,
        );
    }
    to_json(
        StatusCode::OK,
        &UserWithRoles {
            user: user.user,
            roles,
        },
    )
}

/// A user as a client sends it.
#[derive(Deserialize)]
struct UserChange {
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    grant: Vec<String>,
    #[serde(default)]
    revoke: Vec<String>,
}

/// A user as etcd answers a change: roles `null` when it never had any.
#[derive(Serialize)]
struct UserAnswer<'a> {
    user: &'a str,
    roles: &'a Option<Vec<String>>,
}

async fn read_json<T: serde::de::DeserializeOwned>(body: Incoming) -> Result<T, AuthFailure> {
    let invalid = || failure(400, "Invalid JSON in request body.");
    let bytes = http_body_util::Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| invalid())?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

async fn put_user(
    auth: &V2Auth<'_>,
    credentials: &Credentials,
    name: &str,
    body: Incoming,
) -> Answer {
    require_root(auth, credentials).await?;
    let change: UserChange = read_json(body).await?;
    if change.user != name {
        return Err(failure(
            400,
            "User JSON name does not match the name in the URL",
        ));
    }
    let (user, created) = if change.grant.is_empty() && change.revoke.is_empty() {
        if change.roles.as_ref().is_some_and(|r| !r.is_empty()) {
            (create_user(auth, change).await?, false)
        } else if auth.user(name).is_some() {
            (update_user(auth, change).await?, false)
        } else {
            (create_user(auth, change).await?, true)
        }
    } else {
        if change.roles.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(failure(
                400,
                "User JSON contains both roles and grant/revoke.",
            ));
        }
        (update_user(auth, change).await?, false)
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    to_json(
        status,
        &UserAnswer {
            user: &user.user,
            roles: &user.roles,
        },
    )
}

async fn create_user(auth: &V2Auth<'_>, change: UserChange) -> Result<User, AuthFailure> {
    if change.password.is_empty() {
        return Err(failure(
            400,
            format!(
                "auth: Cannot create user {} with an empty password",
                change.user
            ),
        ));
    }
    let mut roles = change.roles;
    if change.user == ROOT {
        roles = Some(vec![ROOT.to_owned()]);
    }
    if let Some(roles) = roles.as_mut() {
        roles.sort();
    }
    let user = User {
        password: hash_password(change.password).await?,
        user: change.user,
        roles,
    };
    auth.put_user(&user, false).await?;
    tracing::info!(user = %user.user, "created a v2 user");
    Ok(user)
}

async fn update_user(auth: &V2Auth<'_>, change: UserChange) -> Result<User, AuthFailure> {
    let name = change.user;
    let mut user = auth
        .user(&name)
        .ok_or_else(|| failure(404, format!("auth: User {name} does not exist.")))?;
    let mut roles = user.roles.take().unwrap_or_default();
    for role in change.grant {
        if roles.contains(&role) {
            return Err(failure(
                409,
                format!("auth: Granting duplicate role {role} for user {name}"),
            ));
        }
        roles.push(role);
    }
    for role in change.revoke {
        let Some(at) = roles.iter().position(|r| *r == role) else {
            return Err(failure(
                409,
                format!("auth: Revoking ungranted role {role} for user {name}"),
            ));
        };
        roles.remove(at);
    }
    roles.sort();
    user.roles = Some(roles);
    if !change.password.is_empty() {
        user.password = hash_password(change.password).await?;
    }
    auth.put_user(&user, true).await?;
    Ok(user)
}

async fn delete_user(auth: &V2Auth<'_>, credentials: &Credentials, name: &str) -> Answer {
    require_root(auth, credentials).await?;
    if auth.enabled() && name == ROOT {
        return Err(failure(
            403,
            "auth: Cannot delete root user while auth is enabled.",
        ));
    }
    auth.delete_user(name).await?;
    tracing::info!(user = %name, "deleted a v2 user");
    Ok(done())
}

async fn list_roles(auth: &V2Auth<'_>, credentials: &Credentials) -> Answer {
    require_root(auth, credentials).await?;
    #[derive(Serialize)]
    struct Roles {
        roles: Vec<Role>,
    }
    let roles = auth
        .role_names()
        .iter()
        .filter_map(|name| auth.role(name))
        .collect();
    to_json(StatusCode::OK, &Roles { roles })
}

async fn get_role(auth: &V2Auth<'_>, credentials: &Credentials, name: &str) -> Answer {
    require_root(auth, credentials).await?;
    let role = auth
        .role(name)
        .ok_or_else(|| failure(404, format!("auth: Role {name} does not exist.")))?;
    to_json(StatusCode::OK, &role)
}

/// A role as a client sends it.
#[derive(Deserialize)]
struct RoleChange {
    role: String,
    #[serde(default)]
    permissions: Option<Permissions>,
    #[serde(default)]
    grant: Option<Permissions>,
    #[serde(default)]
    revoke: Option<Permissions>,
}

fn is_empty(p: &Option<Permissions>) -> bool {
    p.as_ref().is_none_or(|p| {
        p.kv.read.as_ref().is_none_or(Vec::is_empty)
            && p.kv.write.as_ref().is_none_or(Vec::is_empty)
    })
}

fn root_is_built_in() -> AuthFailure {
    failure(403, "auth: Cannot modify role root: is root role.")
}

async fn put_role(
    auth: &V2Auth<'_>,
    credentials: &Credentials,
    name: &str,
    body: Incoming,
) -> Answer {
    require_root(auth, credentials).await?;
    let change: RoleChange = read_json(body).await?;
    if change.role != name {
        return Err(failure(
            400,
            "Role JSON name does not match the name in the URL",
        ));
    }
    if is_empty(&change.grant) && is_empty(&change.revoke) {
        if name == ROOT {
            return Err(root_is_built_in());
        }
        let role = Role {
            role: change.role,
            permissions: change.permissions.unwrap_or_default(),
        };
        auth.put_role(&role, false).await?;
        tracing::info!(role = %role.role, "created a v2 role");
        return to_json(StatusCode::CREATED, &role);
    }
    if !is_empty(&change.permissions) {
        return Err(failure(
            400,
            "Role JSON contains both permissions and grant/revoke",
        ));
    }
    if name == ROOT {
        return Err(root_is_built_in());
    }
    let before = auth
        .role(name)
        .ok_or_else(|| failure(404, format!("auth: Role {name} does not exist.")))?;
    let mut role = before.clone();
    if let Some(grant) = change.grant {
        grant_into(&mut role.permissions.kv.read, grant.kv.read, "read")?;
        grant_into(&mut role.permissions.kv.write, grant.kv.write, "write")?;
    }
    if let Some(revoke) = change.revoke {
        revoke_from(&mut role.permissions.kv.read, revoke.kv.read);
        revoke_from(&mut role.permissions.kv.write, revoke.kv.write);
    }
    if role == before {
        return Err(failure(
            400,
            "auth: Role not updated. Use grant/revoke to update the role.",
        ));
    }
    auth.put_role(&role, true).await?;
    to_json(StatusCode::OK, &role)
}

fn grant_into(
    list: &mut Option<Vec<String>>,
    more: Option<Vec<String>>,
    what: &str,
) -> Result<(), AuthFailure> {
    let Some(more) = more else {
        return Ok(());
    };
    let current = list.get_or_insert_with(Vec::new);
    for path in more {
        if current.contains(&path) {
            return Err(failure(
                409,
                format!("auth: Granting duplicate {what} permission {path}"),
            ));
        }
        current.push(path);
    }
    current.sort();
    Ok(())
}

fn revoke_from(list: &mut Option<Vec<String>>, less: Option<Vec<String>>) {
    if let (Some(current), Some(less)) = (list.as_mut(), less) {
        current.retain(|p| !less.contains(p));
    }
}

async fn delete_role(auth: &V2Auth<'_>, credentials: &Credentials, name: &str) -> Answer {
    require_root(auth, credentials).await?;
    if name == ROOT {
        return Err(root_is_built_in());
    }
    auth.delete_role(name).await?;
    tracing::info!(role = %name, "deleted a v2 role");
    Ok(done())
}

impl User {
    /// The role names, none when `null`.
    pub(crate) fn roles(&self) -> &[String] {
        self.roles.as_deref().unwrap_or_default()
    }
}
