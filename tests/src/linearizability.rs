//! A linearizability checker for a compare-and-set register that may be absent: Wing & Gong's search with
//! Lowe's memoisation (as in Porcupine and Knossos), one key at a time. A key (v2 or v3) is such a register: a put
//! writes a value, a delete writes "absent", a compare-and-swap (v2 `prevValue`, a v3 txn comparing the value or
//! the version 0) sets a new state when the old one matches. So is a v3 lease with a client-chosen ID: a grant
//! swaps absent for "granted", a revoke swaps it back, a time-to-live reads it.
//!
//! A history is a list of operations with the instants they were invoked and answered. An operation whose
//! outcome is unknown (a timeout, a lost connection) may have taken effect at any point after its invocation,
//! or never: it is given an answer at the end of time and an outcome that accepts either.

use std::collections::HashSet;

/// What an operation did, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A write of the value (`None`: a delete); acknowledged, or `known: false` when the client does not know.
    Write { value: Option<String>, known: bool },
    /// A read that returned this value (`None`: the key did not exist).
    Read { value: Option<String> },
    /// A compare-and-set from `expected` to `new` (`None`: absent); `swapped` is the outcome, `None` when
    /// unknown.
    Cas {
        expected: Option<String>,
        new: Option<String>,
        swapped: Option<bool>,
    },
}

/// One operation of a history.
#[derive(Debug, Clone)]
pub struct Operation {
    pub op: Op,
    /// When it was invoked (any monotonic unit).
    pub call: u64,
    /// When it was answered; `u64::MAX` when the outcome is unknown.
    pub ret: u64,
}

