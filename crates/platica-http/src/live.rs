//! Serving reads from the live inbox: read-your-writes waits, filters, and the JSON shape (the
//! same as the SQL reference's).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use platica_changes::LiveInbox;
use platica_domain::inbox::InboxCursor;
use platica_inbox::Filter;
use platica_inbox::scope::Key;
use platica_store::inbox::conversations::InboxFilter;

use crate::error::ApiError;

/// The response header carrying an LSN: after a write, the position that includes it; after a
/// read, the position the answer reflects.
pub const LSN_HEADER: &str = "platica-lsn";

/// The response header present while the live inbox is degraded: since when (RFC 3339) its
/// state may be stale.
pub const STALE_HEADER: &str = "platica-stale-since";

/// How long a read waits for `min_lsn`.
pub const MIN_LSN_WAIT: Duration = Duration::from_secs(2);

/// Waits for `min_lsn` (if given); returns the position the read will reflect.
pub async fn wait_min_lsn(live: &LiveInbox, min_lsn: Option<&str>) -> Result<u64, ApiError> {
    if let Some(raw) = min_lsn {
        let lsn = platica_changes::lsn::parse(raw).ok_or_else(|| {
            ApiError::bad_request(format!("invalid min_lsn {raw:?}: pass the Platica-Lsn header of a write"))
                .with_field("min_lsn")
        })?;
        // Degraded: a position not reached yet will not be reached soon; say so at once.
        if let Some(since) = live.stale_since()
            && live.position() < lsn
        {
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "stream_degraded",
                format!(
                    "live updates are paused since {} (the change stream is reconnecting), so {} is not \
                     applied yet: try again shortly",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    platica_changes::lsn::format(lsn)
                ),
            );
            err.retry_after = Some(2);
            return Err(err);
        }
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
        status: f.status.as_deref().and_then(platica_inbox::Status::parse),
        q: f.q.clone(),
        view: f.view.as_deref().and_then(platica_inbox::View::parse),
        label: f.label_id,
        priority: f.priority.as_deref().and_then(platica_domain::inbox::priority_rank),
        sort: f.sort.as_deref().and_then(platica_inbox::Sort::parse).unwrap_or_default(),
    }
}

pub fn key(c: InboxCursor) -> platica_inbox::Cursor {
    platica_inbox::Cursor { key: Key { at: c.cursor.at.timestamp_micros(), id: c.cursor.id }, rest: c.rest }
}

pub use platica_realtime::json::{page_json, row_json};
