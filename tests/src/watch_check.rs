//! A checker of etcd's watch guarantees over what watchers received and what was committed.
//!
//! For each watcher, over every stream it opened (it resumes after a failure from the revision after the last
//! it saw): events come in revision order; all events of one revision come in one response (a revision is
//! atomic); no event comes twice; no revision between its start and the head is missing, except those below a
//! compaction the server reported (the watcher then resumes at the compact revision, of which only the puts may
//! be left); and every revision's events are exactly the committed ones. The committed history is what the
//! test knows for sure: revisions read back with Range, acknowledged writes, and where neither covers a
//! revision, the other watchers (they must all agree).

use std::collections::{BTreeMap, BTreeSet};

/// One change of one key: its new value, or `None` for a delete.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub key: String,
    pub value: Option<String>,
}

/// A revision's changes, sorted by key (etcd orders a txn's events as its operations; the checker does not).
pub type Changes = Vec<Change>;

/// What one watcher saw.
#[derive(Debug, Clone, Default)]
pub struct WatcherLog {
    pub name: String,
    /// The revision its first stream started at.
    pub start: i64,
    /// Every response with events, in arrival order: (revision, change) pairs as they came.
    pub responses: Vec<Vec<(i64, Change)>>,
    /// Every compaction the server reported: (the revision the watcher asked to resume at, the compact
    /// revision it was told).
    pub compactions: Vec<(i64, i64)>,
}

impl WatcherLog {
    /// The next revision this watcher asks for when it resumes: one past the last it saw, or its start.
    pub fn resume_at(&self) -> i64 {
        self.responses
            .iter()
            .flatten()
            .map(|(r, _)| r + 1)
            .next_back()
            .unwrap_or(self.start)
            .max(self.compactions.last().map_or(0, |(_, c)| *c))
    }

    /// The highest revision seen.
    pub fn last_seen(&self) -> i64 {
        self.responses
            .iter()
            .flatten()
            .map(|(r, _)| *r)
            .max()
            .unwrap_or(0)
    }
}

/// Every violation in `logs` against `known` (revision → its changes, sorted by key) and `head` (the last
/// revision, which every watcher must have reached). Empty when the guarantees hold.
pub fn violations(logs: &[WatcherLog], known: &BTreeMap<i64, Changes>, head: i64) -> Vec<String> {
    let mut found = Vec::new();
    let mut seen_by: BTreeMap<i64, (String, Changes)> = BTreeMap::new();
    for log in logs {
        let name = &log.name;
        let mut by_revision: BTreeMap<i64, Changes> = BTreeMap::new();
        let mut last = 0;
        let mut finished = BTreeSet::new();
        for (n, response) in log.responses.iter().enumerate() {
            let mut here = BTreeSet::new();
            for (revision, change) in response {
                if *revision < last {
                    found.push(format!(
                        "{name}: revision {revision} came after {last} (response {n})"
                    ));
                }
                if finished.contains(revision) {
                    found.push(format!(
                        "{name}: revision {revision} is split across responses (again in response {n})"
                    ));
                }
                let changes = by_revision.entry(*revision).or_default();
                if changes.iter().any(|c| c.key == change.key) {
                    found.push(format!(
                        "{name}: {} at revision {revision} came twice",
                        change.key
                    ));
                }
                changes.push(change.clone());
                here.insert(*revision);
                last = last.max(*revision);
            }
            finished.extend(here);
        }
        // Gaps: every revision from the start to the head, but those a reported compaction skipped. The compact
        // revision itself is history too: its deletions are gone with it (a compaction keeps each key's latest
        // revision up to it, unless that is a deletion), so a watcher resuming there may see only its puts.
        let only_deletions = |r: i64| {
            known
                .get(&r)
                .is_none_or(|c| c.iter().all(|c| c.value.is_none()))
        };
        let skipped = |r: i64| {
            log.compactions
                .iter()
                .any(|(asked, c)| r >= *asked && (r < *c || (r == *c && only_deletions(r))))
        };
        let at_compaction = |r: i64| log.compactions.iter().any(|(_, c)| r == *c);
        let missing: Vec<i64> = (log.start.max(1)..=head)
            .filter(|r| {
                !by_revision.contains_key(r)
                    && !skipped(*r)
                    && known.get(r).is_none_or(|c| !c.is_empty())
            })
            .collect();
        if !missing.is_empty() {
            found.push(format!(
                "{name}: {} revisions missing, first {:?} (compactions reported: {:?})",
                missing.len(),
                &missing[..missing.len().min(10)],
                log.compactions
            ));
        }
        for (revision, mut changes) in by_revision {
            if revision > head {
                found.push(format!(
                    "{name}: revision {revision} is past the head {head}"
                ));
            }
            changes.sort();
            if at_compaction(revision) {
                // Its puts, without its deletions, are what may be left of it.
                let reference = known
                    .get(&revision)
                    .or_else(|| seen_by.get(&revision).map(|(_, c)| c));
                if let Some(expected) = reference
                    && !(changes.iter().all(|c| expected.contains(c))
                        && expected
                            .iter()
                            .all(|c| c.value.is_none() || changes.contains(c)))
                {
                    found.push(format!(
                        "{name}: at the compact revision {revision} has {changes:?}, committed {expected:?}"
                    ));
                }
                continue;
            }
            if let Some(expected) = known.get(&revision)
                && *expected != changes
            {
                found.push(format!(
                    "{name}: revision {revision} has {changes:?}, committed {expected:?}"
                ));
            }
            match seen_by.get(&revision) {
                Some((other, theirs)) if *theirs != changes => found.push(format!(
                    "{name} and {other} differ at revision {revision}: {changes:?} against {theirs:?}"
                )),
                Some(_) => {}
                None => {
                    seen_by.insert(revision, (name.clone(), changes));
                }
            }
        }
    }
    found
}

