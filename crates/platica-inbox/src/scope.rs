//! Ordered indexes of conversations by last activity, and their counts.
//!
//! A [`Scope`] holds the conversations of one slice of a tenant (the whole tenant, one team, one
//! executive, the unassigned ones, one cell, one tag alone or by team or cell) in ordered sets per status (open /
//! snoozed / closed): all, with unread messages, waiting (the last message is inbound), and
//! waiting with unread messages. Every count the inbox shows is a set length (O(1)); a page is a
//! range scan from the cursor (forwards for newest first, backwards for longest waiting), merged
//! across sets and scopes.

use std::cmp::Ordering;
use std::collections::BTreeSet;
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
    /// The last message is inbound.
    pub waiting: bool,
}

/// Which conversations of a scope a query wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only this status.
    pub status: Option<Status>,
    /// `Some(true)`: with unread messages only; `Some(false)`: without.
    pub unread: Option<bool>,
    /// Waiting ones only.
    pub waiting: bool,
}

/// The conversations of one status.
#[derive(Clone, Debug, Default)]
struct Sets {
    all: BTreeSet<Key>,
    unread: BTreeSet<Key>,
    waiting: BTreeSet<Key>,
    waiting_unread: BTreeSet<Key>,
}

impl Sets {
    fn sets_of(&mut self, e: Entry) -> impl Iterator<Item = &mut BTreeSet<Key>> {
        let Sets { all, unread, waiting, waiting_unread } = self;
        [
            Some(all),
            e.unread.then_some(unread),
            e.waiting.then_some(waiting),
            (e.unread && e.waiting).then_some(waiting_unread),
        ]
        .into_iter()
        .flatten()
    }
}

/// A scope's figures for a report ([`Scope::live`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Live {
    pub open: usize,
    pub unread: usize,
    pub waiting: usize,
    pub waiting_long: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Scope {
    by_status: [Sets; 3],
}

/// Ordered keys, forwards or backwards.
pub type Keys<'a> = Box<dyn Iterator<Item = Key> + 'a>;

impl Scope {
    pub fn insert(&mut self, e: Entry) {
        for set in self.by_status[e.status.index()].sets_of(e) {
            set.insert(e.key);
        }
    }

    pub fn remove(&mut self, e: Entry) {
        for set in self.by_status[e.status.index()].sets_of(e) {
            set.remove(&e.key);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_status.iter().all(|s| s.all.is_empty())
    }

    /// What a report shows of the scope now: open conversations, those with unread messages,
    /// those waiting (last message inbound), and those waiting since before `waiting_before`.
    pub fn live(&self, waiting_before: Micros) -> Live {
        let open = &self.by_status[Status::Open.index()];
        // Keys run newest first: those older than the cutoff follow the cutoff's last key.
        let cutoff = Key { at: waiting_before, id: i64::MIN };
        Live {
            open: open.all.len(),
            unread: open.unread.len(),
            waiting: open.waiting.len(),
            waiting_long: open.waiting.range((Bound::Excluded(cutoff), Bound::Unbounded)).count(),
        }
    }

    /// Conversations in the scope.
    pub fn len(&self) -> usize {
        self.by_status.iter().map(|s| s.all.len()).sum()
    }

    /// (all, with unread) of `sel`'s kind in one status.
    fn sets(&self, status: Status, waiting: bool) -> (&BTreeSet<Key>, &BTreeSet<Key>) {
        let s = &self.by_status[status.index()];
        if waiting { (&s.waiting, &s.waiting_unread) } else { (&s.all, &s.unread) }
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
            let (a, u) = self.sets(status, sel.waiting);
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

    /// Ordered iterators over the sets that hold `sel`, starting after `after`: newest first, or
    /// oldest first when `backwards`. With `sel.unread == Some(false)` the caller must skip
    /// conversations that have unread messages.
    pub fn ranges(&self, sel: Selection, after: Option<Key>, backwards: bool) -> Vec<Keys<'_>> {
        let bound = match after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        Self::statuses(sel)
            .iter()
            .map(|&status| {
                let (a, u) = self.sets(status, sel.waiting);
                let set = if sel.unread == Some(true) { u } else { a };
                if backwards {
                    Box::new(set.range((Bound::Unbounded, bound)).rev().copied()) as Keys<'_>
                } else {
                    Box::new(set.range((bound, Bound::Unbounded)).copied()) as Keys<'_>
                }
            })
            .collect()
    }
}

/// Merges ordered iterators into one ordered stream (k is small: a few teams times the
/// statuses), in inbox order or, `backwards`, its reverse.
pub struct Merge<'a> {
    heads: Vec<(Option<Key>, Keys<'a>)>,
    backwards: bool,
}

impl<'a> Merge<'a> {
    pub fn new(iters: Vec<Keys<'a>>, backwards: bool) -> Merge<'a> {
        Merge {
            heads: iters
                .into_iter()
                .map(|mut it| {
                    let head = it.next();
                    (head, it)
                })
                .collect(),
            backwards,
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = Key;

    fn next(&mut self) -> Option<Key> {
        let heads = self.heads.iter().enumerate().filter_map(|(i, (h, _))| h.map(|k| (i, k)));
        let (best, _) = if self.backwards { heads.max_by_key(|(_, k)| *k)? } else { heads.min_by_key(|(_, k)| *k)? };
        let (head, it) = &mut self.heads[best];
        let out = *head;
        *head = it.next();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(at: i64, id: i64, open: bool, unread: bool) -> Entry {
        Entry { key: Key { at, id }, status: if open { Status::Open } else { Status::Closed }, unread, waiting: unread }
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
        let sel = |status, unread| Selection { status, unread, waiting: false };
        assert_eq!(s.counts(Selection::default()), (4, 2));
        assert_eq!(s.counts(sel(Some(Status::Open), None)), (2, 1));
        assert_eq!(s.counts(sel(None, Some(true))), (2, 2));
        assert_eq!(s.counts(sel(Some(Status::Closed), Some(false))), (1, 0));
        assert_eq!(s.counts(Selection { waiting: true, ..Selection::default() }), (2, 2));
        let all: Vec<i64> = Merge::new(s.ranges(Selection::default(), None, false), false).map(|k| k.id).collect();
        assert_eq!(all, vec![3, 2, 1, 4]);
        let after: Vec<i64> = Merge::new(s.ranges(Selection::default(), Some(Key { at: 20, id: 2 }), false), false)
            .map(|k| k.id)
            .collect();
        assert_eq!(after, vec![1, 4]);
        let oldest: Vec<i64> = Merge::new(s.ranges(Selection::default(), None, true), true).map(|k| k.id).collect();
        assert_eq!(oldest, vec![4, 1, 2, 3]);
        let waiting_after: Vec<i64> = Merge::new(
            s.ranges(Selection { waiting: true, ..Selection::default() }, Some(Key { at: 5, id: 4 }), true),
            true,
        )
        .map(|k| k.id)
        .collect();
        assert_eq!(waiting_after, vec![1]);
        s.remove(e(10, 1, true, true));
        assert_eq!(s.counts(Selection::default()), (3, 1));
        assert_eq!(s.len(), 3);
    }
}
