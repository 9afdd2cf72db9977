//! The inbox as clients see it: one row per conversation and a page of rows, the same JSON whether
//! the SQL reference inbox (platica-store), the live inbox (platica-http) or a realtime frame
//! (platica-realtime) produced it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cursor::Cursor;

/// One row of the inbox: a conversation with what the list shows of it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct InboxRow {
    pub conversation_id: i64,
    pub prospect_id: i64,
    pub prospect_name: String,
    /// `null` for a prospect known only by its business-scoped user id.
    pub prospect_phone: Option<String>,
    pub team_id: i64,
    pub executive_id: Option<i64>,
    pub channel: String,
    /// `open`, `snoozed` or `closed`.
    pub status: String,
    /// While snoozed: when it opens again by itself (an inbound message opens it sooner).
    pub snoozed_until: Option<DateTime<Utc>>,
    /// `none`, `low`, `medium`, `high` or `urgent`.
    pub priority: String,
    /// The ids of its labels, ascending (`GET /labels` names and colours them).
    pub label_ids: Vec<i64>,
    pub last_message_id: Option<i64>,
    /// The last message's body, cut to 120 characters.
    pub last_message_preview: Option<String>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_direction: Option<String>,
    pub last_message_sender: Option<String>,
    /// The last message's time, or the conversation's creation time when it has none: the order
    /// of the inbox.
    pub last_activity_at: DateTime<Utc>,
    /// Inbound messages not yet read.
    pub unread_count: i64,
    pub message_count: i64,
    pub bot_paused: bool,
    pub created_at: DateTime<Utc>,
}

impl InboxRow {
    /// The cursor of the page after this row.
    pub fn cursor(&self) -> Cursor {
        Cursor { at: self.last_activity_at, id: self.conversation_id }
    }
}

/// The inbox's page cursor: a [`Cursor`], and for `sort=unread_first` whether it is past the
/// unread part (encoded with an `r` before it). Clients treat it as opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxCursor {
    pub cursor: Cursor,
    /// Past the unread part of `unread_first`.
    pub rest: bool,
}

impl InboxCursor {
    pub fn encode(&self) -> String {
        let c = self.cursor.encode();
        if self.rest { format!("r{c}") } else { c }
    }

    /// Decodes what [`InboxCursor::encode`] made; `None` for anything else.
    pub fn decode(s: &str) -> Option<InboxCursor> {
        match s.strip_prefix('r') {
            Some(rest) => Some(InboxCursor { cursor: Cursor::decode(rest)?, rest: true }),
            None => Some(InboxCursor { cursor: Cursor::decode(s)?, rest: false }),
        }
    }
}

/// Priorities by rank (`conversations.priority` stores the rank, 0 to 4).
pub const PRIORITIES: [&str; 5] = ["none", "low", "medium", "high", "urgent"];

/// The name of a priority rank (`none` for an unknown one).
pub fn priority_name(rank: u8) -> &'static str {
    PRIORITIES.get(usize::from(rank)).copied().unwrap_or("none")
}

/// The rank of a priority name.
pub fn priority_rank(name: &str) -> Option<u8> {
    PRIORITIES.iter().position(|p| *p == name).and_then(|i| u8::try_from(i).ok())
}

/// Conversation statuses.
pub const STATUSES: [&str; 3] = ["open", "snoozed", "closed"];

/// A page of the inbox and the counts of the whole filtered list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct InboxPage {
    pub items: Vec<InboxRow>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Conversations matching the filters.
    pub total: i64,
    /// Of those, conversations with unread messages.
    pub unread: i64,
    /// Set while live updates are paused (the change stream is reconnecting): since when this
    /// page may be stale. `null` when it is live.
    pub stale_since: Option<DateTime<Utc>>,
}
