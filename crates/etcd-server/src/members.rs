//! Cluster membership as etcd keeps it in the v2 store, under `/0`:
//! `/0/members/<hexid>/raftAttributes` = `{"peerURLs":[...]}` (with `"isLearner":true` for learners),
//! `/0/members/<hexid>/attributes` = `{"name":..,"clientURLs":[...]}`, `/0/removed_members/<hexid>` = `""`.

use etcd_api::v2::Member;
use etcd_api::v2::json::write_string;
use etcd_raft::{MemberChange, MemberChangeKind};
use etcd_store::Store;
use etcd_store::{Depth, Expiry, Naming, NodeValue, Removal};
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct RaftAttributes {
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
    #[serde(rename = "isLearner", default)]
    is_learner: bool,
}

#[derive(Deserialize, Default)]
struct Attributes {
    #[serde(default)]
    name: String,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
}

/// The `raftAttributes` value for these peer URLs.
pub(crate) fn raft_attributes(peer_urls: &[String], learner: bool) -> String {
    let mut out = String::from("{\"peerURLs\":[");
    for (i, url) in peer_urls.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, url);
    }
    out.push(']');
    if learner {
        out.push_str(",\"isLearner\":true");
    }
    out.push('}');
    out
}

/// The context of a membership change (and of a founding member's bootstrap entry): its `raftAttributes`.
pub fn member_context(peer_urls: &[String]) -> Vec<u8> {
    raft_attributes(peer_urls, false).into_bytes()
}

/// The `attributes` value a member publishes.
pub(crate) fn attributes(name: &str, client_urls: &[String]) -> String {
    let mut out = String::from("{\"name\":");
    write_string(&mut out, name);
    out.push_str(",\"clientURLs\":[");
    for (i, url) in client_urls.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, url);
    }
    out.push_str("]}");
    out
}

fn member_dir(id: u64) -> String {
    format!("/0/members/{id:x}")
}

/// The peer URLs in a membership change's context (`{"peerURLs":[...]}`).
pub(crate) fn peer_urls(context: &[u8]) -> Result<Vec<String>, String> {
    serde_json::from_slice::<RaftAttributes>(context)
        .map(|a| a.peer_urls)
        .map_err(|e| format!("the member's attributes are not valid JSON: {e}"))
}

/// Applies a committed membership change to the store, as etcd's apply does. A change that cannot be recorded
/// is an error: the member's view of the cluster would otherwise differ from the others'.
pub(crate) fn apply_change(store: &mut Store, change: &MemberChange) -> Result<(), String> {
    let dir = member_dir(change.node_id);
    let raft_attributes_key = format!("{dir}/raftAttributes");
    let result = match change.kind {
        MemberChangeKind::AddMember | MemberChangeKind::AddLearner => {
            let learner = change.kind == MemberChangeKind::AddLearner;
            let value = raft_attributes(&peer_urls(&change.context)?, learner);
            store
                .create(
                    &raft_attributes_key,
                    NodeValue::File(&value),
                    Naming::AtPath,
                    0,
                    0,
                )
                .map(drop)
        }
        MemberChangeKind::PromoteLearner => {
            let recorded = store
                .peek(&raft_attributes_key, Depth::Shallow, 0)
                .map_err(|e| format!("promoting a learner that is not recorded: {e}"))?
                .node
                .value
                .unwrap_or_default();
            let peers = peer_urls(recorded.as_bytes())?;
            store
                .update(
                    &raft_attributes_key,
                    &raft_attributes(&peers, false),
                    Expiry::NEVER,
                    0,
                )
                .map(drop)
        }
        MemberChangeKind::UpdateMember => {
            let value = raft_attributes(&peer_urls(&change.context)?, false);
            store
                .update(&raft_attributes_key, &value, Expiry::NEVER, 0)
                .map(drop)
        }
        MemberChangeKind::RemoveMember => store
            .delete(&dir, Removal::Recursive, 0)
            .map(drop)
            .and_then(|()| {
                store
                    .create(
                        &format!("/0/removed_members/{:x}", change.node_id),
                        NodeValue::File(""),
                        Naming::AtPath,
                        0,
                        0,
                    )
                    .map(drop)
            }),
    };
    result.map_err(|e| format!("member {:x}: {}", change.node_id, e))
}

