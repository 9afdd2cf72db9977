//! The JSON shapes of inbox rows, shared by the HTTP API and realtime frames (the same as the
//! SQL reference inbox's).

use chrono::{DateTime, Utc};
use platica_domain::cursor::Cursor;
use platica_domain::inbox::{InboxCursor, InboxPage, InboxRow};
use platica_inbox::{Page, Row};

pub fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

pub fn row_json(r: Row) -> InboxRow {
    let last = r.last_message;
    InboxRow {
        conversation_id: r.conversation_id,
        prospect_id: r.prospect_id,
        prospect_name: r.prospect_name,
        prospect_phone: r.prospect_phone,
        team_id: r.team_id,
        executive_id: r.executive_id,
        channel: r.channel,
        status: r.status.as_str().to_owned(),
        snoozed_until: r.snoozed_until.map(time),
        priority: platica_domain::inbox::priority_name(r.priority).to_owned(),
        label_ids: r.labels,
        last_message_id: last.as_ref().map(|l| l.message_id),
        last_message_preview: last.as_ref().map(|l| l.preview.to_string()),
        last_message_at: last.as_ref().map(|l| time(l.at)),
        last_message_direction: last.as_ref().map(|l| l.direction.as_str().to_owned()),
        last_message_sender: last.as_ref().map(|l| l.sender.as_str().to_owned()),
        last_activity_at: time(r.last_activity_at),
        unread_count: r.unread_count,
        message_count: r.message_count,
        bot_paused: r.bot_paused,
        created_at: time(r.created_at),
    }
}

pub fn page_json(p: Page) -> InboxPage {
    InboxPage {
        next_cursor: p
            .next
            .map(|k| InboxCursor { cursor: Cursor { at: time(k.key.at), id: k.key.id }, rest: k.rest }.encode()),
        items: p.rows.into_iter().map(row_json).collect(),
        total: p.total as i64,
        unread: p.unread as i64,
        stale_since: None,
    }
}
