//! What a reader asks of the inbox and what it gets back.

use std::cmp::Ordering;

use crate::change::{Direction, Micros, SenderKind, Status};
use crate::scope::{Entry, Key};

/// Which conversations of those a user sees a view shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum View {
    /// Assigned to the reader.
    Mine,
    /// Assigned to no executive.
    Unassigned,
    /// Everything the reader sees.
    #[default]
    All,
}

impl View {
    pub fn parse(s: &str) -> Option<View> {
        Some(match s {
            "mine" => View::Mine,
            "unassigned" => View::Unassigned,
            "all" => View::All,
            _ => return None,
        })
    }
}

/// The order of a page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sort {
    /// Newest activity first (ties: higher id first).
    #[default]
    Latest,
    /// Only conversations whose last message is inbound, the longest waiting (oldest) first
    /// (ties: lower id first).
    Waiting,
    /// Conversations with unread messages first, each part newest activity first.
    UnreadFirst,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "latest" => Sort::Latest,
            "waiting" => Sort::Waiting,
            "unread_first" => Sort::UnreadFirst,
            _ => return None,
        })
    }

    /// The order of two positions under this sort (`Less`: `a` comes first).
    pub fn cmp(self, a: &Cursor, b: &Cursor) -> Ordering {
        match self {
            Sort::Latest => a.key.cmp(&b.key),
            Sort::Waiting => b.key.cmp(&a.key),
            Sort::UnreadFirst => a.rest.cmp(&b.rest).then(a.key.cmp(&b.key)),
        }
    }

    /// Where an entry sits under this sort.
    pub fn position(self, e: &Entry) -> Cursor {
        Cursor { key: e.key, rest: self == Sort::UnreadFirst && !e.unread }
    }
}

/// Filters and order of an inbox query. `None` means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub team_id: Option<i64>,
    pub executive_id: Option<i64>,
    pub unread: Option<bool>,
    /// Only conversations of this status.
    pub status: Option<Status>,
    /// Words starting words of the prospect's name (case and accents aside), or a phone's digits in
    /// local or international form ([`platica_domain::search`]).
    pub q: Option<String>,
    /// `None` is [`View::All`].
    pub view: Option<View>,
    /// Only conversations with this label.
    pub label: Option<i64>,
    /// Only conversations of this priority (0 none ... 4 urgent).
    pub priority: Option<u8>,
    pub sort: Sort,
}

/// A position in a page's order; pages continue strictly after it. `rest` is set past the
/// unread part of [`Sort::UnreadFirst`] (always `false` for the other sorts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub key: Key,
    pub rest: bool,
}

impl From<Key> for Cursor {
    fn from(key: Key) -> Cursor {
        Cursor { key, rest: false }
    }
}

/// The last message of a conversation, as the inbox shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastMessage {
    pub message_id: i64,
    pub at: Micros,
    pub direction: Direction,
    pub sender: SenderKind,
    /// The body's first 120 characters.
    pub preview: Box<str>,
}

/// Characters of a body kept as the preview (the SQL reference uses `left(body, 120)`).
pub const PREVIEW_CHARS: usize = 120;

/// One inbox row: a conversation with what the list shows of it. Field for field the same as the
/// SQL reference inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub conversation_id: i64,
    pub prospect_id: i64,
    pub prospect_name: String,
    /// `None` for a prospect known only by its business-scoped user id.
    pub prospect_phone: Option<String>,
    pub team_id: i64,
    pub executive_id: Option<i64>,
    pub channel: String,
    pub status: Status,
    pub snoozed_until: Option<Micros>,
    /// 0 none, 1 low, 2 medium, 3 high, 4 urgent.
    pub priority: u8,
    /// Its labels' ids, ascending.
    pub labels: Vec<i64>,
    pub last_message: Option<LastMessage>,
    pub last_activity_at: Micros,
    pub unread_count: i64,
    pub message_count: i64,
    pub bot_paused: bool,
    pub created_at: Micros,
}

impl Row {
    pub fn key(&self) -> Key {
        Key { at: self.last_activity_at, id: self.conversation_id }
    }

    /// Whether the prospect is waiting for an answer: the last message is inbound.
    pub fn waiting(&self) -> bool {
        self.last_message.as_ref().is_some_and(|l| l.direction == Direction::In)
    }

    /// Where the row sits under `sort`.
    pub fn position(&self, sort: Sort) -> Cursor {
        Cursor { key: self.key(), rest: sort == Sort::UnreadFirst && self.unread_count == 0 }
    }
}

/// A page of the inbox and the counts of the whole filtered list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub rows: Vec<Row>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
    /// Conversations matching the filters.
    pub total: usize,
    /// Of those, conversations with unread messages.
    pub unread: usize,
}