/// Every member in the store, sorted by ID.
pub(crate) fn list(store: &Store) -> Vec<Member> {
    records(store).into_iter().map(|(m, _)| m).collect()
}

/// Every member in the store with whether it is a learner, sorted by ID.
pub(crate) fn records(store: &Store) -> Vec<(Member, bool)> {
    let Ok(event) = store.peek("/0/members", Depth::Recursive, 0) else {
        return Vec::new();
    };
    let mut members: Vec<(Member, bool)> = event
        .node
        .nodes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| {
            let id = u64::from_str_radix(dir.key.rsplit('/').next()?, 16).ok()?;
            let mut member = Member {
                id,
                name: String::new(),
                peer_urls: Vec::new(),
                client_urls: Vec::new(),
            };
            let mut learner = false;
            for child in dir.nodes.unwrap_or_default() {
                let value = child.value.unwrap_or_default();
                if child.key.ends_with("/raftAttributes") {
                    let raft = serde_json::from_str::<RaftAttributes>(&value).unwrap_or_default();
                    member.peer_urls = raft.peer_urls;
                    learner = raft.is_learner;
                } else if child.key.ends_with("/attributes") {
                    let a = serde_json::from_str::<Attributes>(&value).unwrap_or_default();
                    member.name = a.name;
                    member.client_urls = a.client_urls;
                }
            }
            Some((member, learner))
        })
        .collect();
    members.sort_by_key(|(m, _)| m.id);
    members
}

/// Whether `id` was removed from the cluster.
pub(crate) fn is_removed(store: &Store, id: u64) -> bool {
    store
        .get(&format!("/0/removed_members/{id:x}"), Depth::Shallow, 0)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_membership_change_that_cannot_be_recorded_is_an_error() {
        let mut store = Store::new();
        let bad_json = MemberChange {
            kind: MemberChangeKind::AddMember,
            node_id: 1,
            context: b"{not json".to_vec(),
        };
        let e = apply_change(&mut store, &bad_json).expect_err("bad JSON");
        assert!(e.contains("not valid JSON"), "{e}");
        let add = MemberChange {
            kind: MemberChangeKind::AddMember,
            node_id: 1,
            context: member_context(&["http://a:2380".to_owned()]),
        };
        apply_change(&mut store, &add).expect("add");
        let e = apply_change(&mut store, &add).expect_err("the member is recorded already");
        assert!(e.starts_with("member 1:"), "{e}");
        let promote_unknown = MemberChange {
            kind: MemberChangeKind::PromoteLearner,
            node_id: 2,
            context: Vec::new(),
        };
        assert!(apply_change(&mut store, &promote_unknown).is_err());
    }

    #[test]
    fn membership_lives_in_the_store_as_etcd_keeps_it() {
        let mut store = Store::new();
        let add = MemberChange {
            kind: MemberChangeKind::AddMember,
            node_id: 0x8e9e05c52164694d,
            context: raft_attributes(&["http://localhost:2380".to_owned()], false).into_bytes(),
        };
        apply_change(&mut store, &add).expect("add");
        assert_eq!(store.index(), 1);
        store
            .set(
                "/0/members/8e9e05c52164694d/attributes",
                NodeValue::File(&attributes(
                    "default",
                    &["http://localhost:2379".to_owned()],
                )),
                Expiry::NEVER,
                0,
            )
            .expect("publish");
        let members = list(&store);
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].name, "default");
        assert_eq!(members[0].client_urls, vec!["http://localhost:2379"]);
        assert_eq!(
            store
                .get(
                    "/0/members/8e9e05c52164694d/raftAttributes",
                    Depth::Shallow,
                    0
                )
                .expect("get")
                .node
                .value
                .as_deref(),
            Some(r#"{"peerURLs":["http://localhost:2380"]}"#)
        );
        let remove = MemberChange {
            kind: MemberChangeKind::RemoveMember,
            node_id: 0x8e9e05c52164694d,
            context: Vec::new(),
        };
        apply_change(&mut store, &remove).expect("remove");
        assert!(list(&store).is_empty());
        assert!(is_removed(&store, 0x8e9e05c52164694d));
        assert_eq!(store.index(), 4, "remove takes two indices, as in etcd");
    }
}
