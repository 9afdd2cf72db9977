//! Ordered indexes of conversations by last activity, and their counts.
//!
//! A [`Scope`] holds the conversations of one slice of a tenant (the whole tenant, one team, or
//! one executive) in six ordered sets: open / snoozed / closed, each all / with unread messages. Every
//! count the inbox shows is a set length (O(1)); a page is a range scan from the cursor, merged
//! across sets and scopes.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::collections::btree_set;
use std::ops::Bound;

use crate::change::{Micros, Status};

/// A conversation's place in the inbox order: newest activity first, ties by higher id first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub at: Micros,
    pub id: i64,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at).then(other.id.cmp(&self.id))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What a scope needs to know of a conversation to place it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: Key,
    pub status: Status,
    pub unread: bool,
}

/// Which conversations of a scope a query wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only this status.
    pub status: Option<Status>,
    /// `Some(true)`: with unread messages only; `Some(false)`: without.
    pub unread: Option<bool>,
}

/// All conversations of one status, and those of them with unread messages.
#[derive(Clone, Debug, Default)]
struct Sets {
    all: BTreeSet<Key>,
    unread: BTreeSet<Key>,
}

#[derive(Clone, Debug, Default)]
pub struct Scope {
    by_status: [Sets; 3],
}

impl Scope {
    pub fn insert(&mut self, e: Entry) {
        let sets = &mut self.by_status[e.status.index()];
        sets.all.insert(e.key);
        if e.unread {
            sets.unread.insert(e.key);
        }
    }

    pub fn remove(&mut self, e: Entry) {
        let sets = &mut self.by_status[e.status.index()];
        sets.all.remove(&e.key);
        if e.unread {
            sets.unread.remove(&e.key);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_status.iter().all(|s| s.all.is_empty())
    }

    fn sets(&self, status: Status) -> (&BTreeSet<Key>, &BTreeSet<Key>) {
        let s = &self.by_status[status.index()];
        (&s.all, &s.unread)
    }

    fn statuses(sel: Selection) -> &'static [Status] {
        match sel.status {
            None => &Status::ALL,
            Some(Status::Open) => &[Status::Open],
            Some(Status::Snoozed) => &[Status::Snoozed],
            Some(Status::Closed) => &[Status::Closed],
        }
    }

    /// How many conversations match `sel`, and how many of those have unread messages.
    pub fn counts(&self, sel: Selection) -> (usize, usize) {
        let mut total = 0;
        let mut unread = 0;
        for &status in Self::statuses(sel) {
            let (a, u) = self.sets(status);
            match sel.unread {
                None => {
                    total += a.len();
                    unread += u.len();
                }
                Some(true) => {
                    total += u.len();
                    unread += u.len();
                }
                Some(false) => total += a.len() - u.len(),
            }
        }
        (total, unread)
    }

    /// Ordered iterators over the sets that hold `sel`, starting after `after`. With
    /// `sel.unread == Some(false)` the caller must skip conversations that have unread messages.
    pub fn ranges(&self, sel: Selection, after: Option<Key>) -> Vec<btree_set::Range<'_, Key>> {
        let lower = match after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        Self::statuses(sel)
            .iter()
            .map(|&status| {
                let (a, u) = self.sets(status);
                let set = if sel.unread == Some(true) { u } else { a };
                set.range((lower, Bound::Unbounded))
            })
            .collect()
    }
}

/// Merges ordered iterators into one ordered stream (k is small: a few teams times two statuses).
pub struct Merge<'a> {
    heads: Vec<(Option<Key>, btree_set::Range<'a, Key>)>,
}

impl<'a> Merge<'a> {
    pub fn new(iters: Vec<btree_set::Range<'a, Key>>) -> Merge<'a> {
        Merge {
            heads: iters
                .into_iter()
                .map(|mut it| {
                    let head = it.next().copied();
                    (head, it)
                })
                .collect(),
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = Key;

    fn next(&mut self) -> Option<Key> {
        let (best, _) =
            self.heads.iter().enumerate().filter_map(|(i, (h, _))| h.map(|k| (i, k))).min_by_key(|(_, k)| *k)?;
        let (head, it) = &mut self.heads[best];
        let out = *head;
        *head = it.next().copied();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(at: i64, id: i64, open: bool, unread: bool) -> Entry {
        Entry { key: Key { at, id }, status: if open { Status::Open } else { Status::Closed }, unread }
    }

    #[test]
    fn order_is_newest_first_then_highest_id() {
        let mut keys = vec![Key { at: 1, id: 5 }, Key { at: 3, id: 1 }, Key { at: 1, id: 9 }];
        keys.sort();
        assert_eq!(keys, vec![Key { at: 3, id: 1 }, Key { at: 1, id: 9 }, Key { at: 1, id: 5 }]);
    }

    #[test]
    fn counts_and_merged_ranges() {
        let mut s = Scope::default();
        s.insert(e(10, 1, true, true));
        s.insert(e(20, 2, false, false));
        s.insert(e(30, 3, true, false));
        s.insert(e(5, 4, false, true));
        assert_eq!(s.counts(Selection::default()), (4, 2));
        assert_eq!(s.counts(Selection { status: Some(Status::Open), unread: None }), (2, 1));
        assert_eq!(s.counts(Selection { status: None, unread: Some(true) }), (2, 2));
        assert_eq!(s.counts(Selection { status: Some(Status::Closed), unread: Some(false) }), (1, 0));
        let all: Vec<i64> = Merge::new(s.ranges(Selection::default(), None)).map(|k| k.id).collect();
        assert_eq!(all, vec![3, 2, 1, 4]);
        let after: Vec<i64> =
            Merge::new(s.ranges(Selection::default(), Some(Key { at: 20, id: 2 }))).map(|k| k.id).collect();
        assert_eq!(after, vec![1, 4]);
        s.remove(e(10, 1, true, true));
        assert_eq!(s.counts(Selection::default()), (3, 1));
    }
}
