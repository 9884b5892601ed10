//! The auth store against what etcd 3.5.1 answered to the same sequence of etcdctl commands (revisions, order
//! of permissions, errors), and its records read back.

use std::collections::BTreeMap;

use etcd_auth::{Access, AuthError, AuthStore, Caller, ROOT, Write};
use etcd_proto::authpb::{Permission, UserAddOptions, permission::Type};

fn perm(t: Type, key: &str, end: &str) -> Option<Permission> {
    Some(Permission {
        perm_type: t as i32,
        key: key.as_bytes().to_vec(),
        range_end: end.as_bytes().to_vec(),
    })
}

/// The backend tables, as the writes leave them.
#[derive(Default)]
struct Tables(BTreeMap<&'static str, BTreeMap<Vec<u8>, Vec<u8>>>);

impl Tables {
    fn apply(&mut self, writes: Vec<Write>) {
        for w in writes {
            let table = self.0.entry(w.table).or_default();
            match w.value {
                Some(v) => {
                    table.insert(w.key, v);
                }
                None => {
                    table.remove(&w.key);
                }
            }
        }
    }

    fn entries(&self, table: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.0
            .get(table)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    fn load(&self) -> AuthStore {
        AuthStore::load(
            &self.entries(etcd_auth::AUTH_TABLE),
            &self.entries(etcd_auth::USERS_TABLE),
            &self.entries(etcd_auth::ROLES_TABLE),
        )
        .expect("load")
    }
}

#[test]
fn revisions_errors_and_order_as_etcd_answers_them() {
    let mut a = AuthStore::new();
    let mut t = Tables::default();
    assert_eq!(a.revision(), 1);
    assert_eq!(a.enable(), Err(AuthError::RootUserNotExist));
    assert_eq!(a.user_get("nobody"), Err(AuthError::UserNotFound));
    assert_eq!(a.role_get("nobody"), Err(AuthError::RoleNotFound));
    t.apply(a.user_add("alice", "h1", None).expect("alice"));
    assert_eq!(
        a.user_add("alice", "h2", None),
        Err(AuthError::UserAlreadyExist)
    );
    let no_password = Some(UserAddOptions { no_password: true });
    t.apply(a.user_add("bob", "", no_password).expect("bob"));
    assert_eq!(a.user_add("", "h", None), Err(AuthError::UserEmpty));
    t.apply(a.user_add("carol", "h", None).expect("carol"));
    t.apply(a.user_add("dave", "h", None).expect("dave"));
    assert_eq!(a.role_add(""), Err(AuthError::RoleEmpty));
    t.apply(a.role_add("reader").expect("reader"));
    assert_eq!(a.role_add("reader"), Err(AuthError::RoleAlreadyExist));
    t.apply(a.role_add("writer").expect("writer"));
    t.apply(a.role_add(ROOT).expect("root"));
    for p in [
        perm(Type::Read, "foo", ""),
        perm(Type::Read, "dir/", "dir0"),
        perm(Type::Read, "zz", "\0"),
        perm(Type::Read, "a", "c"),
        perm(Type::Readwrite, "a", "c"),
        perm(Type::Write, "a", "c"),
    ] {
        t.apply(a.role_grant_permission("reader", p).expect("grant"));
    }
    assert_eq!(
        a.role_grant_permission("nobody", perm(Type::Read, "foo", "")),
        Err(AuthError::RoleNotFound)
    );
    assert_eq!(
        a.role_grant_permission("reader", None),
        Err(AuthError::PermissionNotGiven)
    );
    t.apply(
        a.role_grant_permission("writer", perm(Type::Readwrite, "w/", "w0"))
            .expect("grant"),
    );
    t.apply(
        a.role_grant_permission("writer", perm(Type::Write, "foo", ""))
            .expect("grant"),
    );
    let keys: Vec<(String, i32)> = a
        .role_get("reader")
        .expect("reader")
        .iter()
        .map(|p| (String::from_utf8_lossy(&p.key).into_owned(), p.perm_type))
        .collect();
    assert_eq!(
        keys,
        [
            ("a".to_owned(), Type::Write as i32),
            ("dir/".to_owned(), 0),
            ("foo".to_owned(), 0),
            ("zz".to_owned(), 0)
        ]
    );
    t.apply(
        a.role_revoke_permission("reader", b"foo", b"")
            .expect("revoke"),
    );
    assert_eq!(
        a.role_revoke_permission("reader", b"foo", b""),
        Err(AuthError::PermissionNotGranted)
    );
    t.apply(
        a.role_revoke_permission("reader", b"a", b"c")
            .expect("revoke"),
    );
    assert_eq!(
        a.role_revoke_permission("nobody", b"foo", b""),
        Err(AuthError::RoleNotFound)
    );
    t.apply(a.user_grant_role("alice", "reader").expect("grant"));
    assert_eq!(a.user_grant_role("alice", "reader"), Ok(Vec::new()));
    t.apply(a.user_grant_role("alice", "writer").expect("grant"));
    assert_eq!(
        a.user_grant_role("alice", "nobody"),
        Err(AuthError::RoleNotFound)
    );
    assert_eq!(
        a.user_grant_role("nobody", "reader"),
        Err(AuthError::UserNotFound)
    );
    assert_eq!(
        a.user_get("alice"),
        Ok(vec!["reader".into(), "writer".into()])
    );
    t.apply(a.user_revoke_role("alice", "writer").expect("revoke"));
    assert_eq!(
        a.user_revoke_role("alice", "writer"),
        Err(AuthError::RoleNotGranted)
    );
    t.apply(a.user_change_password("alice", "h3").expect("passwd"));
    t.apply(a.user_change_password("alice", "h4").expect("passwd"));
    assert_eq!(
        a.user_change_password("nobody", "h"),
        Err(AuthError::UserNotFound)
    );
    t.apply(a.user_delete("carol").expect("delete"));
    assert_eq!(a.user_delete("carol"), Err(AuthError::UserNotFound));
    t.apply(a.role_delete("writer").expect("delete"));
    assert_eq!(a.role_delete("writer"), Err(AuthError::RoleNotFound));
    // etcd 3.5.1 reported AuthRevision 25 at this point of the same script.
    assert_eq!(a.revision(), 25);
    assert_eq!(a.disable(), Vec::new());
    t.apply(a.user_add(ROOT, "h", None).expect("root"));
    assert_eq!(a.enable(), Err(AuthError::RootRoleNotExist));
    t.apply(a.user_grant_role(ROOT, ROOT).expect("grant"));
    t.apply(a.enable().expect("enable"));
    assert_eq!(a.enable(), Ok(Vec::new()));
    assert_eq!(a.revision(), 27, "enabling does not count");
    assert_eq!(a.user_list(), ["alice", "bob", "dave", "root"]);
    let mut off = a.clone();
    off.disable();
    assert_eq!(off.revision(), 28, "disabling counts");
    assert_eq!(a.role_list(), ["reader", "root"]);

    // While auth is on, root keeps its name and role.
    assert_eq!(a.user_delete(ROOT), Err(AuthError::InvalidAuthMgmt));
    assert_eq!(a.role_delete(ROOT), Err(AuthError::InvalidAuthMgmt));
    assert_eq!(
        a.user_revoke_role(ROOT, ROOT),
        Err(AuthError::InvalidAuthMgmt)
    );

    let reloaded = t.load();
    assert!(reloaded.is_enabled());
    assert_eq!(reloaded.revision(), 27);
    assert_eq!(reloaded.user_list(), a.user_list());
    assert_eq!(reloaded.role_get("reader"), a.role_get("reader"));
    assert_eq!(reloaded.user_get("alice"), a.user_get("alice"));
}

#[test]
fn checks_follow_the_caller_and_the_revision() {
    let mut a = AuthStore::new();
    a.user_add(ROOT, "h", None).expect("root");
    a.user_grant_role(ROOT, ROOT).expect("grant");
    a.user_add("alice", "h", None).expect("alice");
    a.role_add("rw").expect("role");
    a.role_grant_permission("rw", perm(Type::Readwrite, "rw/", "rw0"))
        .expect("grant");
    a.user_grant_role("alice", "rw").expect("grant");
    // Auth off: everything is allowed, for anyone.
    assert_eq!(
        a.check(&Caller::anonymous(), Access::Write, b"x", b""),
        Ok(())
    );
    a.enable().expect("enable");
    let at = |user: &str, a: &AuthStore| Caller {
        user: user.into(),
        revision: a.revision(),
    };
    let alice = at("alice", &a);
    let root = at(ROOT, &a);
    assert_eq!(a.check(&alice, Access::Write, b"rw/a", b""), Ok(()));
    assert_eq!(a.check(&root, Access::Write, b"", b"\0"), Ok(()));
    assert_eq!(
        a.check(&at("ghost", &a), Access::Read, b"rw/a", b""),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(a.check_admin(&alice), Err(AuthError::PermissionDenied));
    assert_eq!(a.check_admin(&root), Ok(()));
    assert_eq!(
        a.check_admin(&Caller::anonymous()),
        Err(AuthError::UserEmpty)
    );
    assert_eq!(
        a.check_admin(&at("ghost", &a)),
        Err(AuthError::UserNotFound)
    );
    assert_eq!(a.check_user_get(&alice, "alice"), Ok(()));
    assert_eq!(
        a.check_user_get(&alice, "root"),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(a.check_role_get(&alice, "rw"), Ok(()));
    assert_eq!(
        a.check_role_get(&alice, ROOT),
        Err(AuthError::PermissionDenied)
    );
    // A change after the caller's identity was established: its requests must be checked again.
    a.role_revoke_permission("rw", b"rw/", b"rw0")
        .expect("revoke");
    assert_eq!(
        a.check(&alice, Access::Write, b"rw/a", b""),
        Err(AuthError::AuthOldRevision)
    );
    assert_eq!(
        a.check(&at("alice", &a), Access::Write, b"rw/a", b""),
        Err(AuthError::PermissionDenied)
    );
}

#[test]
fn passwords_are_checked_only_for_users_that_have_one() {
    let mut a = AuthStore::new();
    a.user_add(ROOT, "h", None).expect("root");
    a.user_grant_role(ROOT, ROOT).expect("grant");
    a.user_add("bob", "", Some(UserAddOptions { no_password: true }))
        .expect("bob");
    assert_eq!(
        a.stored_password(ROOT),
        Err(AuthError::AuthNotEnabled),
        "no logins while auth is off"
    );
    a.enable().expect("enable");
    assert_eq!(a.stored_password(ROOT).map(|p| p.hash), Ok("h".into()));
    assert_eq!(a.stored_password("bob"), Err(AuthError::NoPasswordUser));
    assert_eq!(a.stored_password("ghost"), Err(AuthError::AuthFailed));
    assert_eq!(a.authenticate(ROOT), Ok(()));
    assert_eq!(a.authenticate("bob"), Err(AuthError::AuthFailed));
}
