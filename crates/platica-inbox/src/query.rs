//! What a reader asks of the inbox and what it gets back.

use crate::change::{Direction, Micros, SenderKind, Status};
use crate::scope::Key;

/// Filters of an inbox query. `None` means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub team_id: Option<i64>,
    pub executive_id: Option<i64>,
    pub unread: Option<bool>,
    /// Only conversations of this status.
    pub status: Option<Status>,
    /// Prospect name prefix (case-insensitive), or phone prefix when it starts with `+` or a digit.
    pub q: Option<String>,
}

/// A position in the inbox order (see [`Key`]); pages continue strictly after it.
pub type Cursor = Key;

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