/// Applies `op` to `state`: the next state, or `None` when the op's outcome is impossible from `state`.
fn step(state: &Option<String>, op: &Op) -> Option<Option<String>> {
    match op {
        Op::Write { value, .. } => Some(value.clone()),
        Op::Read { value } => (value == state).then(|| state.clone()),
        Op::Cas {
            expected,
            new,
            swapped,
        } => {
            let matches = state == expected;
            match swapped {
                Some(true) => matches.then(|| new.clone()),
                Some(false) => (!matches).then(|| state.clone()),
                None => Some(if matches { new.clone() } else { state.clone() }),
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
}

/// Whether `history` (operations on one key that starts absent) is linearizable.
pub fn is_linearizable(history: &[Operation]) -> bool {
    let n = history.len();
    // Events in time order; at equal instants calls come first (they overlap).
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, o) in history.iter().enumerate() {
        events.push((o.call, false, i));
        events.push((o.ret, true, i));
    }
    events.sort_by_key(|&(t, is_ret, i)| (t, is_ret, i));
    let list: Vec<Event> = events
        .iter()
        .map(|&(_, is_ret, op)| Event {
            op,
            is_call: !is_ret,
        })
        .collect();
    // A doubly linked list over `list`, so entries can be lifted out and put back in O(1).
    let len = list.len();
    let mut next: Vec<usize> = (1..=len).collect(); // `len` = end
    let mut prev: Vec<usize> = (0..len).map(|i| i.wrapping_sub(1)).collect(); // usize::MAX = head
    let mut head = 0usize;
    let mut ret_of = vec![0usize; n];
    for (pos, e) in list.iter().enumerate() {
        if !e.is_call {
            ret_of[e.op] = pos;
        }
    }
    let lift = |pos: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>, head: &mut usize| {
        let (p, nx) = (prev[pos], next[pos]);
        if p == usize::MAX {
            *head = nx;
        } else {
            next[p] = nx;
        }
        if nx < len {
            prev[nx] = p;
        }
    };
    let unlift = |pos: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>, head: &mut usize| {
        let (p, nx) = (prev[pos], next[pos]);
        if p == usize::MAX {
            *head = pos;
        } else {
            next[p] = pos;
        }
        if nx < len {
            prev[nx] = pos;
        }
    };
    let mut state: Option<String> = None;
    let mut linearized = vec![false; n];
    let mut seen: HashSet<(Vec<bool>, Option<String>)> = HashSet::new();
    // (call position, state before it)
    let mut stack: Vec<(usize, Option<String>)> = Vec::new();
    let mut entry = head;
    while head < len {
        if entry >= len {
            // Nothing more can be linearized here: backtrack.
            let Some((call_pos, before)) = stack.pop() else {
                return false;
            };
            let op = list[call_pos].op;
            linearized[op] = false;
            state = before;
            unlift(ret_of[op], &mut next, &mut prev, &mut head);
            unlift(call_pos, &mut next, &mut prev, &mut head);
            entry = next[call_pos];
            continue;
        }
        let e = list[entry];
        if e.is_call {
            if let Some(after) = step(&state, &history[e.op].op) {
                linearized[e.op] = true;
                if seen.insert((linearized.clone(), after.clone())) {
                    stack.push((entry, std::mem::replace(&mut state, after)));
                    lift(entry, &mut next, &mut prev, &mut head);
                    lift(ret_of[e.op], &mut next, &mut prev, &mut head);
                    entry = head;
                    continue;
                }
                linearized[e.op] = false;
            }
            entry = next[entry];
        } else {
            // A return whose call is not linearized yet: this branch is dead.
            entry = len;
        }
    }
    true
}

/// A smallest failing part of a history that is not linearizable, for the report: operations are removed one at
/// a time while the rest stays non-linearizable. A removal that would fail by itself is not made: the write a
/// read saw, or a delete while some operation saw the key absent. Gives up after `budget` checks and returns
/// what it has.
pub fn shrink(history: &[Operation], budget: usize) -> Vec<Operation> {
    let mut kept = history.to_vec();
    let explained = explains_its_values(&kept);
    // "Absent" can be seen after any delete: which delete a read of it needs is not known, so none is left out.
    let absent_seen = kept.iter().any(|o| {
        matches!(
            &o.op,
            Op::Read { value: None } | Op::Cas { expected: None, .. }
        )
    });
    let mut checks = 0;
    let mut i = 0;
    while i < kept.len() && checks < budget {
        let deletes = matches!(
            &kept[i].op,
            Op::Write { value: None, .. } | Op::Cas { new: None, .. }
        );
        if absent_seen && deletes {
            i += 1;
            continue;
        }
        let mut without = kept.clone();
        without.remove(i);
        // Leaving out the write a read saw would make that read fail by itself: keep the writes reads need.
        if explained && !explains_its_values(&without) {
            i += 1;
            continue;
        }
        checks += 1;
        if is_linearizable(&without) {
            i += 1;
        } else {
            kept = without;
        }
    }
    kept
}

/// Whether every value read, or expected by a compare-and-swap, was written by an operation of `history`.
fn explains_its_values(history: &[Operation]) -> bool {
    let written: HashSet<&str> = history
        .iter()
        .filter_map(|o| match &o.op {
            Op::Write { value, .. } => value.as_deref(),
            Op::Cas { new, .. } => new.as_deref(),
            Op::Read { .. } => None,
        })
        .collect();
    history.iter().all(|o| match &o.op {
        Op::Read { value: Some(v) } => written.contains(v.as_str()),
        Op::Cas {
            expected: Some(v), ..
        } => written.contains(v.as_str()),
        _ => true,
    })
}

/// `history` as lines for a report, in call order, times relative to the first call.
pub fn describe(history: &[Operation]) -> String {
    let mut ops: Vec<&Operation> = history.iter().collect();
    ops.sort_by_key(|o| (o.call, o.ret));
    let base = ops.first().map_or(0, |o| o.call);
    ops.iter()
        .map(|o| {
            let ret = if o.ret == u64::MAX {
                "?".to_owned()
            } else {
                format!("{}", o.ret - base)
            };
            format!("  [{} .. {ret}] {:?}", o.call - base, o.op)
        })
        .collect::<Vec<_>>()
        .join("\n")
}