/// The changes between two states of the watched keys (key → (value, mod revision)) at revisions `r - 1` and
/// `r`: the committed changes of revision `r`, as Range reads them back.
pub fn changes_between(
    before: &BTreeMap<String, (String, i64)>,
    after: &BTreeMap<String, (String, i64)>,
    revision: i64,
) -> Changes {
    let mut changes: Changes = after
        .iter()
        .filter(|(_, (_, modified))| *modified == revision)
        .map(|(key, (value, _))| Change {
            key: key.clone(),
            value: Some(value.clone()),
        })
        .collect();
    changes.extend(
        before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .map(|key| Change {
                key: key.clone(),
                value: None,
            }),
    );
    changes.sort();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> Change {
        Change {
            key: key.to_owned(),
            value: Some(value.to_owned()),
        }
    }

    fn log(responses: Vec<Vec<(i64, Change)>>) -> WatcherLog {
        WatcherLog {
            name: "w".to_owned(),
            start: 2,
            responses,
            compactions: Vec::new(),
        }
    }

    fn known() -> BTreeMap<i64, Changes> {
        BTreeMap::from([
            (2, vec![put("a", "1")]),
            (3, vec![put("a", "2"), put("b", "1")]),
            (
                4,
                vec![Change {
                    key: "b".to_owned(),
                    value: None,
                }],
            ),
        ])
    }

    #[test]
    fn a_complete_ordered_history_passes() {
        let good = log(vec![
            vec![(2, put("a", "1"))],
            vec![
                (3, put("b", "1")),
                (3, put("a", "2")),
                (4, known()[&4][0].clone()),
            ],
        ]);
        assert_eq!(violations(&[good], &known(), 4), Vec::<String>::new());
    }

    #[test]
    fn gaps_duplicates_disorder_splits_and_wrong_values_are_found() {
        let cases = [
            (
                vec![vec![(2, put("a", "1"))], vec![(4, known()[&4][0].clone())]],
                "missing",
            ),
            (
                vec![
                    vec![(2, put("a", "1")), (2, put("a", "1"))],
                    vec![
                        (3, put("a", "2")),
                        (3, put("b", "1")),
                        (4, known()[&4][0].clone()),
                    ],
                ],
                "twice",
            ),
            (
                vec![
                    vec![(3, put("a", "2")), (3, put("b", "1")), (2, put("a", "1"))],
                    vec![(4, known()[&4][0].clone())],
                ],
                "came after",
            ),
            (
                vec![
                    vec![(2, put("a", "1")), (3, put("a", "2"))],
                    vec![(3, put("b", "1")), (4, known()[&4][0].clone())],
                ],
                "split",
            ),
            (
                vec![
                    vec![(2, put("a", "9"))],
                    vec![
                        (3, put("a", "2")),
                        (3, put("b", "1")),
                        (4, known()[&4][0].clone()),
                    ],
                ],
                "committed",
            ),
        ];
        for (responses, expected) in cases {
            let found = violations(&[log(responses.clone())], &known(), 4);
            assert!(
                found.iter().any(|v| v.contains(expected)),
                "{expected}: {found:?} for {responses:?}"
            );
        }
    }

    #[test]
    fn a_reported_compaction_excuses_the_revisions_below_it_only() {
        let mut compacted = log(vec![vec![(4, known()[&4][0].clone())]]);
        compacted.compactions = vec![(2, 4)];
        assert!(violations(&[compacted.clone()], &known(), 4).is_empty());
        compacted.compactions = vec![(2, 3)];
        assert!(!violations(&[compacted], &known(), 4).is_empty());
    }

    #[test]
    fn at_the_compact_revision_only_its_deletions_may_be_missing() {
        let both = BTreeMap::from([(
            2,
            vec![
                put("a", "1"),
                Change {
                    key: "b".to_owned(),
                    value: None,
                },
            ],
        )]);
        let mut resumed = log(vec![vec![(2, put("a", "1"))]]);
        resumed.start = 1;
        resumed.compactions = vec![(1, 2)];
        assert!(violations(&[resumed.clone()], &both, 2).is_empty());
        // Its puts are still there to be seen.
        resumed.responses = vec![];
        assert!(!violations(&[resumed.clone()], &both, 2).is_empty());
        let deletion = BTreeMap::from([(
            2,
            vec![Change {
                key: "b".to_owned(),
                value: None,
            }],
        )]);
        assert!(violations(&[resumed.clone()], &deletion, 2).is_empty());
        resumed.responses = vec![vec![(2, put("a", "9"))]];
        assert!(!violations(&[resumed], &both, 2).is_empty());
    }

    #[test]
    fn watchers_that_disagree_are_found_where_nothing_else_is_known() {
        let mut a = log(vec![vec![(2, put("a", "1"))]]);
        let mut b = log(vec![vec![(2, put("a", "7"))]]);
        a.name = "a".to_owned();
        b.name = "b".to_owned();
        let found = violations(&[a, b], &BTreeMap::new(), 2);
        assert!(found.iter().any(|v| v.contains("differ")), "{found:?}");
    }

    #[test]
    fn range_states_give_a_revisions_changes() {
        let before = BTreeMap::from([
            ("a".to_owned(), ("1".to_owned(), 2)),
            ("b".to_owned(), ("1".to_owned(), 3)),
        ]);
        let after = BTreeMap::from([("a".to_owned(), ("2".to_owned(), 5))]);
        assert_eq!(
            changes_between(&before, &after, 5),
            vec![
                put("a", "2"),
                Change {
                    key: "b".to_owned(),
                    value: None
                }
            ]
        );
    }
}
