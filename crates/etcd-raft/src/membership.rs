//! Membership on the raft log: the bootstrap entries of a new cluster, the conf state a log implies, and the
//! layout of the context our conf changes carry.

use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState};

use crate::disk::{DiskLog, Recovered};
use crate::error::RaftError;
use crate::types::{Bootstrap, MemberChangeKind};
use crate::wire;

/// Splits a conf change's context into (kind, proposer's sequence, application bytes). The layout is ours:
/// one kind byte, the proposer's 16-byte context (member ID, sequence), then the application's bytes. Bootstrap
/// entries carry the kind byte and the application's bytes only.
pub(crate) fn split_change_context(
    ctx: &[u8],
    change_type: ConfChangeType,
) -> (MemberChangeKind, Option<u64>, Vec<u8>) {
    let default_kind = match change_type {
        ConfChangeType::AddNode => MemberChangeKind::AddMember,
        ConfChangeType::RemoveNode => MemberChangeKind::RemoveMember,
        ConfChangeType::AddLearnerNode => MemberChangeKind::AddLearner,
    };
    let Some((&kind_byte, rest)) = ctx.split_first() else {
        return (default_kind, None, Vec::new());
    };
    let kind = MemberChangeKind::from_byte(kind_byte).unwrap_or(default_kind);
    if rest.len() >= 16 && rest[..8] != [0; 8] {
        let seq = u64::from_be_bytes(rest[8..16].try_into().unwrap_or([0; 8]));
        (kind, Some(seq), rest[16..].to_vec())
    } else {
        (kind, None, rest.get(16..).unwrap_or_default().to_vec())
    }
}

pub(crate) fn own_id(ctx: &[u8]) -> Option<u64> {
    let id: [u8; 8] = ctx.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(id))
}

/// The first entries of a new member's log.
pub(crate) fn bootstrap_log(bootstrap: &Bootstrap) -> (Vec<Entry>, HardState) {
    let Bootstrap::NewCluster(members) = bootstrap else {
        return (Vec::new(), HardState::default());
    };
    let mut members = members.clone();
    members.sort_by_key(|m| m.id);
    let entries: Vec<Entry> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut cc = ConfChange::default();
            cc.change_type = ConfChangeType::AddNode;
            cc.node_id = m.id;
            // Kind byte, an all-zero proposer context (no waiter), then the application's bytes.
            let mut context = vec![MemberChangeKind::AddMember.to_byte()];
            context.extend_from_slice(&[0; 16]);
            context.extend_from_slice(&m.context);
            cc.context = context.into();
            let mut e = Entry::default();
            e.entry_type = EntryType::EntryConfChange;
            e.term = 1;
            e.index = i as u64 + 1;
            e.data = wire::encode_conf_change(&cc).into();
            e
        })
        .collect();
    let mut hs = HardState::default();
    hs.term = 1;
    hs.commit = entries.len() as u64;
    (entries, hs)
}

/// The configuration after the committed conf changes in `entries`, starting from `base`.
pub(crate) fn replay_conf_changes(
    mut conf: ConfState,
    entries: &[Entry],
    commit: u64,
) -> ConfState {
    for e in entries
        .iter()
        .filter(|e| e.index <= commit && e.entry_type == EntryType::EntryConfChange)
    {
        let Ok(cc) = wire::decode_conf_change(&e.data) else {
            continue;
        };
        let id = cc.node_id;
        match cc.change_type {
            ConfChangeType::AddNode => {
                conf.learners.retain(|l| *l != id);
                if !conf.voters.contains(&id) {
                    conf.voters.push(id);
                }
            }
            ConfChangeType::AddLearnerNode => {
                if !conf.voters.contains(&id) && !conf.learners.contains(&id) {
                    conf.learners.push(id);
                }
            }
            ConfChangeType::RemoveNode => {
                conf.voters.retain(|v| *v != id);
                conf.learners.retain(|l| *l != id);
            }
        }
    }
    conf
}

/// etcd's `--force-new-cluster`: keep only the committed log, then commit changes that remove every other
/// member (and add this one if it was not a voter), so the member restarts as a one-member cluster with its data.
pub(crate) fn force_single_member(
    disk: &mut DiskLog,
    recovered: &mut Recovered,
    id: u64,
) -> Result<(), RaftError> {
    let commit = recovered.hard_state.commit;
    recovered.entries.retain(|e| e.index <= commit);
    let (snapshot_index, snapshot_term, base) = match &recovered.snapshot {
        Some(s) => {
            let m = s.get_metadata();
            (m.index, m.term, m.get_conf_state().clone())
        }
        None => (0, 0, ConfState::default()),
    };
    let conf = replay_conf_changes(base, &recovered.entries, commit);
    let (last_index, last_term) = recovered
        .entries
        .last()
        .map_or((snapshot_index, snapshot_term), |e| (e.index, e.term));
    let term = recovered.hard_state.term.max(last_term).max(1);
    let mut changes: Vec<(ConfChangeType, u64, MemberChangeKind)> = conf
        .voters
        .iter()
        .chain(conf.learners.iter())
        .filter(|m| **m != id)
        .map(|m| {
            (
                ConfChangeType::RemoveNode,
                *m,
                MemberChangeKind::RemoveMember,
            )
        })
        .collect();
    if !conf.voters.contains(&id) {
        changes.push((ConfChangeType::AddNode, id, MemberChangeKind::AddMember));
    }
    let added: Vec<Entry> = changes
        .into_iter()
        .enumerate()
        .map(|(i, (change_type, node_id, kind))| {
            let mut cc = ConfChange::default();
            cc.change_type = change_type;
            cc.node_id = node_id;
            let mut context = vec![kind.to_byte()];
            context.extend_from_slice(&[0; 16]);
            cc.context = context.into();
            let mut e = Entry::default();
            e.entry_type = EntryType::EntryConfChange;
            e.term = term;
            e.index = last_index + 1 + i as u64;
            e.data = wire::encode_conf_change(&cc).into();
            e
        })
        .collect();
    recovered.hard_state.term = term;
    recovered.hard_state.commit = last_index + added.len() as u64;
    disk.persist(&added, Some(&recovered.hard_state), true)?;
    recovered.entries.extend(added);
    Ok(())
}
