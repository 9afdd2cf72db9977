//! User notifications: each user's own feed. Rows are written by triggers in the transaction of
//! their cause (reassignments, tickets, missed scheduled calls: migration 0007; forced web
//! releases: 0009; finished campaigns by the dispatcher), so raw SQL writes notify too; this module reads them and marks them read. Nobody reads another user's feed.

use chrono::{DateTime, Utc};
use platica_domain::Viewer;
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{StoreError, StoreResult};

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Notification {
    pub notification_id: i64,
    pub kind: String,
    pub title: String,
    pub body: Option<String>,
    pub link: Option<String>,
    /// How many causes it stands for (e.g. prospects of one bulk reassignment, or unread
    /// reassignments merged into one).
    pub item_count: i32,
    /// What it is about, for rendering in the reader's language (`title` and `body` are English):
    /// `prospect`, `prospect_id`, `conversation_id` (a reassignment of one prospect, a missed
    /// call), `event` (`new` / `updated`), `subject`, `status` (tickets), `version` (a forced
    /// release), `campaign`, `queued` (a finished campaign). Empty for merged notifications.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The viewer's notifications, newest first (`after`: the last id seen), and their unread count.
pub async fn list(
    pool: &PgPool,
    viewer: &Viewer,
    unread_only: bool,
    after: Option<i64>,
    limit: i64,
) -> StoreResult<(Vec<Notification>, i64)> {
    let items = sqlx::query_as(
        "SELECT notification_id, kind, title, body, link, item_count, params, read_at, created_at FROM notifications
          WHERE tenant_id = $1 AND user_id = $2 AND (NOT $3 OR read_at IS NULL)
            AND ($4::bigint IS NULL OR notification_id < $4)
          ORDER BY notification_id DESC LIMIT $5",
    )
    .bind(viewer.tenant_id.0)
    .bind(viewer.user_id.0)
    .bind(unread_only)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let unread: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
    )
    .bind(viewer.tenant_id.0)
    .bind(viewer.user_id.0)
    .fetch_one(pool)
    .await?;
    Ok((items, unread))
}

/// Marks one of the viewer's notifications read (unchanged when it already was).
pub async fn mark_read(pool: &PgPool, viewer: &Viewer, id: i64) -> StoreResult<Notification> {
    let row: Option<Notification> = sqlx::query_as(
        "UPDATE notifications SET read_at = coalesce(read_at, now())
          WHERE tenant_id = $1 AND user_id = $2 AND notification_id = $3
          RETURNING notification_id, kind, title, body, link, item_count, params, read_at, created_at",
    )
    .bind(viewer.tenant_id.0)
    .bind(viewer.user_id.0)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| StoreError::not_found("notification"))
}

/// Marks all the viewer's notifications read; returns how many changed.
pub async fn mark_all_read(pool: &PgPool, viewer: &Viewer) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE notifications SET read_at = now() WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
    )
    .bind(viewer.tenant_id.0)
    .bind(viewer.user_id.0)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
