//! Serving reads from the live inbox: read-your-writes waits, filters, and the JSON shape (the
//! same as the SQL reference's).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use platica_changes::LiveInbox;
use platica_inbox::scope::Key;
use platica_inbox::{Filter, Page, Row};
use platica_store::conversations::{Cursor, InboxFilter, InboxPage, InboxRow};

use crate::error::ApiError;

/// The response header carrying an LSN: after a write, the position that includes it; after a
/// read, the position the answer reflects.
pub const LSN_HEADER: &str = "platica-lsn";

/// How long a read waits for `min_lsn`.
pub const MIN_LSN_WAIT: Duration = Duration::from_secs(2);

/// Waits for `min_lsn` (if given); returns the position the read will reflect.
pub async fn wait_min_lsn(live: &LiveInbox, min_lsn: Option<&str>) -> Result<u64, ApiError> {
    if let Some(raw) = min_lsn {
        let lsn = platica_changes::lsn::parse(raw).ok_or_else(|| {
            ApiError::bad_request(format!("invalid min_lsn {raw:?}: pass the Platica-Lsn header of a write"))
                .with_field("min_lsn")
        })?;
        if !live.wait_for(lsn, MIN_LSN_WAIT).await {
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_caught_up",
                format!(
                    "the live inbox has not yet applied {}; it is at {}: try again",
                    platica_changes::lsn::format(lsn),
                    platica_changes::lsn::format(live.position())
                ),
            );
            err.retry_after = Some(1);
            return Err(err);
        }
    }
    Ok(live.position())
}

pub fn with_lsn(mut resp: Response, lsn: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&platica_changes::lsn::format(lsn)) {
        resp.headers_mut().insert(LSN_HEADER, v);
    }
    resp
}

pub fn engine_filter(f: &InboxFilter) -> Filter {
    Filter {
        team_id: f.team_id,
        executive_id: f.executive_id,
        unread: f.unread,
        open: f.status.as_deref().map(|s| s == "open"),
        q: f.q.clone(),
    }
}

pub fn key(c: Cursor) -> Key {
    Key { at: c.at.timestamp_micros(), id: c.id }
}

fn time(micros: i64) -> DateTime<Utc> {
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
        status: if r.open { "open" } else { "closed" }.to_owned(),
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
        next_cursor: p.next.map(|k| Cursor { at: time(k.at), id: k.id }.encode()),
        items: p.rows.into_iter().map(row_json).collect(),
        total: p.total as i64,
        unread: p.unread as i64,
    }
}
